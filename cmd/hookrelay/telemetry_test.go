package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/hookrelay/hookrelay/internal/teamstest"
	"github.com/hookrelay/hookrelay/internal/telemetry"
)

// logSink keeps everything serve logs and reports its listeners' addresses.
type logSink struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	addrs chan [2]string
}

func (s *logSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf.Write(p)
	sc := bufio.NewScanner(bytes.NewReader(p))
	for sc.Scan() {
		var line struct{ Msg, Listener, Addr string }
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "listening" {
			s.addrs <- [2]string{line.Listener, "http://" + line.Addr}
		}
	}
	return len(p), nil
}

func (s *logSink) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// TestServeTelemetry runs serve in process through deliveries, a retry, a
// dead letter, a replay and refused requests, then checks that /metrics shows
// every documented family and that the log holds no secret and no
// destination URL.
func TestServeTelemetry(t *testing.T) {
	sim := teamstest.NewServer(teamstest.WithLimits(nil))
	defer sim.Close()
	const (
		sourceSecret = "src-secret-8d31f0c2"
		adminToken   = "admin-token-77ab01e9"
		sig          = "SiGnAtUrE0123456"
	)
	opsURL := sim.URL + "/workflows/0a1b2c3d/triggers/manual/paths/invoke?api-version=1&sig=" + sig
	auditURL := sim.URL + "/webhookb2/4e5f6a7b@c8d9/IncomingWebhook/0f1e2d3c/aa11"
	cfgPath := filepath.Join(t.TempDir(), "hookrelay.yaml")
	cfg := fmt.Sprintf(`listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
admin_token: %s
data_dir: %s
sources:
  - {name: app, verify: {scheme: token, secret: %s}}
destinations:
  - {name: ops, url: %q, format: adaptive, limits: [{per: 1s, max: 20}], rate: 50, burst: 5, backoff: 10ms, max_backoff: 20ms, allow_private: true}
  - {name: audit, url: %q, format: messagecard, limits: none, rate: 50, burst: 5, allow_private: true}
routes:
  - {source: app, filter: '.to == "ops"', to: [ops]}
  - {source: app, filter: '.to == "audit"', to: [audit]}
`, adminToken, t.TempDir(), sourceSecret, opsURL, auditURL)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	opsPath, auditPath := "/workflows/0a1b2c3d/triggers/manual/paths/invoke", "/webhookb2/4e5f6a7b@c8d9/IncomingWebhook/0f1e2d3c/aa11"
	sim.SetFault(teamstest.Fault{Status: http.StatusServiceUnavailable, Path: opsPath, Count: 1})
	sim.SetFault(teamstest.Fault{Status: http.StatusBadRequest, Path: auditPath, Count: 1})

	collector := startCollector(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.URL)
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
	t.Setenv("OTEL_TRACES_EXPORTER", "")
	t.Setenv("OTEL_SDK_DISABLED", "")

	logs := &logSink{addrs: make(chan [2]string, 4)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runServe(ctx, []string{"--config", cfgPath, "--log-level", "debug"}, logs) }()
	var ingestURL, adminURL string
	for ingestURL == "" || adminURL == "" {
		select {
		case a := <-logs.addrs:
			if a[0] == "ingest" {
				ingestURL = a[1]
			} else {
				adminURL = a[1]
			}
		case err := <-done:
			t.Fatalf("serve exited: %v\n%s", err, logs)
		case <-time.After(30 * time.Second):
			t.Fatalf("serve did not listen within 30s\n%s", logs)
		}
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serve: %v", err)
			}
		}
	}
	defer stop()

	post := func(path, body string, want int) {
		t.Helper()
		resp, err := http.Post(ingestURL+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("POST %s: %d, want %d", path, resp.StatusCode, want)
		}
	}
	for i := range 3 {
		post("/hooks/app/"+sourceSecret, fmt.Sprintf(`{"to":"ops","title":"deploy %d"}`, i), http.StatusAccepted)
	}
	post("/hooks/app/"+sourceSecret, `{"to":"audit","title":"user removed"}`, http.StatusAccepted)
	post("/hooks/app/wrong-token", `{"to":"ops"}`, http.StatusUnauthorized)
	post("/hooks/nosuchsource/x", `{}`, http.StatusNotFound)

	waitCtx, waitCancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer waitCancel()
	if err := sim.WaitAccepted(waitCtx, opsPath, 3); err != nil {
		t.Fatalf("ops: %v", err)
	}
	admin := func(method, path, body string) []byte {
		t.Helper()
		req, err := http.NewRequestWithContext(waitCtx, method, adminURL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+adminToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, out)
		}
		return out
	}
	// The rejected card is dead-lettered once dispatch got the 400; the
	// store has no change notification, so poll it.
	rejected := func() bool {
		var list struct {
			DeadLetters []struct{ Reason string } `json:"deadletters"`
		}
		if err := json.Unmarshal(admin("GET", "/api/v1/deadletters?destination=audit", ""), &list); err != nil {
			t.Fatal(err)
		}
		return len(list.DeadLetters) == 1 && list.DeadLetters[0].Reason == "rejected"
	}
	for !rejected() {
		if waitCtx.Err() != nil {
			t.Fatal("no dead letter for audit")
		}
		time.Sleep(20 * time.Millisecond)
	}
	admin("POST", "/api/v1/deadletters/replay", `{"destination":"audit"}`)
	if err := sim.WaitAccepted(waitCtx, auditPath, 1); err != nil {
		t.Fatalf("audit after replay: %v", err)
	}

	// /metrics is open like the probes: no token.
	resp, err := http.Get(adminURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %d", resp.StatusCode)
	}
	for _, f := range telemetry.Families() {
		if !bytes.Contains(metrics, []byte("# TYPE "+f+" ")) {
			t.Errorf("/metrics lacks %s", f)
		}
	}
	for _, series := range []string{
		`hookrelay_ingest_requests_total{code="202",source="app"} 4`,
		`hookrelay_ingest_requests_total{code="401",source="app"} 1`,
		`hookrelay_ingest_requests_total{code="404",source="unknown"} 1`,
		`hookrelay_deliveries_total{destination="ops",outcome="delivered"} 3`,
		`hookrelay_deliveries_total{destination="ops",outcome="failed"} 1`,
		`hookrelay_delivery_retries_total{destination="ops"} 1`,
		`hookrelay_deliveries_total{destination="audit",outcome="rejected"} 1`,
		`hookrelay_dead_letters_total{destination="audit",reason="rejected"} 1`,
		`hookrelay_replays_total{destination="audit"} 1`,
		`hookrelay_breaker_state{destination="ops"} 0`,
		`hookrelay_backlog_messages{destination="ops"} 0`,
		`hookrelay_transform_events_total{outcome="routed",source="app"} 4`,
	} {
		if !bytes.Contains(metrics, []byte(series)) {
			t.Errorf("/metrics lacks %s", series)
		}
	}
	if !regexp.MustCompile(`hookrelay_publish_duration_seconds_count\{stream="RELAY_IN"\} [1-9]`).Match(metrics) {
		t.Error("/metrics has no publish latency for RELAY_IN")
	}

	stop()
	out := logs.String()
	secrets := []string{sourceSecret, adminToken, sig, opsURL, auditURL, opsPath, auditPath, "0a1b2c3d", "4e5f6a7b"}
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Errorf("the log holds %q", s)
		}
		if strings.Contains(string(metrics), s) {
			t.Errorf("/metrics holds %q", s)
		}
	}
	// The log is JSON, names destinations, and ties events to traces.
	// serve flushed its spans to the collector when it stopped.
	exported := collector.spans()
	traceIDs := map[string]bool{}
	for _, sp := range exported {
		traceIDs[hex.EncodeToString(sp.TraceId)] = true
		text := sp.Name
		for _, a := range sp.Attributes {
			if a.Key == "url.full" {
				t.Errorf("span %q records url.full", sp.Name)
			}
			text += " " + a.Key + "=" + a.Value.String()
		}
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("exported span holds %q: %s", s, text)
			}
		}
	}
	if len(exported) < 20 {
		t.Errorf("the collector got %d spans, want the spans of 4 events", len(exported))
	}
	var lines, withTrace int
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Errorf("log line is not JSON: %s", sc.Bytes())
			continue
		}
		lines++
		if id, ok := rec["trace_id"].(string); ok && rec["event_id"] != nil {
			withTrace++
			if !traceIDs[id] {
				t.Errorf("log line's trace %s was not exported: %s", id, sc.Bytes())
			}
		}
	}
	if lines < 10 || withTrace == 0 || !strings.Contains(out, `"destination":"audit"`) {
		t.Errorf("%d log lines, %d with event and trace id; want a debug log of the run naming destinations:\n%s", lines, withTrace, out)
	}
}

// collector is a fake OpenTelemetry collector: it accepts OTLP/HTTP protobuf
// trace exports and keeps the spans.
type collector struct {
	*httptest.Server
	mu  sync.Mutex
	got []*tracepb.Span
}

func startCollector(t *testing.T) *collector {
	t.Helper()
	c := &collector{}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		var req coltrace.ExportTraceServiceRequest
		if err == nil {
			err = proto.Unmarshal(body, &req)
		}
		if r.URL.Path != "/v1/traces" || err != nil {
			t.Errorf("collector: %s %s: %v", r.Method, r.URL.Path, err)
			http.Error(w, "bad export", http.StatusBadRequest)
			return
		}
		c.mu.Lock()
		for _, rs := range req.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				c.got = append(c.got, ss.Spans...)
			}
		}
		c.mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
		out, _ := proto.Marshal(&coltrace.ExportTraceServiceResponse{})
		_, _ = w.Write(out)
	}))
	t.Cleanup(c.Close)
	return c
}

func (c *collector) spans() []*tracepb.Span {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*tracepb.Span(nil), c.got...)
}
