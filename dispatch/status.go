package dispatch

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookrelay/hookrelay/internal/adminapi"
	"github.com/hookrelay/hookrelay/internal/queue"
)

// DestinationStatus is what an operator sees of one destination.
type DestinationStatus struct {
	Name string `json:"name"`
	// Breaker is closed, half-open or open (as seen by this instance).
	Breaker string `json:"breaker"`
	// Owned says whether this instance dispatches the destination (another
	// live instance may be preferred for it).
	Owned bool `json:"owned"`
	// Gone is set once the URL answered as a removed webhook.
	Gone bool `json:"gone"`
	// Backlog counts deliveries waiting on RELAY_OUT, the one in flight included.
	Backlog uint64 `json:"backlog"`
	// Budget says, per window of the ladder, how many requests could go now.
	Budget []BudgetLeft `json:"budget_left"`
}

// BudgetLeft is one window's remaining budget.
type BudgetLeft struct {
	Per  string `json:"per"`
	Max  int    `json:"max"`
	Left int    `json:"left"`
}

// Status reports every destination, in configuration order.
func (d *Dispatcher) Status(ctx context.Context) ([]DestinationStatus, error) {
	backlog, err := backlogs(ctx, d.js)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	out := make([]DestinationStatus, 0, len(d.workers))
	for _, w := range d.workers {
		s := DestinationStatus{
			Name: w.dest.Name, Breaker: w.cb.State().String(), Gone: w.gone.Load(), Owned: w.owned.Load(),
			Backlog: backlog[w.dest.Name], Budget: w.budget.left(now),
		}
		out = append(out, s)
	}
	return out, nil
}

// backlogs counts RELAY_OUT messages per destination in one request.
func backlogs(ctx context.Context, js jetstream.JetStream) (map[string]uint64, error) {
	s, err := js.Stream(ctx, queue.StreamOut)
	if err != nil {
		return nil, fmt.Errorf("backlog: %w", err)
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(queue.OutAll))
	if err != nil {
		return nil, fmt.Errorf("backlog: %w", err)
	}
	out := make(map[string]uint64, len(info.State.Subjects))
	for subj, n := range info.State.Subjects {
		out[strings.TrimPrefix(subj, queue.OutSubject(""))] = n
	}
	return out, nil
}

// Handler serves GET /api/v1/destinations.
func (d *Dispatcher) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st, err := d.Status(r.Context())
		if err != nil {
			adminapi.WriteError(w, http.StatusServiceUnavailable, err)
			return
		}
		adminapi.WriteJSON(w, http.StatusOK, map[string]any{"destinations": st})
	})
}
