package kafkaqueue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hookrelay/hookrelay/internal/queue"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	// commitInterval is how often the settled prefix of every partition is
	// committed: what a crash redelivers beyond what was not settled.
	commitInterval = 200 * time.Millisecond
	// revokeGrace is how long a revoke (a rebalance, Stop, Close) waits for
	// the records handed out on the partitions it takes away to be settled
	// before committing, so that a takeover does not redo work that is about
	// to finish (for dispatch: a card being sent).
	revokeGrace = 5 * time.Second
	// commitTimeout bounds one commit, the final one of a revoke included.
	commitTimeout = 10 * time.Second
	// pollBatch bounds the records taken from the client in one poll, so the
	// rebalances that polling holds back wait little.
	pollBatch = 500
	// fetchMaxWait is how long the broker holds a fetch open for new records.
	fetchMaxWait = 500 * time.Millisecond
)

// router is what a group reader hands its records to: the shared queue of a
// consumer that is not exclusive, or the per-destination queues of the
// lanes. Its methods are called with the reader's mu
// held.
type router interface {
	// leave reports whether the record of subject at offset of p is left
	// in Kafka rather than taken (a lane's destination spilled).
	leave(p *partState, subject string, offset int64) bool
	// route takes a fetched record, tracked already by its partition.
	route(e *entry)
	// settled is told that e, held, was settled.
	settled(e *entry)
	// released takes back e, handed out and handed back, to hand it out again at
	// e.due.
	released(e *entry)
	// drop forgets the entries of p, whose partition was revoked.
	drop(p *partState)
	// stopped wakes the consumers waiting for records: the reader stops.
	stopped()
}

// groupReader is one member of a consumer group on one topic: it polls the
// records of the partitions assigned to it, hands them to its router, and
// commits per partition the end of the contiguous prefix of settled records.
// Auto-commit is off and rebalances wait while a poll's records are routed
// (BlockRebalanceOnPoll), so what is routed always belongs to a partition
// the member owns, and a revoke commits the final prefix before the
// partition moves.
type groupReader struct {
	q      *Queue
	log    *slog.Logger
	group  string
	stream string
	topic  string
	// maxUnsettled bounds the records held in memory across partitions (0:
	// no bound); polling waits while it is reached.
	maxUnsettled int
	// durable, when set, makes an Ack durable before its record is settled
	// (the lanes' acks markers).
	durable func(context.Context, *entry) error
	r       router

	cl     *kgo.Client
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// commitMu orders the commits, so a revoke's final commit and removal
	// of a partition cannot interleave with the periodic commit.
	commitMu sync.Mutex

	mu        sync.Mutex
	parts     map[int32]*partState
	unsettled int // entries held by live partitions
	changed   signal
	stopping  bool
	// stopCtx bounds the final revoke of a stopping reader.
	stopCtx context.Context
	// crash makes stop leave without waiting or committing, as a killed
	// process would (tests).
	crash bool
}

// start joins the group and begins polling and committing.
func (g *groupReader) start() error {
	g.parts = map[int32]*partState{}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(g.q.opts.Brokers...),
		kgo.ConsumerGroup(g.group),
		kgo.ConsumeTopics(g.topic),
		// A group seen for the first time starts at the oldest record, as a
		// JetStream consumer delivering all does: on out, deliveries wait
		// until delivered.
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		// A fetch waits for new records at most this long rather than kgo's
		// 5 s, so a change to what is fetched waits little for the fetch in
		// flight.
		kgo.FetchMaxWait(fetchMaxWait),
		kgo.BlockRebalanceOnPoll(),
		kgo.SessionTimeout(g.q.opts.SessionTimeout),
		kgo.HeartbeatInterval(max(g.q.opts.SessionTimeout/10, 100*time.Millisecond)),
		// How long a rebalance waits for every member to rejoin and sync:
		// the members' revokes take revokeGrace at most, so twice the
		// session timeout is ample. kgo's default, 60 s, held the partitions
		// of a member killed in the middle of a rebalance that long, with
		// every destination unowned (TestTwoInstancesShareDestinationsAndSurviveAKill).
		kgo.RebalanceTimeout(max(2*g.q.opts.SessionTimeout, 2*revokeGrace)),
		kgo.OnPartitionsAssigned(g.assigned),
		kgo.OnPartitionsRevoked(g.revoked),
		kgo.OnPartitionsLost(g.lost),
	)
	if err != nil {
		return fmt.Errorf("consumer group %s: client: %w", g.group, err)
	}
	g.cl = cl
	ctx, cancel := context.WithCancel(context.Background())
	g.cancel = cancel
	g.wg.Add(2)
	go g.pollLoop(ctx)
	go g.commitLoop(ctx)
	return nil
}

