package dispatch

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/internal/config"
	"github.com/hookrelay/hookrelay/internal/queue"
	"github.com/hookrelay/hookrelay/internal/storetest"
	"github.com/hookrelay/hookrelay/internal/teamstest"
	"github.com/hookrelay/hookrelay/schemas"
)

// dest returns a destination on the simulator with fast retries.
func dest(sim *teamstest.Server, name string, mod ...func(*config.Destination)) config.Destination {
	d := config.Destination{
		Name: name, URL: sim.URL + "/" + name, Format: schemas.FormatMessageCard, AllowPrivate: true,
		Rate: 50, Burst: 1, Timeout: 2 * time.Second, MaxAttempts: 5, MaxAge: time.Hour,
		Backoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
		BreakerFailures: 100, BreakerOpenFor: time.Second, Digest: new(bool), DigestAfter: 30 * time.Second,
	}
	for _, m := range mod {
		m(&d)
	}
	return d
}

// card is a minimal valid MessageCard naming n.
func card(n int) []byte {
	return fmt.Appendf(nil, `{"@type":"MessageCard","@context":"https://schema.org/extensions","summary":"event %d","text":"event %d"}`, n, n)
}

// publish enqueues deliveries for d.
func publish(t *testing.T, q queue.Deliveries, d string, from, to int, mod ...func(*schemas.Delivery)) {
	t.Helper()
	for n := from; n < to; n++ {
		dl := schemas.Delivery{
			ID: fmt.Sprintf("ev%d.%s", n, d), EventID: fmt.Sprintf("ev%d", n), Source: "test", Destination: d,
			Format: schemas.FormatMessageCard, Card: card(n), CreatedAt: time.Now(), NotAfter: time.Now().Add(time.Hour),
		}
		for _, m := range mod {
			m(&dl)
		}
		data, err := json.Marshal(dl)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := q.Enqueue(context.Background(), []queue.Msg{{Key: d, Data: data, ID: dl.ID}}); err != nil {
			t.Fatalf("enqueue delivery: %v", err)
		}
	}
}

// start runs a dispatcher until the test ends.
func start(t *testing.T, q Stores, dests ...config.Destination) *Dispatcher {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	d, err := New(ctx, q, dests, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatalf("new dispatcher: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("dispatcher run: %v", err)
		}
	})
	return d
}

// waitDead reads n dead letters for destination d. The store offers no
// signal for a stored dead letter, so it reads them again until they are
// there.
func waitDead(t *testing.T, q queue.DeadLetters, d string, n int) []schemas.DeadLetter {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		out := deadLetters(t, q, d)
		if len(out) >= n {
			return out[:n]
		}
		select {
		case <-ctx.Done():
			t.Fatalf("dead letters for %s: got %d of %d: %v", d, len(out), n, ctx.Err())
		case <-tick.C:
		}
	}
}

// deadLetters reads the dead letters of destination ("" for all) stored so
// far, oldest first.
func deadLetters(t *testing.T, q queue.DeadLetters, destination string) []schemas.DeadLetter {
	t.Helper()
	var out []schemas.DeadLetter
	err := q.ScanDeadLetters(context.Background(), destination, time.Time{}, func(m queue.Stored) (bool, error) {
		var dl schemas.DeadLetter
		if err := json.Unmarshal(m.Data, &dl); err != nil {
			return false, fmt.Errorf("dead letter %d: %w", m.Seq, err)
		}
		out = append(out, dl)
		return true, nil
	})
	if err != nil {
		t.Fatalf("read dead letters: %v", err)
	}
	return out
}

func deadCount(t *testing.T, q queue.DeadLetters) int {
	t.Helper()
	return len(deadLetters(t, q, ""))
}

func waitAccepted(t *testing.T, sim *teamstest.Server, path string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := sim.WaitAccepted(ctx, path, n); err != nil {
		t.Fatalf("%s: accepted %d of %d: %v", path, len(sim.Accepted(path)), n, err)
	}
}

func TestDeliversInOrderAndAcks(t *testing.T) { storetest.Each(t, testDeliversInOrderAndAcks) }

