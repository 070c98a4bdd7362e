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

// Consume creates or updates the durable consumer and starts it in this
// instance. Creation is retried while JetStream is unavailable (a few
// consumers at a time), until ctx ends: one slow consumer must not stop the
// others.
func (q *Queue) Consume(ctx context.Context, cfg queue.ConsumerConfig) (queue.Consumer, error) {
	if cfg.Exclusive {
		if cfg.Stream != queue.StreamOut {
			return nil, fmt.Errorf("consume %s: exclusive consumers are the lanes of %s's destinations", cfg.Name, queue.StreamOut)
		}
		return q.consumeLane(ctx, cfg)
	}
	st, err := q.stream(cfg.Stream)
	if err != nil {
		return nil, fmt.Errorf("consume %s: %w", cfg.Name, err)
	}
	jcfg := jetstream.ConsumerConfig{
		Durable:       cfg.Name,
		FilterSubject: cfg.Subject,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       cfg.AckWait,
		MaxAckPending: cfg.MaxAckPending,
		MaxDeliver:    -1,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		// On a work queue the stream is the consumer's state: an acked
		// message is removed (a tombstone written with it), so what is left
		// after a restart is exactly what is left to deliver. Keeping the
		// consumer's state in memory spares the server rewriting a state
		// file per consumer up to ten times a second; after a restart the
		// consumer is created again and starts from the first message left.
		MemoryStorage: isWorkQueue(st),
	}
	cons, err := q.createConsumer(ctx, st, jcfg)
	if err != nil {
		return nil, fmt.Errorf("consume %s on %s: %w", cfg.Name, cfg.Stream, err)
	}
	c, err := newShared(q, st, cons, jcfg)
	if err != nil {
		return nil, fmt.Errorf("consume %s on %s: %w", cfg.Name, cfg.Stream, err)
	}
	if !q.track(c) {
		c.Stop()
		return nil, fmt.Errorf("consume %s on %s: %w: queue closed", cfg.Name, cfg.Stream, queue.ErrUnavailable)
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
		if err != nil && !errors.Is(mapErr(err), queue.ErrUnavailable) {
			cons, err = recreateConsumer(callCtx, st, cfg, err)
		}
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

func isWorkQueue(st jetstream.Stream) bool {
	info := st.CachedInfo()
	return info != nil && info.Config.Retention == jetstream.WorkQueuePolicy
}

// recreateConsumer deletes and creates again a consumer whose storage the
// server refused to change: one made file-backed by an earlier version. On a
// work queue nothing is lost with it, as its messages stay on the stream
// until acked; deliveries in flight are handed out again. Instances that
// start together race to do it: a consumer another one deleted, or made
// again already, is taken as it is, and one may delete what another just
// made (that one's waiting pull hears "consumer deleted" and goes on). Any
// other refusal is returned as it was.
func recreateConsumer(ctx context.Context, st jetstream.Stream, cfg jetstream.ConsumerConfig, refused error) (jetstream.Consumer, error) {
	if !isWorkQueue(st) {
		return nil, refused
	}
	for range 3 {
		old, err := st.Consumer(ctx, cfg.Durable)
		switch {
		case errors.Is(err, jetstream.ErrConsumerNotFound):
		case errors.Is(mapErr(err), queue.ErrUnavailable):
			return nil, fmt.Errorf("look up consumer %s: %w", cfg.Durable, mapErr(err)) // createConsumer retries
		case err != nil:
			return nil, refused
		case old.CachedInfo().Config.MemoryStorage != cfg.MemoryStorage:
			if err := st.DeleteConsumer(ctx, cfg.Durable); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
				return nil, fmt.Errorf("delete consumer %s to change its storage: %w", cfg.Durable, mapErr(err))
			}
		}
		cons, err := st.CreateOrUpdateConsumer(ctx, cfg)
		if err == nil {
			return cons, nil
		}
		refused = err
	}
	return nil, refused
}

// errStopped is what Next and More return once the consumer was stopped.
var errStopped = errors.New("consumer stopped")
