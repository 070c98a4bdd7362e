// Package storetest runs a stage's test on every backend of hookrelay's
// stores, each a real store on loopback: an embedded JetStream
// (internal/natstest) and an in-process Kafka (internal/kafkatest). A stage
// whose behaviour must not depend on the backend runs its tests through
// Each.
package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/internal/kafkatest"
	"github.com/hookrelay/hookrelay/internal/natstest"
	"github.com/hookrelay/hookrelay/internal/queue"
	"github.com/hookrelay/hookrelay/internal/queue/kafkaqueue"
)

// Opener opens another relay instance's stores on the test's store; each
// is closed when its t ends.
type Opener func(t testing.TB) *queue.Stores

// backend is a backend's name and how to start an empty store of it for
// one test, stopped when the test ends.
type backend struct {
	name  string
	start func(t testing.TB) Opener
}

func backends() []backend {
	return []backend{
		{"jetstream", func(t testing.TB) Opener {
			env := natstest.Start(t)
			return func(t testing.TB) *queue.Stores { return queue.Over(env.Queue(t)) }
		}},
		{"kafka", func(t testing.TB) Opener {
			env := kafkatest.Start(t)
			return func(t testing.TB) *queue.Stores { return queue.Over(env.Queue(t, kafkaqueue.Options{})) }
		}},
	}
}

// Each runs test once per backend, as a subtest named for it, on an empty
// store of its own.
func Each(t *testing.T, test func(t *testing.T, open Opener)) {
	t.Helper()
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) { test(t, b.start(t)) })
	}
}

// JetStream opens stores on an embedded JetStream of the test's own, for a
// test or benchmark that needs only one backend (say why where it is used).
func JetStream(t testing.TB) *queue.Stores {
	t.Helper()
	return backends()[0].start(t)(t)
}

// Lanes reads the deliveries a test's stage enqueued as dispatch does,
// through the Lanes store: deliveries are not scanned (on JetStream they
// are a work queue), and on Kafka a delivery's position says nothing of
// another's.
type Lanes struct {
	s     *queue.Stores
	ctx   context.Context // the claim's, ended with the test
	claim queue.Claim     // taken at the first read
}

// NewLanes reads deliveries from s until the test ends.
func NewLanes(t testing.TB, s *queue.Stores) *Lanes {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return &Lanes{s: s, ctx: ctx}
}

// endOfLane is the header of the delivery Take enqueues behind the ones it
// reads: a lane hands a destination's deliveries out in the order they
// were stored, so when it comes, every delivery stored before it came.
const endOfLane = "Test-End-Of-Lane"

// wait bounds each of Take's waits.
const wait = 20 * time.Second

// Take reads the deliveries waiting for destination, in order, and settles
// them, so that the next Take reads only what was enqueued after.
func (l *Lanes) Take(t testing.TB, destination string) []queue.Stored {
	t.Helper()
	ctx, cancel := context.WithTimeout(l.ctx, wait)
	defer cancel()
	if l.claim == nil {
		cl, err := l.s.Claim(l.ctx)
		if err != nil {
			t.Fatalf("claim: %v", err)
		}
		l.claim = cl
	}
	// Ownership changes have no signal: poll it.
	Eventually(t, "this instance owns "+destination, func() bool { return l.claim.Owns(destination) })
	end := queue.Msg{Key: destination, Header: queue.Header{endOfLane: {"1"}}, Data: []byte("end")}
	if _, err := l.s.Enqueue(ctx, []queue.Msg{end}); err != nil {
		t.Fatalf("enqueue the end of %s's lane: %v", destination, err)
	}
	c, err := l.s.OpenLane(ctx, destination, queue.LaneOptions{Hold: 1})
	if err != nil {
		t.Fatalf("open lane of %s: %v", destination, err)
	}
	defer c.Stop()
	var out []queue.Stored
	for {
		d, err := c.Next(ctx)
		if err != nil {
			t.Fatalf("lane of %s after %d deliveries: %v", destination, len(out), err)
		}
		if err := d.Ack(ctx); err != nil {
			t.Fatalf("ack a delivery of %s: %v", destination, err)
		}
		if d.Msg().Header.Get(endOfLane) != "" {
			return out
		}
		out = append(out, d.Msg())
	}
}

// Eventually polls cond every 10 ms until it holds, failing the test after
// 15 s: for states that send no signal.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	timeout := time.After(15 * time.Second)
	for !cond() {
		select {
		case <-tick.C:
		case <-timeout:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
