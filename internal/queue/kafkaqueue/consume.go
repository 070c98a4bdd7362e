package kafkaqueue

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/hookrelay/hookrelay/internal/queue"
)

// consumers is the consumer side of a Queue: the groups of the consumers
// that are not exclusive, each a member of its own, and the dispatcher that
// all exclusive consumers and the Claim share.
type consumers struct {
	q *Queue

	mu     sync.Mutex
	closed bool
	work   map[*groupReader]bool
	disp   *dispatcher
	// attached counts the exclusive consumers and the claim on disp.
	attached int
	// running are the claims' announcers and the dispatchers whose last
	// user ended, still leaving.
	running sync.WaitGroup
}

func newConsumers(q *Queue) *consumers {
	return &consumers{q: q, work: map[*groupReader]bool{}}
}

// errClosed: Consume on a closed Queue.
var errClosed = errors.New("queue closed")

// Consume starts a consumer. One that is not exclusive joins the group
// "<prefix><Name>" (one member per call). An exclusive one takes one
// destination's subject of out and is served by the Queue's dispatcher (see
// dispatcher): cfg.Name names it in errors and logs only.
//
// Neither kind knows AckWait: a record handed out stays with its holder
// until settled, as the partition it lies on stays with its member.
func (q *Queue) Consume(ctx context.Context, cfg queue.ConsumerConfig) (queue.Consumer, error) {
	if err := knownStream(cfg.Stream); err != nil {
		return nil, fmt.Errorf("consume %s: %w", cfg.Name, err)
	}
	if cfg.Name == "" || cfg.Subject == "" {
		return nil, fmt.Errorf("consume on %s: a consumer needs a name and a subject", cfg.Stream)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("consume %s: %w", cfg.Name, err)
	}
	if cfg.Exclusive {
		return q.cons.consumeExclusive(cfg)
	}
	q.cons.mu.Lock()
	defer q.cons.mu.Unlock()
	if q.cons.closed {
		return nil, fmt.Errorf("consume %s: %w", cfg.Name, errClosed)
	}
	wc, err := q.cons.consumeWork(cfg)
	if err != nil {
		return nil, fmt.Errorf("consume %s: %w", cfg.Name, err)
	}
	q.cons.work[wc.g] = true
	return wc, nil
}

// remove forgets a stopped consumer that is not exclusive.
func (c *consumers) remove(g *groupReader) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.work, g)
}

// attach returns the dispatcher, started on first use, counting one more
// user (an exclusive consumer or the claim) on it.
func (c *consumers) attach() (*dispatcher, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, errClosed
	}
	if c.disp == nil {
		d, err := newDispatcher(c.q)
		if err != nil {
			return nil, err
		}
		c.disp = d
	}
	c.attached++
	return c.disp, nil
}

// detach counts one user less on d; the last one stops it, leaving the
// group so the other instances take its partitions at once.
func (c *consumers) detach(d *dispatcher) {
	c.mu.Lock()
	if c.disp != d {
		c.mu.Unlock()
		return
	}
	c.attached--
	if c.attached > 0 {
		c.mu.Unlock()
		return
	}
	c.disp = nil
	c.running.Add(1)
	c.mu.Unlock()
	defer c.running.Done()
	ctx, cancel := context.WithTimeout(context.Background(), c.q.opts.SessionTimeout)
	defer cancel()
	if err := d.close(ctx); err != nil {
		c.q.log.Warn("stop the dispatch consumers", "err", err)
	}
}

// backlog is the dispatcher's view of what waits per destination.
func (c *consumers) backlog(_ context.Context, destinations []string) (map[string]queue.Waiting, error) {
	c.mu.Lock()
	d := c.disp
	c.mu.Unlock()
	if d == nil {
		return map[string]queue.Waiting{}, nil
	}
	return d.backlog(destinations), nil
}

// close stops every consumer within ctx: each commits what was settled and
// leaves its group.
func (c *consumers) close(ctx context.Context) error {
	c.mu.Lock()
	c.closed = true
	stops := make([]func(context.Context) error, 0, len(c.work)+1)
	for g := range c.work {
		stops = append(stops, g.stop)
	}
	clear(c.work)
	if c.disp != nil {
		stops = append(stops, c.disp.close)
		c.disp, c.attached = nil, 0
	}
	c.mu.Unlock()

	errs := make([]error, len(stops))
	var wg sync.WaitGroup
	for i, stop := range stops {
		wg.Go(func() { errs[i] = stop(ctx) })
	}
	wg.Wait()
	c.running.Wait()
	return errors.Join(errs...)
}
