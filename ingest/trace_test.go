package ingest_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/hookrelay/hookrelay/ingest"
	"github.com/hookrelay/hookrelay/internal/config"
	"github.com/hookrelay/hookrelay/internal/storetest"
	"github.com/hookrelay/hookrelay/internal/telemetry"
)

// TestTraceContextPassedOn: the vendor's trace context reaches the stored
// event, wired as serve wires ingest with no exporter configured (then
// HTTPHandler adds no span, and ingest reads the headers itself), and
// without telemetry at all (the traceparent only, as it came).
func TestTraceContextPassedOn(t *testing.T) {
	t.Parallel()
	const (
		traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
		tracestate  = "vendor=abc"
		baggage     = "tenant=acme"
	)
	tel, shutdown, err := telemetry.Setup(context.Background(), "test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = shutdown(context.Background()) })
	if tel.Tracing() {
		t.Fatal("an exporter is configured in the environment; this test is about none")
	}
	for _, tc := range []struct {
		name string
		tel  *telemetry.Telemetry
		want map[string]string
	}{
		{"telemetry without exporter", tel, map[string]string{"traceparent": traceparent, "tracestate": tracestate, "baggage": baggage}},
		{"no telemetry", nil, map[string]string{"traceparent": traceparent}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, open storetest.Opener) {
				q := open(t)
				cfg, err := config.Parse([]byte("sources:\n  - {name: alpha, verify: {scheme: token, secret: s3cret}}\n"))
				if err != nil {
					t.Fatal(err)
				}
				h, err := ingest.New(cfg, q, slog.New(slog.DiscardHandler), ingest.WithTelemetry(tc.tel))
				if err != nil {
					t.Fatal(err)
				}
				var handler http.Handler = h
				if tc.tel != nil {
					handler = tc.tel.HTTPHandler(h)
				}
				srv := httptest.NewServer(handler)
				t.Cleanup(srv.Close)
				got := do(t, "POST", srv.URL+"/hooks/alpha/s3cret",
					map[string]string{"traceparent": traceparent, "tracestate": tracestate, "baggage": baggage},
					bytes.NewReader([]byte(`{}`)))
				if got.status != http.StatusAccepted {
					t.Fatalf("status %d, want 202 (%v)", got.status, got.body)
				}
				m := last(t, q, "alpha")
				for k, want := range tc.want {
					if v := m.Header.Get(k); v != want {
						t.Errorf("stored header %s = %q, want %q (headers %v)", k, v, want, m.Header)
					}
				}
			})
		})
	}
}
