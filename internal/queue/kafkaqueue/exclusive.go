package kafkaqueue

import (
	"context"
	"sync"
	"time"

	"github.com/hookrelay/hookrelay/internal/queue"
)

// dispatcher runs the lanes of a Queue: the dispatch
// consumers on out, one per destination, and its Claim. It is one member of
// the group "<prefix>dispatch", shared by every destination of the Queue,
// joined at the first exclusive Consume or Claim and left when the last of
// them ends; the group gives each partition of out to one member, and a
// destination's records all lie on the partition its name hashes to
// (partitionFor), so one instance at a time owns a destination and its
// budget holds in total.
//
// A partition carries many destinations, and Kafka commits one offset per
// partition, so records are demultiplexed by subject into per-destination
// queues in memory. A destination that is down keeps its records there,
// parked — in order and uncommitted — while the destinations behind it on
// the same partition go on being delivered and acked. The committed offset
// only moves past the contiguous prefix of settled records, so a crash
// redelivers the parked ones from Kafka; an ack out of that order is made
// durable by a marker on the acks topic (key = destination, value = the
// out seq), which the next owner of the partition reads before it hands
// anything out, so a takeover never re-sends a delivered card to a healthy
// destination.
//
// Why parking rather than retry topics (copying a failed record to a
// "retry" topic and committing past it, the usual Kafka answer): nothing is
// copied, so a record has one position (Get, Delete, dedup and the history
// keep naming it) and no second write can fail halfway; per-destination
// order holds, which Teams' budget and the digests need (a retry topic
// interleaves a destination's retried records with its new ones); and a
// crash loses nothing, as the queue itself still holds every record not
// delivered.
//
// What waits in memory and what in Kafka: a destination keeps at most
// Options.MaxParked records in memory (default 1 000), the front of its
// backlog, parked or handed out. Past that it is spilled: the partition's
// reader passes over its further records, which stay in Kafka from the
// first of them on, and reads on for the other destinations, so no backlog
// holds back its neighbours and none costs more memory however long it
// grows. Once half of those in memory are settled, the spilled records are
// read back from Kafka (exclusive_spill.go) up to the bound again, skipping
// what the acks markers name; when that read reaches the reader's position
// the destination is read live again. The committed offset never passes
// the first spilled record, so a crash or a move of the partition hands
// them out again, and a revoke forgets the spill with the rest. What a
// spilled destination costs is one more read of its part of the partition.
// Records of a destination no consumer of this instance takes park (and
// spill) as well (the Claim announces them, so that dispatch starts one; a
// destination removed from the configuration with deliveries left on out
// gets none): they hold the partition's committed offset at the first of
// them, until a consumer of the destination settles them.
type dispatcher struct {
	g *groupReader

	// Under g.mu:
	// dests are the per-destination queues by subject, whether or not a
	// consumer is attached: records of a destination without one park. A
	// queue with neither records nor consumers is dropped.
	dests map[string]*destQueue
	// claim is the running Claim, nil when there is none.
	claim *claim
	// maxDest bounds the records of one destination in memory
	// (Options.MaxParked); past it the rest are left in Kafka.
	maxDest int
	// reads are the acks-marker reads and the rereads of spilled
	// destinations in progress.
	reads sync.WaitGroup
	ctx   context.Context
	stop  context.CancelFunc
}

// destQueue is one destination's records this member fetched and did not
// settle, in offset order (those handed out included).
type destQueue struct {
	subject string
	entries []*entry
	// queued counts the entries not handed out, held those handed out.
	queued, held int
	// loading counts the destination's records fetched while their
	// partition's acks markers load (in partState.waiting).
	loading int
	// consumers counts the lanes attached.
	consumers int
	// changed wakes the destination's consumer.
	changed signal
}

func newDispatcher(q *Queue) (*dispatcher, error) {
	d := &dispatcher{dests: map[string]*destQueue{}, maxDest: q.opts.MaxParked}
	d.ctx, d.stop = context.WithCancel(context.Background())
	d.g = &groupReader{
		q: q, log: q.log.With("consumer", "dispatch"), group: q.opts.TopicPrefix + "dispatch",
		stream: queue.StreamOut, topic: q.topic(queue.StreamOut),
		durable: d.storeAck,
		r:       d,
	}
	if err := d.g.start(); err != nil {
		d.stop()
		return nil, err
	}
	return d, nil
}

// close leaves the group, then ends the acks reads still running.
func (d *dispatcher) close(ctx context.Context) error {
	err := d.g.stop(ctx)
	d.stop()
	d.reads.Wait()
	return err
}

// partition is the partition of out that the records of subject lie on.
func (d *dispatcher) partition(subject string) int32 {
	q := d.g.q
	return partitionFor(keyOf(subject), q.partitions[q.topic(queue.StreamOut)])
}

// dest returns the queue of subject, made on first use. Called with g.mu
// held.
func (d *dispatcher) dest(subject string) *destQueue {
	dq := d.dests[subject]
	if dq == nil {
		dq = &destQueue{subject: subject}
		d.dests[subject] = dq
	}
	return dq
}

