package jsqueue

import (
	"context"
	"errors"

	"github.com/hookrelay/hookrelay/internal/queue"
)

// Claim is not built yet on JetStream.
func (q *Queue) Claim(ctx context.Context) (queue.Claim, error) {
	return nil, errors.New("claim: not implemented on jetstream yet")
}
