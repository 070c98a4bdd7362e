package kafkaqueue

import (
	"context"
	"fmt"
	"time"

	"github.com/hookrelay/hookrelay/internal/queue"
)

// destConsumer is the lane of one destination: it hands out
// what the Queue's dispatcher parked for the destination, which arrives only
// while this instance owns the destination's partition.
type destConsumer struct {
	c         *consumers
	d         *dispatcher
	dq        *destQueue
	name      string
	partition int32
	max       int
	stopped   bool // under d.g.mu
}

var _ queue.Consumer = (*destConsumer)(nil)

func (c *consumers) openLane(destination string, hold int) (*destConsumer, error) {
	if !queue.ValidKey(destination) {
		return nil, fmt.Errorf("lane of %q: not a destination name", destination)
	}
	d, err := c.attach()
	if err != nil {
		return nil, fmt.Errorf("lane of %s: %w", destination, err)
	}
	subject := queue.OutSubject(destination)
	dc := &destConsumer{
		c: c, d: d, name: "lane of " + destination, max: max(hold, 1),
		partition: d.partition(subject),
	}
	d.g.mu.Lock()
	dc.dq = d.dest(subject)
	dc.dq.consumers++
	d.g.mu.Unlock()
	return dc, nil
}

func (dc *destConsumer) try(now time.Time) (*delivery, *signal, time.Duration, error) {
	if dc.stopped || dc.d.g.isStopping() {
		return nil, nil, 0, fmt.Errorf("next %s: %w", dc.name, errStopped)
	}
	d, retryIn := dc.dq.next(dc.d.g, now, dc.max)
	return d, &dc.dq.changed, retryIn, nil
}

// Next waits for the destination's next record; while another instance owns
// the destination, none comes.
func (dc *destConsumer) Next(ctx context.Context) (queue.Delivery, error) {
	d, err := dc.d.g.await(ctx, nil, dc.try)
	if err != nil {
		return nil, err
	}
	return d, nil
}

func (dc *destConsumer) More(ctx context.Context, n int, maxWait time.Duration) ([]queue.Delivery, error) {
	return more(ctx, dc.d.g, n, maxWait, dc.try)
}

// Owned reports whether the destination's partition is assigned to this
// instance now.
func (dc *destConsumer) Owned() bool { return dc.d.g.owns(dc.partition) }

// Stop detaches the consumer. The destination's records stay parked with the
// dispatcher (a new Consume of it takes them), and the Claim is told of
// them when it was the destination's last consumer here; when the last
// lane of the Queue stops and no Claim runs, the dispatcher
// leaves the group and every partition goes to the other instances at once.
func (dc *destConsumer) Stop() {
	g := dc.d.g
	g.mu.Lock()
	if dc.stopped {
		g.mu.Unlock()
		return
	}
	dc.stopped = true
	dc.dq.consumers--
	dc.dq.changed.fire()
	dc.d.notice(dc.dq)
	dc.d.prune(dc.dq)
	g.mu.Unlock()
	dc.c.detach(dc.d)
}