func testDeliversInOrderAndAcks(t *testing.T, open storetest.Opener) {
	q := open(t)
	sim := teamstest.NewServer()
	defer sim.Close()
	publish(t, q, "a", 0, 8)
	start(t, q, dest(sim, "a", func(d *config.Destination) { d.Rate = 4 }))
	waitAccepted(t, sim, "/a", 8)
	for i, r := range sim.Accepted("/a") {
		if want := fmt.Sprintf("ev%d.a", i); r.DeliveryID != want {
			t.Errorf("delivery %d has id %q, want %q (in order)", i, r.DeliveryID, want)
		}
	}
	if got := sim.MaxInWindow("/a", time.Second); got > 4 {
		t.Errorf("simulator saw %d requests in one second, limit 4", got)
	}
	if n := len(sim.Received("/a")); n != 8 {
		t.Errorf("simulator received %d requests, want 8 (no throttling, no duplicates)", n)
	}
}

func TestRetriesTransientFailures(t *testing.T) {
	tests := []struct {
		name  string
		fault teamstest.Fault
		bare  bool
	}{
		{"500 twice", teamstest.Fault{Status: 500, Count: 2, Path: "/r"}, false},
		{"503 twice", teamstest.Fault{Status: 503, Count: 2, Path: "/r"}, false},
		{"408 once", teamstest.Fault{Status: 408, Count: 1, Path: "/r"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, open storetest.Opener) {
				q := open(t)
				sim := teamstest.NewServer()
				defer sim.Close()
				sim.SetFault(tt.fault)
				publish(t, q, "r", 0, 1)
				start(t, q, dest(sim, "r"))
				waitAccepted(t, sim, "/r", 1)
				if got, want := len(sim.Received("/r")), tt.fault.Count+1; got != want {
					t.Errorf("received %d requests, want %d", got, want)
				}
				if n := deadCount(t, q); n != 0 {
					t.Errorf("%d dead letters, want 0", n)
				}
			})
		})
	}
}

func TestWrapped429IsRetriedNotDelivered(t *testing.T) {
	storetest.Each(t, testWrapped429IsRetriedNotDelivered)
}

func testWrapped429IsRetriedNotDelivered(t *testing.T, open storetest.Opener) {
	q := open(t)
	// The simulator's own ladder answers the fifth request in a second with a
	// 429 wrapped in a 200; a relay that does not keep the budget would read
	// that as a delivery. Here the relay thinks it may send 50/s.
	sim := teamstest.NewServer()
	defer sim.Close()
	publish(t, q, "w", 0, 6)
	start(t, q, dest(sim, "w"))
	waitAccepted(t, sim, "/w", 6)
	throttled := 0
	for _, r := range sim.Received("/w") {
		if r.Status == 429 {
			throttled++
		}
	}
	if throttled == 0 {
		t.Fatal("no request was throttled: the test did not exercise a wrapped 429")
	}
	if n := deadCount(t, q); n != 0 {
		t.Errorf("%d dead letters, want 0", n)
	}
}

func TestDeadLetters(t *testing.T) {
	tests := []struct {
		name         string
		fault        teamstest.Fault
		mod          func(*schemas.Delivery)
		wantReason   string
		wantAttempts int
		wantStatus   int
	}{
		{"permanent 400 wrapped in 200", teamstest.Fault{}, func(d *schemas.Delivery) { d.Card = []byte(`{"@type":"MessageCard"}`) },
			schemas.ReasonRejected, 1, 400},
		{"403 bare", teamstest.Fault{Status: 403}, nil, schemas.ReasonRejected, 1, 403},
		{"500 until exhausted", teamstest.Fault{Status: 500}, nil, schemas.ReasonExhausted, 5, 500},
		{"expired before any attempt", teamstest.Fault{}, func(d *schemas.Delivery) { d.NotAfter = time.Now().Add(-time.Second) },
			schemas.ReasonExpired, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, open storetest.Opener) {
				q := open(t)
				sim := teamstest.NewServer()
				defer sim.Close()
				if tt.fault.Status != 0 {
					sim.SetFault(tt.fault)
				}
				var mods []func(*schemas.Delivery)
				if tt.mod != nil {
					mods = append(mods, tt.mod)
				}
				publish(t, q, "x", 0, 1, mods...)
				start(t, q, dest(sim, "x"))
				dead := waitDead(t, q, "x", 1)[0]
				if dead.Reason != tt.wantReason || dead.Attempts != tt.wantAttempts || dead.LastStatus != tt.wantStatus {
					t.Errorf("dead letter reason %q attempts %d status %d, want %q %d %d",
						dead.Reason, dead.Attempts, dead.LastStatus, tt.wantReason, tt.wantAttempts, tt.wantStatus)
				}
				if dead.Delivery.ID != "ev0.x" {
					t.Errorf("dead letter holds delivery %q, want ev0.x", dead.Delivery.ID)
				}
				if got := len(sim.Received("/x")); got != tt.wantAttempts {
					t.Errorf("simulator received %d requests, want %d", got, tt.wantAttempts)
				}
			})
		})
	}
}

