package dispatch

import (
	"context"
	"log/slog"
	"time"

	"github.com/hookrelay/hookrelay/deadletter"
	"github.com/hookrelay/hookrelay/internal/history"
	"github.com/hookrelay/hookrelay/internal/queue"
	"github.com/hookrelay/hookrelay/internal/telemetry"
	"github.com/hookrelay/hookrelay/schemas"
)

// deadLetterAll dead-letters every delivery of a group on its own, so a
// failed digest lists each original event, in order, and returns how many
// it stored: it stops at the first the store refuses, which with those
// after it the caller hands back.
func (w *worker) deadLetterAll(ctx context.Context, group []pending, at attempts, reason string, log *slog.Logger) (stored int) {
	for i, p := range group {
		if len(group) > 1 {
			log = w.logger.With("delivery_id", p.dl.ID, "event_id", p.dl.EventID)
		}
		if !w.deadLetter(ctx, p.msg, p.dl, at, reason, log) {
			return i
		}
	}
	return len(group)
}

// deadLetter stores the delivery on RELAY_DEAD, then acks it on RELAY_OUT,
// and reports whether it did. If the store refuses, the delivery stays held
// by the caller, to hand back for a later try.
func (w *worker) deadLetter(ctx context.Context, msg queue.Delivery, dl schemas.Delivery, at attempts, reason string, log *slog.Logger) bool {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	dead := schemas.DeadLetter{
		Delivery: dl, Reason: reason, Attempts: at.tried,
		LastStatus: at.lastOutcome.status, ResponseExcerpt: at.lastOutcome.excerpt,
		FirstAttempt: at.first, LastAttempt: at.last,
	}
	if at.lastOutcome.err != nil {
		dead.LastError = at.lastOutcome.err.Error()
	}
	m, err := deadletter.Msg(dead)
	if err != nil {
		log.Error("encode dead letter", "err", err)
		return false
	}
	_, span := w.startDeadLetter(ctx, msg, m.Header, reason)
	began := time.Now()
	_, err = w.q.PutDeadLetters(ctx, []queue.Msg{m})
	telemetry.EndSpan(span, err)
	if err != nil {
		log.Error("store dead letter; the delivery stays queued", "reason", reason, "err", err, "retry_in", w.dest.MaxBackoff)
		return false
	}
	w.opts.tel.Metrics().PublishLatency(queue.StreamDead, time.Since(began))
	w.opts.tel.Metrics().DeadLetter(dl.Destination, reason)
	w.trend.deadLettered(time.Now(), 1)
	detail := reason
	if dead.LastError != "" {
		detail += ": " + dead.LastError
	}
	w.record(dl, history.KindDeadLettered, at.tried, at.lastOutcome.status, detail)
	if err := msg.Ack(ctx); err != nil {
		log.Warn("ack dead-lettered delivery", "err", err)
	}
	log.Warn("dead-lettered", "reason", reason, "status", at.lastOutcome.status, "attempts", at.tried)
	return true
}

// record adds a step of dl to its event's history.
func (w *worker) record(dl schemas.Delivery, kind history.Kind, attempt, status int, detail string) {
	w.opts.history.Record(history.Record{
		EventID: dl.EventID, Stage: history.StageDispatch, Kind: kind, Route: dl.Route,
		Destination: dl.Destination, DeliveryID: dl.ID, Attempt: attempt, Status: status, Detail: detail,
	})
}

// describe says what an attempt got, for the history: the error, else the
// start of the answer.
func (o outcome) describe() string {
	d := o.verdict.String()
	if o.err != nil {
		return d + ": " + o.err.Error()
	}
	if o.excerpt != "" {
		return d + ": " + o.excerpt
	}
	return d
}
