package jsqueue

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookrelay/hookrelay/internal/pause"
	"github.com/hookrelay/hookrelay/internal/queue"
)

// Deliveries on JetStream: RELAY_OUT keeps a destination's deliveries on its
// own subject (relay.out.<destination>) and has no consumer at all. Dispatch
// reads a destination through its lane (lane.go): the next message on the
// subject after the lane's cursor, by direct get, deleted once settled. What
// waits is in the store; in memory are only the deliveries a lane handed
// out and not settled (one, or a digest's worth), so a destination that is
// down or throttled holds back no other and costs no memory for its backlog.
//
// Ownership: destinations are spread over a fixed number of partitions by a
// hash of their name, and one instance at a time owns a partition. An
// instance owns a partition while it holds its lease, a key in the
// RELAY_LEASES bucket that it renews every heartbeat; the instances split
// the partitions by the rendezvous over RELAY_MEMBERS (membership), and an
// instance takes a lease only when the key is free, or unchanged for
// leaseTimeout (its holder died). A holder that cannot renew stops owning
// after leaseValid, before anyone may take the lease over. A holder the
// membership no longer prefers stops owning at once, waits for its lanes of
// the partition to settle what they handed out (a request in flight ends),
// and then deletes the lease for the preferred one to take.
//
// Waking: Publish to RELAY_OUT sends a core NATS message on
// hookrelay.wake.<destination> after JetStream's ack; every instance hears
// it and wakes the destination's lane, or announces the destination on
// Claim.Waiting when it owns it and no lane is open. Every resyncEvery, and
// when a partition is taken, RELAY_OUT's per-subject counts (one request)
// announce whatever a lost wake (or an earlier release, which sent none)
// left waiting.
type claimer struct {
	q          *Queue
	st         jetstream.Stream // RELAY_OUT
	members    *membership
	partitions int
	// drainWait bounds how long a lane waits for the deletes of the
	// destination's last one (drainWait, unless a test shortens it).
	drainWait time.Duration

	mu      sync.Mutex
	leases  []lease
	changed chan struct{}    // closed and replaced when ownership changes
	lanes   map[string]*lane // open lanes, by destination
	// told are the destinations to announce on Waiting, coalesced; tell
	// wakes the announcer.
	told map[string]struct{}
	tell chan struct{}
	// claimed is set while a Claim runs: only then are names announced.
	claimed bool
	// resync asks the lease loop to read RELAY_OUT's counts now.
	resync chan struct{}
	// ownedLogged is the partitions last logged as owned (lease loop only).
	ownedLogged []int
	// drops counts dropAll's: a renewal that began before one does not
	// bring back the lease it read.
	drops uint64
}

// lease is this instance's view of one partition's lease.
type lease struct {
	mine      bool      // this instance holds it
	releasing time.Time // not zero: the membership prefers another; let go once the lanes settled
	rev       uint64    // the revision last written (mine) or seen (another's)
	seenAt    time.Time // when rev was first seen, for another's lease
	renewedAt time.Time // when this instance last wrote it
	takenAt   time.Time // when this instance took it (mine)
}

const (
	leasesBucket = "RELAY_LEASES"
	// leaseTimeout: a lease unchanged for this long is taken over.
	leaseTimeout = 10 * time.Second
	// leaseValid: a holder that could not renew stops owning after this
	// long, before anyone takes its lease over.
	leaseValid = 7 * time.Second
	// releaseWait bounds how long a holder waits for its lanes to settle
	// before it lets go of a partition anyway.
	releaseWait = 30 * time.Second
	// resyncEvery: how often RELAY_OUT's counts are read in case a wake was
	// lost.
	resyncEvery = 10 * time.Second
	// DefaultPartitions is the partitions of RELAY_OUT's destinations: the
	// most instances that share dispatch. Every instance must use the same.
	DefaultPartitions = 16
	wakePrefix        = "hookrelay.wake."
)

// partitionOf is a destination's partition: fnv32a of its name, as Kafka's
// deliveries topic places it.
func partitionOf(destination string, partitions int) int {
	h := fnv.New32a()
	h.Write([]byte(destination))
	return int(h.Sum32() % uint32(partitions))
}

func leaseKey(p, partitions int) string { return fmt.Sprintf("partition.%d.of.%d", p, partitions) }