func TestGoneDestinationStopsAsking(t *testing.T) { storetest.Each(t, testGoneDestinationStopsAsking) }

func testGoneDestinationStopsAsking(t *testing.T, open storetest.Opener) {
	q := open(t)
	sim := teamstest.NewServer()
	defer sim.Close()
	sim.Remove("/g")
	publish(t, q, "g", 0, 5)
	start(t, q, dest(sim, "g"))
	dead := waitDead(t, q, "g", 5)
	for _, d := range dead {
		if d.Reason != schemas.ReasonGone {
			t.Errorf("dead letter %s reason %q, want gone", d.Delivery.ID, d.Reason)
		}
	}
	if got := len(sim.Received("/g")); got != 1 {
		t.Errorf("a removed webhook was asked %d times for 5 events, want 1", got)
	}
}

func TestOpenBreakerParksWithoutBurningAttempts(t *testing.T) {
	storetest.Each(t, testOpenBreakerParksWithoutBurningAttempts)
}

func testOpenBreakerParksWithoutBurningAttempts(t *testing.T, open storetest.Opener) {
	q := open(t)
	sim := teamstest.NewServer()
	defer sim.Close()
	// Twelve failures in a row: far more than max_attempts (3), but the
	// breaker opens after two, so the rest are probes that do not count.
	sim.SetFault(teamstest.Fault{Status: 503, Count: 12, Path: "/p"})
	publish(t, q, "p", 0, 3)
	start(t, q, dest(sim, "p", func(d *config.Destination) {
		d.MaxAttempts, d.BreakerFailures, d.BreakerOpenFor = 3, 2, 20*time.Millisecond
	}))
	waitAccepted(t, sim, "/p", 3)
	if n := deadCount(t, q); n != 0 {
		t.Errorf("%d dead letters while the breaker parked deliveries, want 0", n)
	}
}

func TestSickDestinationDoesNotDelayHealthyOne(t *testing.T) {
	storetest.Each(t, testSickDestinationDoesNotDelayHealthyOne)
}

func testSickDestinationDoesNotDelayHealthyOne(t *testing.T, open storetest.Opener) {
	q := open(t)
	sim := teamstest.NewServer()
	defer sim.Close()
	sim.SetFault(teamstest.Fault{Latency: 30 * time.Second, Path: "/slow"})
	publish(t, q, "slow", 0, 3)
	publish(t, q, "fast", 0, 10)
	start(t, q,
		dest(sim, "slow", func(d *config.Destination) { d.Timeout = 20 * time.Second }),
		dest(sim, "fast", func(d *config.Destination) { d.Rate = 4 }))
	waitAccepted(t, sim, "/fast", 10)
	if n := len(sim.Accepted("/slow")); n != 0 {
		t.Errorf("slow destination accepted %d before the healthy one finished; the test proves nothing", n)
	}
}

