package telemetry

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// Attributes hookrelay adds to its spans. They name sources and
// destinations, never URLs.
const (
	AttrSource       = attribute.Key("hookrelay.source")
	AttrDestination  = attribute.Key("hookrelay.destination")
	AttrEventID      = attribute.Key("hookrelay.event.id")
	AttrDeliveryID   = attribute.Key("hookrelay.delivery.id")
	AttrRoute        = attribute.Key("hookrelay.route")
	AttrAttempt      = attribute.Key("hookrelay.attempt")
	AttrBreakerState = attribute.Key("hookrelay.breaker.state")
	AttrOutcome      = attribute.Key("hookrelay.outcome")
	AttrReason       = attribute.Key("hookrelay.dead_letter.reason")
	AttrDuplicate    = attribute.Key("hookrelay.duplicate")
)

var natsSystem = semconv.MessagingSystemKey.String("nats")

func httpRoute(route string) attribute.KeyValue { return semconv.HTTPRoute(route) }

// StartIngest starts the server span of a webhook request to route (the
// pattern, e.g. "/hooks/{source}": the path itself may carry a token). A
// traceparent the vendor sent becomes the parent.
func (t *Telemetry) StartIngest(r *http.Request, route string) (context.Context, trace.Span) {
	ctx := t.Propagator().Extract(r.Context(), propagation.HeaderCarrier(r.Header))
	ctx, span := t.Tracer().Start(ctx, r.Method+" "+route, trace.WithSpanKind(trace.SpanKindServer))
	if span.IsRecording() {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		attrs := []attribute.KeyValue{
			semconv.HTTPRequestMethodKey.String(r.Method),
			semconv.URLScheme(scheme),
			semconv.NetworkProtocolVersion(strconv.Itoa(r.ProtoMajor) + "." + strconv.Itoa(r.ProtoMinor)),
		}
		if host, port := splitHostPort(r.Host); host != "" {
			attrs = append(attrs, semconv.ServerAddress(host))
			if port > 0 {
				attrs = append(attrs, semconv.ServerPort(port))
			}
		}
		if route != "" {
			attrs = append(attrs, httpRoute(route))
		}
		if ua := r.UserAgent(); ua != "" {
			attrs = append(attrs, semconv.UserAgentOriginal(ua))
		}
		if host, _ := splitHostPort(r.RemoteAddr); host != "" {
			attrs = append(attrs, semconv.ClientAddress(host))
		}
		span.SetAttributes(attrs...)
	}
	return ctx, span
}

// EndHTTPServer records the answer's status on a server span and ends it; a
// 5xx marks the span as failed (a 4xx is the client's error, not ours).
func EndHTTPServer(span trace.Span, status int) {
	span.SetAttributes(semconv.HTTPResponseStatusCode(status))
	if status >= 500 {
		span.SetStatus(codes.Error, http.StatusText(status))
		span.SetAttributes(semconv.ErrorTypeKey.String(strconv.Itoa(status)))
	}
	span.End()
}

// StartPublish starts the producer span of a message to subject and writes
// its context into h, so whoever consumes the message continues the trace.
func (t *Telemetry) StartPublish(ctx context.Context, subject string, h map[string][]string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	ctx, span := t.Tracer().Start(ctx, "send "+subject, trace.WithSpanKind(trace.SpanKindProducer))
	if span.IsRecording() {
		span.SetAttributes(natsSystem, semconv.MessagingOperationTypeSend, semconv.MessagingOperationName("send"),
			semconv.MessagingDestinationName(subject))
		span.SetAttributes(attrs...)
	}
	t.Inject(ctx, h)
	return ctx, span
}

// StartProcess starts the consumer span of a message read from subject, as a
// child of the trace context in its headers h.
func (t *Telemetry) StartProcess(ctx context.Context, subject string, h map[string][]string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	ctx = t.Extract(ctx, h)
	ctx, span := t.Tracer().Start(ctx, "process "+subject, trace.WithSpanKind(trace.SpanKindConsumer))
	if span.IsRecording() {
		span.SetAttributes(natsSystem, semconv.MessagingOperationTypeProcess, semconv.MessagingOperationName("process"),
			semconv.MessagingDestinationName(subject))
		span.SetAttributes(attrs...)
	}
	return ctx, span
}

// StartReplay starts the span of replaying a dead letter, as a child of the
// trace context the dead letter was stored with (h), so the replayed
// delivery continues the event's trace.
func (t *Telemetry) StartReplay(ctx context.Context, h map[string][]string, destination, deliveryID string) (context.Context, trace.Span) {
	ctx = t.Extract(ctx, h)
	return t.Tracer().Start(ctx, "replay "+destination, trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithAttributes(AttrDestination.String(destination), AttrDeliveryID.String(deliveryID)))
}

// StartDeliveryAttempt starts the client span of one HTTP attempt to a
// destination. attempt counts from 1; breaker is the breaker's state. The
// span names the destination and the server address only: the URL's path and
// query are the webhook's credential, so url.full is never recorded.
func (t *Telemetry) StartDeliveryAttempt(ctx context.Context, destination, rawURL string, attempt int, breaker string) (context.Context, trace.Span) {
	ctx, span := t.Tracer().Start(ctx, "POST "+destination, trace.WithSpanKind(trace.SpanKindClient))
	if span.IsRecording() {
		attrs := []attribute.KeyValue{
			semconv.HTTPRequestMethodPost,
			AttrDestination.String(destination),
			AttrAttempt.Int(attempt),
			AttrBreakerState.String(breaker),
		}
		if attempt > 1 {
			attrs = append(attrs, semconv.HTTPRequestResendCount(attempt-1))
		}
		if u, err := url.Parse(rawURL); err == nil {
			attrs = append(attrs, semconv.ServerAddress(u.Hostname()))
			port, _ := strconv.Atoi(u.Port())
			if port == 0 && u.Scheme == "https" {
				port = 443
			} else if port == 0 && u.Scheme == "http" {
				port = 80
			}
			attrs = append(attrs, semconv.ServerPort(port))
		}
		span.SetAttributes(attrs...)
	}
	return ctx, span
}

// EndDeliveryAttempt records an attempt's answer and ends its span. status is
// 0 when no answer came; outcome is one of the Outcome constants. Anything but
// delivered marks the span as failed.
func EndDeliveryAttempt(span trace.Span, status int, outcome string, err error) {
	if status > 0 {
		span.SetAttributes(semconv.HTTPResponseStatusCode(status))
	}
	span.SetAttributes(AttrOutcome.String(outcome))
	if outcome != OutcomeDelivered {
		desc := outcome
		if err != nil {
			desc = err.Error()
			span.SetAttributes(semconv.ErrorTypeKey.String(outcome))
		} else if status > 0 {
			span.SetAttributes(semconv.ErrorTypeKey.String(strconv.Itoa(status)))
		}
		span.SetStatus(codes.Error, desc)
	}
	span.End()
}

// EndSpan ends span, marking it failed when err is not nil.
func EndSpan(span trace.Span, err error) {
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

func splitHostPort(hostport string) (string, int) {
	host, portStr, err := net.SplitHostPort(hostport)
	if err != nil {
		return hostport, 0
	}
	port, _ := strconv.Atoi(portStr)
	return host, port
}