// claimer returns the Queue's claimer, starting it at the first call.
func (q *Queue) claimer() (*claimer, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return nil, fmt.Errorf("claim: %w: queue closed", queue.ErrUnavailable)
	}
	if q.claims != nil {
		return q.claims, nil
	}
	st, err := q.stream(queue.StreamOut)
	if err != nil {
		return nil, err
	}
	if q.members == nil {
		q.members = newMembership(q.logger, q.replicas)
		q.running.Go(func() { q.members.run(q.life, q.js) })
	}
	c := &claimer{
		q: q, st: st,
		members: q.members, partitions: q.partitions,
		leases: make([]lease, q.partitions), changed: make(chan struct{}),
		lanes: map[string]*lane{}, told: map[string]struct{}{}, tell: make(chan struct{}, 1),
		resync: make(chan struct{}, 1), drainWait: drainWait,
	}
	sub, err := q.nc.Subscribe(wakePrefix+">", func(m *nats.Msg) {
		// Earlier releases wake without the sequence: 0, counted always.
		seq, _ := strconv.ParseUint(string(m.Data), 10, 64)
		c.woken(strings.TrimPrefix(m.Subject, wakePrefix), seq)
	})
	if err != nil {
		return nil, fmt.Errorf("claim: listen for deliveries: %w", mapErr(err))
	}
	// A lost connection may be a restarted server, which forgets the lease
	// bucket (kept in memory): another instance may make it again and take
	// the leases at once. Owning nothing from the moment the connection
	// drops, this instance cannot read a delivery beside it once back; it
	// takes its leases again at the next heartbeats.
	status := q.nc.StatusChanged(nats.DISCONNECTED, nats.RECONNECTING)
	q.running.Go(func() {
		for range status {
			if c.dropAll() {
				q.logger.Warn("connection to the store lost: this instance dispatches nothing until it holds its leases again")
			}
		}
	})
	q.running.Go(func() {
		defer q.nc.RemoveStatusListener(status)
		defer func() { _ = sub.Unsubscribe() }()
		c.run(q.life)
	})
	q.running.Go(func() { c.retireConsumers(q.life) })
	q.claims = c
	return c, nil
}

// Claim announces, until ctx ends, the destinations with deliveries waiting
// in the partitions this instance owns and no lane open.
func (q *Queue) Claim(ctx context.Context) (queue.Claim, error) {
	c, err := q.claimer()
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.claimed {
		return nil, errors.New("claim: one claim at a time per queue")
	}
	c.claimed = true
	out := make(chan string)
	if !q.spawn(func() { c.announce(ctx, out) }) {
		c.claimed = false
		return nil, fmt.Errorf("claim: %w: queue closed", queue.ErrUnavailable)
	}
	select {
	case c.resync <- struct{}{}:
	default:
	}
	return &claim{c: c, out: out}, nil
}

type claim struct {
	c   *claimer
	out chan string
}

func (cl *claim) Waiting() <-chan string { return cl.out }
func (cl *claim) Owns(destination string) bool {
	owned, _ := cl.c.owns(partitionOf(destination, cl.c.partitions))
	return owned
}

// OwnedSince is when this instance took the lease of destination's
// partition: another instance takes a lease only by writing it, which ends
// this one's at its next renewal, so holding it means no one else had it.
func (cl *claim) OwnedSince(destination string) time.Time {
	c := cl.c
	p := partitionOf(destination, c.partitions)
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.ownsLocked(p) {
		return time.Time{}
	}
	return c.leases[p].takenAt
}

// announce sends the told destinations on out until ctx or the Queue ends.
func (c *claimer) announce(ctx context.Context, out chan string) {
	defer close(out)
	defer func() {
		c.mu.Lock()
		c.claimed = false
		c.mu.Unlock()
	}()
	for {
		c.mu.Lock()
		var name string
		for name = range c.told {
			delete(c.told, name)
			break
		}
		c.mu.Unlock()
		if name == "" {
			select {
			case <-ctx.Done():
				return
			case <-c.q.life.Done():
				return
			case <-c.tell:
			}
			continue
		}
		select {
		case out <- name:
		case <-ctx.Done():
			return
		case <-c.q.life.Done():
			return
		}
	}
}

// toldLocked queues destination for Waiting when this instance owns it and
// has no lane of it open.
func (c *claimer) toldLocked(destination string) {
	if c.liveLocked(destination) != nil || !c.ownsLocked(partitionOf(destination, c.partitions)) {
		return
	}
	c.told[destination] = struct{}{}
	signal(c.tell)
}

