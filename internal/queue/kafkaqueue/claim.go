package kafkaqueue

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hookrelay/hookrelay/internal/queue"
)

// errClaimed: a second Claim while one runs.
var errClaimed = errors.New("a claim runs already on this queue; end its context first")

// claim is the Queue's share of out: it keeps the dispatcher a member of
// the group while its context runs, even with no consumer attached, and
// tells which destinations have records parked with no consumer to take
// them.
//
// Announcing must not block the reader that parks a record (it holds g.mu),
// nor drop the only notice of a destination: names wait in a set, each once,
// until a goroutine hands them to Waiting's receiver. The set holds at most
// one name per destination with records parked.
type claim struct {
	d   *dispatcher
	out chan string

	// Under d.g.mu:
	// pending are the names to send, oldest first, each once (in queued).
	pending []string
	queued  map[string]bool
	changed signal
}

var _ queue.Claim = (*claim)(nil)

// Claim joins the dispatch group (see dispatcher) until ctx ends, whether or
// no lane runs. Waiting is closed when ctx ends, or
// earlier when the Queue closes.
func (q *Queue) Claim(ctx context.Context) (queue.Claim, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("claim: %w", err)
	}
	d, err := q.cons.attach()
	if err != nil {
		return nil, fmt.Errorf("claim: %w", err)
	}
	cl := &claim{d: d, out: make(chan string), queued: map[string]bool{}}
	d.g.mu.Lock()
	if d.claim != nil {
		d.g.mu.Unlock()
		q.cons.detach(d)
		return nil, fmt.Errorf("claim: %w", errClaimed)
	}
	d.claim = cl
	for _, dq := range d.dests {
		d.notice(dq)
	}
	d.g.mu.Unlock()

	q.cons.running.Add(1)
	go func() {
		defer q.cons.running.Done()
		cl.run(ctx)
		d.g.mu.Lock()
		d.claim = nil
		d.g.mu.Unlock()
		close(cl.out)
		q.cons.detach(d)
	}()
	return cl, nil
}

// Waiting receives the names of the destinations with records parked here
// and no consumer attached: when a record is parked (fetched after its
// partition was assigned, stored earlier or later; or handed back by Retry
// after its consumer stopped), when a consumer stops leaving records
// parked, and at Claim for what is parked already.
func (cl *claim) Waiting() <-chan string { return cl.out }

// Owns reports whether the destination's partition is assigned to this
// instance and not being taken away.
func (cl *claim) Owns(destination string) bool {
	return cl.d.g.owns(cl.d.partition(queue.OutSubject(destination)))
}

// OwnedSince is when the group assigned the destination's partition here,
// zero when it is not assigned or being taken away. A member cut off from
// the group may go on with what it holds until it learns it lost the
// partition, as a previous owner finishes a request in flight.
func (cl *claim) OwnedSince(destination string) time.Time {
	g := cl.d.g
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.parts[cl.d.partition(queue.OutSubject(destination))]
	if s == nil || s.revoking {
		return time.Time{}
	}
	return s.since
}

// add queues the name of the destination of subject, unless it is queued
// already. Called with d.g.mu held.
func (cl *claim) add(subject string) {
	name := strings.TrimPrefix(subject, queue.OutSubject(""))
	if cl.queued[name] {
		return
	}
	cl.queued[name] = true
	cl.pending = append(cl.pending, name)
	cl.changed.fire()
}

// run hands the pending names to Waiting's receiver until ctx ends or the
// dispatcher stops.
func (cl *claim) run(ctx context.Context) {
	for {
		name, wake := cl.next()
		var send chan<- string
		if wake == nil {
			send = cl.out
		}
		select {
		case <-ctx.Done():
			return
		case <-cl.d.ctx.Done():
			return
		case <-wake:
		case send <- name:
		}
	}
}

// next pops the first pending name, skipping those whose destination has,
// by now, no record parked or a consumer again; with none left, it returns
// what to wait on for more.
func (cl *claim) next() (name string, wake <-chan struct{}) {
	cl.d.g.mu.Lock()
	defer cl.d.g.mu.Unlock()
	for len(cl.pending) > 0 {
		name, cl.pending = cl.pending[0], cl.pending[1:]
		delete(cl.queued, name)
		if dq := cl.d.dests[queue.OutSubject(name)]; dq != nil && dq.waiting() {
			return name, nil
		}
	}
	cl.pending = nil
	return "", cl.changed.wait()
}
