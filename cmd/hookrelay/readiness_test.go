package main

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/internal/natstest"
)

// A stage that ends while the process runs, with an error or without one,
// makes the process not ready, names the stage, and ends the process; a
// stage that ends because it was asked to does not.
func TestAStageThatStopsEndsTheProcess(t *testing.T) {
	q := natstest.Start(t).Queue(t)
	for _, tc := range []struct {
		name    string
		stage   func(context.Context) error
		failure string // "" when the process must go on
	}{
		{"fails", func(context.Context) error { return errors.New("next event: boom") }, "stage transform stopped: next event: boom"},
		{"returns early", func(context.Context) error { return nil }, "stage transform stopped: it returned without being asked to stop"},
		{"runs until asked", func(ctx context.Context) error { <-ctx.Done(); return nil }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ready := newReadiness(q)
			run, fail := context.WithCancelCause(context.Background())
			defer fail(nil)
			s := newStages(context.Background(), ready, nil, slog.New(slog.DiscardHandler), fail)
			s.run("dispatch", func(ctx context.Context) error { <-ctx.Done(); return nil })
			s.run("transform", tc.stage)
			if tc.failure == "" {
				select {
				case <-run.Done():
					t.Fatalf("the process was ended: %v", context.Cause(run))
				case <-time.After(200 * time.Millisecond): // a stage that fails does so at once here
				}
				if lines, ok := ready.check(context.Background()); !ok {
					t.Errorf("not ready while every stage runs: %v", lines)
				}
				if err := s.stop(); err != nil {
					t.Errorf("stop: %v", err)
				}
				return
			}
			<-run.Done()
			if cause := context.Cause(run); cause == nil || cause.Error() != tc.failure {
				t.Errorf("the process ended with %v, want %q", cause, tc.failure)
			}
			lines, ok := ready.check(context.Background())
			if ok || !strings.Contains(strings.Join(lines, "\n"), "transform: stopped: "+tc.failure) {
				t.Errorf("readiness after the stage stopped: ready %v, %q", ok, lines)
			}
			if err := s.stop(); err == nil || err.Error() != tc.failure {
				t.Errorf("stop returned %v, want the failure", err)
			}
		})
	}
}
