package kafkaqueue

import (
	"context"
	"errors"

	"github.com/hookrelay/hookrelay/internal/queue"
)

// Claim is not built yet on Kafka.
func (q *Queue) Claim(ctx context.Context) (queue.Claim, error) {
	return nil, errors.New("claim: not implemented on kafka yet")
}
