package jsqueue

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookrelay/hookrelay/internal/queue"
)

// stored converts a message read back from JetStream. The ID travels as
// Nats-Msg-Id; it, the publish expectations and what a direct get adds
// (Nats-Sequence, Nats-Time-Stamp, …) are JetStream's, not the caller's
// headers.
func stored(stream, subject string, seq uint64, at time.Time, h nats.Header, data []byte) queue.Stored {
	s := queue.Stored{Stream: stream, Seq: seq, Time: at, Msg: queue.Msg{Key: queue.KeyOf(subject), Subject: subject, Data: data}}
	for k, vs := range h {
		switch {
		case k == jetstream.MsgIDHeader:
			if len(vs) > 0 {
				s.ID = vs[0]
			}
		case strings.HasPrefix(k, "Nats-"):
		default:
			if s.Header == nil {
				s.Header = make(queue.Header, len(h))
			}
			s.Header[k] = vs
		}
	}
	return s
}

// Get reads the message at seq of stream.
func (q *Queue) Get(ctx context.Context, stream string, seq uint64) (queue.Stored, error) {
	st, err := q.stream(stream)
	if err != nil {
		return queue.Stored{}, err
	}
	m, err := st.GetMsg(ctx, seq)
	if err != nil {
		return queue.Stored{}, fmt.Errorf("get %s #%d: %w", stream, seq, mapErr(err))
	}
	return stored(stream, m.Subject, m.Sequence, m.Time, m.Header, m.Data), nil
}

// Delete removes the message at seq of stream.
func (q *Queue) Delete(ctx context.Context, stream string, seq uint64) error {
	st, err := q.stream(stream)
	if err != nil {
		return err
	}
	if err := st.DeleteMsg(ctx, seq); err != nil {
		// The server refuses a message that is not there with a generic
		// deletion failure; a read tells it apart from a real one.
		if _, gerr := st.GetMsg(ctx, seq); errors.Is(gerr, jetstream.ErrMsgNotFound) {
			return fmt.Errorf("delete %s #%d: %w: %w", stream, seq, queue.ErrNotFound, err)
		}
		return fmt.Errorf("delete %s #%d: %w", stream, seq, mapErr(err))
	}
	return nil
}

// Scan reads subject's messages without a consumer (see readNext), up to the
// last one stored when it began, which it reads first; what is deleted
// meanwhile is not read.
func (q *Queue) Scan(ctx context.Context, stream, subject string, start time.Time, fn func(queue.Stored) (bool, error)) error {
	if _, err := q.stream(stream); err != nil {
		return err
	}
	last, err := q.readLast(ctx, stream, subject)
	if errors.Is(err, queue.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("scan: %w", err)
	}
	at := startAt{start: start}
	if start.IsZero() {
		at.seq = 1
	}
	for {
		msgs, _, err := q.readNext(ctx, stream, subject, at, scanBatch, scanBatchBytes)
		if errors.Is(err, queue.ErrNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("scan: %w", err)
		}
		for _, m := range msgs {
			if m.Sequence > last.Sequence {
				return nil
			}
			if more, err := fn(stored(stream, m.Subject, m.Sequence, m.Time, m.Header, m.Data)); err != nil || !more {
				return err
			}
			at = startAt{seq: m.Sequence + 1}
		}
		if at.seq > last.Sequence {
			return nil
		}
	}
}

// A Scan reads up to scanBatch messages at once, and up to scanBatchBytes.
const (
	scanBatch      = 256
	scanBatchBytes = 1 << 20
)