// woken is a wake for destination: a delivery was stored for it.
func (c *claimer) woken(destination string, seq uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if l := c.liveLocked(destination); l != nil {
		l.wake(seq)
		return
	}
	c.toldLocked(destination)
}

// owns reports whether this instance owns partition p, and a channel closed
// when that may change.
func (c *claimer) owns(p int) (bool, <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ownsLocked(p), c.changed
}

func (c *claimer) ownsLocked(p int) bool {
	l := c.leases[p]
	return l.mine && l.releasing.IsZero() && time.Since(l.renewedAt) < leaseValid
}

// open registers a lane. When the destination has one already, it is not
// open, and draining is the earlier lane's drained when that one is stopped
// and deleting what it settled; force replaces such a one.
func (c *claimer) open(l *lane, force bool) (open bool, draining <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if earlier, ok := c.lanes[l.destination]; ok {
		earlier.mu.Lock()
		stopped, draining := earlier.life.Err() != nil, earlier.drained
		earlier.mu.Unlock()
		if !stopped {
			return false, nil
		}
		if draining != nil && !force {
			return false, draining
		}
		// Stopped, and drained (unregistering) or given up on.
	}
	c.lanes[l.destination] = l
	return true, nil
}

// liveLocked returns destination's lane when one is open and not stopped:
// a stopped one still making its deletes neither takes wakes nor keeps the
// destination from being announced, so that a store refusing the deletes
// does not hide the destination (the next lane waits for them, only so
// long). Called with mu held.
func (c *claimer) liveLocked(destination string) *lane {
	l, ok := c.lanes[destination]
	if !ok || l.life.Err() != nil {
		return nil
	}
	return l
}

// drain waits, until ctx ends, for the lanes' deletes of what they settled.
func (c *claimer) drain(ctx context.Context) {
	c.mu.Lock()
	var draining []<-chan struct{}
	for _, l := range c.lanes {
		l.mu.Lock()
		if l.drained != nil {
			draining = append(draining, l.drained)
		}
		l.mu.Unlock()
	}
	c.mu.Unlock()
	for _, d := range draining {
		select {
		case <-d:
		case <-ctx.Done():
			return
		}
	}
}

// closed unregisters a lane. What it leaves waiting is announced again,
// once a read of its subject (in the background) finds some; a lane that
// had read everything woken and settled all it handed out leaves nothing a
// wake would not announce, and costs no read.
func (c *claimer) closed(l *lane) {
	c.mu.Lock()
	if c.lanes[l.destination] == l {
		delete(c.lanes, l.destination)
	}
	c.mu.Unlock()
	if l.leftNothing() {
		return
	}
	c.q.spawn(func() {
		ctx, cancel := context.WithTimeout(c.q.life, 5*time.Second)
		defer cancel()
		if _, err := c.st.GetMsg(ctx, 1, jetstream.WithGetMsgSubject(l.subject)); err == nil {
			c.mu.Lock()
			c.toldLocked(l.destination)
			c.mu.Unlock()
		}
	})
}

// run keeps the leases until ctx ends, then lets go of them.
func (c *claimer) run(ctx context.Context) {
	var kv jetstream.KeyValue
	tick := time.NewTicker(heartbeatEvery)
	defer tick.Stop()
	lastResync := time.Time{}
	failing := false
	for {
		if kv == nil {
			var err error
			kv, err = memoryBucket(ctx, c.q.js, leasesBucket, c.q.replicas)
			if err != nil {
				kv = nil
				if ctx.Err() != nil {
					return
				}
				if !failing {
					c.q.logger.Warn("lease bucket unavailable; this instance dispatches nothing until it is back",
						"bucket", leasesBucket, "err", err, "retry_every", heartbeatEvery)
				}
				failing = true
			} else if failing {
				c.q.logger.Info("lease bucket back", "bucket", leasesBucket)
				failing = false
			}
		}
		taken := false
		if kv != nil {
			var gone bool
			taken, gone = c.renew(ctx, kv)
			if gone {
				// A restarted server forgets the bucket (kept in memory)
				// and every lease in it: own nothing, make it again.
				c.q.logger.Warn("lease bucket gone; making it again", "bucket", leasesBucket)
				c.dropAll()
				kv = nil
				continue
			}
		}
		if taken || time.Since(lastResync) >= resyncEvery {
			if err := c.readCounts(ctx); err == nil {
				lastResync = time.Now()
			}
		}
		_, membersChanged := c.members.prefers("")
		select {
		case <-ctx.Done():
			if kv != nil {
				c.letGoAll(kv)
			}
			return
		case <-tick.C:
		case <-membersChanged:
		case <-c.resync:
			lastResync = time.Time{}
		}
	}
}

