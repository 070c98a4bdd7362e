package deadletter

import (
	"context"

	"go.opentelemetry.io/otel/trace"

	"github.com/hookrelay/hookrelay/internal/queue"
	"github.com/hookrelay/hookrelay/internal/telemetry"
)

// WithTelemetry traces each replay as a span in the dead-lettered event's
// own trace, whose context the replayed delivery carries on to dispatch, and
// counts replays per destination. Default none.
func WithTelemetry(t *telemetry.Telemetry) Option {
	return func(s *Store) { s.tel = t }
}

// replaySpan starts the span of replaying e, a child of the trace context the
// dead letter was stored with. Reading that context costs a request, made
// only while tracing.
func (s *Store) replaySpan(ctx context.Context, e Entry) (context.Context, trace.Span) {
	var h queue.Header
	if s.tel.Tracing() {
		if m, err := s.dead.DeadLetter(ctx, e.ID); err == nil {
			h = m.Header
		}
	}
	return s.tel.StartReplay(ctx, h, e.Delivery.Destination, e.Delivery.ID)
}
