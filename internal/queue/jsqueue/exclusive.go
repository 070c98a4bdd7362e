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

	"github.com/hookrelay/hookrelay/internal/queue"
)

// fetchWait bounds one pull request of an exclusive consumer; Next renews
// it. Stop does not wait for it.
const fetchWait = 5 * time.Second

// exclusive is a consumer one instance at a time receives: its members pull
// in a pinned priority group, so the server hands everything to the pinned
// one, and only the member the membership prefers pulls at all.
type exclusive struct {
	q       *Queue
	st      jetstream.Stream
	cons    jetstream.Consumer
	cfg     jetstream.ConsumerConfig // to make it again should the server forget it
	members *membership

	life     context.Context // ends at Stop
	stop     context.CancelFunc
	pulling  atomic.Bool // this member pulled since it last let go of the pin
	failing  bool        // the last pull found the store unavailable; Next's alone
	stopOnce sync.Once
}

func newExclusive(q *Queue, st jetstream.Stream, cons jetstream.Consumer, cfg jetstream.ConsumerConfig) *exclusive {
	life, stop := context.WithCancel(context.Background())
	return &exclusive{q: q, st: st, cons: cons, cfg: cfg, members: q.membership(), life: life, stop: stop}
}

func (c *exclusive) name() string { return c.cfg.Durable }

func (c *exclusive) stoppedErr() error { return fmt.Errorf("next of %s: %w", c.name(), errStopped) }

func (c *exclusive) Next(ctx context.Context) (queue.Delivery, error) {
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if c.life.Err() != nil {
			return nil, c.stoppedErr()
		}
		mine, changed := c.members.prefers(c.name())
		if !mine {
			c.letGo()
			select {
			case <-ctx.Done():
			case <-c.life.Done():
			case <-changed:
			}
			continue
		}
		c.pulling.Store(true)
		m, err := c.pull(ctx, changed)
		switch {
		case err == nil && c.life.Err() != nil:
			_ = m.Nak()
			return nil, c.stoppedErr()
		case err == nil:
			c.works()
			return newDelivery(m)
		case ctx.Err() != nil, c.life.Err() != nil, errors.Is(err, errMembersChanged):
		case errors.Is(err, jetstream.ErrNoMessages), errors.Is(err, jetstream.ErrPinIDMismatch):
			// The server answered: nothing now, or the pin moved. Ask again.
			c.works()
		case errors.Is(err, nats.ErrTimeout), errors.Is(err, context.DeadlineExceeded),
			errors.Is(err, jetstream.ErrServerShutdown), errors.Is(err, jetstream.ErrConsumerLeadershipChanged):
			// Nothing within fetchWait, or the server ended the pull (it is
			// stopping, or the consumer's leader moved): ask again.
		case errors.Is(err, jetstream.ErrConsumerDeleted):
			// Deleted under a waiting pull: by an instance making it again
			// (an upgrade) or by hand. Make it again if nobody did, and ask
			// again either way; the server says this once per deletion.
			c.restore(ctx)
		case errors.Is(err, nats.ErrNoResponders) && c.q.nc.IsConnected() && c.restore(ctx):
			// The server forgot the consumer (a restarted server forgets
			// those kept in memory) and it is made again: pull at once.
		case errors.Is(mapErr(err), queue.ErrUnavailable) && !errors.Is(err, nats.ErrConnectionClosed):
			if !c.failing {
				c.q.logger.Warn("pull; retrying every second until it works", "consumer", c.name(), "err", err)
			}
			c.failing = true
			select {
			case <-ctx.Done():
			case <-c.life.Done():
			case <-time.After(time.Second):
			}
		default:
			return nil, fmt.Errorf("next of %s: %w", c.name(), mapErr(err))
		}
	}
}

// errMembersChanged ends a pull when the member set changed, so that a
// member no longer preferred lets go of the pin at once instead of holding
// it, and receiving, until its pull expires.
var errMembersChanged = errors.New("members changed")

