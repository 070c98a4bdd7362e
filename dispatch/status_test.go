package dispatch

import (
	"context"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/internal/config"
	"github.com/hookrelay/hookrelay/internal/storetest"
	"github.com/hookrelay/hookrelay/internal/teamstest"
)

func TestStatusSaysWhenAFailedDeliveryIsRetried(t *testing.T) {
	q := storetest.JetStream(t)
	sim := teamstest.NewServer()
	defer sim.Close()
	sim.SetFault(teamstest.Fault{Status: 503, Path: "/r"})
	publish(t, q, "r", 0, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d, err := New(ctx, q, []config.Destination{dest(sim, "r", func(d *config.Destination) {
		d.Backoff, d.MaxBackoff = time.Minute, time.Minute
	})}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() { cancel(); <-done }()
	waitCtx, stop := context.WithTimeout(ctx, 10*time.Second)
	defer stop()
	var st []DestinationStatus
	for {
		if st, err = d.Status(ctx); err != nil {
			t.Fatal(err)
		}
		if st[0].NextAttempt != nil || waitCtx.Err() != nil {
			break
		}
		time.Sleep(20 * time.Millisecond) // no signal for "the worker started waiting"
	}
	s := st[0]
	if s.Health != "retrying" || s.NextAttempt == nil || time.Until(*s.NextAttempt) < 20*time.Second ||
		s.LastAnswer == nil || s.LastAnswer.Status != 503 || s.NextProbe != nil {
		t.Errorf("status %+v (next attempt %v): want retrying within the minute's backoff after the 503", s, s.NextAttempt)
	}
}

func TestSortWorstFirst(t *testing.T) {
	now := time.Now()
	old, older := now.Add(-2*time.Minute), now.Add(-time.Hour)
	st := []DestinationStatus{
		{Name: "ok-b", Health: "ok"},
		{Name: "ok-a", Health: "ok", Backlog: 1, Oldest: &now},
		{Name: "backlogged", Health: "backlogged", Backlog: 3, Oldest: &old},
		{Name: "backlogged-longer", Health: "backlogged", Backlog: 1, Oldest: &older},
		{Name: "retrying", Health: "retrying"},
		{Name: "half-open", Health: "half-open"},
		{Name: "open", Health: "open"},
		{Name: "gone", Health: "gone"},
	}
	SortWorstFirst(st)
	var got []string
	for _, s := range st {
		got = append(got, s.Name)
	}
	want := []string{"gone", "open", "half-open", "retrying", "backlogged-longer", "backlogged", "ok-a", "ok-b"}
	if !slices.Equal(got, want) {
		t.Errorf("order %v, want %v", got, want)
	}
	for _, tt := range []struct {
		s    DestinationStatus
		want string
	}{
		{DestinationStatus{Gone: true, Breaker: "open"}, "gone"},
		{DestinationStatus{Breaker: "half-open"}, "half-open"},
		{DestinationStatus{Breaker: "closed", NextAttempt: &now, Oldest: &older}, "retrying"},
		{DestinationStatus{Breaker: "closed", Oldest: &older}, "backlogged"},
		{DestinationStatus{Breaker: "closed", Oldest: &now}, "ok"},
	} {
		if got := health(tt.s, now); got != tt.want {
			t.Errorf("health(%+v) = %s, want %s", tt.s, got, tt.want)
		}
	}
}
