package telemetry_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/errgroup"

	"github.com/hookrelay/hookrelay/deadletter"
	"github.com/hookrelay/hookrelay/dispatch"
	"github.com/hookrelay/hookrelay/ingest"
	"github.com/hookrelay/hookrelay/internal/config"
	"github.com/hookrelay/hookrelay/internal/natstest"
	"github.com/hookrelay/hookrelay/internal/queue"
	"github.com/hookrelay/hookrelay/internal/teamstest"
	"github.com/hookrelay/hookrelay/internal/telemetry"
	"github.com/hookrelay/hookrelay/transform"
)

// pipeline is every stage of one relay, in process, on a real JetStream and
// the Teams simulator, with spans recorded in memory.
type pipeline struct {
	env     *natstest.Env
	sim     *teamstest.Server
	tel     *telemetry.Telemetry
	cfg     *config.Config
	ingest  *httptest.Server
	stop    func()
	stopped chan error
}

const (
	sourceSecret = "vendor-token-5f1c9a"
	urlSecret    = "sigQ9zXk31"
)

func startPipeline(t *testing.T, tel *telemetry.Telemetry) *pipeline {
	t.Helper()
	p := &pipeline{env: natstest.Start(t), sim: teamstest.NewServer(teamstest.WithLimits(nil)), tel: tel}
	t.Cleanup(p.sim.Close)
	raw := fmt.Sprintf(`
sources:
  - {name: zendesk, verify: {scheme: token, secret: %s}}
destinations:
  - {name: ops, url: "%s/workflows/ops/invoke?sig=%s", format: adaptive, limits: none, rate: 100, burst: 10,
     backoff: 10ms, max_backoff: 20ms, allow_private: true}
  - {name: audit, url: "%s/workflows/audit/invoke?sig=%s", format: adaptive, limits: none, rate: 100, burst: 10,
     backoff: 10ms, max_backoff: 20ms, allow_private: true}
routes:
  - {source: zendesk, filter: '.to == "ops"', to: [ops]}
  - {source: zendesk, filter: '.to == "audit"', to: [audit]}
`, sourceSecret, p.sim.URL, urlSecret, p.sim.URL, urlSecret)
	cfg, err := config.Parse([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	p.cfg = cfg
	log := slog.New(slog.DiscardHandler)
	q := p.env.Queue(t)
	h, err := ingest.New(cfg, queue.Over(q), log, ingest.WithTelemetry(tel), ingest.WithMetrics(tel.Metrics()))
	if err != nil {
		t.Fatal(err)
	}
	p.ingest = httptest.NewServer(tel.HTTPHandler(h))
	t.Cleanup(p.ingest.Close)
	tr, err := transform.New(queue.Over(q), queue.Over(q), queue.Over(q), cfg, log, transform.WithTelemetry(tel))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	disp, err := dispatch.New(ctx, queue.Over(q), cfg.Destinations, log, dispatch.WithTelemetry(tel))
	if err != nil {
		t.Fatal(err)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return tr.Run(gctx) })
	g.Go(func() error { return disp.Run(gctx) })
	p.stopped = make(chan error, 1)
	go func() { p.stopped <- g.Wait() }()
	p.stop = func() {
		cancel()
		if err := <-p.stopped; err != nil {
			t.Errorf("stages: %v", err)
		}
	}
	t.Cleanup(func() {
		if ctx.Err() == nil {
			p.stop()
		}
	})
	return p
}

// post sends one event with the vendor's traceparent.
func (p *pipeline) post(t *testing.T, body, traceparent string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, p.ingest.URL+"/hooks/zendesk/"+sourceSecret, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Traceparent", traceparent)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("ingest answered %d", resp.StatusCode)
	}
}

func (p *pipeline) waitAccepted(t *testing.T, path string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.sim.WaitAccepted(ctx, path, n); err != nil {
		t.Fatalf("%s: %v (received %d)", path, err, len(p.sim.Received(path)))
	}
}

// spanTree indexes the ended spans of one trace.
type spanTree struct {
	t     *testing.T
	spans []sdktrace.ReadOnlySpan
}