// pull waits up to fetchWait for one message, less when Stop is called or the
// member set changes so that another member is preferred.
func (c *exclusive) pull(ctx context.Context, changed <-chan struct{}) (jetstream.Msg, error) {
	fctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	fctx, cancelWait := context.WithTimeout(fctx, fetchWait)
	defer cancelWait()
	unhook := context.AfterFunc(c.life, func() { cancel(errStopped) })
	defer unhook()
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case <-changed:
				// A change that leaves this member preferred (at start, it
				// observes itself) keeps the pull: a message the server
				// hands to an abandoned pull waits out the ack wait.
				var mine bool
				if mine, changed = c.members.prefers(c.name()); !mine {
					cancel(errMembersChanged)
					return
				}
			case <-done:
				return
			}
		}
	}()
	m, err := c.cons.Next(jetstream.FetchContext(fctx), jetstream.FetchPriorityGroup(pinnedGroup))
	if err != nil && errors.Is(context.Cause(fctx), errMembersChanged) {
		return nil, errMembersChanged
	}
	return m, err
}

// works notes that a pull reached the server, after an outage it warned of.
func (c *exclusive) works() {
	if c.failing {
		c.q.logger.Info("pull works again", "consumer", c.name())
		c.failing = false
	}
}

// restore makes the consumer again when the server no longer knows it, and
// reports whether it did. A pull for a consumer the server does not know
// finds no responders, as one does while JetStream is out of reach: only a
// server that answers "not found" for it is taken at its word. Stop ends it.
func (c *exclusive) restore(ctx context.Context) bool {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(c.life, cancel)()
	ictx, cancelInfo := context.WithTimeout(ctx, restoreInfoWait)
	_, err := c.st.Consumer(ictx, c.name())
	cancelInfo()
	if !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return false
	}
	if _, err := c.q.createConsumer(ctx, c.st, c.cfg); err != nil {
		if ctx.Err() == nil {
			c.q.logger.Warn("make the forgotten consumer again", "consumer", c.name(), "err", err)
		}
		return false
	}
	c.q.logger.Info("the server had forgotten the consumer; made again", "consumer", c.name())
	return true
}

// restoreInfoWait bounds restore's question whether the consumer exists: a
// recovering cluster may leave it unanswered.
const restoreInfoWait = 5 * time.Second

func (c *exclusive) More(ctx context.Context, n int, maxWait time.Duration) ([]queue.Delivery, error) {
	if c.life.Err() != nil {
		return nil, c.stoppedErr()
	}
	if mine, _ := c.members.prefers(c.name()); !mine {
		return nil, nil
	}
	c.pulling.Store(true)
	wctx, cancel := context.WithTimeout(ctx, maxWait)
	defer cancel()
	unhook := context.AfterFunc(c.life, cancel)
	defer unhook()
	batch, err := c.cons.Fetch(n, jetstream.FetchContext(wctx), jetstream.FetchPriorityGroup(pinnedGroup))
	if err != nil {
		return nil, fmt.Errorf("more of %s: %w", c.name(), mapErr(err))
	}
	var out []queue.Delivery
	for m := range batch.Messages() {
		d, err := newDelivery(m)
		if err != nil {
			return out, err
		}
		out = append(out, d)
	}
	if err := batch.Error(); err != nil && ctx.Err() == nil && c.life.Err() == nil &&
		!errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, nats.ErrTimeout) &&
		!errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, jetstream.ErrPinIDMismatch) {
		return out, fmt.Errorf("more of %s: %w", c.name(), mapErr(err))
	}
	return out, ctx.Err()
}

// Owned reports whether the membership prefers this instance; the pin
// follows within a pull.
func (c *exclusive) Owned() bool {
	if c.life.Err() != nil {
		return false
	}
	mine, _ := c.members.prefers(c.name())
	return mine
}

// letGo unpins the consumer when this member pulled, so the preferred one
// gets the pin at its next pull rather than after the pinned TTL. Messages
// this member holds stay with it until settled.
func (c *exclusive) letGo() {
	if !c.pulling.Swap(false) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := c.st.UnpinConsumer(ctx, c.name(), pinnedGroup); err != nil {
		c.q.logger.Debug("unpin; the pin expires by itself", "consumer", c.name(), "err", err)
	}
}

func (c *exclusive) Stop() {
	c.stopOnce.Do(func() {
		c.stop()
		c.letGo()
		c.q.untrack(c)
	})
}
