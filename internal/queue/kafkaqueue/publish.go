package kafkaqueue

import (
	"context"
	"fmt"
	"time"

	"github.com/hookrelay/hookrelay/internal/queue"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Publish stores m on the topic of its stream once every in-sync replica has
// it. The record carries ctx's deadline: one not yet sent by then fails and
// is never stored later, and Publish returns queue.ErrUnavailable. Only a
// record already on the wire when the brokers went away stays ambiguous
// (Kafka's own case); a publish of the same ID meanwhile waits for that
// outcome rather than storing a second copy.
func (q *Queue) Publish(ctx context.Context, m queue.Msg) (queue.PubAck, error) {
	wait, err := q.startPublish(ctx, m, false)
	if err != nil {
		return queue.PubAck{}, err
	}
	return wait()
}

// PublishAll hands every message to the producer before waiting for the
// first ack, so they share produce requests.
func (q *Queue) PublishAll(ctx context.Context, ms []queue.Msg) ([]queue.PubAck, error) {
	// One catch-up of the dedup index per partition serves the batch.
	caughtUp := map[tailKey]bool{}
	for _, m := range ms {
		stream := queue.StreamOf(m.Subject)
		if m.ID == "" || stream == "" {
			continue
		}
		k := tailKey{stream, partitionFor(keyOf(m.Subject), q.partitions[q.topic(stream)])}
		if !caughtUp[k] {
			if err := q.catchUpFor(ctx, stream, m); err != nil {
				return nil, fmt.Errorf("publish %s: %w", m.Subject, err)
			}
			caughtUp[k] = true
		}
	}
	waits := make([]func() (queue.PubAck, error), 0, len(ms))
	for _, m := range ms {
		wait, err := q.startPublish(ctx, m, true)
		if err != nil {
			return nil, err
		}
		waits = append(waits, wait)
	}
	acks := make([]queue.PubAck, len(ms))
	for i, wait := range waits {
		ack, err := wait()
		if err != nil {
			return nil, err
		}
		acks[i] = ack
	}
	return acks, nil
}

// published is the outcome of one produce.
type published struct {
	ack queue.PubAck
	err error
}

// startPublish reserves m's ID (after catching the index up with m's
// partition unless caughtUp) and hands m to the producer; wait returns its
// ack.
func (q *Queue) startPublish(ctx context.Context, m queue.Msg, caughtUp bool) (wait func() (queue.PubAck, error), err error) {
	// The subject alone is what the callbacks below keep of m, for their
	// errors: "publish <subject>" is built only on error.
	subject := m.Subject
	stream := queue.StreamOf(subject)
	if stream == "" {
		return nil, fmt.Errorf("publish %s: subject outside the queue's streams", subject)
	}
	var res *reservation
	if m.ID != "" {
		if !caughtUp {
			if err := q.catchUpFor(ctx, stream, m); err != nil {
				return nil, fmt.Errorf("publish %s: %w", subject, err)
			}
		}
		r, seq, dup, err := q.dedup.reserve(ctx, stream, m.ID)
		if err != nil {
			return nil, failed("publish "+subject, err)
		}
		if dup {
			ack := queue.PubAck{Stream: stream, Seq: seq, Duplicate: true}
			return func() (queue.PubAck, error) { return ack, nil }, nil
		}
		res = r
	}
	done := make(chan published, 1)
	// The record takes ctx's deadline, not its cancellation: a caller that
	// gives up on the brokers at its deadline (ingest answering 503) must
	// not see the record stored later, when the producer reaches a broker
	// again; kgo fails a record not yet sent once its context ends. A batch
	// fails with its first record, so records behind it fail with it: they
	// waited as long, for a batch that could not be sent. A record already
	// sent when the connection broke may still be stored (Kafka's own
	// ambiguity); the caller's retry is then a duplicate of its ID.
	rec := recordOf(q.topic(stream), m)
	recCtx, cancelRec := context.WithoutCancel(ctx), context.CancelFunc(func() {})
	if deadline, ok := ctx.Deadline(); ok {
		recCtx, cancelRec = context.WithDeadline(recCtx, deadline)
	}
	rec.Context = recCtx
	q.cl.Produce(ctx, rec, func(r *kgo.Record, err error) {
		defer cancelRec()
		var p published
		if err != nil {
			p.err = failed("publish "+subject, err)
		} else {
			p.ack = queue.PubAck{Stream: stream, Seq: seqOf(r.Partition, r.Offset)}
		}
		if res != nil {
			// A consumer met an earlier copy of this ID meanwhile (another
			// instance stored it): ours is the duplicate, and the
			// consumers skip it.
			if orig := res.settle(p.ack.Seq, r.Timestamp, err); err == nil && orig != p.ack.Seq {
				p.ack.Seq, p.ack.Duplicate = orig, true
			}
		}
		done <- p
	})
	return func() (queue.PubAck, error) {
		select {
		case p := <-done:
			return p.ack, p.err
		case <-ctx.Done():
		}
		// The record fails at the same deadline unless a broker took it
		// meanwhile: its outcome, not the deadline alone, decides what the
		// caller answers, so no refusal is given for a record kgo reports
		// stored. Bounded: a record kgo has not settled a second later is
		// given up on.
		settle := time.NewTimer(time.Second)
		defer settle.Stop()
		select {
		case p := <-done:
			return p.ack, p.err
		case <-settle.C:
			return queue.PubAck{}, failed("publish "+subject+": wait for the brokers", ctx.Err())
		}
	}, nil
}

// Send hands m to the producer and returns: history and the sent log are
// worth little against the caller's latency. A record the brokers never
// store is logged and counted (SendFailures). Send does not deduplicate:
// the streams it serves carry no IDs.
func (q *Queue) Send(m queue.Msg) error {
	stream := queue.StreamOf(m.Subject)
	if stream == "" {
		return fmt.Errorf("send %s: subject outside the queue's streams", m.Subject)
	}
	if q.closed.Load() {
		return fmt.Errorf("send %s: %w", m.Subject, errClosed)
	}
	q.cl.TryProduce(context.Background(), recordOf(q.topic(stream), m), func(_ *kgo.Record, err error) {
		if err != nil {
			q.sendFailures.Add(1)
			q.log.Warn("kafka queue: send failed", "subject", m.Subject, "err", err)
		}
	})
	return nil
}
