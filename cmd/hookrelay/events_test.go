package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/deadletter"
	"github.com/hookrelay/hookrelay/dispatch"
	"github.com/hookrelay/hookrelay/ingest"
	"github.com/hookrelay/hookrelay/internal/config"
	"github.com/hookrelay/hookrelay/internal/history"
	"github.com/hookrelay/hookrelay/internal/natstest"
	"github.com/hookrelay/hookrelay/internal/queue"
	"github.com/hookrelay/hookrelay/internal/teamstest"
	"github.com/hookrelay/hookrelay/schemas"
	"github.com/hookrelay/hookrelay/transform"
)

// adminToken is the token of every stack the tests start.
const adminToken = "test-admin-token"

// stack is every stage in this process on a real JetStream, the Teams
// simulator as destination "ops", and the admin API as serve wires it.
type stack struct {
	env    *natstest.Env
	q      queue.Queue
	sim    *teamstest.Server
	cfg    *config.Config
	rec    *history.Recorder
	ingest string
	admin  string
	log    *slog.Logger

	mu            sync.Mutex
	stopTransform func()
}

func startStack(t *testing.T, mapping transform.Mapping) *stack {
	t.Helper()
	return startStackWith(t, mapping, func(simURL string) string {
		return fmt.Sprintf(`
destinations:
  - {name: ops, url: %q, allow_private: true, backoff: 20ms, max_backoff: 100ms, breaker_failures: 10}
routes:
  - {name: app-ops, source: app, to: [ops]}
`, simURL+"/ops")
	})
}

// startStackWith is startStack with the destinations and routes that
// routing returns for the simulator's URL; the source is app.
func startStackWith(t *testing.T, mapping transform.Mapping, routing func(simURL string) string) *stack {
	t.Helper()
	s := &stack{env: natstest.Start(t), sim: teamstest.NewServer(), log: slog.New(slog.DiscardHandler)}
	t.Cleanup(s.sim.Close)
	cfg, err := config.Parse(fmt.Appendf(nil, `
admin_token: %s
sources:
  - {name: app, verify: {scheme: token, secret: s3cret}}
%s`, adminToken, routing(s.sim.URL)))
	if err != nil {
		t.Fatal(err)
	}
	s.cfg = cfg
	s.q = s.env.Queue(t)
	s.rec = history.NewRecorder(queue.Over(s.q), s.log)
	ctx, cancel := context.WithCancel(context.Background())
	disp, err := dispatch.New(ctx, queue.Over(s.q), cfg.Destinations, s.log, dispatch.WithHistory(s.rec))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- disp.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("dispatch: %v", err)
		}
	})
	s.runTransform(t, mapping)
	ing, err := ingest.New(cfg, queue.Over(s.q), s.log)
	if err != nil {
		t.Fatal(err)
	}
	ingSrv := httptest.NewServer(ing)
	t.Cleanup(ingSrv.Close)
	s.ingest = ingSrv.URL
	adm := httptest.NewServer(adminHandler(queue.Over(s.q), newReadiness(s.q), disp, cfg, s.rec, s.log))
	t.Cleanup(adm.Close)
	s.admin = adm.URL
	return s
}

// runTransform (re)starts the transform stage with mapping (nil: the generic one).
func (s *stack) runTransform(t *testing.T, mapping transform.Mapping) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopTransform != nil {
		s.stopTransform()
	}
	// One worker keeps RELAY_OUT in RELAY_IN's order, so a later event can
	// prove that nothing more is coming before it.
	tr, err := transform.New(queue.Over(s.q), queue.Over(s.q), queue.Over(s.q), s.cfg, s.log, transform.WithHistory(s.rec), transform.WithMapping(mapping),
		transform.WithWorkers(1))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tr.Run(ctx) }()
	stopped := false
	s.stopTransform = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("transform: %v", err)
		}
	}
	t.Cleanup(func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.stopTransform()
	})
}

// send posts one event to source app and returns its id.
func (s *stack) send(t *testing.T, body string) string {
	t.Helper()
	resp, err := http.Post(s.ingest+"/hooks/app/s3cret", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ ID string }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusAccepted || out.ID == "" {
		t.Fatalf("send: %d %v %+v", resp.StatusCode, err, out)
	}
	return out.ID
}

