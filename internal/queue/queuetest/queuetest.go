// Package queuetest is the conformance suite of queue.Queue: every
// implementation runs it against a real store (an embedded JetStream, kfake)
// and must pass it, so the stages can rely on the contract in
// internal/queue/api.go whichever implementation runs.
package queuetest

import (
	"context"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/internal/queue"
)

// Backend is an implementation under test.
type Backend struct {
	// Start starts an empty store for one test, stopped when t ends, and
	// returns how to open an instance on it. Each call of open is another
	// relay instance on the same store, closed when its t ends (the suite may
	// close it earlier; a second Close must not fail the test).
	Start func(t *testing.T) (open func(t *testing.T) queue.Queue)
	// TooLarge is a message size the store refuses. Default 8 MiB.
	TooLarge int
	// Skip names the tests (as in "TestX/<name>") this implementation does
	// not pass by design, each with the reason its documentation gives.
	Skip map[string]string
}

// Run runs the suite, one subtest per part of the contract, each on a store
// of its own.
func Run(t *testing.T, b Backend) {
	if b.TooLarge == 0 {
		b.TooLarge = 8 << 20
	}
	tests := []struct {
		name string
		run  func(t *testing.T, b Backend, open func(t *testing.T) queue.Queue)
	}{
		{"PublishGetRoundTrip", testPublishGetRoundTrip},
		{"DuplicateID", testDuplicateID},
		{"PublishAllOrder", testPublishAllOrder},
		{"SendVisibleToScan", testSendVisibleToScan},
		{"Scan", testScan},
		{"ScanSkipsDeletedAndStopsAtLast", testScanSkipsDeletedAndStopsAtLast},
		{"ScanReadsManyAndLarge", testScanReadsManyAndLarge},
		{"Delete", testDelete},
		{"TooLarge", testTooLarge},
		{"AckedNotHandedOutAgain", testAcked},
		{"NakDelay", testNakDelay},
		{"Term", testTerm},
		{"AckWaitRedelivers", testAckWaitRedelivers},
		{"NextEndsWithContext", testNextEndsWithContext},
		{"MembersShare", testMembersShare},
		{"StopHandsBack", testStopHandsBack},
		{"ExclusiveTakeOver", testExclusiveTakeOver},
		{"Backlog", testBacklog},
		{"LaneInOrder", testLaneInOrder},
		{"LaneSettlesOutOfOrder", testLaneSettlesOutOfOrder},
		{"ClaimAnnouncesWaiting", testClaimAnnouncesWaiting},
		{"ClaimAnnouncesLeftovers", testClaimAnnouncesLeftovers},
		{"ClaimSplitsBetweenInstances", testClaimSplitsBetweenInstances},
		{"StoresKeepKeys", testStoresKeepKeys},
		{"DeadLettersByID", testDeadLettersByID},
		{"EarlierDeadLetters", testEarlierDeadLetters},
		{"SendLogAndHistory", testSendLog},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if why, ok := b.Skip[tc.name]; ok {
				t.Skip(why)
			}
			tc.run(t, b, b.Start(t))
		})
	}
}

// wait bounds every wait of the suite for something that should happen.
const wait = 15 * time.Second

// ctxFor returns a context that ends within d or when the test ends.
func ctxFor(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func publish(t *testing.T, q queue.Queue, m queue.Msg) queue.PubAck {
	t.Helper()
	ack, err := q.Publish(ctxFor(t, wait), m)
	if err != nil {
		t.Fatalf("publish %s: %v", m.Subject, err)
	}
	return ack
}

func get(t *testing.T, q queue.Queue, stream string, seq uint64) queue.Stored {
	t.Helper()
	s, err := q.Get(ctxFor(t, wait), stream, seq)
	if err != nil {
		t.Fatalf("get %s #%d: %v", stream, seq, err)
	}
	return s
}

// scanAll returns what Scan passes to fn.
func scanAll(t *testing.T, q queue.Queue, stream, subject string, start time.Time) []queue.Stored {
	t.Helper()
	var out []queue.Stored
	err := q.Scan(ctxFor(t, wait), stream, subject, start, func(s queue.Stored) (bool, error) {
		out = append(out, s)
		return true, nil
	})
	if err != nil {
		t.Fatalf("scan %s %s: %v", stream, subject, err)
	}
	return out
}

func data(ss []queue.Stored) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = string(s.Data)
	}
	return out
}

// feed joins the feed of events as transform runs it.
func feed(t *testing.T, q queue.Queue, redeliver time.Duration) queue.Consumer {
	t.Helper()
	c, err := q.FeedEvents(ctxFor(t, wait), "transform", queue.FeedOptions{Redeliver: redeliver, InFlight: 100})
	if err != nil {
		t.Fatalf("feed of events: %v", err)
	}
	t.Cleanup(c.Stop)
	return c
}

// laneOf opens destination's lane as dispatch runs it.
func laneOf(t *testing.T, q queue.Queue, destination string) queue.Consumer {
	t.Helper()
	c, err := q.OpenLane(ctxFor(t, wait), destination, queue.LaneOptions{Hold: 1})
	if err != nil {
		t.Fatalf("lane of %s: %v", destination, err)
	}
	t.Cleanup(c.Stop)
	return c
}

func next(t *testing.T, c queue.Consumer) queue.Delivery {
	t.Helper()
	d, err := c.Next(ctxFor(t, wait))
	if err != nil {
		t.Fatalf("next: %v", err)
	}
	return d
}

// none asserts that c hands nothing out within d (the wait is the
// assertion: something handed out again would come within it).
func none(t *testing.T, c queue.Consumer, d time.Duration, why string) {
	t.Helper()
	ds, err := c.More(ctxFor(t, d+wait), 1, d)
	if err != nil {
		t.Fatalf("more: %v", err)
	}
	for _, dl := range ds {
		t.Errorf("%s: handed out %s #%d (%q, delivered %d)", why, dl.Msg().Stream, dl.Msg().Seq, dl.Msg().Data, dl.Attempt())
	}
}
