package kafkaqueue

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hookrelay/hookrelay/internal/queue"
)

// dedupStreams are the streams whose messages carry IDs to deduplicate.
var dedupStreams = [...]string{queue.StreamIn, queue.StreamOut, queue.StreamDead}

// dedupTail is how far this instance has read one partition of a dedup
// stream's topic into the index. Before a publish with an ID, the index
// reads on to the partition's end: a copy another instance stored before
// is then known, and only one stored at the same moment slips through (the
// consumers catch that one).
type dedupTail struct {
	topic     string
	partition int32
	// sem is held while catching up; a channel so that waiting for it
	// ends with the caller's context.
	sem  chan struct{}
	next int64
	// lastStart is when the last finished catch-up began: a publish that
	// arrived before it needs no other.
	lastStart time.Time
}

type tailKey struct {
	stream    string
	partition int32
}

// rebuildDedup builds the dedup index from the window of in, out and dead,
// so a restarted instance still refuses a second copy of what was stored
// before, and sets the tails from which publishes keep it current.
func (q *Queue) rebuildDedup(ctx context.Context) (*dedupIndex, error) {
	q.dedup = newDedupIndex(q.opts.Streams.DedupWindow, time.Now)
	q.tails = map[tailKey]*dedupTail{}
	since := time.Now().Add(-q.opts.Streams.DedupWindow)
	for _, stream := range dedupStreams {
		topic := q.topic(stream)
		offs, err := q.adm.ListOffsetsAfterMilli(ctx, since.UnixMilli(), topic)
		if err != nil {
			return nil, failed("rebuild dedup index: list offsets of "+topic, err)
		}
		for p := range int32(q.partitions[topic]) {
			o, ok := offs.Lookup(topic, p)
			if !ok || o.Err != nil {
				return nil, failed(fmt.Sprintf("rebuild dedup index: list offsets of %s/%d", topic, p),
					errors.Join(o.Err, errors.New("partition missing")))
			}
			tail := &dedupTail{topic: topic, partition: p, sem: make(chan struct{}, 1), next: max(o.Offset, 0)}
			q.tails[tailKey{stream, p}] = tail
			if err := q.catchUp(ctx, stream, tail); err != nil {
				return nil, fmt.Errorf("rebuild dedup index: %w", err)
			}
		}
	}
	return q.dedup, nil
}

// catchUpFor reads into the index what was stored on the partition m goes
// to since this instance last looked; nothing for a stream without dedup.
func (q *Queue) catchUpFor(ctx context.Context, stream string, m queue.Msg) error {
	topic := q.topic(stream)
	tail := q.tails[tailKey{stream, partitionFor(keyOf(m.Subject), q.partitions[topic])}]
	if tail == nil {
		return nil
	}
	return q.catchUp(ctx, stream, tail)
}

// catchUp reads tail's partition from where it stopped to the end. Callers
// that arrive while one runs wait for it and run one more at most, for all
// of them.
func (q *Queue) catchUp(ctx context.Context, stream string, tail *dedupTail) error {
	arrived := time.Now()
	select {
	case tail.sem <- struct{}{}:
	case <-ctx.Done():
		return failed(fmt.Sprintf("read %s/%d for duplicates", tail.topic, tail.partition), ctx.Err())
	}
	defer func() { <-tail.sem }()
	if !tail.lastStart.Before(arrived) {
		return nil
	}
	started := time.Now()
	for {
		f, err := q.fetch(ctx, tail.topic, tail.partition, tail.next)
		if errors.Is(err, errOutOfRange) {
			// The retention went past where we stopped (a long-idle
			// instance): what it removed is older than any window.
			start, serr := q.startOffset(ctx, tail.topic, tail.partition)
			if serr != nil {
				return serr
			}
			if start <= tail.next { // past the end: the topic was recreated
				start = 0
			}
			tail.next = start
			continue
		}
		if err != nil {
			return err
		}
		for _, r := range f.records {
			if id, ok := headerValue(r, headerID); ok && id != "" {
				q.dedup.note(stream, id, seqOf(r.Partition, r.Offset), r.Timestamp)
			}
			tail.next = r.Offset + 1
		}
		if len(f.records) == 0 || tail.next >= f.end {
			tail.lastStart = started
			return nil
		}
	}
}
