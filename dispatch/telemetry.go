package dispatch

import (
	"context"
	"time"

	"github.com/sony/gobreaker/v2"
	"go.opentelemetry.io/otel/trace"

	"github.com/hookrelay/hookrelay/internal/queue"
	"github.com/hookrelay/hookrelay/internal/telemetry"
)

// WithTelemetry traces each delivery (a consumer span continuing the event's
// trace from the message's traceparent, a client span per HTTP attempt with
// its status, attempt number and breaker state, a producer span per dead
// letter) and records delivery, retry, breaker, budget, digest and dead-letter
// metrics. Spans and metrics name the destination, never its URL. Default none.
func WithTelemetry(t *telemetry.Telemetry) Option {
	return func(o *options) { o.tel = t }
}

// startHandle starts the span of handling group: a child of the first
// delivery's trace, linked to the others' (a digest carries several events).
func (w *worker) startHandle(ctx context.Context, group []pending) (context.Context, trace.Span) {
	first := group[0]
	ctx, span := w.opts.tel.StartProcess(ctx, first.msg.Msg().Subject, first.msg.Msg().Header,
		telemetry.AttrDestination.String(w.dest.Name), telemetry.AttrDeliveryID.String(first.dl.ID),
		telemetry.AttrEventID.String(first.dl.EventID))
	if span.IsRecording() {
		for _, p := range group[1:] {
			if sc := trace.SpanContextFromContext(w.opts.tel.Extract(context.Background(), p.msg.Msg().Header)); sc.IsValid() {
				span.AddLink(trace.Link{SpanContext: sc})
			}
		}
	}
	return ctx, span
}

// attempt makes one HTTP attempt in a client span and records its outcome.
// tried counts the attempts before this one; probe says the breaker is
// half-open and this attempt decides whether it closes.
func (w *worker) attempt(ctx context.Context, deliveryID string, card []byte, tried int, probe bool) outcome {
	state := gobreaker.StateClosed
	if probe {
		state = gobreaker.StateHalfOpen
	}
	ctx, span := w.opts.tel.StartDeliveryAttempt(ctx, w.dest.Name, w.dest.URL, tried+1, state.String())
	began := time.Now()
	o := w.post(ctx, deliveryID, card)
	w.opts.tel.Metrics().DeliveryLatency(w.dest.Name, time.Since(began))
	outcome := map[verdict]string{delivered: telemetry.OutcomeDelivered, retry: telemetry.OutcomeFailed,
		rejected: telemetry.OutcomeRejected, gone: telemetry.OutcomeGone}[o.verdict]
	w.opts.tel.Metrics().Delivery(w.dest.Name, outcome)
	telemetry.EndDeliveryAttempt(span, o.status, outcome, o.err)
	return o
}

// startDeadLetter starts the producer span of dead-lettering the delivery in
// msg, in that delivery's own trace (a digest's other events have theirs),
// and writes its context into h.
func (w *worker) startDeadLetter(ctx context.Context, msg queue.Delivery, h queue.Header, reason string) (context.Context, trace.Span) {
	own := w.opts.tel.Extract(context.Background(), msg.Msg().Header)
	if sc := trace.SpanContextFromContext(own); sc.IsValid() && sc.TraceID() != trace.SpanContextFromContext(ctx).TraceID() {
		ctx = trace.ContextWithRemoteSpanContext(ctx, sc)
	}
	return w.opts.tel.StartPublish(ctx, queue.DeadSubject(w.dest.Name), h,
		telemetry.AttrDestination.String(w.dest.Name), telemetry.AttrReason.String(reason))
}

// breakerGauge maps a breaker state to the breaker metric's value.
func breakerGauge(s gobreaker.State) int {
	switch s {
	case gobreaker.StateOpen:
		return telemetry.BreakerOpen
	case gobreaker.StateHalfOpen:
		return telemetry.BreakerHalfOpen
	}
	return telemetry.BreakerClosed
}

// budgets reads every destination's budget left, for the budget metric.
func (d *Dispatcher) budgets() []telemetry.Budget {
	now := time.Now()
	var out []telemetry.Budget
	for _, w := range d.snapshot() {
		for _, b := range w.budget.left(now) {
			out = append(out, telemetry.Budget{Destination: w.dest.Name, Window: b.Per, Left: b.Left})
		}
	}
	return out
}