func TestRefusesPrivateDestinations(t *testing.T) {
	tests := []struct {
		url     string
		private bool
		wantErr string
	}{
		{"https://127.0.0.1/hook", false, "non-public"},
		{"https://10.1.2.3/hook", false, "non-public"},
		{"https://[::1]/hook", false, "non-public"},
		{"https://169.254.169.254/latest", false, "non-public"},
		{"https://localhost/hook", false, "non-public"},
		{"http://example.com/hook", false, "only https"},
		{"https://127.0.0.1/hook", true, ""},
		{"https://93.184.215.14/hook", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			err := CheckDestination(context.Background(), tt.url, tt.private)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("CheckDestination = %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestStatusShowsBreakerBacklogAndBudget(t *testing.T) {
	q := storetest.JetStream(t)
	sim := teamstest.NewServer()
	defer sim.Close()
	sim.SetFault(teamstest.Fault{Status: 500, Path: "/s"})
	publish(t, q, "s", 0, 3)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d, err := New(ctx, q, []config.Destination{
		dest(sim, "s", func(d *config.Destination) {
			d.BreakerFailures, d.BreakerOpenFor, d.Limits = 1, time.Hour, config.TeamsLimits()
		}),
		dest(sim, "idle"),
	}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() { cancel(); <-done }()

	// The dispatcher runs on its own; read its status until the worker
	// has taken the 500 in: the breaker opens inside the attempt, and the
	// worker keeps the answer (and counts it) just after.
	var st []DestinationStatus
	for deadline := time.Now().Add(30 * time.Second); ; {
		if st, err = d.Status(ctx); err != nil {
			t.Fatal(err)
		}
		if (st[0].Breaker == "open" && st[0].LastAnswer != nil) || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond) // the status has no change notification
	}
	if st[0].Name != "s" || st[0].Breaker != "open" || st[0].Backlog != 3 {
		t.Errorf("status of s = %+v, want open breaker and backlog 3 (parked, not dropped)", st[0])
	}
	if len(st[0].Budget) != 5 || st[0].Budget[2].Per != "1h0m0s" || st[0].Budget[2].Left != 99 {
		t.Errorf("budget of s = %+v, want the teams ladder with 99 of 100 left in the 1h window", st[0].Budget)
	}
	if st[1].Name != "idle" || st[1].Breaker != "closed" || st[1].Backlog != 0 {
		t.Errorf("status of idle = %+v", st[1])
	}

	// What an operator asks at 3 a.m.: since when, what it answered, when
	// the next probe goes, how old the backlog is.
	s := st[0]
	if s.Health != "open" || s.BreakerSince.IsZero() || time.Since(s.BreakerSince) > 10*time.Second {
		t.Errorf("s: health %q since %v, want open since the breaker opened moments ago", s.Health, s.BreakerSince)
	}
	if s.NextProbe == nil || s.NextProbe.Sub(s.BreakerSince) < 59*time.Minute {
		t.Errorf("s: next probe %v, want breaker_open_for (1h) after it opened at %v", s.NextProbe, s.BreakerSince)
	}
	if a := s.LastAnswer; a == nil || a.Status != 500 || a.Outcome != "retry" || a.At.IsZero() {
		t.Errorf("s: last answer %+v, want the 500", a)
	}
	if s.Oldest == nil || time.Since(*s.Oldest) > time.Minute {
		t.Errorf("s: oldest waiting %v, want the first delivery's store time", s.Oldest)
	}
	if st[1].Health != "ok" || st[1].LastAnswer != nil || st[1].NextProbe != nil || st[1].Oldest != nil {
		t.Errorf("idle: %+v, want ok with nothing answered, probed or waiting", st[1])
	}
	SortWorstFirst(st)
	if st[0].Name != "s" {
		t.Errorf("worst first: %s before s", st[0].Name)
	}
	tr, err := d.Trends(TrendHour, []string{"s"})
	if err != nil {
		t.Fatal(err)
	}
	// Summed over the hour: a minute may have begun since the 500.
	sum := func(v []uint32) (n uint32) {
		for _, x := range v {
			n += x
		}
		return n
	}
	var backlog uint32
	for _, b := range tr.Destinations["s"].Backlog {
		if b != nil {
			backlog = max(backlog, *b)
		}
	}
	if sum(tr.Destinations["s"].Failed) != 1 || sum(tr.Overall.Failed) != 1 || sum(tr.Overall.Delivered) != 0 || backlog != 3 {
		t.Errorf("trend of the hour: s failed %d, overall failed %d delivered %d, s's backlog %d; want the one 500 and 3 waiting",
			sum(tr.Destinations["s"].Failed), sum(tr.Overall.Failed), sum(tr.Overall.Delivered), backlog)
	}
	if _, err := d.Trends(TrendHour, []string{"nope"}); err == nil {
		t.Error("trends of an unknown destination: no error")
	}
}

func TestTakeoverInheritsBudget(t *testing.T) { storetest.Each(t, testTakeoverInheritsBudget) }

func testTakeoverInheritsBudget(t *testing.T, open storetest.Opener) {
	q := open(t) // the publisher's
	sim := teamstest.NewServer(teamstest.WithLimits(nil))
	defer sim.Close()
	d := dest(sim, "h", func(d *config.Destination) {
		d.Limits = config.Limits{{Per: time.Second, Max: 4}, {Per: 10 * time.Second, Max: 6}}
	})
	publish(t, q, "h", 0, 12)

	// Instance A sends what the 10 s window allows, then stops.
	_, stopA := runDispatcher(t, open, []config.Destination{d})
	waitAccepted(t, sim, "/h", 6)
	stopA()

	// Instance B takes the destination over and must not start a fresh window.
	start(t, open(t), d)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	if err := sim.WaitAccepted(ctx, "/h", 12); err != nil {
		t.Fatalf("accepted %d of 12 after takeover: %v", len(sim.Accepted("/h")), err)
	}
	if got := sim.MaxInWindow("/h", 10*time.Second); got > 6 {
		t.Errorf("%d requests arrived within 10 s across the takeover, limit 6", got)
	}
	if got := sim.MaxInWindow("/h", time.Second); got > 4 {
		t.Errorf("%d requests arrived within 1 s, limit 4", got)
	}
}

func TestTooManyRequestsDoNotOpenTheBreaker(t *testing.T) {
	storetest.Each(t, testTooManyRequestsDoNotOpenTheBreaker)
}

func testTooManyRequestsDoNotOpenTheBreaker(t *testing.T, open storetest.Opener) {
	q := open(t)
	sim := teamstest.NewServer()
	defer sim.Close()
	// Three 429s (the simulator adds Retry-After: 1) where three failures
	// open the breaker: a 429 is our own excess, not the receiver's
	// health, so the delivery goes once Retry-After passed, not after
	// breaker_open_for (an hour here).
	sim.SetFault(teamstest.Fault{Status: http.StatusTooManyRequests, Count: 3, Path: "/t"})
	publish(t, q, "t", 0, 1)
	d := start(t, q, dest(sim, "t", func(d *config.Destination) {
		d.MaxAttempts, d.BreakerFailures, d.BreakerOpenFor = 5, 3, time.Hour
	}))
	waitAccepted(t, sim, "/t", 1)
	if got := len(sim.Received("/t")); got != 4 {
		t.Errorf("received %d requests, want 4 (three 429s, then the delivery)", got)
	}
	st, err := d.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st[0].Breaker != "closed" {
		t.Errorf("breaker %q after three 429s, want closed", st[0].Breaker)
	}
	if n := deadCount(t, q); n != 0 {
		t.Errorf("%d dead letters, want 0", n)
	}
}

func TestRetryAfterHoldsTheNextDelivery(t *testing.T) {
	storetest.Each(t, testRetryAfterHoldsTheNextDelivery)
}

func testRetryAfterHoldsTheNextDelivery(t *testing.T, open storetest.Opener) {
	q := open(t)
	// The receiver answers 429 with Retry-After: 3 twice, then accepts. With
	// max_attempts 2 the first delivery is dead-lettered exhausted at the
	// second 429; the receiver's wait still holds for the destination, so
	// the second delivery waits for it too.
	var (
		mu       sync.Mutex
		arrived  []time.Time
		answered []time.Time
		third    = make(chan struct{}) // closed when the second delivery arrives
	)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		mu.Lock()
		defer mu.Unlock()
		arrived = append(arrived, time.Now())
		if len(arrived) == 3 {
			close(third)
		}
		if len(arrived) <= 2 {
			w.Header().Set("Retry-After", "3")
			answered = append(answered, time.Now())
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, "1")
	}))
	defer recv.Close()
	publish(t, q, "ra", 0, 2)
	d := config.Destination{
		Name: "ra", URL: recv.URL + "/ra", Format: schemas.FormatMessageCard, AllowPrivate: true,
		Rate: 50, Burst: 1, Timeout: 2 * time.Second, MaxAttempts: 2, MaxAge: time.Hour,
		Backoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
		BreakerFailures: 100, BreakerOpenFor: time.Second, Digest: new(bool), DigestAfter: 30 * time.Second,
	}
	start(t, q, d)
	dead := waitDead(t, q, "ra", 1)[0]
	if dead.Delivery.ID != "ev0.ra" || dead.Reason != schemas.ReasonExhausted || dead.Attempts != 2 {
		t.Fatalf("dead letter %s reason %q attempts %d, want ev0.ra exhausted after 2", dead.Delivery.ID, dead.Reason, dead.Attempts)
	}
	select {
	case <-third:
	case <-time.After(20 * time.Second):
		t.Fatal("the second delivery never reached the receiver")
	}
	mu.Lock()
	defer mu.Unlock()
	if gap := arrived[2].Sub(answered[1]); gap < 3*time.Second {
		t.Errorf("the second delivery came %v after the 429 with Retry-After: 3, want at least 3s", gap)
	}
	if gap := arrived[1].Sub(answered[0]); gap < 3*time.Second {
		t.Errorf("the retry came %v after the 429 with Retry-After: 3, want at least 3s", gap)
	}
}
