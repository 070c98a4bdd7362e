package jsqueue

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookrelay/hookrelay/internal/pause"
	"github.com/hookrelay/hookrelay/internal/queue"
)

// lane is a destination's deliveries in order, read from its subject on
// RELAY_OUT while this instance owns the destination's partition (see
// claimer). A delivery settled is deleted from the stream in the background
// (deleteSettled), so that the lane's holder sends its next one meanwhile.
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
	// out are the deliveries held now (handed out, not handed back or
	// settled): a read from a cursor a hand-back moved back leaves them out.
	out map[uint64]bool
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
	// gone are the deliveries settled as done, which reads leave out until
	// none can see them: true once their delete is confirmed, forgotten
	// when a read starts with no other on its way (reading counts those).
	// doomed are those to delete, by the one deleter running at a time
	// (deleteSettled); drained is closed when it has deleted them all, nil
	// while none runs.
	gone    map[uint64]bool
	reading int
	doomed  []uint64
	drained chan struct{}
	// closeOnce unregisters the lane once stopped and drained.
	closeOnce sync.Once
	// caughtUp: a read found nothing stored after what it read, so every
	// delivery stored since sends a wake (lastWake is the latest's
	// sequence), and the lane reads again only for one it has not read
	// past. It holds while the ownership does (caughtOwned) and until
	// reset: by a wake without a sequence, a recount (in case a wake was
	// lost), a delivery handed back. resets counts those, so that a read
	// that began before one does not set caughtUp.
	caughtUp    bool
	caughtOwned <-chan struct{}
	lastWake    uint64
	resets      uint64
	// woke is signalled when a delivery arrives.
	woke     chan struct{}
	stopOnce sync.Once
}

// A lane reads up to laneBatch deliveries at once, and up to
// laneBatchBytes: what it holds in memory beyond those handed out. A lane
// opens once the destination's last one has deleted what it settled, or
// after drainWait.
const (
	laneBatch      = 32
	laneBatchBytes = 128 << 10
	drainWait      = 10 * time.Second
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
	// With direct gets the first read counts what waits already (see
	// below). Set before the claimer knows the lane: from then on its
	// recount may count the lane at any time.
	direct := c.q.direct(queue.StreamOut)
	l := &lane{
		c: c, destination: destination, subject: subject, partition: partitionOf(destination, c.partitions),
		life: life, stop: stop, cursor: 1, handed: map[uint64]int{}, out: map[uint64]bool{}, gone: map[uint64]bool{},
		woke: make(chan struct{}, 1), uncounted: direct,
	}
	for force := false; ; {
		open, draining := c.open(l, force)
		if open {
			break
		}
		if draining == nil {
			stop()
			return nil, fmt.Errorf("lane of %s: open already in this instance", destination)
		}
		// The destination's last lane is still deleting what it settled:
		// read before, this lane would hand it out again. A store that
		// does not take the deletes for drainWait costs those deliveries
		// a second send rather than the destination its deliveries.
		select {
		case <-draining:
		case <-time.After(c.drainWait):
			c.q.logger.Warn("the destination's last lane could not delete what it settled; reading on: those deliveries may be sent again",
				"destination", destination, "waited", c.drainWait)
			force = true
		case <-ctx.Done():
			stop()
			return nil, fmt.Errorf("lane of %s: %w", destination, ctx.Err())
		}
	}
	// What waits already, for Behind; the wakes count what comes after.
	// A batched direct get tells it with the first read (countFirst).
	if !direct {
		if info, err := c.st.Info(ctx, jetstream.WithSubjectFilter(subject)); err == nil {
			l.counted(info.State.Subjects[subject], 0, info.State.LastSeq)
		}
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
	if seq == 0 {
		l.resetLocked()
	}
	l.lastWake = max(l.lastWake, seq)
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
	l.behind = max(n-min(n, since), uint64(len(l.out)))
	l.countedUpTo = max(l.countedUpTo, upTo)
	l.uncounted = false
	l.resetLocked()
	l.mu.Unlock()
	signal(l.woke)
}

// resetLocked makes the next read go to the store (see caughtUp). Called
// with mu held.
func (l *lane) resetLocked() {
	l.caughtUp = false
	l.resets++
}

// deletedCount is what counted takes as deletedAt.
func (l *lane) deletedCount() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.deleted
}

