package telemetry

import (
	"context"
	"net/http"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// HTTPHandler wraps next so that each request runs in a server span (HTTP
// semantic conventions) whose parent is the caller's traceparent, if any.
// The span is named by the ServeMux pattern that matched (e.g. "POST
// /hooks/{source}/{token}"), never the path, which may carry a token.
//
// When no span is recorded (no exporter, no span processor) next is returned
// as it is: a span nobody sees is not worth its cost on every request. A
// handler that passes the caller's trace context on reads it itself
// (WithRequestParent).
func (t *Telemetry) HTTPHandler(next http.Handler) http.Handler {
	if !t.Tracing() {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, span := t.StartIngest(r, "")
		sw := &statusWriter{ResponseWriter: w}
		r = r.WithContext(ctx)
		defer func() {
			route := r.Pattern // set by the ServeMux that served r
			if route == "" {
				route = "unmatched"
			}
			span.SetName(r.Method + " " + route)
			if span.IsRecording() {
				span.SetAttributes(httpRoute(route))
			}
			EndHTTPServer(span, sw.code())
		}()
		next.ServeHTTP(sw, r)
	})
}

// statusWriter remembers the status code written.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) code() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}

// WithRequestParent returns ctx with the trace context of the request
// headers h (traceparent, tracestate, baggage) as its remote parent, unless
// ctx already carries a span (HTTPHandler's) or h carries no trace context.
func (t *Telemetry) WithRequestParent(ctx context.Context, h http.Header) context.Context {
	if (len(h["Traceparent"]) == 0 && len(h["Baggage"]) == 0) || trace.SpanContextFromContext(ctx).IsValid() {
		return ctx
	}
	return t.Propagator().Extract(ctx, propagation.HeaderCarrier(h))
}

// WithRemoteParent returns ctx with traceparent as its remote parent, unless
// ctx already carries a span. It lets code that was handed a bare traceparent
// header continue that trace.
func WithRemoteParent(ctx context.Context, traceparent string) context.Context {
	if traceparent == "" || trace.SpanContextFromContext(ctx).IsValid() {
		return ctx
	}
	return propagation.TraceContext{}.Extract(ctx, propagation.MapCarrier{"traceparent": traceparent})
}
