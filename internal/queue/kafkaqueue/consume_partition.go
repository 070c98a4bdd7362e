package kafkaqueue

import (
	"time"

	"github.com/hookrelay/hookrelay/internal/queue"
)

// entryState is where a fetched record stands.
type entryState uint8

const (
	// entryQueued waits to be handed out (after due, when handed back with a delay).
	entryQueued entryState = iota
	// entryHeld is handed out and not settled.
	entryHeld
	// entryDone is acked or terminated: its offset may be committed.
	entryDone
)

// entry is one record a group member fetched, from the fetch until it is
// settled or its partition is revoked.
type entry struct {
	part   *partState
	offset int64
	msg    queue.Stored
	// appended is the broker's append time of the record (LogAppendTime).
	appended time.Time
	state    entryState
	// delivered counts the hand-outs in this process.
	delivered int
	// due is when a handed back entry may be handed out again.
	due time.Time
	// dest is the destination queue of a lane's record.
	dest *destQueue
}

// partState is what a member keeps of one partition it is assigned: the
// records fetched and not settled, in offset order, so that the committed
// offset is always the end of the contiguous prefix of settled records (a
// crash then redelivers what was not settled, never skips it). A partition
// assigned again after a revoke gets a new partState: deliveries of the old
// one settle without effect.
type partState struct {
	partition int32
	// since is when the group assigned the partition here.
	since   time.Time
	revoked bool
	// revoking is set once the group takes the partition away, for the
	// grace its holders get to settle: nothing more is handed out from it,
	// a handed back record stays for the next owner, and Owned says no, so a
	// holder waiting to retry lets go instead of sending beside the next
	// owner.
	revoking bool
	// unsettled holds the entries fetched and not yet popped, in offset
	// order; settled ones leave from the front only.
	unsettled []*entry
	// next is the offset after the last record seen (skipped ones too), -1
	// before the first.
	next int64
	// committed is the offset last committed (or fetched from), -1 before
	// the first record.
	committed int64
	// held counts the entries not settled; inFlight those handed out.
	held, inFlight int

	// The lanes read the acks markers of the partition before
	// handing out its first records: loading is set meanwhile, and waiting
	// holds what was fetched in the meantime.
	loading bool
	loaded  bool
	waiting []*entry
	// acked are the offsets at or after the first fetched one that the
	// acks markers name: delivered already, skipped when they come.
	acked map[int64]bool

	// spilled are the lanes' destinations (by subject) whose records from
	// some offset on were left in Kafka rather than kept in memory.
	spilled map[string]*spill
	// passed are the offsets of a spilled destination's records the reader
	// passed over as not for the consumers (a second copy of an ID within
	// the dedup window, deleted): not to be read back, when the window may
	// have ended.
	passed map[int64]bool
}

// spill is where a destination's records left in Kafka begin: the reader
// skips them, and they are read back (dispatcher.reread) once the
// destination's queue drains.
type spill struct {
	// from is the offset of the first record left in Kafka; the committed
	// offset never passes it.
	from int64
	// left counts the destination's records in [from, next).
	left int
	// reading is set while they are being read back.
	reading bool
}

func newPartState(partition int32) *partState {
	return &partState{partition: partition, since: time.Now(), next: -1, committed: -1}
}

// seen notes that the record at offset was fetched.
func (p *partState) seen(offset int64) {
	if p.next < 0 {
		// Fetching starts at the committed offset: nothing to commit
		// before anything is settled.
		p.committed = offset
	}
	p.next = offset + 1
}

// passOver notes that the record of subject at offset is not for the
// consumers (admit): when subject is spilled, it is not read back either.
func (p *partState) passOver(subject string, offset int64) {
	if p.spilled[subject] != nil {
		if p.passed == nil {
			p.passed = map[int64]bool{}
		}
		p.passed[offset] = true
	}
	p.seen(offset)
}

// track adds a fetched record that is to be settled.
func (p *partState) track(e *entry) {
	p.seen(e.offset)
	p.unsettled = append(p.unsettled, e)
	p.held++
}

// insert adds es, in offset order and fetched before, to the unsettled
// entries, keeping those in offset order.
func (p *partState) insert(es []*entry) {
	merged := make([]*entry, 0, len(p.unsettled)+len(es))
	i := 0
	for _, e := range es {
		for i < len(p.unsettled) && p.unsettled[i].offset < e.offset {
			merged = append(merged, p.unsettled[i])
			i++
		}
		merged = append(merged, e)
	}
	p.unsettled = append(merged, p.unsettled[i:]...)
	p.held += len(es)
}

// settle marks e done; it reports whether e was held or queued (false when
// it was settled already).
func (p *partState) settle(e *entry) bool {
	if e.state == entryDone {
		return false
	}
	if e.state == entryHeld {
		p.inFlight--
	}
	e.state = entryDone
	p.held--
	return true
}

// compactAbove is how many settled entries commitPoint leaves behind an
// unsettled one before it drops them.
const compactAbove = 64

// commitPoint is the offset to commit now: the first record not settled
// or left in Kafka (spilled), or after the last one seen. ok is false when
// it is not past what was committed.
func (p *partState) commitPoint() (offset int64, ok bool) {
	i := 0
	for i < len(p.unsettled) && p.unsettled[i].state == entryDone {
		p.unsettled[i] = nil
		i++
	}
	p.unsettled = p.unsettled[i:]
	if len(p.unsettled) > 2*p.held+compactAbove {
		// Settled entries behind one that is not (a spilled or down
		// destination's oldest) would pile up with the neighbours'
		// traffic: only the unsettled ones stay.
		kept := make([]*entry, 0, p.held)
		for _, e := range p.unsettled {
			if e.state != entryDone {
				kept = append(kept, e)
			}
		}
		p.unsettled = kept
	}
	if len(p.unsettled) == 0 {
		p.unsettled = nil
		offset = p.next
	} else {
		offset = p.unsettled[0].offset
	}
	for _, s := range p.spilled {
		offset = min(offset, s.from)
	}
	return offset, p.next >= 0 && offset > p.committed
}