// route parks e in its destination's queue, unless the partition's acks
// markers are still being read (then it waits for them) or name e as
// delivered already (then it is settled).
func (d *dispatcher) route(e *entry) {
	p := e.part
	if !p.loaded {
		if !p.loading {
			p.loading = true
			d.reads.Add(1)
			go d.load(p, e.offset, e.appended)
		}
		p.waiting = append(p.waiting, e)
		d.dest(e.msg.Subject).loading++
		return
	}
	d.place(e)
}

// place puts e at the end of its destination's queue. Called with g.mu held.
func (d *dispatcher) place(e *entry) {
	p := e.part
	if p.acked[e.offset] {
		delete(p.acked, e.offset)
		d.g.settleLocked(e)
		return
	}
	dq := d.dest(e.msg.Subject)
	e.dest = dq
	dq.entries = append(dq.entries, e)
	dq.queued++
	dq.changed.fire()
	d.notice(dq)
}

// waiting reports whether dq has records to hand out and no consumer to
// take them. Called with g.mu held.
func (dq *destQueue) waiting() bool { return dq.queued > 0 && dq.consumers == 0 }

// notice tells the claim, if one runs, of dq when it is waiting. Called
// with g.mu held.
func (d *dispatcher) notice(dq *destQueue) {
	if d.claim != nil && dq.waiting() {
		d.claim.add(dq.subject)
	}
}

// inMemory counts the destination's records in memory: queued, handed
// out, or waiting for the acks markers.
func (dq *destQueue) inMemory() int { return len(dq.entries) + dq.loading }

// prune drops dq when it holds nothing and no consumer holds it, so that
// destinations gone idle cost nothing. Called with g.mu held.
func (d *dispatcher) prune(dq *destQueue) {
	if dq.inMemory() == 0 && dq.consumers == 0 {
		delete(d.dests, dq.subject)
	}
}

func (d *dispatcher) settled(e *entry) {
	dq := e.dest
	if dq == nil {
		return
	}
	e.dest = nil
	for i, x := range dq.entries {
		if x == e {
			copy(dq.entries[i:], dq.entries[i+1:])
			dq.entries[len(dq.entries)-1] = nil
			dq.entries = dq.entries[:len(dq.entries)-1]
			break
		}
	}
	dq.held--
	dq.changed.fire()
	d.refill(e.part, dq.subject)
	d.prune(dq)
}

func (d *dispatcher) released(e *entry) {
	dq := e.dest
	if dq == nil {
		return
	}
	dq.held--
	dq.queued++
	dq.changed.fire()
	if !e.part.revoking {
		d.notice(dq)
	}
}

func (d *dispatcher) drop(p *partState) {
	for _, e := range p.waiting {
		d.dests[e.msg.Subject].loading--
	}
	p.waiting = nil
	for _, dq := range d.dests {
		keep := dq.entries[:0]
		for _, e := range dq.entries {
			if e.part != p {
				keep = append(keep, e)
				continue
			}
			e.dest = nil
			if e.state == entryHeld {
				dq.held--
			} else {
				dq.queued--
			}
		}
		clear(dq.entries[len(keep):])
		dq.entries = keep
		dq.changed.fire()
		d.prune(dq)
	}
}

func (d *dispatcher) stopped() {
	for _, dq := range d.dests {
		dq.changed.fire()
	}
}

// next hands out the first record of dq not handed out, keeping the
// destination's order: while that one waits out a Retry delay, nothing behind
// it goes. It hands out nothing while max records are held.
func (dq *destQueue) next(g *groupReader, now time.Time, max int) (*delivery, time.Duration) {
	if dq.held >= max {
		return nil, 0
	}
	for _, e := range dq.entries {
		if e.state == entryHeld {
			continue
		}
		if e.part.revoking {
			return nil, 0 // the next owner hands it out
		}
		if e.due.After(now) {
			return nil, e.due.Sub(now)
		}
		dq.queued--
		dq.held++
		behind := dq.queued
		if s := e.part.spilled[dq.subject]; s != nil {
			behind += s.left
		}
		return g.hand(e, behind), 0
	}
	return nil, 0
}

// backlog counts what waits for each destination here: parked, handed out,
// fetched while its partition's markers load, or left in Kafka (spilled;
// the records there are counted as the reader passed them, acked or
// deleted ones included). Destinations on partitions this member does not
// own count nothing.
func (d *dispatcher) backlog(destinations []string) map[string]queue.Waiting {
	d.g.mu.Lock()
	defer d.g.mu.Unlock()
	out := make(map[string]queue.Waiting, len(destinations))
	for _, name := range destinations {
		subject := queue.OutSubject(name)
		var w queue.Waiting
		add := func(e *entry) {
			w.Count++
			if w.Oldest.IsZero() || e.msg.Time.Before(w.Oldest) {
				w.Oldest = e.msg.Time
			}
		}
		if dq := d.dests[subject]; dq != nil {
			for _, e := range dq.entries {
				add(e)
			}
		}
		for _, p := range d.g.parts {
			for _, e := range p.waiting {
				if e.msg.Subject == subject {
					add(e)
				}
			}
			if s := p.spilled[subject]; s != nil {
				w.Count += uint64(max(s.left, 0))
			}
		}
		if w.Count > 0 {
			out[name] = w
		}
	}
	return out
}
