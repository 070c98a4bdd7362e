package telemetry_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/nats-io/nats.go"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/hookrelay/hookrelay/internal/telemetry"
)

// BenchmarkEventSpans measures the telemetry one event costs in hookrelay's
// code path (server span, three publishes, two consumes, one attempt) with
// tracing off and with every span recorded.
func BenchmarkEventSpans(b *testing.B) {
	for _, bc := range []struct {
		name string
		opts []telemetry.Option
	}{
		{"off", nil},
		{"recorded", []telemetry.Option{telemetry.WithSpanProcessor(sdktrace.NewSimpleSpanProcessor(tracetest.NewNoopExporter()))}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
			b.Setenv("OTEL_TRACES_EXPORTER", "")
			tel, shutdown, err := telemetry.Setup(context.Background(), "bench", bc.opts...)
			if err != nil {
				b.Fatal(err)
			}
			defer func() { _ = shutdown(context.Background()) }()
			req := httptest.NewRequest(http.MethodPost, "/hooks/zendesk", nil)
			req.Header.Set("Traceparent", vendorTraceparent)
			b.ReportAllocs()
			for b.Loop() {
				ctx, srv := tel.StartIngest(req, "/hooks/{source}")
				in := nats.Header{}
				_, pub := tel.StartPublish(ctx, "relay.in.zendesk", in)
				pub.End()
				telemetry.EndHTTPServer(srv, 202)
				ctx, proc := tel.StartProcess(context.Background(), "relay.in.zendesk", in)
				out := nats.Header{}
				_, pub = tel.StartPublish(ctx, "relay.out.ops", out)
				pub.End()
				proc.End()
				ctx, proc = tel.StartProcess(context.Background(), "relay.out.ops", out)
				_, att := tel.StartDeliveryAttempt(ctx, "ops", "https://example.logic.azure.com/x?sig=y", 1, "closed")
				telemetry.EndDeliveryAttempt(att, 202, telemetry.OutcomeDelivered, nil)
				proc.End()
			}
		})
	}
}
