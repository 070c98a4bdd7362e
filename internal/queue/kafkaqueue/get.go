package kafkaqueue

import (
	"context"
	"errors"
	"fmt"

	"github.com/hookrelay/hookrelay/internal/queue"
)

// Get reads the record at seq: one fetch at its partition and offset; a
// dead letter after catching up with the dead letters' keys, so that one
// replaced or deleted is not found.
func (q *Queue) Get(ctx context.Context, stream string, seq uint64) (queue.Stored, error) {
	if err := knownStream(stream); err != nil {
		return queue.Stored{}, fmt.Errorf("get seq %d: %w", seq, err)
	}
	topic := q.topic(stream)
	partition, offset := partitionOf(seq), offsetOf(seq)
	if offset < 0 || int(partition) >= q.partitions[topic] {
		return queue.Stored{}, errNotFound(stream, seq)
	}
	if stream == queue.StreamDead {
		if err := q.syncLive(ctx, 0); err != nil {
			return queue.Stored{}, fmt.Errorf("get %s seq %d: %w", stream, seq, err)
		}
	}
	return q.getAt(ctx, stream, topic, partition, offset)
}

// getAt reads the record at offset of topic's partition, a dead letter if
// it is live as of the last catch-up.
func (q *Queue) getAt(ctx context.Context, stream, topic string, partition int32, offset int64) (queue.Stored, error) {
	seq := seqOf(partition, offset)
	f, err := q.fetchOne(ctx, topic, partition, offset)
	if errors.Is(err, errOutOfRange) {
		return queue.Stored{}, errNotFound(stream, seq)
	}
	if err != nil {
		return queue.Stored{}, fmt.Errorf("get %s seq %d: %w", stream, seq, err)
	}
	if len(f.records) == 0 || f.records[0].Offset != offset {
		return queue.Stored{}, errNotFound(stream, seq)
	}
	r := f.records[0]
	if stream == queue.StreamDead && !q.live.isLive(r.Key, seq) {
		return queue.Stored{}, errNotFound(stream, seq)
	}
	s, ok := storedOf(stream, r)
	if !ok {
		return queue.Stored{}, errNotFound(stream, seq)
	}
	return s, nil
}