// cli runs `hookrelay CMD args…` against the stack's admin API with token
// as HOOKRELAY_ADMIN_TOKEN.
func (s *stack) cli(t *testing.T, token string, args ...string) (string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	c := adminCmd{
		stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr, now: time.Now,
		getenv: func(k string) string {
			switch k {
			case "HOOKRELAY_ADMIN":
				return s.admin
			case "HOOKRELAY_ADMIN_TOKEN":
				return token
			}
			return ""
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var err error
	switch args[0] {
	case "dlq":
		err = c.run(ctx, args[1:])
	case "events":
		err = c.runEvents(ctx, args[1:])
	case "destinations":
		err = c.runDestinations(ctx, args[1:])
	default:
		t.Fatalf("cli: unknown command %q", args[0])
	}
	return stdout.String(), err
}

// eventually polls cond until it holds: the stages run on their own, and
// the history is written without acknowledgement, so there is no signal to
// wait on but the admin API.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *stack) view(t *testing.T, id string) history.View {
	t.Helper()
	out, err := s.cli(t, adminToken, "events", "show", "-o", "json", id)
	if err != nil {
		t.Fatalf("events show %s: %v", id, err)
	}
	var v history.View
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("events show -o json: %v\n%s", err, out)
	}
	return v
}

func hasKind(v history.View, k history.Kind) bool {
	return slices.ContainsFunc(v.History, func(r history.Record) bool { return r.Kind == k })
}

func (s *stack) deadLetters(t *testing.T, args ...string) []deadletter.Entry {
	t.Helper()
	out, err := s.cli(t, adminToken, append([]string{"dlq", "list", "-o", "json"}, args...)...)
	if err != nil {
		t.Fatalf("dlq list: %v", err)
	}
	var entries []deadletter.Entry
	if err := json.Unmarshal([]byte(out), &entries); err != nil {
		t.Fatalf("dlq list -o json: %v\n%s", err, out)
	}
	return entries
}

func waitCards(t *testing.T, sim *teamstest.Server, n int) []teamstest.Received {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := sim.WaitAccepted(ctx, "/ops", n); err != nil {
		t.Fatalf("%d of %d cards accepted: %v", len(sim.Accepted("/ops")), n, err)
	}
	return sim.Accepted("/ops")
}

func TestHistoryOfAnEventThatFailedTwiceThenSucceeded(t *testing.T) {
	s := startStack(t, nil)
	s.sim.SetFault(teamstest.Fault{Status: 503, Count: 2, Path: "/ops"})
	id := s.send(t, `{"title":"disk full","host":"db1"}`)
	waitCards(t, s.sim, 1)

	var v history.View
	eventually(t, "the delivered record", func() bool { v = s.view(t, id); return hasKind(v, history.KindDelivered) })
	type step struct {
		kind            history.Kind
		attempt, status int
	}
	var got []step
	for _, r := range v.History {
		got = append(got, step{r.Kind, r.Attempt, r.Status})
	}
	want := []step{
		{history.KindReceived, 0, 0}, {history.KindRouted, 0, 0},
		{history.KindAttempt, 1, 503}, {history.KindAttempt, 2, 503},
		{history.KindDelivered, 3, 200}, // the delivered attempt is this record

	}
	if !slices.Equal(got, want) {
		t.Fatalf("history\n got %+v\nwant %+v", got, want)
	}
	if r := v.History[0]; r.Source != "app" || r.Detail != fmt.Sprintf("verified by token, %d bytes", len(`{"title":"disk full","host":"db1"}`)) {
		t.Errorf("received record %+v", r)
	}
	if r := v.History[1]; r.Destination != "ops" || r.Route != "app-ops" || r.DeliveryID != id+".ops" {
		t.Errorf("routed record %+v", r)
	}
	if v.Event == nil || v.Event.Source != "app" || !strings.Contains(string(v.Event.Body), "disk full") {
		t.Errorf("stored event %+v", v.Event)
	}

	text, err := s.cli(t, adminToken, "events", "show", id)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Event " + id, "received", "routed", "attempt", "503", "delivered", "verified by token", `"title": "disk full"`} {
		if !strings.Contains(text, want) {
			t.Errorf("events show lacks %q:\n%s", want, text)
		}
	}
	if _, err := s.cli(t, adminToken, "events", "show", "0190c0de-0000-7000-8000-000000000000"); !errors.Is(err, history.ErrNotFound) {
		t.Errorf("unknown event: %v, want ErrNotFound", err)
	}
}

