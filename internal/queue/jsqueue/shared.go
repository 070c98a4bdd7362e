package jsqueue

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookrelay/hookrelay/internal/pause"
	"github.com/hookrelay/hookrelay/internal/queue"
)

// maxPrefetch bounds the messages a shared consumer fetches ahead of Next. A
// prefetched message's ack wait runs already, so a deep buffer would see
// messages handed out again while they still wait in it.
const maxPrefetch = 16

// pullExpiry is how long one pull request of a shared consumer waits.
const pullExpiry = 10 * time.Second

// For nudgeFor after a message, Next waits at most nudgeEvery at a time in the
// iterator, then asks it again. nats.go's iterator (v1.55) sends its next
// pull only when a wait starts, and not while its previous pull is still
// being sent: a reader that takes the whole batch while the pull that asked
// for it is still being sent (its goroutine paused on a busy machine) then
// waits on a pull never made, until it misses the pulls' heartbeats, 10 s.
// BenchmarkWholePath saw transform pause so, thousands of events waiting, in
// about one run in 15 to 40. Asking again makes the pull it skipped. Once the
// consumer has been quiet for nudgeFor, Next waits without a limit: an idle
// consumer costs nothing, and a pull the store lost is still noticed by its
// missing heartbeats.
const (
	nudgeEvery = 250 * time.Millisecond
	nudgeFor   = 2 * time.Second
)

// shared is a consumer whose members all receive messages: a pull iterator
// that keeps a few prefetched. The iterator is made again whenever the server
// or the connection broke it (a failover, a forgotten consumer), so Next only
// ever ends with its context or Stop.
type shared struct {
	q        *Queue
	st       jetstream.Stream
	cfg      jetstream.ConsumerConfig // to make it again
	name     string
	prefetch int
	itMu     sync.Mutex                // guards its replacement against Stop
	it       jetstream.MessagesContext // replaced under mu and itMu
	failing  bool                      // under mu: the last pull failed, a warning was logged
	lastMsg  time.Time                 // under mu: when Next last handed a message out

	mu       sync.Mutex // one Next on the iterator at a time
	stopped  atomic.Bool
	stopOnce sync.Once
	life     context.Context // ends at Stop, so that making the pull again gives up
	end      context.CancelFunc
}

func newShared(q *Queue, st jetstream.Stream, cons jetstream.Consumer, cfg jetstream.ConsumerConfig) (*shared, error) {
	prefetch := maxPrefetch
	if cfg.MaxAckPending > 0 {
		prefetch = min(prefetch, cfg.MaxAckPending)
	}
	c := &shared{q: q, st: st, cfg: cfg, name: cfg.Durable, prefetch: prefetch}
	c.life, c.end = context.WithCancel(context.Background())
	it, err := c.pull(cons)
	if err != nil {
		return nil, err
	}
	c.it = it
	return c, nil
}

func (c *shared) pull(cons jetstream.Consumer) (jetstream.MessagesContext, error) {
	// Pulls that expire after 10 s carry a heartbeat every 5 s: a pull the
	// store lost (its node died, or froze) is noticed within 10 s, not 30 s.
	it, err := cons.Messages(jetstream.PullMaxMessages(c.prefetch), jetstream.PullExpiry(pullExpiry))
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", c.name, mapErr(err))
	}
	return it, nil
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
		wctx, cancel := ctx, context.CancelFunc(func() {})
		nudge := time.Since(c.lastMsg) < nudgeFor
		if nudge {
			wctx, cancel = context.WithTimeout(ctx, nudgeEvery)
		}
		m, err := c.it.Next(jetstream.NextContext(wctx))
		cancel()
		switch {
		case err == nil:
			c.lastMsg = time.Now()
			c.works()
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case c.stopped.Load():
			return nil, fmt.Errorf("next of %s: %w", c.name, errStopped)
		case nudge && wctx.Err() != nil:
			continue // ask again: the iterator makes the pull it may have skipped
		default:
			if err := c.recover(ctx, err); err != nil {
				return nil, err
			}
			continue
		}
		if c.stopped.Load() {
			_ = m.Nak() // fetched ahead, to be handed back
			continue
		}
		return newDelivery(m)
	}
}

// recover handles what the iterator answered instead of a message. Every
// answer is "ask again": the iterator goes on by itself after a missed
// heartbeat or a leader change; one the server or the connection ended (the
// consumer deleted or forgotten, the connection closed and opened again) is
// made again, with the consumer, backing off while that fails. Only ctx and
// Stop end it.
func (c *shared) recover(ctx context.Context, cause error) error {
	if !c.failing {
		c.q.logger.Warn("pull interrupted; asking again until it works", "consumer", c.name, "err", cause)
		c.failing = true
	}
	if !terminal(cause) {
		// The iterator pulls again by itself: wait a little so that a
		// store that answers at once with the same error is not spun on.
		if !pause.For(ctx, 100*time.Millisecond) {
			return ctx.Err()
		}
		return nil
	}
	c.it.Stop()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(c.life, cancel)()
	for delay := 250 * time.Millisecond; ; delay = min(2*delay, 10*time.Second) {
		if c.stopped.Load() {
			return fmt.Errorf("next of %s: %w", c.name, errStopped)
		}
		cons, err := c.q.createConsumer(ctx, c.st, c.cfg)
		if err == nil {
			var it jetstream.MessagesContext
			if it, err = c.pull(cons); err == nil {
				c.itMu.Lock()
				defer c.itMu.Unlock()
				if c.stopped.Load() { // Stop drained the old one already
					it.Stop()
					return fmt.Errorf("next of %s: %w", c.name, errStopped)
				}
				c.it = it
				c.q.logger.Info("pull made again", "consumer", c.name)
				return nil
			}
		}
		if c.stopped.Load() {
			return fmt.Errorf("next of %s: %w", c.name, errStopped)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		c.q.logger.Warn("make the pull again; retrying", "consumer", c.name, "err", err, "retry_in", delay)
		if !pause.For(ctx, delay) {
			return ctx.Err()
		}
	}
}

// terminal reports whether the iterator ended and must be made again.
func terminal(err error) bool {
	return errors.Is(err, jetstream.ErrMsgIteratorClosed) || errors.Is(err, jetstream.ErrConsumerDeleted) ||
		errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrBadRequest) ||
		errors.Is(err, nats.ErrConnectionClosed)
}

// works notes that a pull handed a message out again, after a failure it
// warned of.
func (c *shared) works() {
	if c.failing {
		c.q.logger.Info("pull works again", "consumer", c.name)
		c.failing = false
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
		c.end()
		c.itMu.Lock()
		c.it.Drain()
		c.itMu.Unlock()
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
