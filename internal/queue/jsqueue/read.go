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
	if q.directTurnedOff(ctx, stream, err) {
		m, err = st.GetMsg(ctx, seq)
	}
	if err != nil {
		return queue.Stored{}, fmt.Errorf("get %s #%d: %w", stream, seq, mapErr(err))
	}
	return stored(stream, m.Subject, m.Sequence, m.Time, m.Header, m.Data), nil
}

// Last reads the last message of subject on stream: a direct get of the
// last by subject, or, when the stream has no direct gets (replicas), the
// API's message get from the leader. Both take a wildcard: the server looks
// the last message of every matching subject up in its subject index
// (nats-server's LoadLastMsg), so a dead letter is found by its id in one
// request, whatever its destination.
func (q *Queue) Last(ctx context.Context, stream, subject string) (queue.Stored, error) {
	if _, err := q.stream(stream); err != nil {
		return queue.Stored{}, err
	}
	m, err := q.readLast(ctx, stream, subject)
	if err != nil {
		return queue.Stored{}, err
	}
	return stored(stream, m.Subject, m.Sequence, m.Time, m.Header, m.Data), nil
}

// Delete removes m by its sequence.
func (q *Queue) Delete(ctx context.Context, m queue.Stored) error {
	return q.deleteSeq(ctx, m.Stream, m.Seq)
}

// deleteSeq removes the message at seq of stream.
func (q *Queue) deleteSeq(ctx context.Context, stream string, seq uint64) error {
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

// Scan reads subject's last message first, where the scan ends: nothing
// more is read when there is none, or when it was stored before start.
// Then it reads the rest by direct get (see readNext) in batches when the
// stream allows it, so what is deleted meanwhile is not read; other streams
// are read through a consumer.
func (q *Queue) Scan(ctx context.Context, stream, subject string, start time.Time, fn func(queue.Stored) (bool, error)) error {
	st, err := q.stream(stream)
	if err != nil {
		return err
	}
	last, err := q.readLast(ctx, stream, subject)
	if errors.Is(err, queue.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("scan: %w", err)
	}
	if last.Time.Before(start) {
		return nil // a stream's times grow with its sequence
	}
	if !q.direct(stream) {
		return q.scanByConsumer(ctx, st, stream, subject, start, last.Sequence, fn)
	}
	at := startAt{start: start}
	if start.IsZero() {
		at.seq = 1
	}
	for {
		msgs, _, err := q.readNext(ctx, stream, subject, at, scanBatch, scanBatchBytes)
		if errors.Is(err, queue.ErrNotFound) && at.seq > 0 {
			// Deleted up to the end meanwhile, unless the store could not
			// read what is there (it answers not found then too).
			if now, lerr := q.readLast(ctx, stream, subject); lerr == nil && now.Sequence >= at.seq {
				return fmt.Errorf("scan %s: %w: #%d and later not read", subject, queue.ErrUnavailable, at.seq)
			}
			return nil
		}
		if errors.Is(err, queue.ErrNotFound) {
			return nil // nothing stored since start
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

// scanByConsumer reads stream through an ordered consumer, which skips what
// was deleted meanwhile, up to the subject's last message when the scan
// began. It is the scan of a stream with replicas: a consumer reads from
// the leader in batches where the API's message get reads one message a
// request.
func (q *Queue) scanByConsumer(ctx context.Context, st jetstream.Stream, stream, subject string, start time.Time, last uint64, fn func(queue.Stored) (bool, error)) error {
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}, InactiveThreshold: time.Minute}
	if !start.IsZero() {
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &start
	}
	cons, err := st.OrderedConsumer(ctx, cfg)
	if err != nil {
		return fmt.Errorf("scan %s: create consumer: %w", subject, mapErr(err))
	}
	defer func() {
		// Best effort: the inactive threshold removes it anyway.
		if ci := cons.CachedInfo(); ci != nil {
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
			defer cancel()
			_ = st.DeleteConsumer(dctx, ci.Name)
		}
	}()
	if ci := cons.CachedInfo(); ci != nil && ci.NumPending == 0 {
		return nil
	}
	for {
		batch, err := cons.Fetch(256, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			return fmt.Errorf("scan %s: %w", subject, mapErr(err))
		}
		n := 0
		for m := range batch.Messages() {
			n++
			md, err := m.Metadata()
			if err != nil {
				return fmt.Errorf("scan %s: metadata: %w", subject, err)
			}
			if md.Sequence.Stream > last {
				return nil
			}
			s := stored(stream, m.Subject(), md.Sequence.Stream, md.Timestamp, m.Headers(), m.Data())
			if more, err := fn(s); err != nil || !more {
				return err
			}
			if md.NumPending == 0 || md.Sequence.Stream == last {
				return nil
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return fmt.Errorf("scan %s: %w", subject, mapErr(err))
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if n == 0 {
			// The rest may have been deleted since the last message said
			// more were pending.
			ci, err := cons.Info(ctx)
			if err != nil {
				return fmt.Errorf("scan %s: consumer info: %w", subject, mapErr(err))
			}
			if ci.NumPending == 0 {
				return nil
			}
		}
	}
}

// A Scan reads up to scanBatch messages at once, and up to scanBatchBytes.
const (
	scanBatch      = 256
	scanBatchBytes = 1 << 20
)
