package kafkaqueue

// PLACEHOLDER owned by the kq-consume branch: replace this whole file.
//
// What the rest of the package (kq-core) expects from the consumer side, and
// offers it:
//   - type consumers: the consumers' state shared per Queue (the exclusive
//     dispatch group client, its per-destination queues…). New calls
//     newConsumers(q) after the topics exist and the dedup index is built.
//   - (*consumers).backlog(ctx, destinations) is what Queue.Backlog returns:
//     the exclusive consumers' view; a destination missing from the map
//     reports zero (backlog.go fills it in).
//   - (*consumers).close(ctx) is called first by Queue.Close (before the
//     producer flushes and the client closes): stop the groups, leave them.
//   - Offered: q.cl (producing client: acks=all, idempotent, keyPartitioner),
//     q.adm, q.topic(stream), q.topicOfKind(kindAcks), q.partitions[topic]
//     (out and acks have the same count, acks keyed by destination with the
//     same partitioner), partitionFor(key, n), keyOf(subject), storedOf(stream,
//     record) (ok=false: not a message, skip it), seqOf/partitionOf/offsetOf,
//     q.opts (MaxParked, SessionTimeout, TopicPrefix, Streams.DedupWindow),
//     q.dedup.claimID(stream, id, seq, time) for the consumer-side dedup,
//     q.isDeleted(ctx, stream, seq) for records deleted by Delete (deleted.go).

import (
	"context"
	"errors"
	"fmt"

	"github.com/hookrelay/hookrelay/internal/queue"
)

// consumers is the consumers' state shared per Queue.
type consumers struct{}

func newConsumers(*Queue) *consumers { return &consumers{} }

// backlog is the exclusive consumers' view of what waits per destination.
func (*consumers) backlog(context.Context, []string) (map[string]queue.Waiting, error) {
	return nil, nil
}

// close stops every consumer of the Queue.
func (*consumers) close(context.Context) error { return nil }

// Consume is not implemented yet (kq-consume lands it).
func (q *Queue) Consume(_ context.Context, cfg queue.ConsumerConfig) (queue.Consumer, error) {
	return nil, fmt.Errorf("consume %s %s: %w", cfg.Stream, cfg.Name, errors.ErrUnsupported)
}
