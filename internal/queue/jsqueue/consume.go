package jsqueue

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookrelay/hookrelay/internal/pause"
	"github.com/hookrelay/hookrelay/internal/queue"
)

// FeedEvents creates or updates the durable consumer name of RELAY_IN and
// starts it in this instance. Creation is retried while JetStream is
// unavailable (a few consumers at a time), until ctx ends.
func (q *Queue) FeedEvents(ctx context.Context, name string, o queue.FeedOptions) (queue.Consumer, error) {
	st, err := q.stream(queue.StreamIn)
	if err != nil {
		return nil, fmt.Errorf("feed %s: %w", name, err)
	}
	jcfg := jetstream.ConsumerConfig{
		Durable:       name,
		FilterSubject: queue.InAll,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       o.Redeliver,
		MaxAckPending: o.InFlight,
		MaxDeliver:    -1,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	}
	cons, err := q.createConsumer(ctx, st, jcfg)
	if err != nil {
		return nil, fmt.Errorf("feed %s of %s: %w", name, queue.StreamIn, err)
	}
	c, err := newShared(q, st, cons, jcfg)
	if err != nil {
		return nil, fmt.Errorf("feed %s of %s: %w", name, queue.StreamIn, err)
	}
	if !q.track(c) {
		c.Stop()
		return nil, fmt.Errorf("feed %s of %s: %w: queue closed", name, queue.StreamIn, queue.ErrUnavailable)
	}
	return c, nil
}

// createConsumer retries while JetStream is unavailable; any other refusal
// (a bad configuration) is returned at once.
func (q *Queue) createConsumer(ctx context.Context, st jetstream.Stream, cfg jetstream.ConsumerConfig) (jetstream.Consumer, error) {
	for delay := 250 * time.Millisecond; ; delay = min(2*delay, 30*time.Second) {
		select {
		case q.setup <- struct{}{}:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		callCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
		cons, err := st.CreateOrUpdateConsumer(callCtx, cfg)
		cancel()
		<-q.setup
		if err == nil {
			return cons, nil
		}
		if err = mapErr(err); !errors.Is(err, queue.ErrUnavailable) || ctx.Err() != nil {
			return nil, err
		}
		q.logger.Warn("create consumer; retrying", "consumer", cfg.Durable, "err", err, "retry_in", delay)
		if !pause.For(ctx, delay) {
			return nil, ctx.Err()
		}
	}
}

// errStopped is what Next and More return once the consumer was stopped.
var errStopped = errors.New("consumer stopped")