// bucketGone reports whether err says the bucket does not exist. No
// responder, or no answer from the bucket's stream, also happens while a
// replicated bucket elects a leader: then it asks whether the bucket is
// there.
func bucketGone(ctx context.Context, js jetstream.JetStream, bucket string, err error) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, jetstream.ErrBucketNotFound), errors.Is(err, jetstream.ErrStreamNotFound):
		return true
	case errors.Is(err, jetstream.ErrNoStreamResponse), errors.Is(err, nats.ErrNoResponders):
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		_, err := js.KeyValue(ctx, bucket)
		return errors.Is(err, jetstream.ErrBucketNotFound)
	}
	return false
}

// dropAll forgets every lease: this instance owns nothing. It reports
// whether it held any.
func (c *claimer) dropAll() (held bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for p, l := range c.leases {
		held = held || l.mine
		c.leases[p] = lease{}
	}
	c.drops++
	close(c.changed)
	c.changed = make(chan struct{})
	return held
}

// renew takes, keeps and lets go of the leases as the membership prefers,
// and reports whether a partition was taken, or whether the bucket is gone.
func (c *claimer) renew(ctx context.Context, kv jetstream.KeyValue) (taken, gone bool) {
	self := []byte(c.members.self)
	for p := range c.partitions {
		key := leaseKey(p, c.partitions)
		want, _ := c.members.prefers(key)
		c.mu.Lock()
		l, drops := c.leases[p], c.drops
		c.mu.Unlock()
		now := time.Now()
		switch {
		case l.mine && !want && l.releasing.IsZero():
			l.releasing = now // stop owning now; let go once settled
		case l.mine && !l.releasing.IsZero() && (c.settled(p) || now.Sub(l.releasing) > releaseWait):
			if err := kv.Delete(ctx, key, jetstream.LastRevision(l.rev)); err != nil && ctx.Err() == nil {
				c.q.logger.Debug("let go of a lease", "partition", p, "err", err)
			}
			l = lease{}
		case l.mine && want && !l.releasing.IsZero():
			l.releasing = time.Time{} // preferred again before it let go
		}
		switch {
		case l.mine:
			rev, err := kv.Update(ctx, key, self, l.rev)
			switch {
			case bucketGone(ctx, c.q.js, leasesBucket, err):
				return taken, true
			case err == nil:
				l.rev, l.renewedAt = rev, now
			case errors.Is(err, jetstream.ErrKeyRevisionMismatch), errors.Is(err, jetstream.ErrKeyExists),
				errors.Is(err, jetstream.ErrKeyNotFound):
				// Another instance took it, or a renewal of ours was stored
				// and its answer lost: watched again, the lease tells which.
				c.q.logger.Warn("lease of a partition written by another hand; reading it again", "partition", p)
				l = lease{}
			default:
				// Kept while valid; the next beat tries again.
				c.q.logger.Debug("renew a lease", "partition", p, "err", err)
			}
		default:
			// Another's lease, or none: watched whether this instance wants
			// it or not, so that when its holder dies the timeout runs from
			// its last renewal, not from when the membership noticed.
			e, err := kv.Get(ctx, key)
			switch {
			case bucketGone(ctx, c.q.js, leasesBucket, err):
				return taken, true
			case errors.Is(err, jetstream.ErrKeyNotFound):
				l = lease{}
				if !want {
					break
				}
				rev, err := kv.Create(ctx, key, self)
				if bucketGone(ctx, c.q.js, leasesBucket, err) {
					return taken, true
				}
				if err == nil {
					l = lease{mine: true, rev: rev, renewedAt: now, takenAt: now}
					taken = true
				}
			case err != nil:
				c.q.logger.Debug("read a lease", "partition", p, "err", err)
			case want && string(e.Value()) == c.members.self:
				// The last write was this instance's own, a renewal whose
				// answer was lost: no one took it since, so it is taken
				// back at once rather than after leaseTimeout.
				if rev, err := kv.Update(ctx, key, self, e.Revision()); err == nil {
					l = lease{mine: true, rev: rev, renewedAt: now, takenAt: now}
					taken = true
				}
			case e.Revision() != l.rev:
				l = lease{rev: e.Revision(), seenAt: now}
			case want && now.Sub(l.seenAt) > leaseTimeout:
				if rev, err := kv.Update(ctx, key, self, l.rev); err == nil {
					c.q.logger.Info("took over the lease of a partition whose holder stopped renewing it", "partition", p)
					l = lease{mine: true, rev: rev, renewedAt: now, takenAt: now}
					taken = true
				}
			}
		}
		c.mu.Lock()
		if c.drops != drops {
			// Dropped meanwhile (the connection was lost): what this beat
			// learned of the lease is void; the next one reads it again.
			l = lease{}
		}
		before := c.ownsLocked(p)
		c.leases[p] = l
		if c.ownsLocked(p) != before {
			close(c.changed)
			c.changed = make(chan struct{})
		}
		c.mu.Unlock()
	}
	c.logOwned()
	return taken, false
}