func TestDeadLetterShowAndDoubleReplayDeliversOnce(t *testing.T) {
	s := startStack(t, nil)
	s.sim.SetFault(teamstest.Fault{Status: 404, Path: "/ops"})
	id := s.send(t, `{"title":"first"}`)
	var dead []deadletter.Entry
	eventually(t, "the dead letter", func() bool { dead = s.deadLetters(t, "--reason", "gone"); return len(dead) == 1 })
	dlID := dead[0].ID

	// show: the card, every attempt with its status, the original event.
	eventually(t, "the dead_lettered record", func() bool { return hasKind(s.view(t, id), history.KindDeadLettered) })
	text, err := s.cli(t, adminToken, "dlq", "show", dlID)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Reason       gone", "Attempts:", "404", "Card:", `"summary"`, "Original event",
		fmt.Sprintf("%d bytes", len(`{"title":"first"}`)), `"title": "first"`} {
		if !strings.Contains(text, want) {
			t.Errorf("dlq show lacks %q:\n%s", want, text)
		}
	}

	dry, err := s.cli(t, adminToken, "dlq", "replay", "--id", dlID, "--dry-run")
	if err != nil || !strings.Contains(dry, "would replay 1") {
		t.Fatalf("dry run: %q %v", dry, err)
	}
	if n := len(s.deadLetters(t)); n != 1 {
		t.Fatalf("a dry run changed the dead letters: %d left", n)
	}

	s.sim.ClearFaults()
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			// One replays it; another may find it replayed already, which
			// the CLI says (and exits 1 for).
			if _, err := s.cli(t, adminToken, "dlq", "replay", "--id", dlID); err != nil &&
				!strings.Contains(err.Error(), "no dead letter with id "+dlID) {
				t.Errorf("replay: %v", err)
			}
		})
	}
	wg.Wait()
	if _, err := s.cli(t, adminToken, "dlq", "replay", "--id", dlID); err == nil ||
		!strings.Contains(err.Error(), "no dead letter with id "+dlID) || exitCode(err) != exitFailure {
		t.Fatalf("replaying a replayed dead letter again: err = %v, want it named as gone, status 1", err)
	}
	// A later event for the same destination is dispatched after anything
	// queued before it, so once it arrives any duplicate would have too.
	sentinel := s.send(t, `{"title":"sentinel"}`)
	cards := waitCards(t, s.sim, 2)
	var got []string
	for _, c := range cards {
		got = append(got, c.DeliveryID)
	}
	if want := []string{id + ".ops", sentinel + ".ops"}; !slices.Equal(got, want) {
		t.Errorf("delivered %v, want %v (the replayed dead letter once, then the sentinel)", got, want)
	}
	if n := len(s.deadLetters(t)); n != 0 {
		t.Errorf("%d dead letters left after the replay", n)
	}
	eventually(t, "the replayed record", func() bool { return hasKind(s.view(t, id), history.KindReplayed) })
}

