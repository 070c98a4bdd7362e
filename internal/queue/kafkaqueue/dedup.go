package kafkaqueue

import (
	"context"
	"sync"
	"time"
)

// dedupIndex remembers, per stream, which IDs were stored within the dedup
// window and where. Memory grows with the IDs stored in one window (about
// 100 bytes each): the price of Kafka having no server-side dedup.
type dedupIndex struct {
	window time.Duration
	now    func() time.Time

	mu      sync.Mutex
	streams map[string]*dedupStream
}

type dedupStream struct {
	ids map[string]*dedupEntry
	// order lists the IDs as added, oldest first, so expiry stops at the
	// first one still in the window instead of walking the map.
	order []dedupOrder
	head  int
}

type dedupOrder struct {
	id string
	at time.Time
}

// dedupEntry is an ID stored (or being stored) at seq.
type dedupEntry struct {
	seq uint64
	at  time.Time
	// pending is non-nil while the publish that reserved the ID runs; it is
	// closed when that publish ends. A publish that failed removes the
	// entry before closing it.
	pending chan struct{}
	// claimedSeq is set when a consumer handed out a record with this ID
	// while the reserving publish still ran: that record is the original.
	claimedSeq uint64
}

func newDedupIndex(window time.Duration, now func() time.Time) *dedupIndex {
	return &dedupIndex{window: window, now: now, streams: map[string]*dedupStream{}}
}

// stream returns the index of stream, dropping the IDs that left the window.
// Called with mu held.
func (d *dedupIndex) stream(name string) *dedupStream {
	s := d.streams[name]
	if s == nil {
		s = &dedupStream{ids: map[string]*dedupEntry{}}
		d.streams[name] = s
	}
	cutoff := d.now().Add(-d.window)
	for s.head < len(s.order) && s.order[s.head].at.Before(cutoff) {
		o := s.order[s.head]
		if e := s.ids[o.id]; e != nil && e.pending == nil && e.at.Equal(o.at) {
			delete(s.ids, o.id)
		}
		s.order[s.head] = dedupOrder{}
		s.head++
	}
	if s.head > 1024 && s.head > len(s.order)/2 {
		s.order = append(s.order[:0:0], s.order[s.head:]...)
		s.head = 0
	}
	return s
}

// add records id at seq, stored at at. Called with mu held.
func (s *dedupStream) add(id string, e *dedupEntry) {
	s.ids[id] = e
	s.order = append(s.order, dedupOrder{id, e.at})
}

// reservation is an ID reserved for a publish, settled once it ends.
type reservation struct {
	d      *dedupIndex
	stream string
	id     string
	e      *dedupEntry
}

// reserve claims id on stream for a publish about to produce. When id is
// stored already within the window it returns its seq and dup true; when
// another publish of id runs, it waits for that one (until ctx ends) and
// answers as it ended.
func (d *dedupIndex) reserve(ctx context.Context, stream, id string) (r *reservation, seq uint64, dup bool, err error) {
	for {
		d.mu.Lock()
		s := d.stream(stream)
		e := s.ids[id]
		if e == nil || e.at.Before(d.now().Add(-d.window)) {
			e = &dedupEntry{at: d.now(), pending: make(chan struct{})}
			s.add(id, e)
			d.mu.Unlock()
			return &reservation{d, stream, id, e}, 0, false, nil
		}
		if e.pending == nil {
			d.mu.Unlock()
			return nil, e.seq, true, nil
		}
		wait := e.pending
		d.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, 0, false, ctx.Err()
		}
	}
}

// settle ends the reservation: stored at seq at time at, or, when err is
// set, released for the next publish of the ID. It returns the seq the ID
// now stands for (an earlier record a consumer met meanwhile wins).
func (r *reservation) settle(seq uint64, at time.Time, err error) uint64 {
	r.d.mu.Lock()
	defer r.d.mu.Unlock()
	s := r.d.stream(r.stream)
	defer close(r.e.pending)
	if err != nil {
		if r.e.claimedSeq == 0 {
			if s.ids[r.id] == r.e {
				delete(s.ids, r.id)
			}
			r.e.pending = nil
			return 0
		}
		seq = r.e.claimedSeq
	} else if r.e.claimedSeq != 0 {
		seq = r.e.claimedSeq
	}
	r.e.seq, r.e.pending = seq, nil
	if !at.IsZero() && at.After(r.e.at) {
		r.e.at = at
		s.order = append(s.order, dedupOrder{r.id, at})
	}
	return seq
}

// claimID is for the consumers: it records that the record at seq of stream,
// stored at at, carries id, and reports whether another record with id was
// stored before it within the window (orig names that one). A consumer skips
// a record claimID calls a duplicate: it is a second copy published by
// another instance, which this instance's index could not refuse. A record
// older than the window is never a duplicate.
func (d *dedupIndex) claimID(stream, id string, seq uint64, at time.Time) (orig uint64, dup bool) {
	if id == "" || at.Before(d.now().Add(-d.window)) {
		return 0, false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.stream(stream)
	e := s.ids[id]
	switch {
	case e == nil:
		s.add(id, &dedupEntry{seq: seq, at: at})
		return 0, false
	case e.pending != nil:
		if e.claimedSeq == 0 {
			e.claimedSeq = seq
		}
		return e.claimedSeq, e.claimedSeq != seq
	default:
		return e.seq, e.seq != seq
	}
}

// note records id at seq when it is not known yet: the rebuild at New, which
// reads oldest first, so the first copy of an ID wins.
func (d *dedupIndex) note(stream, id string, seq uint64, at time.Time) {
	d.claimID(stream, id, seq, at)
}