// stop ends polling, waits (within ctx) for what is handed out on the
// member's partitions, commits the settled prefix and leaves the group, so
// the others take the partitions over at once rather than after the session
// timeout.
func (g *groupReader) stop(ctx context.Context) error {
	g.mu.Lock()
	if g.stopping {
		g.mu.Unlock()
		return nil
	}
	g.stopping, g.stopCtx = true, ctx
	g.r.stopped()
	g.changed.fire()
	g.mu.Unlock()

	g.cancel()
	g.wg.Wait()
	// Leaving runs the final revoke (g.revoked) on every partition.
	err := g.cl.LeaveGroupContext(ctx)
	g.cl.Close()
	if err != nil {
		return fmt.Errorf("consumer group %s: leave: %w", g.group, err)
	}
	return nil
}

// isStopping reports whether stop began. Called with mu held.
func (g *groupReader) isStopping() bool { return g.stopping }

func (g *groupReader) pollLoop(ctx context.Context) {
	defer g.wg.Done()
	for {
		n, ok := g.room(ctx)
		if !ok {
			return
		}
		fs := g.cl.PollRecords(ctx, n)
		if ctx.Err() != nil || fs.IsClientClosed() {
			g.cl.AllowRebalance()
			return
		}
		failed := false
		fs.EachError(func(topic string, p int32, err error) {
			failed = true
			g.log.Warn("fetch", "topic", topic, "partition", p, "err", err)
		})
		g.mu.Lock()
		fs.EachRecord(g.take)
		g.changed.fire()
		g.mu.Unlock()
		g.cl.AllowRebalance()
		if failed && fs.NumRecords() == 0 {
			// Let a failing broker breathe rather than spin on it.
			select {
			case <-ctx.Done():
				return
			case <-time.After(500 * time.Millisecond):
			}
		}
	}
}

// room waits until the reader may hold more records and says how many to
// poll; ok is false when ctx ended.
func (g *groupReader) room(ctx context.Context) (n int, ok bool) {
	if g.maxUnsettled <= 0 {
		return pollBatch, true
	}
	for {
		g.mu.Lock()
		n := g.maxUnsettled - g.unsettled
		wait := g.changed.wait()
		g.mu.Unlock()
		if n > 0 {
			return min(n, pollBatch), true
		}
		select {
		case <-ctx.Done():
			return 0, false
		case <-wait:
		}
	}
}

// take turns a fetched record into an entry and routes it, or passes it
// over when it is not for the consumers (admit: its ID is claimed here, even
// for a record left in Kafka, as the window may be over when it is read
// back) or is left in Kafka for now (router.leave). Called with mu held.
func (g *groupReader) take(r *kgo.Record) {
	p := g.parts[r.Partition]
	if p == nil {
		// Assignment always precedes the fetch; be safe anyway.
		p = newPartState(r.Partition)
		g.parts[r.Partition] = p
	}
	m, ok := storedOf(g.stream, r)
	switch {
	case !ok:
		p.seen(r.Offset)
		return
	case !g.admit(m):
		p.passOver(m.Subject, r.Offset)
		return
	case g.r.leave(p, m.Subject, r.Offset):
		p.seen(r.Offset)
		return
	}
	e := &entry{part: p, offset: r.Offset, msg: m, appended: r.Timestamp}
	p.track(e)
	g.unsettled++
	g.r.route(e)
}

// admit reports whether m is for the consumers: not a second copy of an ID
// handed out already. Called with mu held.
func (g *groupReader) admit(m queue.Stored) bool {
	if m.ID != "" {
		if _, dup := g.q.dedup.claimID(g.stream, m.ID, m.Seq, m.Time); dup {
			return false
		}
	}
	return true
}

// hand marks e handed out and returns its delivery. Called with mu held.
func (g *groupReader) hand(e *entry, pending int) *delivery {
	e.state = entryHeld
	e.delivered++
	e.part.inFlight++
	return &delivery{g: g, e: e, n: e.delivered, pending: uint64(max(pending, 0))}
}

// settleLocked marks e done; false when it was not held. Called with mu held.
func (g *groupReader) settleLocked(e *entry) bool {
	wasHeld := e.state == entryHeld
	if !e.part.settle(e) {
		return false
	}
	if !e.part.revoked {
		g.unsettled--
	}
	if wasHeld {
		g.r.settled(e)
	}
	g.changed.fire()
	return true
}

