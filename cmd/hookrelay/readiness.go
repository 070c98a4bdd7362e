package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/hookrelay/hookrelay/internal/queue"
	"github.com/hookrelay/hookrelay/internal/telemetry"
)

// readiness is what /readyz reports: the store, and every stage this process
// runs. A process whose stage stopped is not ready, whatever else still
// answers, so that no orchestrator keeps sending it webhooks that nothing
// downstream would relay.
type readiness struct {
	store interface {
		Ready(ctx context.Context) error
	}

	mu     sync.Mutex
	stages map[string]error // stage → nil while it runs, why it stopped once it did
}

func newReadiness(store queue.Queue) *readiness {
	return &readiness{store: store, stages: map[string]error{}}
}

// running notes that stage runs.
func (r *readiness) running(stage string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stages[stage] = nil
}

// stopped notes that stage stopped, and why.
func (r *readiness) stopped(stage string, why error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stages[stage] = why
}

// check returns one line per part, and whether every part is ready.
func (r *readiness) check(ctx context.Context) (lines []string, ready bool) {
	ready = true
	if err := r.store.Ready(ctx); err != nil {
		ready = false
		lines = append(lines, "store: not ready: "+err.Error())
	} else {
		lines = append(lines, "store: ok")
	}
	r.mu.Lock()
	names := make([]string, 0, len(r.stages))
	for name := range r.stages {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if why := r.stages[name]; why != nil {
			ready = false
			lines = append(lines, fmt.Sprintf("%s: stopped: %v", name, why))
		} else {
			lines = append(lines, name+": running")
		}
	}
	r.mu.Unlock()
	return lines, ready
}

// ServeHTTP answers /readyz: 200 and "ready" when every part is, 503
// otherwise; each part's state on its own line either way.
func (r *readiness) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	ctx, cancel := context.WithTimeout(req.Context(), 2*time.Second)
	defer cancel()
	lines, ready := r.check(ctx)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if !ready {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, "not ready\n"+strings.Join(lines, "\n")+"\n")
		return
	}
	_, _ = io.WriteString(w, "ready\n"+strings.Join(lines, "\n")+"\n")
}

// stages runs the process's stages and watches them: one that ends while
// the process runs is marked stopped for /readyz and its metric, logged as an
// error, and reported to fail, which ends the process.
type stages struct {
	group   *errgroup.Group
	ctx     context.Context // ends when the stages are asked to stop, or one failed
	cancel  context.CancelFunc
	ready   *readiness
	metrics *telemetry.Metrics
	logger  *slog.Logger
	fail    context.CancelCauseFunc
}

// newStages prepares to run stages until stop; parent's values are kept but
// not its cancellation, so that the stages drain after the listeners.
func newStages(parent context.Context, ready *readiness, metrics *telemetry.Metrics, logger *slog.Logger,
	fail context.CancelCauseFunc) *stages {
	g, ctx := errgroup.WithContext(context.WithoutCancel(parent))
	ctx, cancel := context.WithCancel(ctx)
	return &stages{group: g, ctx: ctx, cancel: cancel, ready: ready, metrics: metrics, logger: logger, fail: fail}
}

// run starts the stage named stage.
func (s *stages) run(stage string, run func(context.Context) error) {
	s.ready.running(stage)
	s.metrics.StageRunning(stage, true)
	s.group.Go(func() error {
		err := run(s.ctx)
		s.metrics.StageRunning(stage, false)
		if s.ctx.Err() != nil {
			return err // asked to stop, or another stage failed first
		}
		if err == nil {
			err = errors.New("it returned without being asked to stop")
		}
		err = fmt.Errorf("stage %s stopped: %w", stage, err)
		s.ready.stopped(stage, err)
		s.logger.Error("a stage stopped while hookrelay runs; exiting so that it is restarted", "stage", stage, "err", err)
		s.fail(err)
		return err
	})
}

// stop asks every stage to stop and waits for them; it returns the first
// failure.
func (s *stages) stop() error {
	s.cancel()
	return s.group.Wait()
}
