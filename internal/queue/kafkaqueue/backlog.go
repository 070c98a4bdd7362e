package kafkaqueue

import (
	"context"

	"github.com/hookrelay/hookrelay/internal/queue"
)

// Backlog reports what this instance sees: the records parked or buffered
// for the destinations whose partition it owns now (count, oldest time).
// Destinations owned by another instance, or by none yet, report zero: Kafka
// keeps no per-key counts, and reading out to count them would cost a full
// scan of the topic.
func (q *Queue) Backlog(ctx context.Context, destinations []string) (map[string]queue.Waiting, error) {
	seen, err := q.cons.backlog(ctx, destinations)
	if err != nil {
		return nil, err
	}
	out := make(map[string]queue.Waiting, len(destinations))
	for _, d := range destinations {
		out[d] = seen[d]
	}
	return out, nil
}
