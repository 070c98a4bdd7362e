package dispatch

import (
	"context"
	"net/http"
	"time"

	"github.com/hookrelay/hookrelay/internal/adminapi"
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
	// Backlog counts deliveries waiting on RELAY_OUT, the one in flight
	// included, as far as the queue lets this instance see them.
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
	workers := d.snapshot()
	names := make([]string, len(workers))
	for i, w := range workers {
		names[i] = w.dest.Name
	}
	backlog, err := d.q.Backlog(ctx, names)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	out := make([]DestinationStatus, 0, len(workers))
	for _, w := range workers {
		s := DestinationStatus{
			Name: w.dest.Name, Breaker: w.brk.cb.State().String(), Gone: w.gone.Load(), Owned: w.owned(),
			Backlog: backlog[w.dest.Name].Count, Budget: w.budget.left(now),
		}
		out = append(out, s)
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