func TestReplayFromSourceAfterAMappingFix(t *testing.T) {
	broken := func(schemas.Event) (transform.Summary, error) {
		return transform.Summary{}, errors.New("template broke")
	}
	s := startStack(t, broken)
	first, second := s.send(t, `{"title":"one"}`), s.send(t, `{"title":"two"}`)
	eventually(t, "two transform dead letters", func() bool { return len(s.deadLetters(t, "--reason", "transform")) == 2 })
	if n := len(s.sim.Received("/ops")); n != 0 {
		t.Fatalf("a broken mapping sent %d cards", n)
	}

	s.runTransform(t, nil) // the fixed mapping
	out, err := s.cli(t, adminToken, "events", "replay", "--source", "app", "--since", "1h", "--dry-run")
	if err != nil || !strings.Contains(out, "would replay 2 event(s)") || !strings.Contains(out, first) || !strings.Contains(out, second) {
		t.Fatalf("dry run: %v\n%s", err, out)
	}
	if _, err := s.cli(t, adminToken, "events", "replay", "--source", "app", "--since", "1h", "--route", "nope"); !errors.Is(err, history.ErrInvalid) {
		t.Errorf("unknown route: %v, want ErrInvalid", err)
	}
	if _, err := s.cli(t, adminToken, "events", "replay", "--source", "app"); err == nil {
		t.Error("replay without --since succeeded")
	}
	out, err = s.cli(t, adminToken, "events", "replay", "--source", "app", "--since", "1h", "--route", "app-ops", "--replay-id", "fix1")
	if err != nil || !strings.Contains(out, "replayed 2 event(s) of app (replay fix1)") {
		t.Fatalf("replay: %v\n%s", err, out)
	}
	// The same replay again repeats nothing; the sentinel proves it.
	if _, err := s.cli(t, adminToken, "events", "replay", "--source", "app", "--since", "1h", "--replay-id", "fix1"); err != nil {
		t.Fatal(err)
	}
	sentinel := s.send(t, `{"title":"sentinel"}`)
	cards := waitCards(t, s.sim, 3)
	var got []string
	for _, c := range cards {
		got = append(got, c.DeliveryID)
		if c.Status != http.StatusOK {
			t.Errorf("card %s answered %d", c.DeliveryID, c.Status)
		}
	}
	want := []string{first + ".ops.replay-fix1", second + ".ops.replay-fix1", sentinel + ".ops"}
	if !slices.Equal(got, want) {
		t.Errorf("delivered %v, want %v", got, want)
	}
	if !strings.Contains(string(cards[0].Body), "one") {
		t.Errorf("first card does not show the event: %s", cards[0].Body)
	}
	eventually(t, "the replayed event's timeline", func() bool {
		v := s.view(t, first)
		return hasKind(v, history.KindReplayed) && hasKind(v, history.KindDelivered) && hasKind(v, history.KindDeadLettered)
	})
}

func TestAdminToken(t *testing.T) {
	s := startStack(t, nil)
	tests := []struct {
		method, path, token string
		want                int
	}{
		{"GET", "/healthz", "", 200},
		{"GET", "/readyz", "", 200},
		{"GET", "/ui/", "", 200},
		{"GET", "/api/v1/deadletters", "", 401},
		{"GET", "/api/v1/deadletters", "wrong", 401},
		{"GET", "/api/v1/deadletters", adminToken, 200},
		{"GET", "/api/v1/destinations", "", 401},
		{"GET", "/api/v1/destinations", adminToken, 200},
		{"GET", "/api/v1/events/0190c0de-0000-7000-8000-000000000000", "", 401},
		{"POST", "/api/v1/deadletters/purge", "", 401},
		{"POST", "/api/v1/events/replay", "", 401},
	}
	for _, tt := range tests {
		req, err := http.NewRequest(tt.method, s.admin+tt.path, strings.NewReader(`{"all":true}`))
		if err != nil {
			t.Fatal(err)
		}
		if tt.token != "" {
			req.Header.Set("Authorization", "Bearer "+tt.token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("%s %s with %q: %d, want %d", tt.method, tt.path, tt.token, resp.StatusCode, tt.want)
		}
	}
	for _, args := range [][]string{{"dlq", "list"}, {"events", "show", "x"}, {"destinations"}} {
		if _, err := s.cli(t, "", args...); err == nil || !strings.Contains(err.Error(), "HOOKRELAY_ADMIN_TOKEN") {
			t.Errorf("%v without a token: %v, want advice to set HOOKRELAY_ADMIN_TOKEN", args, err)
		}
	}
	out, err := s.cli(t, adminToken, "destinations")
	if err != nil || !strings.Contains(out, "ops") || !strings.Contains(out, "closed") {
		t.Errorf("destinations: %v\n%s", err, out)
	}
}

func TestCheckAdminToken(t *testing.T) {
	tests := []struct {
		listen, token string
		ok            bool
	}{
		{"127.0.0.1:8081", "", true},
		{"[::1]:8081", "", true},
		{"localhost:8081", "", true},
		{"0.0.0.0:8081", "", false},
		{":8081", "", false},
		{"10.0.0.5:8081", "", false},
		{"0.0.0.0:8081", "t", true},
	}
	for _, tt := range tests {
		err := checkAdminToken(&config.Config{AdminListen: tt.listen, AdminToken: tt.token}, slog.New(slog.DiscardHandler))
		if (err == nil) != tt.ok {
			t.Errorf("admin_listen %q token %q: %v, want ok=%v", tt.listen, tt.token, err, tt.ok)
		}
	}
}
