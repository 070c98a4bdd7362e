package kafkaqueue

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/internal/queue"
)

// claimOf claims q's share until the test ends.
func claimOf(t *testing.T, q *Queue) *claim {
	t.Helper()
	ctx, cancel := context.WithCancel(testCtx(t))
	t.Cleanup(cancel)
	cl, err := q.Claim(ctx)
	if err != nil {
		t.Fatalf("Claim: %v", err)
	}
	return cl.(*claim)
}

// told waits for Waiting to name destination.
func told(t *testing.T, cl *claim, destination string) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case name := <-cl.Waiting():
			if name == destination {
				return
			}
		case <-timeout:
			t.Fatalf("%s not announced", destination)
		}
	}
}

// The claim keeps the Queue in the dispatch group with no consumer running:
// a lane's Stop does not give the partitions away.
func TestClaimKeepsMembershipWithoutConsumers(t *testing.T) {
	c := newCluster(t)
	q := newQueue(t, c, Options{})
	cl := claimOf(t, q)
	publish(t, q, queue.OutSubject("a"), "a0")
	told(t, cl, "a")
	cons := consume(t, q, destCfg("a"))
	ack(t, next(t, cons))
	cons.Stop()
	q.cons.mu.Lock()
	disp := q.cons.disp
	q.cons.mu.Unlock()
	cl.d.g.mu.Lock()
	stopping := cl.d.g.isStopping()
	cl.d.g.mu.Unlock()
	if disp != cl.d || stopping {
		t.Fatal("the last lane's Stop left the dispatch group while the claim runs")
	}
	if !cl.Owns("a") {
		t.Fatal("the only instance does not own a after its lane stopped")
	}
}

// A delivery its lane held when it stopped, handed back later, is announced:
// it waits with no consumer to take it.
func TestClaimAnnouncesNakAfterStop(t *testing.T) {
	c := newCluster(t)
	q := newQueue(t, c, Options{})
	cl := claimOf(t, q)
	publish(t, q, queue.OutSubject("a"), "a0")
	told(t, cl, "a")
	cons := consume(t, q, destCfg("a"))
	d := next(t, cons)
	cons.Stop()
	if err := d.Retry(0); err != nil {
		t.Fatalf("Nak: %v", err)
	}
	told(t, cl, "a")
	cons = consume(t, q, destCfg("a"))
	d, data := nextData(t, cons)
	if data != "a0" || d.Attempt() != 2 {
		t.Fatalf("after the announcement got %q delivered %d, want a0 delivered 2", data, d.Attempt())
	}
	ack(t, d)
}

func TestClaimOneAtATime(t *testing.T) {
	c := newCluster(t)
	q := newQueue(t, c, Options{})
	ctx, cancel := context.WithCancel(testCtx(t))
	first, err := q.Claim(ctx)
	if err != nil {
		t.Fatalf("Claim: %v", err)
	}
	if _, err := q.Claim(testCtx(t)); !errors.Is(err, errClaimed) {
		t.Fatalf("second Claim: %v, want errClaimed", err)
	}
	cancel()
	for range first.Waiting() {
	}
	eventually(t, "a new claim once the first ended", func() bool {
		_, err := q.Claim(testCtx(t))
		return err == nil
	})
}
