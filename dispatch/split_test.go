package dispatch

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/internal/config"
	"github.com/hookrelay/hookrelay/internal/queue"
	"github.com/hookrelay/hookrelay/internal/storetest"
	"github.com/hookrelay/hookrelay/internal/teamstest"
)

// owned counts the destinations each dispatcher dispatches.
func owned(t *testing.T, ds ...*Dispatcher) []int {
	t.Helper()
	out := make([]int, len(ds))
	for i, d := range ds {
		st, err := d.Status(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range st {
			if s.Owned {
				out[i]++
			}
		}
	}
	return out
}

// waitOwned polls the dispatchers' status until ok accepts the split.
func waitOwned(t *testing.T, what string, ok func([]int) bool, ds ...*Dispatcher) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		got := owned(t, ds...)
		if ok(got) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: destinations owned %v", what, got)
		}
	}
}

// runDispatcher runs a dispatcher as a relay instance of its own: on its own
// queue, which stop closes after the dispatcher returned, so the instance
// leaves as a stopped process would.
func runDispatcher(t *testing.T, open storetest.Opener, dests []config.Destination) (*Dispatcher, context.CancelFunc) {
	t.Helper()
	q := open(t)
	ctx, cancel := context.WithCancel(context.Background())
	d, err := New(ctx, q, dests, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	stop := func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
		closeQueue(t, q.Backend())
	}
	t.Cleanup(func() {
		if ctx.Err() == nil {
			stop()
		}
	})
	return d, stop
}

// closeQueue closes q as a stopping relay instance does.
func closeQueue(t *testing.T, q queue.Queue) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := q.Close(ctx); err != nil {
		t.Errorf("close queue: %v", err)
	}
}

func TestInstancesSplitDestinationsAndTakeOver(t *testing.T) {
	storetest.Each(t, testInstancesSplitDestinationsAndTakeOver)
}

func testInstancesSplitDestinationsAndTakeOver(t *testing.T, open storetest.Opener) {
	q := open(t) // the publisher's
	sim := teamstest.NewServer()
	defer sim.Close()
	const n = 12
	var dests []config.Destination
	for i := range n {
		dests = append(dests, dest(sim, fmt.Sprintf("m%d", i), func(d *config.Destination) { d.Rate, d.Timeout = 4, time.Second }))
	}
	a, _ := runDispatcher(t, open, dests)
	b, stopB := runDispatcher(t, open, dests)
	waitOwned(t, "two instances split", func(o []int) bool { return o[0] > 0 && o[1] > 0 && o[0]+o[1] == n }, a, b)

	for i := range n {
		publish(t, q, fmt.Sprintf("m%d", i), 0, 2)
	}
	for i := range n {
		waitAccepted(t, sim, fmt.Sprintf("/m%d", i), 2)
	}

	stopB()
	waitOwned(t, "the survivor takes every destination", func(o []int) bool { return o[0] == n }, a)
	for i := range n {
		publish(t, q, fmt.Sprintf("m%d", i), 2, 4)
	}
	for i := range n {
		waitAccepted(t, sim, fmt.Sprintf("/m%d", i), 4)
		if got := len(sim.Received(fmt.Sprintf("/m%d", i))); got != 4 {
			t.Errorf("/m%d received %d requests, want 4", i, got)
		}
	}
}