func treeOf(t *testing.T, all []sdktrace.ReadOnlySpan, id trace.TraceID) spanTree {
	t.Helper()
	tr := spanTree{t: t}
	for _, s := range all {
		if s.SpanContext().TraceID() == id {
			tr.spans = append(tr.spans, s)
		}
	}
	return tr
}

// named returns the spans called name, failing unless there are n.
func (tr spanTree) named(name string, n int) []sdktrace.ReadOnlySpan {
	tr.t.Helper()
	var out []sdktrace.ReadOnlySpan
	for _, s := range tr.spans {
		if s.Name() == name {
			out = append(out, s)
		}
	}
	if len(out) != n {
		var names []string
		for _, s := range tr.spans {
			names = append(names, s.Name())
		}
		tr.t.Fatalf("%d spans named %q, want %d; the trace has %v", len(out), name, n, names)
	}
	return out
}

func (tr spanTree) one(name string) sdktrace.ReadOnlySpan { tr.t.Helper(); return tr.named(name, 1)[0] }

func childOf(t *testing.T, child, parent sdktrace.ReadOnlySpan) {
	t.Helper()
	if child.Parent().SpanID() != parent.SpanContext().SpanID() {
		t.Errorf("span %q: parent %s, want %q (%s)", child.Name(), child.Parent().SpanID(), parent.Name(), parent.SpanContext().SpanID())
	}
}

func attr(s sdktrace.ReadOnlySpan, key string) string {
	for _, a := range s.Attributes() {
		if string(a.Key) == key {
			return a.Value.String()
		}
	}
	return ""
}

// TestOneEventsTrace follows an event from the vendor's request to Teams,
// through a failed and a retried attempt, in one trace.
func TestOneEventsTrace(t *testing.T) {
	tel, rec := setupRecorded(t)
	p := startPipeline(t, tel)
	// Teams fails the first attempt with a 503; the retry is accepted.
	p.sim.SetFault(teamstest.Fault{Status: http.StatusServiceUnavailable, Path: "/workflows/ops/invoke", Count: 1})
	const vendorTrace, vendorSpan = "5b8aa5a2d2c872e8321cf37308d69df2", "051581bf3cb55c13"
	p.post(t, `{"to":"ops","title":"ticket 42 escalated"}`, "00-"+vendorTrace+"-"+vendorSpan+"-01")
	p.waitAccepted(t, "/workflows/ops/invoke", 1)
	p.stop() // every span has ended once the stages returned

	id, _ := trace.TraceIDFromHex(vendorTrace)
	tr := treeOf(t, rec.Ended(), id)
	server := tr.one("POST /hooks/{source}/{token}")
	sendIn := tr.one("send relay.in.zendesk")
	process := tr.one("process relay.in.zendesk")
	sendOut := tr.one("send relay.out.ops")
	deliver := tr.one("process relay.out.ops")
	attempts := tr.named("POST ops", 2)

	if server.Parent().SpanID().String() != vendorSpan || !server.Parent().IsRemote() {
		t.Errorf("server span's parent is %s, want the vendor's span %s", server.Parent().SpanID(), vendorSpan)
	}
	childOf(t, sendIn, server)
	childOf(t, process, sendIn)
	childOf(t, sendOut, process)
	childOf(t, deliver, sendOut)
	for _, a := range attempts {
		childOf(t, a, deliver)
	}
	if attempts[1].StartTime().Before(attempts[0].StartTime()) {
		attempts[0], attempts[1] = attempts[1], attempts[0]
	}
	want := []map[string]string{
		{"hookrelay.attempt": "1", "http.response.status_code": "503", "hookrelay.outcome": "failed",
			"hookrelay.breaker.state": "closed", "http.request.resend_count": ""},
		{"hookrelay.attempt": "2", "http.response.status_code": "202", "hookrelay.outcome": "delivered",
			"hookrelay.breaker.state": "closed", "http.request.resend_count": "1"},
	}
	for i, a := range attempts {
		if a.SpanKind() != trace.SpanKindClient {
			t.Errorf("attempt %d is a %v span, want client", i+1, a.SpanKind())
		}
		for k, v := range want[i] {
			if got := attr(a, k); got != v {
				t.Errorf("attempt %d: %s = %q, want %q", i+1, k, got, v)
			}
		}
		if got := attr(a, "server.address"); got != "127.0.0.1" {
			t.Errorf("attempt %d: server.address = %q", i+1, got)
		}
	}
	if got := attr(server, "http.response.status_code"); got != "202" {
		t.Errorf("server span status %q, want 202", got)
	}
	if attr(server, "hookrelay.event.id") == "" || attr(server, "hookrelay.event.id") != attr(deliver, "hookrelay.event.id") {
		t.Errorf("event id: server span %q, delivery span %q", attr(server, "hookrelay.event.id"), attr(deliver, "hookrelay.event.id"))
	}
	noSecrets(t, rec.Ended())
}

