package jsqueue

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookrelay/hookrelay/internal/queue"
)

// maxPrefetch bounds the messages a shared consumer fetches ahead of Next. A
// prefetched message's ack wait runs already, so a deep buffer would see
// messages handed out again while they still wait in it.
const maxPrefetch = 16

// shared is a consumer whose members all receive messages: a pull iterator
// that keeps a few prefetched.
type shared struct {
	q    *Queue
	name string
	it   jetstream.MessagesContext

	mu       sync.Mutex // one Next on the iterator at a time
	stopped  atomic.Bool
	stopOnce sync.Once
}

func newShared(q *Queue, cons jetstream.Consumer, cfg queue.ConsumerConfig) (*shared, error) {
	prefetch := maxPrefetch
	if cfg.MaxAckPending > 0 {
		prefetch = min(prefetch, cfg.MaxAckPending)
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(prefetch))
	if err != nil {
		return nil, fmt.Errorf("pull: %w", mapErr(err))
	}
	return &shared{q: q, name: cfg.Name, it: it}, nil
}

func (c *shared) Next(ctx context.Context) (queue.Delivery, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.next(ctx)
}

func (c *shared) next(ctx context.Context) (queue.Delivery, error) {
	for {
		if c.stopped.Load() {
			return nil, fmt.Errorf("next of %s: %w", c.name, errStopped)
		}
		m, err := c.it.Next(jetstream.NextContext(ctx))
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case errors.Is(err, jetstream.ErrMsgIteratorClosed) && c.stopped.Load():
			return nil, fmt.Errorf("next of %s: %w", c.name, errStopped)
		default:
			return nil, fmt.Errorf("next of %s: %w", c.name, mapErr(err))
		}
		if c.stopped.Load() {
			_ = m.Nak() // fetched ahead, to be handed back
			continue
		}
		return newDelivery(m)
	}
}

func (c *shared) More(ctx context.Context, n int, maxWait time.Duration) ([]queue.Delivery, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	wctx, cancel := context.WithTimeout(ctx, maxWait)
	defer cancel()
	var out []queue.Delivery
	for len(out) < n {
		d, err := c.next(wctx)
		if err != nil {
			if wctx.Err() != nil && ctx.Err() == nil || len(out) > 0 {
				break
			}
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// Owned is always true: every member receives messages.
func (c *shared) Owned() bool { return !c.stopped.Load() }

// Stop drains the iterator and hands back what it fetched ahead, so another
// member gets it at once rather than after the ack wait.
func (c *shared) Stop() {
	c.stopOnce.Do(func() {
		c.stopped.Store(true)
		c.it.Drain()
		c.mu.Lock() // a Next in progress gives up once the drain ends
		defer c.mu.Unlock()
		for {
			m, err := c.it.Next(jetstream.NextMaxWait(time.Second))
			if err != nil {
				break
			}
			_ = m.Nak()
		}
		c.q.untrack(c)
	})
}
