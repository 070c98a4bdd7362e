package dispatch

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/hookrelay/hookrelay/internal/adminapi"
)

// DestinationStatus is what an operator sees of one destination: what is
// wrong with it, since when, and what it last answered.
type DestinationStatus struct {
	Name string `json:"name"`
	// Health sums the rest up, worst first: gone, open, half-open,
	// retrying (the held delivery failed and waits to be tried again),
	// backlogged (the oldest waiting delivery is older than BacklogStale),
	// or ok. The API lists the worst first.
	Health string `json:"health"`
	// Breaker is closed, half-open or open (as seen by this instance).
	Breaker string `json:"breaker"`
	// BreakerSince is when the breaker left closed (it stays through the
	// probes of half-open), or when it last closed (or dispatch started).
	BreakerSince time.Time `json:"breaker_since"`
	// NextProbe is when an open breaker lets the next request through.
	NextProbe *time.Time `json:"next_probe,omitempty"`
	// NextAttempt is when the delivery this instance holds, which failed,
	// is tried again (after its backoff or the Retry-After). Absent when
	// none waits for a retry; an open breaker says NextProbe instead.
	NextAttempt *time.Time `json:"next_attempt,omitempty"`
	// LastAnswer is what the destination answered last (absent until this
	// instance made a request).
	LastAnswer *Answer `json:"last_answer,omitempty"`
	// Owned says whether this instance dispatches the destination (another
	// live instance may be preferred for it).
	Owned bool `json:"owned"`
	// Gone is set once the URL answered as a removed webhook.
	Gone bool `json:"gone"`
	// Backlog counts deliveries waiting on RELAY_OUT, the one in flight
	// included, as far as the queue lets this instance see them.
	Backlog uint64 `json:"backlog"`
	// Oldest is when the oldest of them was stored (absent when none
	// waits).
	Oldest *time.Time `json:"oldest,omitempty"`
	// Budget says, per window of the ladder, how many requests could go now.
	Budget []BudgetLeft `json:"budget_left"`
}

// Answer is one attempt's answer, as an operator reads it.
type Answer struct {
	At time.Time `json:"at"`
	// Status is the HTTP status the destination meant (unwrapped from
	// Teams' 200); 0 when no answer came.
	Status int `json:"status,omitempty"`
	// Outcome is delivered, retry, rejected or gone.
	Outcome string `json:"outcome"`
	// Excerpt is the start of the answer's body, at most MaxAnswerExcerpt
	// bytes.
	Excerpt string `json:"excerpt,omitempty"`
	// Error says why no answer came (a timeout, a refused connection).
	Error string `json:"error,omitempty"`
}

// MaxAnswerExcerpt bounds Answer.Excerpt: a thousand destinations are listed
// at once.
const MaxAnswerExcerpt = 200

// BacklogStale is how old the oldest waiting delivery may be before a
// destination counts as backlogged.
const BacklogStale = time.Minute

// BacklogSampleEvery is how often Run samples every destination's backlog
// for the trends (Status samples it too, whenever asked).
const BacklogSampleEvery = 30 * time.Second

// Healths, worst first.
var healths = []string{"gone", "open", "half-open", "retrying", "backlogged", "ok"}

// BudgetLeft is one window's remaining budget.
type BudgetLeft struct {
	Per  string `json:"per"`
	Max  int    `json:"max"`
	Left int    `json:"left"`
}

// answered counts o in the trend and keeps it as the destination's last
// answer, in that order: a last answer Status shows is counted in Trends.
func (w *worker) answered(at time.Time, o outcome) {
	a := &Answer{At: at.UTC(), Status: o.status, Outcome: o.verdict.String(), Excerpt: cutExcerpt(o.excerpt)}
	if o.err != nil {
		a.Error = o.err.Error()
	}
	w.trend.attempt(at, o)
	w.mu.Lock()
	w.lastAnswer = a
	w.mu.Unlock()
}

// cutExcerpt shortens an answer to MaxAnswerExcerpt bytes on a rune boundary.
func cutExcerpt(s string) string {
	if len(s) <= MaxAnswerExcerpt {
		return s
	}
	n := MaxAnswerExcerpt
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}

// Status reports every destination, in configuration order.
func (d *Dispatcher) Status(ctx context.Context) ([]DestinationStatus, error) {
	workers := d.snapshot()
	backlog, err := d.q.Backlog(ctx, names(workers))
	if err != nil {
		return nil, err
	}
	now := time.Now()
	out := make([]DestinationStatus, 0, len(workers))
	for _, w := range workers {
		waiting := backlog[w.dest.Name]
		w.trend.backlog(now, waiting.Count)
		state := w.brk.cb.State()
		s := DestinationStatus{
			Name: w.dest.Name, Breaker: state.String(), Gone: w.gone.Load(), Owned: w.owned(),
			Backlog: waiting.Count, Budget: w.budget.left(now),
		}
		if !waiting.Oldest.IsZero() {
			s.Oldest = ptr(waiting.Oldest.UTC())
		}
		w.brk.mu.Lock()
		s.BreakerSince = w.brk.since.UTC()
		if state == gobreaker.StateOpen {
			s.NextProbe = ptr(w.brk.openedAt.Add(w.dest.BreakerOpenFor).UTC())
		}
		w.brk.mu.Unlock()
		w.mu.Lock()
		if !w.retryAt.IsZero() {
			s.NextAttempt = ptr(w.retryAt.UTC())
		}
		if w.lastAnswer != nil {
			a := *w.lastAnswer
			s.LastAnswer = &a
		}
		w.mu.Unlock()
		s.Health = health(s, now)
		out = append(out, s)
	}
	return out, nil
}

