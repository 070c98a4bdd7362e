package kafkaqueue

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// deletedIndex is the set of deleted positions, read from the deleted topic
// and caught up with it before each read that must skip them.
type deletedIndex struct {
	topic string

	// mu is held while catching up, so concurrent readers share one fetch.
	mu     sync.Mutex
	next   int64 // the deleted topic's next offset to read
	synced time.Time
	seqs   map[string]map[uint64]struct{}
}

func newDeletedIndex(topic string) *deletedIndex {
	return &deletedIndex{topic: topic, seqs: map[string]map[uint64]struct{}{}}
}

// syncDeleted reads the markers stored since the last catch-up, unless that
// is less than maxAge ago.
func (q *Queue) syncDeleted(ctx context.Context, maxAge time.Duration) error {
	d := q.deleted
	d.mu.Lock()
	defer d.mu.Unlock()
	if maxAge > 0 && time.Since(d.synced) < maxAge {
		return nil
	}
	started := time.Now()
	for {
		f, err := q.fetch(ctx, d.topic, 0, d.next)
		if errors.Is(err, errOutOfRange) {
			// Markers left with the retention, and what they deleted with
			// them; read on from the first one kept.
			if d.next, err = q.startOffset(ctx, d.topic, 0); err != nil {
				return fmt.Errorf("read delete markers: %w", err)
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("read delete markers: %w", err)
		}
		for _, r := range f.records {
			d.add(string(r.Key), r)
			d.next = r.Offset + 1
		}
		if len(f.records) == 0 || d.next >= f.end {
			d.synced = started
			return nil
		}
	}
}

// add records the marker r of stream. Called with mu held.
func (d *deletedIndex) add(stream string, r *kgo.Record) {
	v, _ := headerValue(r, headerDeletes)
	seq, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return // not a marker of ours
	}
	d.addSeq(stream, seq)
}

func (d *deletedIndex) addSeq(stream string, seq uint64) {
	s := d.seqs[stream]
	if s == nil {
		s = map[uint64]struct{}{}
		d.seqs[stream] = s
	}
	s[seq] = struct{}{}
}

// has reports whether seq of stream is deleted, as of the last catch-up.
func (d *deletedIndex) has(stream string, seq uint64) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, ok := d.seqs[stream][seq]
	return ok
}

// Delete stores a marker naming seq on the deleted topic; Get and Scan skip
// what the markers name from then on, in every instance.
func (q *Queue) Delete(ctx context.Context, stream string, seq uint64) error {
	if _, err := q.Get(ctx, stream, seq); err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	rec := &kgo.Record{
		Topic:   q.deleted.topic,
		Key:     []byte(stream),
		Headers: []kgo.RecordHeader{{Key: headerDeletes, Value: []byte(strconv.FormatUint(seq, 10))}},
	}
	if err := q.produceSync(ctx, rec); err != nil {
		return failed(fmt.Sprintf("delete %s seq %d", stream, seq), err)
	}
	q.deleted.mu.Lock()
	q.deleted.addSeq(stream, seq)
	q.deleted.mu.Unlock()
	return nil
}

// produceSync produces rec and waits for the brokers' ack until ctx ends.
func (q *Queue) produceSync(ctx context.Context, rec *kgo.Record) error {
	done := make(chan error, 1)
	rec.Context = context.WithoutCancel(ctx) // see startPublish
	q.cl.Produce(ctx, rec, func(_ *kgo.Record, err error) { done <- err })
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}