// errNotHeld: a delivery settled twice, or after it was handed back.
var errNotHeld = errors.New("delivery is not held: settled already or handed back")

// errMoved: the partition of a delivery went to another member before the
// delivery was settled; that member hands the message out again.
var errMoved = errors.New("partition reassigned before the ack; the message will be handed out again")

func (g *groupReader) ack(ctx context.Context, e *entry) error {
	g.mu.Lock()
	held := e.state == entryHeld
	g.mu.Unlock()
	if !held {
		return fmt.Errorf("ack %s seq %d: %w", g.stream, e.msg.Seq, errNotHeld)
	}
	var derr error
	if g.durable != nil {
		// Settled even when the marker failed: the commit still covers it
		// once the records before it are settled; only a crash before then
		// hands it out again, which the error says.
		derr = g.durable(ctx, e)
	}
	g.mu.Lock()
	ok := g.settleLocked(e)
	moved := e.part.revoked
	g.mu.Unlock()
	switch {
	case derr != nil:
		return derr
	case !ok:
		return fmt.Errorf("ack %s seq %d: %w", g.stream, e.msg.Seq, errNotHeld)
	case moved && g.durable == nil:
		return fmt.Errorf("ack %s seq %d: %w", g.stream, e.msg.Seq, errMoved)
	}
	return nil
}

func (g *groupReader) term(e *entry) error {
	g.mu.Lock()
	ok := e.state == entryHeld && g.settleLocked(e)
	g.mu.Unlock()
	if !ok {
		return fmt.Errorf("term %s seq %d: %w", g.stream, e.msg.Seq, errNotHeld)
	}
	return nil
}

func (g *groupReader) nak(e *entry, delay time.Duration) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if e.state != entryHeld {
		return fmt.Errorf("nak %s seq %d: %w", g.stream, e.msg.Seq, errNotHeld)
	}
	e.state = entryQueued
	e.part.inFlight--
	e.due = time.Time{}
	if delay > 0 {
		e.due = time.Now().Add(delay)
	}
	if !e.part.revoked {
		// Even while revoking: the router's counts must follow the entry
		// (drop counts it as queued now); it hands nothing of a revoking
		// partition out.
		g.r.released(e)
	}
	g.changed.fire()
	return nil
}

func (g *groupReader) assigned(_ context.Context, _ *kgo.Client, added map[string][]int32) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, p := range added[g.topic] {
		if g.parts[p] == nil {
			g.parts[p] = newPartState(p)
		}
	}
	g.changed.fire()
}

// revoked gives partitions up: it waits a little for their records in
// flight, commits what is settled and forgets the rest (the next owner
// fetches it from the commit).
func (g *groupReader) revoked(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	ps := lost[g.topic]
	if len(ps) == 0 {
		return
	}
	g.mu.Lock()
	crash, ctx := g.crash, g.stopCtx
	for _, p := range ps {
		if s := g.parts[p]; s != nil {
			s.revoking = true
		}
	}
	g.changed.fire()
	g.mu.Unlock()
	if ctx == nil {
		ctx = context.Background()
	}
	if !crash {
		g.waitInFlight(ctx, ps)
	}
	g.forget(ctx, ps, !crash)
}

// lost forgets partitions taken away by a fatal group error: committing
// would fail, the next owner redoes what was not committed.
func (g *groupReader) lost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	if ps := lost[g.topic]; len(ps) > 0 {
		g.log.Warn("partitions lost without a commit", "group", g.group, "partitions", ps)
		g.forget(context.Background(), ps, false)
	}
}

// waitInFlight waits until nothing is handed out on ps, at most revokeGrace
// or until ctx ends.
func (g *groupReader) waitInFlight(ctx context.Context, ps []int32) {
	deadline := time.NewTimer(revokeGrace)
	defer deadline.Stop()
	for {
		g.mu.Lock()
		n := 0
		for _, p := range ps {
			if s := g.parts[p]; s != nil {
				n += s.inFlight
			}
		}
		wait := g.changed.wait()
		g.mu.Unlock()
		if n == 0 {
			return
		}
		select {
		case <-wait:
		case <-deadline.C:
			g.log.Warn("partitions revoked with deliveries still in flight; they will be handed out again", "group", g.group, "in_flight", n)
			return
		case <-ctx.Done():
			return
		}
	}
}

