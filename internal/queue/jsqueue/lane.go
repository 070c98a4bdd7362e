package jsqueue

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookrelay/hookrelay/internal/pause"
	"github.com/hookrelay/hookrelay/internal/queue"
)

// lane is a destination's deliveries in order, read from its subject on
// RELAY_OUT while this instance owns the destination's partition (see
// claimer). A delivery is deleted from the stream when settled.
type lane struct {
	c           *claimer
	destination string
	subject     string
	partition   int
	life        context.Context // ends at Stop
	stop        context.CancelFunc

	mu sync.Mutex
	// cursor is where the next read starts: after the last handed out,
	// or at a delivery handed back.
	cursor uint64
	// notBefore holds reads back after a delivery was handed back with a
	// delay.
	notBefore time.Time
	// handed counts hand-outs by sequence, until settled: the deliveries
	// held, and those handed back.
	handed map[uint64]int
	held   int
	// behind estimates the deliveries waiting on the subject: the store's
	// count when last read, plus wakes, less settled ones.
	behind uint64
	// settled counts the deliveries settled as done, and deleted those of
	// them whose delete the store confirmed: a recount takes off what was
	// settled since the deletes it may not see (see counted).
	settled, deleted uint64
	// countedUpTo is the stream's last sequence when behind was last
	// counted: a wake for a delivery at or before it is in the count.
	countedUpTo uint64
	// uncounted: nothing was counted yet (by the claimer's recount or the
	// first read, whichever comes first); the first read counts.
	uncounted bool
	// ahead are deliveries read with the last one handed out and not yet
	// handed out, in order: valid until one is handed back (which empties
	// it) or the ownership changes (aheadOwned closes).
	ahead      []jetstream.RawStreamMsg
	aheadOwned <-chan struct{}
	// undeleted are settled deliveries whose delete the store did not
	// confirm, deleted again before the next read.
	undeleted []uint64
	// woke is signalled when a delivery arrives.
	woke     chan struct{}
	stopOnce sync.Once
}

// A lane reads up to laneBatch deliveries at once, and up to
// laneBatchBytes: what it holds in memory beyond those handed out.
const (
	laneBatch      = 32
	laneBatchBytes = 128 << 10
)

// OpenLane opens destination's lane in this instance: it reads the
// destination's subject of RELAY_OUT while this instance owns its partition.
func (q *Queue) OpenLane(ctx context.Context, destination string, _ queue.LaneOptions) (queue.Consumer, error) {
	c, err := q.claimer()
	if err != nil {
		return nil, fmt.Errorf("lane of %s: %w", destination, err)
	}
	subject := queue.OutSubject(destination)
	life, stop := context.WithCancel(q.life)
	l := &lane{
		c: c, destination: destination, subject: subject, partition: partitionOf(destination, c.partitions),
		life: life, stop: stop, cursor: 1, handed: map[uint64]int{}, woke: make(chan struct{}, 1),
	}
	if !c.open(l) {
		stop()
		return nil, fmt.Errorf("lane of %s: open already in this instance", destination)
	}
	// What waits already, for Behind; the wakes count what comes after.
	// A batched direct get tells it with the first read (countFirst).
	if !c.q.direct(queue.StreamOut) {
		if info, err := c.st.Info(ctx, jetstream.WithSubjectFilter(subject)); err == nil {
			l.counted(info.State.Subjects[subject], 0, info.State.LastSeq)
		}
	} else {
		l.uncounted = true
	}
	return l, nil
}

// countFirst counts what waits from the lane's first read, which found n
// deliveries and said how many more were stored on the subject when it
// ended (after), deletedAt of the lane's deletes confirmed before it. The
// stream's last sequence, read after it, is where the count ends: a wake
// up to there is taken as counted, so the count errs low, never high, by
// what was stored between the two reads. Nothing found counts 0 up to 0.
func (l *lane) countFirst(ctx context.Context, n int, after int64, deletedAt uint64) {
	total, upTo := uint64(n)+uint64(after), uint64(0)
	if total > 0 {
		last, err := l.c.q.readLast(ctx, queue.StreamOut, ">")
		if err != nil {
			return // counted at the claimer's next recount
		}
		upTo = last.Sequence
	}
	l.counted(total, deletedAt, upTo)
}