// logOwned says which partitions this instance owns, when that changed.
func (c *claimer) logOwned() {
	var owned []int
	c.mu.Lock()
	for p := range c.leases {
		if c.ownsLocked(p) {
			owned = append(owned, p)
		}
	}
	c.mu.Unlock()
	if slices.Equal(owned, c.ownedLogged) && c.ownedLogged != nil {
		return
	}
	c.ownedLogged = append(make([]int, 0, len(owned)), owned...)
	c.q.logger.Info("owns partitions of the deliveries", "partitions", owned, "of", c.partitions)
}

// settled reports whether no open lane of partition p holds a delivery.
func (c *claimer) settled(p int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, l := range c.lanes {
		if l.partition == p && l.holding() {
			return false
		}
	}
	return true
}

// letGoAll deletes this instance's leases as it stops, for the others to
// take at once.
func (c *claimer) letGoAll(kv jetstream.KeyValue) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c.mu.Lock()
	leases := append([]lease(nil), c.leases...)
	c.mu.Unlock()
	c.dropAll()
	for p, l := range leases {
		if l.mine {
			_ = kv.Delete(ctx, leaseKey(p, c.partitions), jetstream.LastRevision(l.rev))
		}
	}
}

// readCounts reads RELAY_OUT's per-subject counts: the open lanes learn
// their backlog, and the destinations without one are announced.
func (c *claimer) readCounts(ctx context.Context) error {
	// Deliveries a lane settled may be counted still, until the store
	// confirms their deletes: each lane's count takes them off.
	c.mu.Lock()
	deletedAt := make(map[*lane]uint64, len(c.lanes))
	for _, l := range c.lanes {
		deletedAt[l] = l.deletedCount()
	}
	c.mu.Unlock()
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	info, err := c.st.Info(rctx, jetstream.WithSubjectFilter(queue.OutAll))
	if err != nil {
		if ctx.Err() == nil {
			c.q.logger.Debug("read the deliveries waiting", "err", err)
		}
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for subject := range info.State.Subjects {
		dest := strings.TrimPrefix(subject, queue.OutSubject(""))
		c.toldLocked(dest)
	}
	// A lane whose subject is not listed has nothing waiting.
	for dest, l := range c.lanes {
		if at, ok := deletedAt[l]; ok {
			l.counted(info.State.Subjects[queue.OutSubject(dest)], at, info.State.LastSeq)
		}
	}
	return nil
}

// retireConsumers deletes the dispatch consumers an earlier release made on
// RELAY_OUT, one per destination: lanes read the subjects themselves, and
// the deliveries those consumers held stay on the stream.
func (c *claimer) retireConsumers(ctx context.Context) {
	for delay := time.Second; ; delay = min(2*delay, time.Minute) {
		err := c.retireOnce(ctx)
		if err == nil || ctx.Err() != nil {
			return
		}
		c.q.logger.Warn("delete the dispatch consumers of an earlier release; retrying", "err", err, "retry_in", delay)
		if !pause.For(ctx, delay) {
			return
		}
	}
}

func (c *claimer) retireOnce(ctx context.Context) error {
	names := c.st.ConsumerNames(ctx)
	var old []string
	for name := range names.Name() {
		if strings.HasPrefix(name, "dispatch-") {
			old = append(old, name)
		}
	}
	if err := names.Err(); err != nil {
		return mapErr(err)
	}
	for _, name := range old {
		if err := c.st.DeleteConsumer(ctx, name); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
			return fmt.Errorf("delete consumer %s: %w", name, mapErr(err))
		}
	}
	if len(old) > 0 {
		c.q.logger.Info("deleted the dispatch consumers of an earlier release; their deliveries wait on RELAY_OUT", "consumers", len(old))
	}
	return nil
}
