package kafkaqueue

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookrelay/hookrelay/internal/queue"
)

// carryOver copies the dead letters that releases before the compacted
// topic kept on "<prefix>dead" (keyed by destination, deleted by markers on
// "<prefix>deleted") to the dead letters' topic, so that they keep the ids
// they were listed by: their Seq there, in decimal. Each is keyed by that
// id, on subject relay.dead.<destination>.<id>; a record a marker deletes
// is left behind.
//
// It runs at New, once the index of the dead letters' topic is caught up.
// After each batch it stores how far it carried (a record keyed "carried
// <partition>", which no id can be, whose value is the next offset to
// carry): the index reads it, and this start carries on from where the
// last one stopped, so a start after a crash carries nothing twice, nor
// one deleted since and compacted away. Two instances starting at once may
// both carry the same dead letter: the second copy replaces the first (same
// key), as a compacted topic does. What an instance of the earlier release stores
// after this start (during a rolling upgrade) is carried at the next start.
// Once every instance runs this release and started once, the two earlier
// topics may be deleted.
func (q *Queue) carryOver(ctx context.Context) error {
	earlier, deleted := q.topicOfKind(kindEarlierDead), q.topicOfKind(kindDeleted)
	topics, err := q.adm.ListTopics(ctx, earlier, deleted)
	if err != nil {
		return failed("carry dead letters over: list the earlier topics", err)
	}
	dead, ok := topics[earlier]
	if !ok || dead.Err != nil {
		return nil // none: a store this release made
	}
	gone := map[uint64]bool{}
	if markers, ok := topics[deleted]; ok && markers.Err == nil {
		for p := range markers.Partitions {
			err := q.readOn(ctx, deleted, p, 0, func(r *kgo.Record) error {
				v, _ := headerValue(r, headerDeletes)
				if seq, err := parseSeq(v); err == nil && string(r.Key) == queue.StreamDead {
					gone[seq] = true
				}
				return nil
			})
			if err != nil {
				return fmt.Errorf("carry dead letters over: read the delete markers: %w", err)
			}
		}
	}
	for p := range dead.Partitions {
		var batch []*kgo.Record
		next := q.live.carried[p]
		flush := func() error {
			if next == q.live.carried[p] {
				return nil
			}
			// Ordered after the batch on the partition: stored only once
			// the batch is.
			batch = append(batch, &kgo.Record{Topic: q.live.topic, Key: carriedKey(p), Value: strconv.AppendInt(nil, next, 10)})
			err := q.cl.ProduceSync(ctx, batch...).FirstErr()
			batch = batch[:0]
			return err
		}
		err := q.readOn(ctx, earlier, p, next, func(r *kgo.Record) error {
			if m, ok := storedOf(queue.StreamDead, r); ok && !gone[m.Seq] {
				batch = append(batch, q.carried(r, m))
			}
			next = r.Offset + 1
			if len(batch) < carryBatch {
				return nil
			}
			return flush()
		})
		if err == nil {
			err = flush()
		}
		if err != nil {
			return failed(fmt.Sprintf("carry dead letters over from %s/%d", earlier, p), err)
		}
	}
	return q.syncLive(ctx, 0)
}

// carryBatch is how many dead letters carryOver produces at once.
const carryBatch = 500

// carried is the record carrying m, read as r from the earlier dead topic,
// over to the dead letters' topic.
func (q *Queue) carried(r *kgo.Record, m queue.Stored) *kgo.Record {
	id := strconv.FormatUint(m.Seq, 10)
	c := &kgo.Record{Topic: q.live.topic, Key: []byte(id), Value: r.Value}
	if c.Value == nil {
		c.Value = []byte{}
	}
	for _, h := range r.Headers {
		if h.Key == headerSubject {
			h.Value = []byte(queue.DeadLetterSubject(m.Key, id))
		}
		c.Headers = append(c.Headers, h)
	}
	return c
}

// carriedKey keys the record saying how far partition p of the earlier
// dead topic was carried: with a space, it is no dead letter's id.
func carriedKey(p int32) []byte { return fmt.Appendf(nil, "carried %d", p) }

// carriedPartition is the partition a carriedKey names.
func carriedPartition(key string) (int32, bool) {
	rest, ok := strings.CutPrefix(key, "carried ")
	if !ok {
		return 0, false
	}
	p, err := strconv.ParseInt(rest, 10, 32)
	return int32(p), err == nil
}

// readOn calls fn for each record of topic's partition from offset from on,
// up to the partition's end, from its first record kept when from is
// before it.
func (q *Queue) readOn(ctx context.Context, topic string, partition int32, from int64, fn func(*kgo.Record) error) error {
	for {
		f, err := q.fetch(ctx, topic, partition, from)
		if errors.Is(err, errOutOfRange) {
			start, serr := q.startOffset(ctx, topic, partition)
			if serr != nil {
				return serr
			}
			if start <= from {
				return nil // from is the end
			}
			from = start
			continue
		}
		if err != nil {
			return err
		}
		for _, r := range f.records {
			if err := fn(r); err != nil {
				return err
			}
			from = r.Offset + 1
		}
		if len(f.records) == 0 || from >= f.end {
			return nil
		}
	}
}

// parseSeq reads a Seq written in decimal.
func parseSeq(v string) (uint64, error) { return strconv.ParseUint(v, 10, 64) }