// holding reports whether the lane holds a delivery, or has deletes to
// make: its partition is not to move before, or the next owner would
// hand out again what this one settled.
func (l *lane) holding() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.out) > 0 || l.drained != nil
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
	for {
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
		if l.caughtUp && l.lastWake < from && !closed(l.caughtOwned) {
			l.mu.Unlock()
			return nil, fmt.Errorf("%w: read up to the last wake", queue.ErrNotFound)
		}
		uncounted, resets := l.uncounted, l.resets
		if l.reading == 0 {
			maps.DeleteFunc(l.gone, func(_ uint64, deleted bool) bool { return deleted })
		}
		l.reading++
		l.mu.Unlock()
		_, changed := l.c.owns(l.partition)
		deletedAt := l.deletedCount()
		msgs, after, err := l.c.q.readNext(ctx, queue.StreamOut, l.subject, startAt{seq: from}, laneBatch, laneBatchBytes)
		if uncounted && after >= 0 && (err == nil || errors.Is(err, queue.ErrNotFound)) {
			l.countFirst(ctx, len(msgs), after, deletedAt)
		}
		l.mu.Lock()
		// gone may be forgotten once no read is on its way: this one
		// leaves them out of what it read first.
		l.reading--
		if (errors.Is(err, queue.ErrNotFound) || (err == nil && after == 0)) && l.resets == resets && l.cursor == from {
			l.caughtUp, l.caughtOwned = true, changed
		}
		if err != nil {
			l.mu.Unlock()
			return nil, err
		}
		if l.cursor != from {
			// Handed back meanwhile (a Retry): read again from there.
			l.mu.Unlock()
			return nil, fmt.Errorf("%w: cursor moved", queue.ErrNotFound)
		}
		if msgs = l.unsettledLocked(msgs); len(msgs) == 0 {
			l.mu.Unlock()
			continue
		}
		d := l.handOutLocked(&msgs[0])
		l.ahead, l.aheadOwned = msgs[1:], changed
		l.mu.Unlock()
		return d, nil
	}
}

// unsettledLocked leaves out of msgs the deliveries settled as done and
// those held (read again after an earlier one was handed back: the settled
// before or while their delete was made), moving the cursor past those it
// starts with. Called with mu held.
func (l *lane) unsettledLocked(msgs []jetstream.RawStreamMsg) []jetstream.RawStreamMsg {
	if len(l.gone) == 0 && len(l.out) == 0 {
		return msgs
	}
	leading := true
	return slices.DeleteFunc(msgs, func(m jetstream.RawStreamMsg) bool {
		_, settled := l.gone[m.Sequence]
		settled = settled || l.out[m.Sequence]
		if leading = leading && settled; leading {
			l.cursor = m.Sequence + 1
		}
		return settled
	})
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
	l.out[m.Sequence] = true
	d := &laneDelivery{
		l: l, stored: stored(queue.StreamOut, m.Subject, m.Sequence, m.Time, m.Header, m.Data),
		delivered: l.handed[m.Sequence],
	}
	if held := uint64(len(l.out)); l.behind > held {
		d.pending = l.behind - held
	}
	return d
}