// TestDeadLetterAndReplayInTheEventsTrace checks that a rejected delivery's
// dead letter and its replay continue the event's trace.
func TestDeadLetterAndReplayInTheEventsTrace(t *testing.T) {
	tel, rec := setupRecorded(t)
	p := startPipeline(t, tel)
	p.sim.SetFault(teamstest.Fault{Status: http.StatusBadRequest, Path: "/workflows/audit/invoke", Count: 1})
	const vendorTrace = "7e1a2c3d4b5f60718293a4b5c6d7e8f9"
	p.post(t, `{"to":"audit","title":"user deleted"}`, "00-"+vendorTrace+"-1111111111111111-01")

	store := deadletter.NewStore(queue.Over(p.env.Queue(t)), queue.Over(p.env.Queue(t)), deadletter.WithTelemetry(tel))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var entries []deadletter.Entry
	for len(entries) == 0 { // the dead letter is stored once dispatch got the 400
		var err error
		if entries, err = store.List(ctx, deadletter.Filter{Destination: "audit"}); err != nil {
			t.Fatal(err)
		}
		if ctx.Err() != nil {
			t.Fatal("no dead letter within 30s")
		}
		if len(entries) == 0 {
			time.Sleep(20 * time.Millisecond) // polling the store: it has no change notification
		}
	}
	if _, err := store.Replay(ctx, deadletter.Filter{IDs: []string{entries[0].ID}}, false); err != nil {
		t.Fatal(err)
	}
	p.waitAccepted(t, "/workflows/audit/invoke", 1)
	p.stop()

	id, _ := trace.TraceIDFromHex(vendorTrace)
	tr := treeOf(t, rec.Ended(), id)
	deliveries := tr.named("process relay.out.audit", 2)
	if deliveries[1].StartTime().Before(deliveries[0].StartTime()) {
		deliveries[0], deliveries[1] = deliveries[1], deliveries[0]
	}
	dead := tr.one("send relay.dead.audit")
	replay := tr.one("replay audit")
	resend := tr.named("send relay.out.audit", 2) // transform's, then the replay's
	childOf(t, dead, deliveries[0])
	childOf(t, replay, dead)
	var fromReplay sdktrace.ReadOnlySpan
	for _, s := range resend {
		if s.Parent().SpanID() == replay.SpanContext().SpanID() {
			fromReplay = s
		}
	}
	if fromReplay == nil {
		t.Fatal("no publish to RELAY_OUT under the replay span")
	}
	childOf(t, deliveries[1], fromReplay)
	if got := attr(dead, "hookrelay.dead_letter.reason"); got != "rejected" {
		t.Errorf("dead letter reason %q, want rejected", got)
	}
	noSecrets(t, rec.Ended())
}

// noSecrets fails if any span names the source secret or a destination URL.
func noSecrets(t *testing.T, spans []sdktrace.ReadOnlySpan) {
	t.Helper()
	for _, s := range spans {
		for _, a := range s.Attributes() {
			if a.Key == "url.full" {
				t.Errorf("span %q records url.full", s.Name())
			}
			v := a.Value.String()
			for _, secret := range []string{sourceSecret, urlSecret, "/workflows/"} {
				if strings.Contains(v, secret) || strings.Contains(s.Name(), secret) {
					t.Errorf("span %q attribute %s = %q holds %q", s.Name(), a.Key, v, secret)
				}
			}
		}
	}
}
