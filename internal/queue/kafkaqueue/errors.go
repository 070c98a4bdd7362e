package kafkaqueue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"

	"github.com/hookrelay/hookrelay/internal/queue"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// errNotFound is queue.ErrNotFound said of seq on stream.
func errNotFound(stream string, seq uint64) error {
	return fmt.Errorf("%s seq %d: %w", stream, seq, queue.ErrNotFound)
}

// failed wraps err with what failed and, when it means the brokers could not
// be reached in time or refused a record for its size, with the matching
// queue error, so callers answer 503 or 413 without knowing Kafka.
func failed(what string, err error) error {
	switch {
	case isTooLarge(err):
		return fmt.Errorf("%s: %w: %w", what, queue.ErrTooLarge, err)
	case isUnavailable(err):
		return fmt.Errorf("%s: %w: %w", what, queue.ErrUnavailable, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

func isTooLarge(err error) bool {
	return errors.Is(err, kerr.MessageTooLarge) || errors.Is(err, kerr.RecordListTooLarge)
}

// isUnavailable reports whether err says the brokers could not be reached or
// answered "try again" until the caller's time ran out: a dial or
// connection error, a retriable broker error, a deadline.
func isUnavailable(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, kgo.ErrRecordTimeout) ||
		errors.Is(err, kgo.ErrRecordRetries) || errors.Is(err, kgo.ErrMaxBuffered) ||
		// A connection the broker dropped.
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	if _, ok := errors.AsType[net.Error](err); ok {
		return true
	}
	if _, ok := errors.AsType[*net.OpError](err); ok {
		return true
	}
	return kerr.IsRetriable(err)
}