// wake says a delivery was stored at seq (0: not said).
func (l *lane) wake(seq uint64) {
	l.mu.Lock()
	if seq == 0 || seq > l.countedUpTo {
		l.behind++
	}
	l.mu.Unlock()
	signal(l.woke)
}

// counted sets the backlog to the store's count of the deliveries stored
// up to sequence upTo, read after the store had confirmed deletedAt of the
// lane's deletes: what was settled since is off the count (a delete the
// count may or may not show), so the count errs low, never high, and what
// the lane holds is on the stream still. It wakes the lane in case a wake
// was lost.
func (l *lane) counted(n, deletedAt, upTo uint64) {
	l.mu.Lock()
	since := l.settled - deletedAt
	l.behind = max(n-min(n, since), uint64(l.held))
	l.countedUpTo = max(l.countedUpTo, upTo)
	l.uncounted = false
	l.mu.Unlock()
	signal(l.woke)
}

// deletedCount is what counted takes as deletedAt.
func (l *lane) deletedCount() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.deleted
}

func (l *lane) holding() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.held > 0
}

func (l *lane) Owned() bool {
	owned, _ := l.c.owns(l.partition)
	return owned
}

func (l *lane) stoppedErr() error { return fmt.Errorf("next of %s: %w", l.destination, errStopped) }

// Next waits for the destination's next delivery while this instance owns
// it.
func (l *lane) Next(ctx context.Context) (queue.Delivery, error) {
	failing := false
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if l.life.Err() != nil {
			return nil, l.stoppedErr()
		}
		owned, changed := l.c.owns(l.partition)
		if !owned {
			select {
			case <-ctx.Done():
			case <-l.life.Done():
			case <-changed:
			}
			continue
		}
		l.mu.Lock()
		wait := time.Until(l.notBefore)
		l.mu.Unlock()
		if wait > 0 {
			if !pause.For(ctx, wait) {
				return nil, ctx.Err()
			}
			continue
		}
		d, err := l.read(ctx)
		switch {
		case err == nil:
			if failing {
				l.c.q.logger.Info("deliveries read again", "destination", l.destination)
			}
			return d, nil
		case errors.Is(err, queue.ErrNotFound):
			select {
			case <-ctx.Done():
			case <-l.life.Done():
			case <-changed:
			case <-l.woke:
			}
		case errors.Is(err, queue.ErrUnavailable) && ctx.Err() == nil:
			if !failing {
				l.c.q.logger.Warn("read deliveries; retrying every second until it works", "destination", l.destination, "err", err)
			}
			failing = true
			if !pause.For(ctx, time.Second) {
				return nil, ctx.Err()
			}
		case ctx.Err() != nil:
		default:
			return nil, fmt.Errorf("next of %s: %w", l.destination, err)
		}
	}
}

// read hands out the first delivery at or after the cursor;
// queue.ErrNotFound when none waits. It reads up to laneBatch at once and
// hands out the rest from memory while nothing changed.
func (l *lane) read(ctx context.Context) (*laneDelivery, error) {
	l.mu.Lock()
	from := l.cursor
	if len(l.ahead) > 0 && !closed(l.aheadOwned) {
		m := l.ahead[0]
		l.ahead[0] = jetstream.RawStreamMsg{}
		l.ahead = l.ahead[1:]
		d := l.handOutLocked(&m)
		l.mu.Unlock()
		return d, nil
	}
	l.ahead = nil
	left, uncounted := len(l.undeleted) > 0, l.uncounted
	l.mu.Unlock()
	if left {
		l.deleteLeft(ctx)
	}
	_, changed := l.c.owns(l.partition)
	deletedAt := l.deletedCount()
	msgs, after, err := l.c.q.readNext(ctx, queue.StreamOut, l.subject, startAt{seq: from}, laneBatch, laneBatchBytes)
	if uncounted && after >= 0 && (err == nil || errors.Is(err, queue.ErrNotFound)) {
		l.countFirst(ctx, len(msgs), after, deletedAt)
	}
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cursor != from {
		// Handed back meanwhile (a Retry): read again from there.
		return nil, fmt.Errorf("%w: cursor moved", queue.ErrNotFound)
	}
	d := l.handOutLocked(&msgs[0])
	l.ahead, l.aheadOwned = msgs[1:], changed
	return d, nil
}

