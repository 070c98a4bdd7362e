package kafkaqueue

import (
	"context"
	"errors"
	"fmt"

	"github.com/hookrelay/hookrelay/internal/queue"
)

// Get reads the record at seq: one fetch at its partition and offset, after
// catching up with the delete markers.
func (q *Queue) Get(ctx context.Context, stream string, seq uint64) (queue.Stored, error) {
	if err := knownStream(stream); err != nil {
		return queue.Stored{}, fmt.Errorf("get seq %d: %w", seq, err)
	}
	topic := q.topic(stream)
	partition, offset := partitionOf(seq), offsetOf(seq)
	if offset < 0 || int(partition) >= q.partitions[topic] {
		return queue.Stored{}, errNotFound(stream, seq)
	}
	if err := q.syncDeleted(ctx, 0); err != nil {
		return queue.Stored{}, fmt.Errorf("get %s seq %d: %w", stream, seq, err)
	}
	if q.deleted.has(stream, seq) {
		return queue.Stored{}, errNotFound(stream, seq)
	}
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
	s, ok := storedOf(stream, f.records[0])
	if !ok {
		return queue.Stored{}, errNotFound(stream, seq)
	}
	return s, nil
}