// More hands out up to n deliveries that wait already, waiting up to
// maxWait for a first one.
func (l *lane) More(ctx context.Context, n int, maxWait time.Duration) ([]queue.Delivery, error) {
	var out []queue.Delivery
	deadline := time.Now().Add(maxWait)
	for len(out) < n && l.life.Err() == nil && l.Owned() {
		l.mu.Lock()
		later := time.Now().Before(l.notBefore)
		l.mu.Unlock()
		if later {
			break // a delivery handed back with a delay comes first
		}
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
// next lane here or in the instance that owns the partition next. The
// lane stays registered until its deletes are made.
func (l *lane) Stop() {
	l.stopOnce.Do(func() {
		l.stop()
		l.mu.Lock()
		draining := l.drained != nil
		l.mu.Unlock()
		if !draining {
			l.unregister()
		}
	})
}

// leftNothing reports whether the lane, stopped, leaves nothing waiting
// but what was stored after its last read and woken since (which the
// claimer announces, the lane being stopped) or a lost wake (which a
// recount finds): it had read past every wake, found nothing after, and
// settled all it handed out.
func (l *lane) leftNothing() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.caughtUp && !closed(l.caughtOwned) && l.lastWake < l.cursor && len(l.out) == 0 && len(l.ahead) == 0
}

func (l *lane) unregister() { l.closeOnce.Do(func() { l.c.closed(l) }) }

// settle forgets a delivery: deleted (done) or handed back (redo).
func (l *lane) settle(seq uint64, done bool, delay time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.out[seq] {
		return // settled or handed back already
	}
	delete(l.out, seq)
	if done {
		delete(l.handed, seq)
		l.settled++
		if l.behind > 0 {
			l.behind--
		}
		l.gone[seq] = false
		l.doomed = append(l.doomed, seq)
		if l.drained == nil && l.c.q.spawn(l.deleteSettled) {
			l.drained = make(chan struct{})
		}
		return
	}
	l.cursor = min(l.cursor, seq)
	l.ahead = nil // read again from the cursor
	l.resetLocked()
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

// Ack settles the delivery as done: the lane deletes it from RELAY_OUT in
// the background. A crash before the store confirmed the delete hands it
// out again, as one between its send and its ack would; so does a store
// refusing deletes for longer than the next lane's drainWait, or than a
// partition's releaseWait when it moves.
func (d *laneDelivery) Ack(context.Context) error {
	return d.remove("ack")
}

// Drop settles the delivery as never to be handed out again.
func (d *laneDelivery) Drop() error {
	return d.remove("term")
}

// remove settles the delivery as done. Once the Queue is closed (before
// or during the settle) the delete may not be made.
func (d *laneDelivery) remove(what string) error {
	d.l.settle(d.stored.Seq, true, 0)
	if d.l.c.q.life.Err() != nil {
		return fmt.Errorf("%s %s #%d: %w: queue closed; it may be handed out again", what, queue.StreamOut, d.stored.Seq, queue.ErrUnavailable)
	}
	return nil
}

// deleteSettled deletes the lane's settled deliveries from the stream until
// none is left, retrying every second while the store fails. What is
// settled during one round trip goes in the next: below the first delivery
// that may not be settled, as one purge of the subject.
func (l *lane) deleteSettled() {
	q := l.c.q
	failing := false
	for {
		l.mu.Lock()
		doomed, below := l.doomed, l.firstUnsettledLocked()
		l.doomed = nil
		if len(doomed) == 0 || q.life.Err() != nil {
			close(l.drained)
			l.drained = nil
			stopped := l.life.Err() != nil
			l.mu.Unlock()
			if stopped {
				l.unregister()
			}
			return
		}
		l.mu.Unlock()
		left, err := l.delete(q.life, doomed, below)
		l.mu.Lock()
		for _, seq := range doomed {
			l.gone[seq] = true
		}
		for _, seq := range left {
			l.gone[seq] = false
		}
		l.deleted += uint64(len(doomed) - len(left))
		l.doomed = append(left, l.doomed...)
		l.mu.Unlock()
		switch {
		case err == nil && failing:
			q.logger.Info("deliveries deleted again", "destination", l.destination)
			failing = false
		case err != nil && q.life.Err() == nil:
			if !failing {
				q.logger.Warn("delete settled deliveries; retrying every second until it works",
					"destination", l.destination, "deliveries", len(left), "err", err)
			}
			failing = true
			pause.For(q.life, time.Second)
		}
	}
}

// firstUnsettledLocked is where the lane's deliveries that may not be
// settled begin: every one on the subject before it was handed out (reads
// go in order from the cursor) and settled as done. Called with mu held.
func (l *lane) firstUnsettledLocked() uint64 {
	from := l.cursor
	for seq := range l.handed {
		from = min(from, seq)
	}
	return from
}

// delete deletes doomed from the stream, those before below as one purge
// of the subject, and returns those it could not delete.
func (l *lane) delete(ctx context.Context, doomed []uint64, below uint64) (left []uint64, err error) {
	var each []uint64
	purge := 0
	for _, seq := range doomed {
		if seq < below {
			purge++
		} else {
			each = append(each, seq)
		}
	}
	if purge < 2 || l.c.st.Purge(ctx, jetstream.WithPurgeSubject(l.subject), jetstream.WithPurgeSequence(below)) != nil {
		// A purge refused (a user allowed to delete, not to purge) or
		// failed: one by one, which says why if they fail too.
		each = doomed
	}
	for i, seq := range each {
		if err := l.c.q.deleteSeq(ctx, queue.StreamOut, seq); err != nil && !errors.Is(err, queue.ErrNotFound) {
			return each[i:], err
		}
	}
	return nil, nil
}

// Retry hands the delivery back: the lane reads it again after delay.
func (d *laneDelivery) Retry(delay time.Duration) error {
	d.l.settle(d.stored.Seq, false, delay)
	return nil
}
