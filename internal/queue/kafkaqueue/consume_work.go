package kafkaqueue

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/hookrelay/hookrelay/internal/queue"
)

// defaultMaxAckPending bounds a consumer's records in memory when its
// configuration does not.
const defaultMaxAckPending = 1000

// errStopped: Next or More on a consumer after Stop.
var errStopped = errors.New("consumer stopped")

// workQueue routes the records of an event feed (transform
// on in) to whichever of its callers asks next: any order across
// partitions, a handed back record again once its delay passed. Its methods are
// called with the reader's mu held.
type workQueue struct {
	g *groupReader
	// ready are the records to hand out now, oldest first; delayed the
	// handed back ones whose delay has not passed.
	ready   []*entry
	delayed []*entry
}

// leave takes every record: a feed's memory is bounded by maxUnsettled.
func (w *workQueue) leave(*partState, string, int64) bool { return false }

func (w *workQueue) route(e *entry) { w.ready = append(w.ready, e) }

func (w *workQueue) settled(*entry) {}

func (w *workQueue) released(e *entry) {
	if e.part.revoking {
		return // stays for the next owner; drop forgets the partition
	}
	if e.due.IsZero() {
		// Ahead of the rest: it waited longest.
		w.ready = slices.Insert(w.ready, 0, e)
		return
	}
	w.delayed = append(w.delayed, e)
}

func (w *workQueue) drop(p *partState) {
	other := func(e *entry) bool { return e.part == p }
	w.ready = slices.DeleteFunc(w.ready, other)
	w.delayed = slices.DeleteFunc(w.delayed, other)
}

func (w *workQueue) stopped() {}

// next hands out the record due first, or says how long until one is due.
// Nothing of a partition being revoked is handed out: its next owner hands
// it out, and what is handed out now would not be settled by the end of the
// grace, so both would hold it.
func (w *workQueue) next(now time.Time) (*delivery, time.Duration) {
	soonest, at := -1, time.Time{}
	for i, e := range w.delayed {
		if !e.part.revoking && (soonest < 0 || e.due.Before(at)) {
			soonest, at = i, e.due
		}
	}
	if soonest >= 0 && !at.After(now) {
		e := w.delayed[soonest]
		w.delayed = slices.Delete(w.delayed, soonest, soonest+1)
		return w.g.hand(e, len(w.ready)+len(w.delayed)), 0
	}
	for i, e := range w.ready {
		if e.part.revoking {
			continue
		}
		if i == 0 {
			w.ready[0] = nil
			w.ready = w.ready[1:]
		} else {
			w.ready = slices.Delete(w.ready, i, i+1)
		}
		return w.g.hand(e, len(w.ready)+len(w.delayed)), 0
	}
	if soonest >= 0 {
		return nil, at.Sub(now)
	}
	return nil, 0
}

// workConsumer is an event feed: a member of the group
// "<prefix><Name>" of its own.
type workConsumer struct {
	c *consumers
	g *groupReader
	w *workQueue
}

var _ queue.Consumer = (*workConsumer)(nil)

func (c *consumers) consumeWork(name string, inFlight int) (*workConsumer, error) {
	q := c.q
	g := &groupReader{
		q: q, log: q.log.With("consumer", name), group: q.opts.TopicPrefix + name,
		stream: queue.StreamIn, topic: q.topic(queue.StreamIn),
		maxUnsettled: inFlight,
	}
	if g.maxUnsettled <= 0 {
		g.maxUnsettled = defaultMaxAckPending
	}
	w := &workQueue{g: g}
	g.r = w
	if err := g.start(); err != nil {
		return nil, err
	}
	return &workConsumer{c: c, g: g, w: w}, nil
}

func (wc *workConsumer) try(now time.Time) (*delivery, *signal, time.Duration, error) {
	if wc.g.isStopping() {
		return nil, nil, 0, fmt.Errorf("next %s: %w", wc.g.group, errStopped)
	}
	d, retryIn := wc.w.next(now)
	return d, &wc.g.changed, retryIn, nil
}

func (wc *workConsumer) Next(ctx context.Context) (queue.Delivery, error) {
	d, err := wc.g.await(ctx, nil, wc.try)
	if err != nil {
		return nil, err
	}
	return d, nil
}

func (wc *workConsumer) More(ctx context.Context, n int, maxWait time.Duration) ([]queue.Delivery, error) {
	return more(ctx, wc.g, n, maxWait, wc.try)
}

// Owned is always true: every member receives the records of its partitions.
func (wc *workConsumer) Owned() bool { return true }

// Stop leaves the group: records fetched and not handed out go back to the
// others at once (from the last commit); a record handed out meanwhile is
// waited for a little, then handed out again elsewhere.
func (wc *workConsumer) Stop() {
	ctx, cancel := context.WithTimeout(context.Background(), wc.g.q.opts.SessionTimeout)
	defer cancel()
	wc.c.remove(wc.g)
	if err := wc.g.stop(ctx); err != nil {
		wc.g.log.Warn("stop consumer", "err", err)
	}
}

// more returns up to n deliveries: the first waited for at most maxWait,
// the rest only when they are there already.
func more(ctx context.Context, g *groupReader, n int, maxWait time.Duration,
	try func(time.Time) (*delivery, *signal, time.Duration, error)) ([]queue.Delivery, error) {
	if n <= 0 {
		return nil, nil
	}
	t := time.NewTimer(maxWait)
	defer t.Stop()
	d, err := g.await(ctx, t.C, try)
	if err != nil || d == nil {
		return nil, err
	}
	out := []queue.Delivery{d}
	g.mu.Lock()
	defer g.mu.Unlock()
	for len(out) < n {
		d, _, _, err := try(time.Now())
		if err != nil || d == nil {
			break
		}
		out = append(out, d)
	}
	return out, nil
}
