package dispatch

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/internal/config"
	"github.com/hookrelay/hookrelay/internal/storetest"
	"github.com/hookrelay/hookrelay/internal/teamstest"
)

// What a reconfiguration keeps, destination by destination (before Run, so
// no worker starts: the worker structures say it all).
func TestReconfigureKeepsWhatStillHolds(t *testing.T) {
	sim := teamstest.NewServer()
	defer sim.Close()
	ctx := context.Background()
	d, err := New(ctx, nil, []config.Destination{
		dest(sim, "same"), dest(sim, "rate"), dest(sim, "breaker"), dest(sim, "url"), dest(sim, "gone"),
	}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	before := map[string]*worker{}
	for _, w := range d.snapshot() {
		before[w.dest.Name] = w
	}
	before["url"].gone.Store(true)
	err = d.Reconfigure(ctx, []config.Destination{
		dest(sim, "same"),
		dest(sim, "rate", func(c *config.Destination) { c.Rate = 10 }),
		dest(sim, "breaker", func(c *config.Destination) { c.BreakerFailures = 3 }),
		dest(sim, "url", func(c *config.Destination) { c.URL = sim.URL + "/moved" }),
		dest(sim, "added"),
	})
	if err != nil {
		t.Fatal(err)
	}
	after := map[string]*worker{}
	var order []string
	for _, w := range d.snapshot() {
		after[w.dest.Name] = w
		order = append(order, w.dest.Name)
	}
	if got := len(order); got != 5 || order[4] != "added" {
		t.Fatalf("workers %v, want the new configuration's order", order)
	}
	if after["same"] != before["same"] {
		t.Error("an unchanged destination got a new worker")
	}
	if w := after["rate"]; w == before["rate"] || w.budget == before["rate"].budget || w.brk != before["rate"].brk {
		t.Error("a new rate: want a new worker and budget, the same breaker")
	}
	if w := after["breaker"]; w.brk == before["breaker"].brk || w.budget != before["breaker"].budget {
		t.Error("new breaker settings: want a new breaker, the same budget")
	}
	if w := after["url"]; w.gone.Load() || w.brk == before["url"].brk || w.budget == before["url"].budget {
		t.Error("a new URL is a new receiver: want the gone mark cleared, a new breaker and budget")
	}
	if _, ok := after["gone"]; ok {
		t.Error("a removed destination kept its worker")
	}

	// A destination that cannot be used is refused, and nothing changes.
	if err := d.Reconfigure(ctx, []config.Destination{dest(sim, "same", func(c *config.Destination) {
		c.URL, c.AllowPrivate = "https://127.0.0.1/x", false
	})}); err == nil {
		t.Fatal("Reconfigure accepted a private address without allow_private")
	}
	if len(d.snapshot()) != 5 {
		t.Error("a refused Reconfigure changed the workers")
	}
}

// A destination changed again and again while it retries: the worker it
// replaces has stopped before its state is carried over (the race detector
// watches), its last answer stays shown, and the delivery arrives once the
// receiver recovers.
func TestReconfigureWhileRetrying(t *testing.T) {
	q := storetest.JetStream(t)
	sim := teamstest.NewServer()
	defer sim.Close()
	sim.SetFault(teamstest.Fault{Status: 503, Path: "/r"})
	publish(t, q, "r", 0, 1)
	mk := func(attempts int) config.Destination {
		return dest(sim, "r", func(d *config.Destination) {
			d.Backoff, d.MaxBackoff, d.MaxAttempts = time.Millisecond, 5*time.Millisecond, attempts
		})
	}
	ctx := context.Background()
	d := start(t, q, mk(1_000_000))

	lastAnswer := func() *Answer {
		st, err := d.Status(ctx)
		if err != nil || len(st) != 1 {
			t.Fatalf("status: %v %v", st, err)
		}
		return st[0].LastAnswer
	}
	for deadline := time.Now().Add(20 * time.Second); len(sim.Received("/r")) < 3; {
		if time.Now().After(deadline) {
			t.Fatal("no retries within 20 s")
		}
		time.Sleep(10 * time.Millisecond) // the simulator keeps no signal for refused requests
	}
	for i := range 10 {
		if err := d.Reconfigure(ctx, []config.Destination{mk(1_000_000 + i)}); err != nil {
			t.Fatal(err)
		}
		if a := lastAnswer(); a == nil || a.Status != 503 {
			t.Fatalf("after reconfiguration %d the last answer shown is %+v, want the 503", i, a)
		}
	}
	sim.ClearFaults()
	waitAccepted(t, sim, "/r", 1)
}

// A destination removed takes its history along only from the destination
// list: its dead letters still count in the overall trend, and it takes its
// trend up again when added back.
func TestRemovedDestinationStaysInTheOverallTrend(t *testing.T) {
	q := storetest.JetStream(t)
	sim := teamstest.NewServer()
	defer sim.Close()
	sim.SetFault(teamstest.Fault{Status: 400, Path: "/x"})
	publish(t, q, "x", 0, 2)
	ctx := context.Background()
	d := start(t, q, dest(sim, "x"), dest(sim, "y"))
	waitDead(t, q, "x", 2)
	deadLettered := func(names ...string) (overall, each uint32) {
		t.Helper()
		tr, err := d.Trends(TrendHour, names)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range tr.Overall.DeadLettered {
			overall += n
		}
		for _, s := range tr.Destinations {
			for _, n := range s.DeadLettered {
				each += n
			}
		}
		return overall, each
	}
	// The worker counts a dead letter just after storing it, so the count
	// may trail what waitDead read: wait for it, then check it.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if overall, _ := deadLettered(); overall >= 2 || time.Now().After(deadline) {
			break
		}
	}
	if overall, _ := deadLettered(); overall != 2 {
		t.Fatalf("overall dead-lettered %d, want 2", overall)
	}
	if err := d.Reconfigure(ctx, []config.Destination{dest(sim, "y")}); err != nil {
		t.Fatal(err)
	}
	if overall, _ := deadLettered(); overall != 2 {
		t.Errorf("after x was removed, overall dead-lettered %d, want still 2", overall)
	}
	if err := d.Reconfigure(ctx, []config.Destination{dest(sim, "x"), dest(sim, "y")}); err != nil {
		t.Fatal(err)
	}
	if overall, x := deadLettered("x"); overall != 2 || x != 2 {
		t.Errorf("after x was added back, overall %d and x %d dead-lettered, want 2 and 2", overall, x)
	}
}
