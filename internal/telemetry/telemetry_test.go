package telemetry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus/testutil"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/hookrelay/hookrelay/internal/natstest"
	"github.com/hookrelay/hookrelay/internal/queue"
	"github.com/hookrelay/hookrelay/internal/telemetry"
)

// setupRecorded returns telemetry whose spans land in the returned recorder.
func setupRecorded(t *testing.T) (*telemetry.Telemetry, *tracetest.SpanRecorder) {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tel, shutdown, err := telemetry.Setup(context.Background(), "test", telemetry.WithSpanProcessor(rec))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = shutdown(context.Background()) })
	return tel, rec
}

func TestSetupFromEnvironment(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		tracing bool
		wantErr bool
	}{
		{"nothing set", nil, false, false},
		{"endpoint, http by default", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1"}, true, false},
		{"endpoint over grpc", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, true, false},
		{"traces endpoint", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:1/v1/traces"}, true, false},
		{"exporter otlp", map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, true, false},
		{"exporter none wins", map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1"}, false, false},
		{"sdk disabled", map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1"}, false, false},
		{"unknown exporter", map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, false, true},
		{"unknown protocol", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, k := range []string{"OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT",
				"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"} {
				t.Setenv(k, tt.env[k])
			}
			tel, shutdown, err := telemetry.Setup(context.Background(), "test")
			if tt.wantErr {
				if err == nil {
					t.Fatal("Setup succeeded, want an error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			defer func() { _ = shutdown(ctx) }()
			if tel.Tracing() != tt.tracing {
				t.Errorf("Tracing() = %v, want %v", tel.Tracing(), tt.tracing)
			}
			if tel.Metrics() == nil {
				t.Error("no metrics")
			}
		})
	}
}

const vendorTraceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

func TestTraceContextThroughNATSHeaders(t *testing.T) {
	tel, rec := setupRecorded(t)
	req := httptest.NewRequest(http.MethodPost, "/hooks/zendesk/secret-token", nil)
	req.Header.Set("Traceparent", vendorTraceparent)
	ctx, server := tel.StartIngest(req, "/hooks/{source}/{token}")
	h := nats.Header{}
	_, pub := tel.StartPublish(ctx, queue.InSubject("zendesk"), h)
	pub.End()
	telemetry.EndHTTPServer(server, http.StatusAccepted)
	_, proc := tel.StartProcess(context.Background(), queue.InSubject("zendesk"), h)
	proc.End()

	spans := rec.Ended()
	if len(spans) != 3 {
		t.Fatalf("%d spans, want 3", len(spans))
	}
	byName := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range spans {
		byName[s.Name()] = s
	}
	srv, send, process := byName["POST /hooks/{source}/{token}"], byName["send relay.in.zendesk"], byName["process relay.in.zendesk"]
	if srv == nil || send == nil || process == nil {
		t.Fatalf("spans %v", byName)
	}
	if got := srv.Parent().SpanID().String(); got != "b7ad6b7169203331" || !srv.Parent().IsRemote() {
		t.Errorf("server span parent = %s, want the vendor's span", got)
	}
	if send.Parent().SpanID() != srv.SpanContext().SpanID() {
		t.Error("publish span is not a child of the server span")
	}
	if process.Parent().SpanID() != send.SpanContext().SpanID() || process.SpanContext().TraceID() != srv.SpanContext().TraceID() {
		t.Error("process span does not continue the publish span's trace")
	}
	for _, a := range srv.Attributes() {
		if strings.Contains(a.Value.String(), "secret-token") {
			t.Errorf("server span attribute %s holds the path's token", a.Key)
		}
	}
}

func TestNilTelemetryPassesTraceContextThrough(t *testing.T) {
	var tel *telemetry.Telemetry
	req := httptest.NewRequest(http.MethodPost, "/hooks/x", nil)
	req.Header.Set("Traceparent", vendorTraceparent)
	ctx, span := tel.StartIngest(req, "/hooks/{source}")
	h := nats.Header{}
	_, pub := tel.StartPublish(ctx, "relay.in.x", h)
	pub.End()
	telemetry.EndHTTPServer(span, 202)
	if got := h.Get("traceparent"); got != vendorTraceparent {
		t.Errorf("traceparent = %q, want the vendor's %q", got, vendorTraceparent)
	}
	tel.Metrics().Delivery("d", telemetry.OutcomeDelivered) // must not panic
}

func TestDeliveryAttemptSpanHasNoURL(t *testing.T) {
	tel, rec := setupRecorded(t)
	const secretURL = "https://example.webhook.office.com/webhookb2/abc@def/IncomingWebhook/0123456789/xyz?sig=s3cr3t-sig"
	_, span := tel.StartDeliveryAttempt(context.Background(), "ops", secretURL, 3, "closed")
	telemetry.EndDeliveryAttempt(span, 503, telemetry.OutcomeFailed, nil)
	s := rec.Ended()[0]
	attrs := map[string]string{}
	for _, a := range s.Attributes() {
		attrs[string(a.Key)] = a.Value.String()
		for _, part := range []string{"s3cr3t-sig", "webhookb2", "IncomingWebhook"} {
			if strings.Contains(a.Value.String(), part) {
				t.Errorf("attribute %s = %q holds part of the URL", a.Key, a.Value.String())
			}
		}
	}
	want := map[string]string{
		"server.address": "example.webhook.office.com", "server.port": "443", "http.request.method": "POST",
		"http.response.status_code": "503", "http.request.resend_count": "2", "hookrelay.destination": "ops",
		"hookrelay.breaker.state": "closed", "hookrelay.outcome": "failed",
	}
	for k, v := range want {
		if attrs[k] != v {
			t.Errorf("%s = %q, want %q", k, attrs[k], v)
		}
	}
	if _, ok := attrs["url.full"]; ok {
		t.Error("url.full is recorded")
	}
	if s.SpanKind() != trace.SpanKindClient || s.Status().Code.String() != "Error" {
		t.Errorf("kind %v status %v, want a failed client span", s.SpanKind(), s.Status())
	}
}

func TestRedact(t *testing.T) {
	const (
		secret = "zendesk-signing-secret"
		hook   = "https://example.logic.azure.com/workflows/abcdef0123/triggers/manual/paths/invoke?sig=QWERTYsig12345&api-version=1"
	)
	secrets := append([]string{secret, ""}, telemetry.URLSecrets(hook)...)
	type wrapped struct{ URL string }
	tests := []struct {
		name string
		log  func(*slog.Logger)
	}{
		{"message", func(l *slog.Logger) { l.Info("posting to " + hook) }},
		{"string attr", func(l *slog.Logger) { l.Info("m", "url", hook) }},
		{"secret attr", func(l *slog.Logger) { l.Info("m", "secret", secret) }},
		{"error", func(l *slog.Logger) { l.Error("m", "err", errors.New(`Post "`+hook+`": dial tcp: refused`)) }},
		{"group", func(l *slog.Logger) { l.Info("m", slog.Group("dest", "url", hook, "n", 1)) }},
		{"with attrs", func(l *slog.Logger) { l.With("secret", secret).Info("m") }},
		{"with group", func(l *slog.Logger) { l.WithGroup("g").Info("m", "url", hook) }},
		{"struct", func(l *slog.Logger) { l.Info("m", "v", wrapped{hook}) }},
		{"query value alone", func(l *slog.Logger) { l.Info("m", "sig", "QWERTYsig12345") }},
		{"path alone", func(l *slog.Logger) { l.Info("m", "path", "/workflows/abcdef0123/triggers/manual/paths/invoke") }},
		{"escaped", func(l *slog.Logger) { l.Info("m", "next", "/login?next="+urlEscape(hook)) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			tt.log(slog.New(telemetry.Redact(slog.NewJSONHandler(&buf, nil), secrets)))
			out := buf.String()
			if !json.Valid(bytes.TrimSpace(buf.Bytes())) {
				t.Fatalf("not JSON: %s", out)
			}
			for _, s := range []string{secret, "QWERTYsig12345", "abcdef0123", hook} {
				if strings.Contains(out, s) {
					t.Errorf("log holds %q: %s", s, out)
				}
			}
			if !strings.Contains(out, telemetry.Redacted) {
				t.Errorf("log does not say what was redacted: %s", out)
			}
		})
	}

	t.Run("ordinary values kept, trace id added", func(t *testing.T) {
		tel, _ := setupRecorded(t)
		ctx, span := tel.Tracer().Start(context.Background(), "x")
		defer span.End()
		var buf bytes.Buffer
		slog.New(telemetry.Redact(slog.NewJSONHandler(&buf, nil), secrets)).InfoContext(ctx, "delivered",
			"destination", "ops", "status", 202, "took", time.Second)
		var rec map[string]any
		if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
			t.Fatal(err)
		}
		if rec["destination"] != "ops" || rec["status"] != float64(202) || rec["trace_id"] != span.SpanContext().TraceID().String() {
			t.Errorf("record = %v", rec)
		}
	})
}

func urlEscape(s string) string {
	r := strings.NewReplacer(":", "%3A", "/", "%2F", "?", "%3F", "=", "%3D", "&", "%26")
	return r.Replace(s)
}

func TestMetricsFamilies(t *testing.T) {
	env := natstest.Start(t)
	m := telemetry.NewMetrics()
	m.WatchBacklog(telemetry.QueueBacklog(queue.Over(env.Queue(t)), []string{"ops", "idle"}))
	for range 3 {
		if _, err := env.JS.Publish(context.Background(), queue.OutSubject("ops"), []byte("{}")); err != nil {
			t.Fatal(err)
		}
	}
	m.IngestRequest("", 404)
	m.IngestRequest("zendesk", 202)
	m.PublishLatency(queue.StreamIn, time.Millisecond)
	m.TransformEvent("zendesk", "routed")
	m.Delivery("ops", telemetry.OutcomeDelivered)
	m.DeliveryLatency("ops", 20*time.Millisecond)
	m.Retry("ops")
	m.BreakerState("ops", telemetry.BreakerOpen)
	m.WatchBudget(func() []telemetry.Budget { return []telemetry.Budget{{Destination: "ops", Window: "1s", Left: 3}} })
	m.Digest("ops", 5)
	m.DeadLetter("ops", "exhausted")
	m.Replay("ops")
	m.RouteFiltered("zendesk", "zendesk-1")
	m.BuildInfo("v1.2.3", "abc123", "go1.26")
	m.ConfigLoaded(true, false, time.Unix(1700000000, 0))
	m.ConfigLoaded(false, true, time.Unix(1700000100, 0))
	m.StageRunning("transform", true)
	m.WatchStageBacklog("transform", func(context.Context) (queue.Waiting, error) {
		return queue.Waiting{Count: 7, Oldest: time.Now().Add(-time.Minute)}, nil
	})

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	body := rec.Body.String()
	for _, f := range telemetry.Families() {
		if !strings.Contains(body, "# TYPE "+f+" ") {
			t.Errorf("/metrics lacks %s", f)
		}
	}
	for _, want := range []string{
		`hookrelay_ingest_requests_total{code="404",source="unknown"} 1`,
		`hookrelay_backlog_messages{destination="ops"} 3`,
		`hookrelay_backlog_messages{destination="idle"} 0`,
		`hookrelay_budget_left{destination="ops",window="1s"} 3`,
		`hookrelay_digest_events_total{destination="ops"} 5`,
		`hookrelay_breaker_state{destination="ops"} 2`,
		`hookrelay_route_filtered_total{route="zendesk-1",source="zendesk"} 1`,
		`hookrelay_build_info{goversion="go1.26",revision="abc123",version="v1.2.3"} 1`,
		`hookrelay_config_last_reload_successful 0`,
		`hookrelay_config_last_reload_success_timestamp_seconds 1.7e+09`,
		`hookrelay_config_reloads_total{result="failure"} 1`,
		`hookrelay_config_reloads_total{result="success"} 0`,
		`hookrelay_stage_running{stage="transform"} 1`,
		`hookrelay_stage_backlog_messages{stage="transform"} 7`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if n, err := testutil.GatherAndCount(m.Registry(), telemetry.MetricBacklogAge); err != nil || n != 2 {
		t.Errorf("backlog age series = %d, %v; want 2", n, err)
	}
}
