package jsqueue

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookrelay/hookrelay/internal/queue"
)

// unavailable are the errors that mean JetStream could not be reached in
// time, as opposed to a refusal.
var unavailable = []error{
	context.DeadlineExceeded, nats.ErrTimeout, nats.ErrNoResponders, nats.ErrNoServers,
	nats.ErrConnectionClosed, nats.ErrConnectionDraining, nats.ErrConnectionReconnecting,
	nats.ErrDisconnected, nats.ErrReconnectBufExceeded,
	jetstream.ErrNoStreamResponse, jetstream.ErrJetStreamNotEnabled, jetstream.ErrJetStreamNotEnabledForAccount,
	jetstream.ErrAsyncPublishTimeout, jetstream.ErrTooManyStalledMsgs,
}

// mapErr makes err match the queue's errors (queue.ErrTooLarge,
// queue.ErrUnavailable, queue.ErrNotFound) while keeping the NATS error in
// the chain. The caller still says what failed.
func mapErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, nats.ErrMaxPayload), errors.Is(err, jetstream.ErrStreamMessageExceedsMaximum):
		return fmt.Errorf("%w: %w", queue.ErrTooLarge, err)
	case errors.Is(err, jetstream.ErrMsgNotFound):
		return fmt.Errorf("%w: %w", queue.ErrNotFound, err)
	case isFull(err):
		return fmt.Errorf("%w: %w: %w", queue.ErrUnavailable, queue.ErrFull, err)
	}
	for _, u := range unavailable {
		if errors.Is(err, u) {
			return fmt.Errorf("%w: %w", queue.ErrUnavailable, err)
		}
	}
	return err
}

// JetStream's refusals of a write its storage limits leave no room for
// (nats-server's JSInsufficientResourcesErr, JSAccountResourcesExceededErr
// and JSStorageResourcesExceededErr): the server's limit, the account's (the
// embedded server's limit that follows the disk), the store's reservations.
const (
	errCodeInsufficientResources    = 10023
	errCodeAccountResourcesExceeded = 10002
	errCodeStorageResourcesExceeded = 10047
)

func isFull(err error) bool {
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	switch apiErr.ErrorCode {
	case errCodeInsufficientResources, errCodeAccountResourcesExceeded, errCodeStorageResourcesExceeded:
		return true
	}
	return false
}
