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
// all lanes and the Claim share.
type consumers struct {
	q *Queue

	mu     sync.Mutex
	closed bool
	work   map[*groupReader]bool
	disp   *dispatcher
	// attached counts the lanes and the claim on disp.
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

// FeedEvents joins the group "<prefix><name>" on the events' topic (one
// member per call). It knows no Redeliver: an event handed out stays with
// its holder until settled, as its partition stays with its member.
func (q *Queue) FeedEvents(ctx context.Context, name string, o queue.FeedOptions) (queue.Consumer, error) {
	if name == "" {
		return nil, errors.New("feed of events: a feed needs a name")
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("feed %s: %w", name, err)
	}
	q.cons.mu.Lock()
	defer q.cons.mu.Unlock()
	if q.cons.closed {
		return nil, fmt.Errorf("feed %s: %w", name, errClosed)
	}
	wc, err := q.cons.consumeWork(name, o.InFlight)
	if err != nil {
		return nil, fmt.Errorf("feed %s: %w", name, err)
	}
	q.cons.work[wc.g] = true
	return wc, nil
}

// OpenLane opens destination's lane, served by the Queue's dispatcher (see
// dispatcher): it hands out what the dispatcher parked for the destination
// while this instance owns its partition, at most o.Hold unsettled.
func (q *Queue) OpenLane(ctx context.Context, destination string, o queue.LaneOptions) (queue.Consumer, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("lane of %s: %w", destination, err)
	}
	return q.cons.openLane(destination, o.Hold)
}

// remove forgets a stopped consumer that is not exclusive.
func (c *consumers) remove(g *groupReader) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.work, g)
}

// attach returns the dispatcher, started on first use, counting one more
// user (a lane or the claim) on it.
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