func closed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// signal wakes c's receiver, or leaves the wake already pending.
func signal(c chan<- struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// handOutLocked hands out m, the first delivery at or after the cursor.
func (l *lane) handOutLocked(m *jetstream.RawStreamMsg) *laneDelivery {
	l.cursor = m.Sequence + 1
	l.handed[m.Sequence]++
	l.held++
	d := &laneDelivery{
		l: l, stored: stored(queue.StreamOut, m.Subject, m.Sequence, m.Time, m.Header, m.Data),
		delivered: l.handed[m.Sequence],
	}
	if l.behind > uint64(l.held) {
		d.pending = l.behind - uint64(l.held)
	}
	return d
}

// More hands out up to n deliveries that wait already, waiting up to
// maxWait for a first one.
func (l *lane) More(ctx context.Context, n int, maxWait time.Duration) ([]queue.Delivery, error) {
	var out []queue.Delivery
	deadline := time.Now().Add(maxWait)
	for len(out) < n && l.life.Err() == nil && l.Owned() {
		d, err := l.read(ctx)
		if err == nil {
			out = append(out, d)
			continue
		}
		if !errors.Is(err, queue.ErrNotFound) {
			return out, err
		}
		wait := time.Until(deadline)
		if len(out) > 0 || wait <= 0 {
			break
		}
		select {
		case <-ctx.Done():
			return out, nil
		case <-l.woke:
		case <-time.After(wait):
		}
	}
	return out, nil
}

// Stop closes the lane: the deliveries it holds stay on the stream, for its
// next lane here or in the instance that owns the partition next.
func (l *lane) Stop() {
	l.stopOnce.Do(func() {
		l.stop()
		l.c.closed(l)
	})
}

// settle forgets a delivery: deleted (done) or handed back (redo).
func (l *lane) settle(seq uint64, done bool, delay time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.handed[seq]; !ok {
		return // settled already
	}
	l.held--
	if done {
		delete(l.handed, seq)
		l.settled++
		if l.behind > 0 {
			l.behind--
		}
		return
	}
	l.cursor = min(l.cursor, seq)
	l.ahead = nil // read again from the cursor
	if delay > 0 {
		l.notBefore = time.Now().Add(delay)
	}
	signal(l.woke)
}

// laneDelivery is a delivery a lane handed out.
type laneDelivery struct {
	l         *lane
	stored    queue.Stored
	delivered int
	pending   uint64
}

func (d *laneDelivery) Msg() queue.Stored { return d.stored }
func (d *laneDelivery) Attempt() int      { return d.delivered }
func (d *laneDelivery) Behind() uint64    { return d.pending }

// Ack deletes the delivery from RELAY_OUT and waits for the server's answer.
func (d *laneDelivery) Ack(ctx context.Context) error {
	return d.remove(ctx, "ack")
}

// Drop deletes the delivery: it is never to be handed out again.
func (d *laneDelivery) Drop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return d.remove(ctx, "term")
}

// remove deletes the delivery. When the store does not confirm, it is
// settled all the same (the lane's cursor is past it) and the lane deletes
// it again before its next read: left on the stream, it would wait there
// until the destination's next lane handed it out again.
func (d *laneDelivery) remove(ctx context.Context, what string) error {
	seq := d.stored.Seq
	d.l.settle(seq, true, 0)
	if err := d.l.delete(ctx, seq); err != nil {
		d.l.mu.Lock()
		d.l.undeleted = append(d.l.undeleted, seq)
		d.l.mu.Unlock()
		return fmt.Errorf("%s %s #%d: %w", what, queue.StreamOut, seq, err)
	}
	return nil
}

func (l *lane) delete(ctx context.Context, seq uint64) error {
	err := l.c.st.DeleteMsg(ctx, seq)
	if err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		return mapErr(err)
	}
	l.mu.Lock()
	l.deleted++
	l.mu.Unlock()
	return nil
}

// deleteLeft deletes again what settled deliveries left on the stream.
func (l *lane) deleteLeft(ctx context.Context) {
	l.mu.Lock()
	left := l.undeleted
	l.undeleted = nil
	l.mu.Unlock()
	for i, seq := range left {
		if err := l.delete(ctx, seq); err != nil {
			l.mu.Lock()
			l.undeleted = append(l.undeleted, left[i:]...)
			l.mu.Unlock()
			return
		}
	}
}

// Retry hands the delivery back: the lane reads it again after delay.
func (d *laneDelivery) Retry(delay time.Duration) error {
	d.l.settle(d.stored.Seq, false, delay)
	return nil
}