// forget commits (when commit is set) and drops partitions ps.
func (g *groupReader) forget(ctx context.Context, ps []int32, commit bool) {
	g.commitMu.Lock()
	if commit {
		if err := g.commitLocked(ctx, ps); err != nil {
			g.log.Warn("final commit of revoked partitions; their settled records may be handed out again", "group", g.group, "err", err)
		}
	}
	g.mu.Lock()
	for _, p := range ps {
		s := g.parts[p]
		if s == nil {
			continue
		}
		delete(g.parts, p)
		s.revoked = true
		g.unsettled -= s.held
		g.r.drop(s)
	}
	g.changed.fire()
	g.mu.Unlock()
	g.commitMu.Unlock()
}

func (g *groupReader) commitLoop(ctx context.Context) {
	defer g.wg.Done()
	t := time.NewTicker(commitInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		g.commitMu.Lock()
		err := g.commitLocked(ctx, nil)
		g.commitMu.Unlock()
		if err != nil && ctx.Err() == nil {
			g.log.Warn("commit", "group", g.group, "err", err)
		}
	}
}

// commitLocked commits the settled prefix of partitions only (every live one
// when only is nil). Called with commitMu held.
func (g *groupReader) commitLocked(ctx context.Context, only []int32) error {
	ctx, cancel := context.WithTimeout(ctx, commitTimeout)
	defer cancel()
	offsets := map[int32]kgo.EpochOffset{}
	states := map[int32]*partState{}
	g.mu.Lock()
	add := func(p *partState) {
		if at, ok := p.commitPoint(); ok {
			offsets[p.partition] = kgo.EpochOffset{Epoch: -1, Offset: at}
			states[p.partition] = p
		}
	}
	if only == nil {
		for _, p := range g.parts {
			add(p)
		}
	} else {
		for _, p := range only {
			if s := g.parts[p]; s != nil {
				add(s)
			}
		}
	}
	g.mu.Unlock()
	if len(offsets) == 0 {
		return nil
	}
	var errs []error
	g.cl.CommitOffsetsSync(ctx, map[string]map[int32]kgo.EpochOffset{g.topic: offsets},
		func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
			if err != nil {
				errs = append(errs, err)
				clear(states)
				return
			}
			for _, t := range resp.Topics {
				for _, p := range t.Partitions {
					if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
						errs = append(errs, fmt.Errorf("partition %d: %w", p.Partition, err))
						delete(states, p.Partition)
					}
				}
			}
		})
	g.mu.Lock()
	for p, s := range states {
		s.committed = max(s.committed, offsets[p].Offset)
	}
	g.mu.Unlock()
	if len(errs) > 0 {
		return failed("commit "+g.topic, errors.Join(errs...))
	}
	return nil
}

// owns reports whether partition p is assigned to this member now.
func (g *groupReader) owns(p int32) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.parts[p]
	return s != nil && !s.revoking
}

// await calls try with mu held until it hands out a delivery or fails,
// waiting on the signal try returns (and at most retryIn when it is
// positive) in between. It returns nil, nil when timeout fires first.
func (g *groupReader) await(ctx context.Context, timeout <-chan time.Time,
	try func(now time.Time) (d *delivery, wake *signal, retryIn time.Duration, err error)) (*delivery, error) {
	for {
		g.mu.Lock()
		d, wake, retryIn, err := try(time.Now())
		var wait <-chan struct{}
		if d == nil && err == nil {
			wait = wake.wait()
		}
		g.mu.Unlock()
		if d != nil || err != nil {
			return d, err
		}
		switch sleep(ctx, timeout, wait, retryIn) {
		case sleepCancelled:
			return nil, ctx.Err()
		case sleepTimedOut:
			return nil, nil
		}
	}
}

// sleepEnd says why sleep returned.
type sleepEnd uint8

const (
	sleepWoken sleepEnd = iota
	sleepTimedOut
	sleepCancelled
)

// sleep waits for wake, timeout, or retryIn when it is positive.
func sleep(ctx context.Context, timeout <-chan time.Time, wake <-chan struct{}, retryIn time.Duration) sleepEnd {
	var retry <-chan time.Time
	if retryIn > 0 {
		t := time.NewTimer(retryIn)
		defer t.Stop()
		retry = t.C
	}
	select {
	case <-ctx.Done():
		return sleepCancelled
	case <-timeout:
		return sleepTimedOut
	case <-wake:
	case <-retry:
	}
	return sleepWoken
}
