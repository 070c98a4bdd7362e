// Package telemetry gives hookrelay its traces, metrics and logs: an
// OpenTelemetry tracer configured by the standard OTEL_* environment
// variables, W3C trace context carried in NATS headers, Prometheus metrics
// served at /metrics, and a slog handler that redacts secrets.
//
// A nil *Telemetry is valid: it traces nothing, records no metrics, and still
// passes a caller's W3C trace context through, so stages built without
// telemetry behave exactly as with tracing switched off.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// instrumentation names hookrelay's tracer.
const instrumentation = "github.com/hookrelay/hookrelay"

// Telemetry is hookrelay's tracer, propagator and metrics. Create it with Setup.
type Telemetry struct {
	tracer     trace.Tracer
	tracing    bool
	propagator propagation.TextMapPropagator
	metrics    *Metrics
}

// Option configures Setup.
type Option func(*settings)

type settings struct {
	processors []sdktrace.SpanProcessor
	metrics    *Metrics
}

// WithSpanProcessor sends spans to sp in addition to any exporter the
// environment configures, and turns tracing on even when it configures none.
// Tests pass the SDK's in-memory span recorder.
func WithSpanProcessor(sp sdktrace.SpanProcessor) Option {
	return func(s *settings) { s.processors = append(s.processors, sp) }
}

// WithMetrics uses m instead of new instruments, e.g. to share one registry
// between several Telemetry values in a test.
func WithMetrics(m *Metrics) Option {
	return func(s *settings) { s.metrics = m }
}

// Setup builds telemetry for serviceName. Traces are exported over OTLP when
// the environment asks for it, as the OpenTelemetry specification defines:
//
//   - OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none: no tracing.
//   - OTEL_TRACES_EXPORTER=otlp, or an OTEL_EXPORTER_OTLP_ENDPOINT or
//     OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: OTLP, over gRPC when
//     OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL is "grpc", else HTTP/protobuf.
//   - Otherwise tracing is a no-op that costs nearly nothing, but a caller's
//     traceparent still passes through to the queue.
//
// The exporters read their own settings (headers, TLS, timeouts) and the SDK
// its sampler (OTEL_TRACES_SAMPLER) and batching (OTEL_BSP_*);
// OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES name the resource. shutdown
// flushes spans still buffered.
func Setup(ctx context.Context, serviceName string, opts ...Option) (t *Telemetry, shutdown func(context.Context) error, err error) {
	var s settings
	for _, o := range opts {
		o(&s)
	}
	t = &Telemetry{
		propagator: propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
		metrics:    s.metrics,
		tracer:     noop.NewTracerProvider().Tracer(instrumentation),
	}
	if t.metrics == nil {
		t.metrics = NewMetrics()
	}
	exp, err := exporterFromEnv(ctx)
	if err != nil {
		return nil, nil, err
	}
	if exp == nil && len(s.processors) == 0 {
		return t, func(context.Context) error { return nil }, nil
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(semconv.ServiceName(serviceName)),
		resource.WithTelemetrySDK(),
		resource.WithFromEnv(), // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win
	)
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, nil, fmt.Errorf("telemetry: resource: %w", err)
	}
	tpOpts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	if exp != nil {
		tpOpts = append(tpOpts, sdktrace.WithBatcher(exp))
	}
	for _, sp := range s.processors {
		tpOpts = append(tpOpts, sdktrace.WithSpanProcessor(sp))
	}
	tp := sdktrace.NewTracerProvider(tpOpts...)
	t.tracer, t.tracing = tp.Tracer(instrumentation), true
	return t, tp.Shutdown, nil
}

// exporterFromEnv returns the span exporter the environment configures, or
// nil for none.
func exporterFromEnv(ctx context.Context) (sdktrace.SpanExporter, error) {
	if strings.EqualFold(strings.TrimSpace(os.Getenv("OTEL_SDK_DISABLED")), "true") {
		return nil, nil
	}
	switch kind := strings.TrimSpace(os.Getenv("OTEL_TRACES_EXPORTER")); kind {
	case "none":
		return nil, nil
	case "":
		if os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" && os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "" {
			return nil, nil
		}
	case "otlp":
	default:
		return nil, fmt.Errorf("telemetry: OTEL_TRACES_EXPORTER=%q is not supported: use otlp or none", kind)
	}
	protocol := os.Getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
	if protocol == "" {
		protocol = os.Getenv("OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	var (
		exp sdktrace.SpanExporter
		err error
	)
	switch protocol {
	case "grpc":
		exp, err = otlptracegrpc.New(ctx)
	case "", "http/protobuf":
		exp, err = otlptracehttp.New(ctx)
	default:
		return nil, fmt.Errorf("telemetry: OTLP protocol %q is not supported: use grpc or http/protobuf", protocol)
	}
	if err != nil {
		return nil, fmt.Errorf("telemetry: OTLP %s trace exporter: %w", protocol, err)
	}
	return exp, nil
}

// Tracing reports whether spans are recorded (an exporter or a span
// processor is configured).
func (t *Telemetry) Tracing() bool { return t != nil && t.tracing }

// Tracer returns hookrelay's tracer; a no-op one for a nil Telemetry.
func (t *Telemetry) Tracer() trace.Tracer {
	if t == nil {
		return noop.NewTracerProvider().Tracer(instrumentation)
	}
	return t.tracer
}

// Metrics returns the instruments; nil (recording nothing) for a nil Telemetry.
func (t *Telemetry) Metrics() *Metrics {
	if t == nil {
		return nil
	}
	return t.metrics
}

// Propagator returns the W3C trace context (and baggage) propagator.
func (t *Telemetry) Propagator() propagation.TextMapPropagator {
	if t == nil {
		return propagation.TraceContext{}
	}
	return t.propagator
}
