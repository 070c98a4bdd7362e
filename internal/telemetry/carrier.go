package telemetry

import (
	"context"

	"go.opentelemetry.io/otel/propagation"
)

// HeaderCarrier carries trace context in message headers (queue.Header,
// nats.Header: both are this map). Their names are case-sensitive; W3C names
// them in lower case ("traceparent").
type HeaderCarrier map[string][]string

var _ propagation.TextMapCarrier = HeaderCarrier(nil)

// Get returns the first value of key.
func (c HeaderCarrier) Get(key string) string {
	if v := c[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// Set replaces the values of key.
func (c HeaderCarrier) Set(key, value string) { c[key] = []string{value} }

// Keys lists the header names.
func (c HeaderCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}

// Inject writes ctx's trace context into h, which must not be nil.
func (t *Telemetry) Inject(ctx context.Context, h map[string][]string) {
	t.Propagator().Inject(ctx, HeaderCarrier(h))
}

// Extract returns ctx with the trace context found in h (if any) as the
// remote parent.
func (t *Telemetry) Extract(ctx context.Context, h map[string][]string) context.Context {
	if h == nil {
		return ctx
	}
	return t.Propagator().Extract(ctx, HeaderCarrier(h))
}