func health(s DestinationStatus, now time.Time) string {
	switch {
	case s.Gone:
		return "gone"
	case s.Breaker != "closed":
		return s.Breaker
	case s.NextAttempt != nil:
		return "retrying"
	case s.Oldest != nil && now.Sub(*s.Oldest) > BacklogStale:
		return "backlogged"
	}
	return "ok"
}

// SortWorstFirst orders destinations by health, worst first; among equals,
// the oldest backlog first, then the largest, then by name.
func SortWorstFirst(st []DestinationStatus) {
	oldest := func(s DestinationStatus) time.Time {
		if s.Oldest == nil {
			return time.Unix(1<<40, 0) // no backlog sorts after any
		}
		return *s.Oldest
	}
	slices.SortStableFunc(st, func(a, b DestinationStatus) int {
		return cmp.Or(
			cmp.Compare(slices.Index(healths, a.Health), slices.Index(healths, b.Health)),
			oldest(a).Compare(oldest(b)),
			cmp.Compare(b.Backlog, a.Backlog),
			cmp.Compare(a.Name, b.Name),
		)
	})
}

func ptr[T any](v T) *T { return &v }

func names(workers []*worker) []string {
	names := make([]string, len(workers))
	for i, w := range workers {
		names[i] = w.dest.Name
	}
	return names
}

// sampleBacklog records every destination's backlog in its trend every
// BacklogSampleEvery until ctx ends, so the trend shows a backlog draining
// even while nobody looks.
func (d *Dispatcher) sampleBacklog(ctx context.Context) {
	t := time.NewTicker(BacklogSampleEvery)
	defer t.Stop()
	for {
		// The workers change with the configuration.
		workers := d.snapshot()
		sctx, cancel := context.WithTimeout(ctx, BacklogSampleEvery)
		backlog, err := d.q.Backlog(sctx, names(workers))
		cancel()
		if err == nil {
			now := time.Now()
			for _, w := range workers {
				w.trend.backlog(now, backlog[w.dest.Name].Count)
			}
		} else if ctx.Err() == nil {
			d.logger.Debug("sample the backlog for the trends", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Trends is the answer of GET /api/v1/trends.
type Trends struct {
	Window string `json:"window"`
	// Overall sums every destination's trend.
	Overall Trend `json:"overall"`
	// Destinations holds the trends of the destinations asked for.
	Destinations map[string]Trend `json:"destinations,omitempty"`
}

// Trends reports the counts of window (TrendHour or TrendDay) over every
// destination, and of each destination named.
func (d *Dispatcher) Trends(window string, names []string) (Trends, error) {
	if window != TrendHour && window != TrendDay {
		return Trends{}, fmt.Errorf("window %q: choose %s or %s", window, TrendHour, TrendDay)
	}
	now := time.Now()
	out := Trends{Window: window, Overall: newTrend().series(now, window)}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	for _, w := range d.snapshot() {
		s := w.trend.series(now, window)
		out.Overall.add(s)
		if want[w.dest.Name] {
			if out.Destinations == nil {
				out.Destinations = map[string]Trend{}
			}
			out.Destinations[w.dest.Name] = s
			delete(want, w.dest.Name)
		}
	}
	for n := range want {
		return Trends{}, fmt.Errorf("no destination %q", n)
	}
	d.mu.Lock()
	retired := slices.Collect(maps.Values(d.retired))
	d.mu.Unlock()
	for _, tr := range retired {
		out.Overall.add(tr.series(now, window))
	}
	return out, nil
}

// Handler serves the destinations on the admin API, on full paths:
//
//	GET /api/v1/destinations                     every destination, worst first
//	GET /api/v1/trends?window=1h|24h&destination=NAME…   the trends, overall and of each destination named
func (d *Dispatcher) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/destinations", func(w http.ResponseWriter, r *http.Request) {
		st, err := d.Status(r.Context())
		if err != nil {
			adminapi.WriteError(w, http.StatusServiceUnavailable, err)
			return
		}
		SortWorstFirst(st)
		adminapi.WriteJSON(w, http.StatusOK, map[string]any{"destinations": st})
	})
	mux.HandleFunc("GET /api/v1/trends", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		window := cmp.Or(q.Get("window"), TrendHour)
		t, err := d.Trends(window, q["destination"])
		if err != nil {
			adminapi.WriteError(w, http.StatusBadRequest, err)
			return
		}
		adminapi.WriteJSON(w, http.StatusOK, t)
	})
	return mux
}
