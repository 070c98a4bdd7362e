// Package dispatch delivers rendered cards from RELAY_OUT to their
// destinations: one worker per destination, each with its own budget (rate
// ladder), circuit breaker, retries and timeouts, so that one destination's
// trouble never delays another's deliveries.
//
// A delivery stays unacknowledged on RELAY_OUT until it was delivered or
// dead-lettered; while it waits (budget, backoff, open breaker) the worker
// tells JetStream it is still in progress, so the queue never hands it to a
// second worker and a crash only causes a redelivery.
package dispatch

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/sony/gobreaker/v2"
	"go.opentelemetry.io/otel/propagation"
	"golang.org/x/sync/errgroup"

	"github.com/hookrelay/hookrelay/internal/config"
	"github.com/hookrelay/hookrelay/internal/history"
	"github.com/hookrelay/hookrelay/internal/queue"
	"github.com/hookrelay/hookrelay/internal/telemetry"
	"github.com/hookrelay/hookrelay/schemas"
)

// Option configures a Dispatcher.
type Option func(*options)

type options struct {
	fetchWait time.Duration
	history   *history.Recorder
	tel       *telemetry.Telemetry
}

// WithFetchWait bounds how long an idle worker's pull request waits before it
// is renewed. Default 10s; shutdown does not wait for it.
func WithFetchWait(d time.Duration) Option {
	return func(o *options) { o.fetchWait = d }
}

// WithHistory records every attempt, delivery and dead letter in the events'
// history. Default none; recording never delays a delivery.
func WithHistory(r *history.Recorder) Option {
	return func(o *options) { o.history = r }
}

// Dispatcher runs one worker per destination.
type Dispatcher struct {
	js      jetstream.JetStream
	logger  *slog.Logger
	members *membership
	workers []*worker
}

// ConsumerName is the durable RELAY_OUT consumer of a destination. Every relay
// instance pulls from the same consumer; a pinned priority group lets one
// instance at a time own the destination, so its budget holds in total.
func ConsumerName(destination string) string { return "dispatch-" + destination }

// priorityGroup is the pinned group every instance pulls in.
const priorityGroup = "dispatch"

// New builds workers for the destinations. It refuses destinations whose URL
// names a non-public address without allow_private.
func New(ctx context.Context, js jetstream.JetStream, dests []config.Destination, logger *slog.Logger, opts ...Option) (*Dispatcher, error) {
	o := options{fetchWait: 10 * time.Second}
	for _, opt := range opts {
		opt(&o)
	}
	d := &Dispatcher{js: js, logger: logger, members: newMembership(logger)}
	guarded, open := newClient(false), newClient(true)
	for _, dest := range dests {
		if err := CheckDestination(ctx, dest.URL, dest.AllowPrivate); err != nil {
			return nil, fmt.Errorf("destination %q: %w (set allow_private: true for an internal receiver)", dest.Name, err)
		}
		client := guarded
		if dest.AllowPrivate {
			client = open
		}
		d.workers = append(d.workers, newWorker(js, dest, client, logger, o))
	}
	o.tel.Metrics().WatchBudget(d.budgets)
	return d, nil
}

// Run dispatches until ctx is cancelled. Requests in flight finish (bounded by
// their timeout) and are acknowledged; deliveries waiting for a retry are
// released to the queue at once.
func (d *Dispatcher) Run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return d.members.run(ctx, d.js) })
	for _, w := range d.workers {
		g.Go(func() error { return w.run(ctx, d.members) })
	}
	return g.Wait()
}

// worker owns one destination.
type worker struct {
	js     jetstream.JetStream
	dest   config.Destination
	client *http.Client
	logger *slog.Logger
	opts   options
	budget *budget
	cb     *gobreaker.CircuitBreaker[outcome]

	// lastMsgAt is when this worker last got a delivery; a long gap means
	// another instance may have owned the destination meanwhile.
	lastMsgAt time.Time

	mu       sync.Mutex
	openedAt time.Time // when the breaker last opened
	isGone   bool      // the URL answered as a removed webhook
	owned    bool      // this instance is the one pulling for the destination
}

func newWorker(js jetstream.JetStream, dest config.Destination, client *http.Client, logger *slog.Logger, o options) *worker {
	w := &worker{
		js: js, dest: dest, client: client, opts: o,
		logger: logger.With("destination", dest.Name),
		budget: newBudget(dest.Rate, dest.Burst, limitsOf(dest)),
	}
	w.cb = gobreaker.NewCircuitBreaker[outcome](gobreaker.Settings{
		Name:    dest.Name,
		Timeout: dest.BreakerOpenFor,
		ReadyToTrip: func(c gobreaker.Counts) bool {
			return c.ConsecutiveFailures >= uint32(dest.BreakerFailures)
		},
		// Only transient failures say the destination is unwell; a refused
		// card or a 429 from our own excess say nothing about its health.
		IsSuccessful: func(err error) bool {
			var f *failure
			return err == nil || (errors.As(err, &f) && f.verdict != retry)
		},
		OnStateChange: func(_ string, from, to gobreaker.State) {
			w.mu.Lock()
			if to == gobreaker.StateOpen {
				w.openedAt = time.Now()
			}
			w.mu.Unlock()
			w.opts.tel.Metrics().BreakerState(dest.Name, breakerGauge(to))
			w.logger.Warn("breaker state changed", "from", from.String(), "to", to.String())
		},
	})
	o.tel.Metrics().BreakerState(dest.Name, telemetry.BreakerClosed)
	return w
}

func limitsOf(d config.Destination) []Window {
	out := make([]Window, 0, len(d.Limits))
	for _, l := range d.Limits {
		out = append(out, Window{Per: l.Per, Max: l.Max})
	}
	return out
}

// failure carries a non-delivered outcome through the breaker.
type failure struct{ outcome }

func (f *failure) Error() string {
	if f.err != nil {
		return f.err.Error()
	}
	return fmt.Sprintf("%s: HTTP %d", f.verdict, f.status)
}

func (w *worker) run(ctx context.Context, members *membership) error {
	cons, err := w.consumer(ctx)
	if err != nil {
		return err
	}
	// held are deliveries this worker holds unacknowledged, in queue order:
	// usually one, more while a backlog is coalesced into digests.
	var held []pending
	defer func() {
		for _, p := range held {
			_ = p.msg.Nak() // released at once to whoever runs next
		}
	}()
	for ctx.Err() == nil {
		if len(held) == 0 {
			// Leave a destination another live instance is preferred for; the
			// pin moves to it once this worker stops pulling.
			if mine, changed := members.prefers(w.dest.Name); !mine {
				w.setOwned(false)
				select {
				case <-ctx.Done():
				case <-changed:
				}
				continue
			}
			w.setOwned(true)
			fetchCtx, cancel := context.WithTimeout(ctx, w.opts.fetchWait)
			msg, err := cons.Next(jetstream.FetchContext(fetchCtx), jetstream.FetchPriorityGroup(priorityGroup))
			cancel()
			switch {
			case err == nil:
				if p, ok := w.decode(msg); ok {
					held = append(held, p)
				}
			case ctx.Err() != nil:
			case errors.Is(err, nats.ErrTimeout), errors.Is(err, jetstream.ErrNoMessages), errors.Is(err, context.DeadlineExceeded):
			default:
				w.logger.Warn("fetch delivery", "err", err)
				if !sleep(ctx, time.Second) {
					return nil
				}
			}
			continue
		}
		n, card := w.group(ctx, cons, &held)
		if w.handle(ctx, held[:n], card, held) {
			held = held[n:]
		}
	}
	return nil
}

// pending is a delivery held unacknowledged.
type pending struct {
	msg jetstream.Msg
	dl  schemas.Delivery
}

func (w *worker) decode(msg jetstream.Msg) (pending, bool) {
	var dl schemas.Delivery
	if err := json.Unmarshal(msg.Data(), &dl); err != nil {
		w.logger.Error("malformed delivery, terminating it", "subject", msg.Subject(), "err", err)
		_ = msg.Term()
		return pending{}, false
	}
	return pending{msg: msg, dl: dl}, true
}

// group decides what to send next: the first held delivery alone, or — when
// the backlog cannot drain within digest_after at the current budget — a
// digest of the consecutive deliveries from the same source. It returns how
// many held deliveries go, and the card that carries them.
func (w *worker) group(ctx context.Context, cons jetstream.Consumer, held *[]pending) (int, []byte) {
	first := (*held)[0]
	if !*w.dest.Digest || first.dl.Replays > 0 {
		return 1, first.dl.Card
	}
	backlog := len(*held)
	if meta, err := (*held)[len(*held)-1].msg.Metadata(); err == nil {
		backlog += int(meta.NumPending)
	}
	if backlog < 2 || !w.budget.exceeds(backlog, time.Now(), w.dest.DigestAfter) {
		return 1, first.dl.Card
	}
	if want := min(backlog, digestMax) - len(*held); want > 0 {
		batch, err := cons.Fetch(want, jetstream.FetchMaxWait(200*time.Millisecond), jetstream.FetchPriorityGroup(priorityGroup))
		if err == nil {
			for msg := range batch.Messages() {
				if p, ok := w.decode(msg); ok {
					*held = append(*held, p)
				}
			}
		}
	}
	var cards [][]byte
	now := time.Now()
	for _, p := range *held {
		if p.dl.Source != first.dl.Source || p.dl.Format != first.dl.Format || p.dl.Replays > 0 || now.After(p.dl.NotAfter) {
			break
		}
		cards = append(cards, p.dl.Card)
	}
	card, n, err := buildDigest(first.dl.Format, first.dl.Source, cards)
	if err != nil || n < 2 {
		if err != nil {
			w.logger.Warn("build digest; sending one by one", "err", err)
		}
		return 1, first.dl.Card
	}
	return n, card
}

// consumer creates or updates the destination's durable consumer.
func (w *worker) consumer(ctx context.Context) (jetstream.Consumer, error) {
	cons, err := w.js.CreateOrUpdateConsumer(ctx, queue.StreamOut, jetstream.ConsumerConfig{
		Durable:       ConsumerName(w.dest.Name),
		FilterSubject: queue.OutSubject(w.dest.Name),
		AckPolicy:     jetstream.AckExplicitPolicy,
		// The ack deadline always exceeds one request; longer waits send
		// progress, so a delivery in flight is never handed to a second worker.
		AckWait:        w.ackWait(),
		MaxDeliver:     -1,
		MaxAckPending:  w.maxAckPending(),
		PriorityPolicy: jetstream.PriorityPolicyPinned,
		PriorityGroups: []string{priorityGroup},
		PinnedTTL:      w.ackWait(),
	})
	if err != nil {
		return nil, fmt.Errorf("destination %q: create consumer: %w", w.dest.Name, err)
	}
	return cons, nil
}

// maxAckPending is 1 (one delivery in flight, in order) unless digests may
// need to hold a backlog's front.
func (w *worker) maxAckPending() int {
	if *w.dest.Digest {
		return digestMax
	}
	return 1
}

// ackWait exceeds one request by a margin for the ack itself; it is also how
// long a delivery held by a crashed instance waits to be redone.
func (w *worker) ackWait() time.Duration { return w.dest.Timeout + 5*time.Second }

// attempts tracks one delivery's tries. Only failures while the breaker was
// closed count towards max_attempts: a half-open probe that fails says the
// destination is down, not that this delivery is bad.
type attempts struct {
	tried, counted int
	first, last    time.Time
	lastOutcome    outcome
}

// handle sends group (one delivery, or several as one digest card) until it is
// delivered or dead-lettered, holding every delivery in held meanwhile. On
// shutdown it returns false, leaving the group unsettled.
func (w *worker) handle(ctx context.Context, group []pending, card []byte, held []pending) (settled bool) {
	dl := group[0].dl
	id := dl.ID
	if len(group) > 1 {
		id = fmt.Sprintf("digest.%s.%d", dl.ID, len(group))
	}
	log := w.logger.With("delivery_id", dl.ID, "event_id", dl.EventID)
	if len(group) > 1 {
		log = log.With("digest_of", len(group))
	}
	ctx, span := w.startHandle(ctx, group)
	defer span.End()
	log = telemetry.WithTraceID(ctx, log)
	notAfter := dl.NotAfter
	for _, p := range group[1:] {
		if p.dl.NotAfter.Before(notAfter) {
			notAfter = p.dl.NotAfter
		}
	}
	if now := time.Now(); now.Sub(w.lastMsgAt) > w.ackWait()/2 {
		w.inheritBudget(ctx, now, log)
	}
	w.lastMsgAt = time.Now()
	var at attempts
	for {
		now := time.Now()
		if now.After(notAfter) {
			w.deadLetterAll(ctx, group, at, schemas.ReasonExpired, log)
			return true
		}
		if w.gone() && dl.Replays == 0 {
			// A removed webhook is not asked again for every event; a replay
			// asks once, and its success resumes the destination.
			at.lastOutcome.err = errors.New("destination answered as a removed webhook earlier")
			w.deadLetterAll(ctx, group, at, schemas.ReasonGone, log)
			return true
		}
		if wait := w.breakerWait(now); wait > 0 {
			if !w.wait(ctx, held, wait) {
				return false
			}
			continue
		}
		if wait := w.budget.reserve(now); wait > 0 {
			if !w.wait(ctx, held, wait) {
				return false
			}
			continue
		}
		probe := w.cb.State() == gobreaker.StateHalfOpen
		o, err := w.cb.Execute(func() (outcome, error) {
			o := w.attempt(ctx, id, card, at.tried, probe)
			if o.verdict != delivered {
				return o, &failure{o}
			}
			return o, nil
		})
		if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
			continue // the breaker changed under us; breakerWait parks the delivery
		}
		answered := time.Now()
		w.budget.settle(answered)
		w.logSend(answered, log)
		var f *failure
		if errors.As(err, &f) {
			o = f.outcome
		}
		at.tried++
		at.last = time.Now()
		if at.first.IsZero() {
			at.first = at.last
		}
		at.lastOutcome = o
		for _, p := range group {
			w.record(p.dl, history.KindAttempt, at.tried, o.status, o.describe())
		}
		switch o.verdict {
		case delivered:
			w.setGone(false)
			if len(group) > 1 {
				w.opts.tel.Metrics().Digest(w.dest.Name, len(group))
			}
			for _, p := range group {
				w.record(p.dl, history.KindDelivered, at.tried, o.status, "")
				if err := p.msg.DoubleAck(context.WithoutCancel(ctx)); err != nil {
					log.Warn("ack delivered card; it may be delivered again", "err", err)
				}
			}
			log.Debug("delivered", "status", o.status, "attempts", at.tried)
			return true
		case gone:
			w.setGone(true)
			log.Error("destination answers as a removed webhook; its deliveries dead-letter until its URL changes", "status", o.status)
			w.deadLetterAll(ctx, group, at, schemas.ReasonGone, log)
			return true
		case rejected:
			w.deadLetterAll(ctx, group, at, schemas.ReasonRejected, log)
			return true
		}
		if !probe {
			at.counted++
		}
		if at.counted >= w.dest.MaxAttempts {
			w.deadLetterAll(ctx, group, at, schemas.ReasonExhausted, log)
			return true
		}
		wait := max(w.backoff(at.counted), o.retryAfter)
		if o.status == http.StatusTooManyRequests {
			// Teams' wrapped 429 carries no Retry-After; its shortest window
			// is one second.
			wait = max(wait, time.Second)
		}
		w.opts.tel.Metrics().Retry(w.dest.Name)
		log.Info("delivery failed, will retry", "status", o.status, "err", o.err, "attempt", at.tried, "retry_in", wait)
		if !w.wait(ctx, held, wait) {
			return false
		}
	}
}

// logSend records a send on RELAY_SENT, so whichever instance owns the
// destination next inherits the budget. It does not wait for the store: a
// send lost from the log at a crash costs at most one request of margin.
func (w *worker) logSend(at time.Time, log *slog.Logger) {
	if _, err := w.js.PublishAsync(queue.SentSubject(w.dest.Name), binary.BigEndian.AppendUint64(nil, uint64(at.UnixNano()))); err != nil {
		log.Debug("log send for the budget", "err", err)
	}
}

// inheritBudget reads the sends logged within the widest window, by this or
// another instance, into the budget. It runs when this worker starts handling
// a destination after a gap long enough for another instance to have owned
// it (the pin moves only after PinnedTTL without pulls).
func (w *worker) inheritBudget(ctx context.Context, now time.Time, log *slog.Logger) {
	widest := time.Duration(0)
	for _, l := range w.dest.Limits {
		widest = max(widest, l.Per)
	}
	if widest == 0 && w.dest.Rate <= 0 {
		return
	}
	widest = min(max(widest, time.Second), queue.SentRetention)
	sends, err := readSent(ctx, w.js, w.dest.Name, now.Add(-margin(widest)))
	if err != nil {
		log.Warn("read the destination's sent log; the budget starts from this instance's own sends", "err", err)
		return
	}
	w.budget.merge(now, sends)
}

// readSent returns the logged sends to a destination since start.
func readSent(ctx context.Context, js jetstream.JetStream, destination string, start time.Time) ([]time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	cons, err := js.OrderedConsumer(ctx, queue.StreamSent, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{queue.SentSubject(destination)},
		DeliverPolicy:  jetstream.DeliverByStartTimePolicy, OptStartTime: &start,
	})
	if err != nil {
		return nil, fmt.Errorf("sent log of %q: %w", destination, err)
	}
	var out []time.Time
	for {
		batch, err := cons.FetchNoWait(512)
		if err != nil {
			return nil, fmt.Errorf("sent log of %q: %w", destination, err)
		}
		n, pending := 0, uint64(0)
		for msg := range batch.Messages() {
			n++
			if len(msg.Data()) == 8 {
				out = append(out, time.Unix(0, int64(binary.BigEndian.Uint64(msg.Data()))))
			}
			if meta, err := msg.Metadata(); err == nil {
				pending = meta.NumPending
			}
		}
		if err := batch.Error(); err != nil {
			return nil, fmt.Errorf("sent log of %q: %w", destination, err)
		}
		if n == 0 || pending == 0 {
			return out, nil
		}
	}
}

// post makes one HTTP request. It finishes even when ctx is cancelled (bounded
// by the destination's timeout), so shutdown does not abandon a request Teams
// may already have accepted.
func (w *worker) post(ctx context.Context, deliveryID string, card []byte) outcome {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.dest.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.dest.URL, bytes.NewReader(card))
	if err != nil {
		return outcome{verdict: rejected, err: fmt.Errorf("build request: %w", err)}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Hookrelay-Delivery-Id", deliveryID)
	w.opts.tel.Propagator().Inject(ctx, propagation.HeaderCarrier(req.Header))
	resp, err := w.client.Do(req)
	if err != nil {
		// Connection errors, DNS failures and timeouts are transient, except
		// a destination the guard refuses: that never gets better.
		if errors.Is(err, ErrPrivateAddress) {
			return outcome{verdict: rejected, err: err}
		}
		return outcome{verdict: retry, err: redactURL(err)}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	return classify(resp.StatusCode, resp.Header, body, time.Now())
}

// redactURL drops the URL from an error: destination URLs are credentials.
func redactURL(err error) error {
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) {
		if inner := ue.Unwrap(); inner != nil {
			return fmt.Errorf("post: %w", inner)
		}
	}
	return errors.New("post failed")
}

// backoff is exponential with full jitter in [d/2, d].
func (w *worker) backoff(attempt int) time.Duration {
	d := w.dest.Backoff << min(attempt-1, 30)
	if d <= 0 || d > w.dest.MaxBackoff {
		d = w.dest.MaxBackoff
	}
	return d/2 + rand.N(d/2+1)
}

func (w *worker) breakerWait(now time.Time) time.Duration {
	if w.cb.State() != gobreaker.StateOpen {
		return 0
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return max(w.openedAt.Add(w.dest.BreakerOpenFor).Sub(now), 10*time.Millisecond)
}

func (w *worker) gone() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.isGone
}

func (w *worker) setOwned(v bool) {
	w.mu.Lock()
	w.owned = v
	w.mu.Unlock()
}

func (w *worker) isOwned() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.owned
}

func (w *worker) setGone(v bool) {
	w.mu.Lock()
	w.isGone = v
	w.mu.Unlock()
}

// wait holds a delivery for d, telling JetStream it is still in progress. It
// returns false when ctx was cancelled.
func (w *worker) wait(ctx context.Context, held []pending, d time.Duration) bool {
	tick := w.ackWait() / 3
	for d > 0 {
		step := min(d, tick)
		if !sleep(ctx, step) {
			return false
		}
		d -= step
		if d > 0 {
			for _, p := range held {
				_ = p.msg.InProgress()
			}
		}
	}
	return true
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// deadLetterAll dead-letters every delivery of a group on its own, so a
// failed digest lists each original event.
func (w *worker) deadLetterAll(ctx context.Context, group []pending, at attempts, reason string, log *slog.Logger) {
	if len(group) == 1 {
		w.deadLetter(ctx, group[0].msg, group[0].dl, at, reason, log)
		return
	}
	for _, p := range group {
		w.deadLetter(ctx, p.msg, p.dl, at, reason, w.logger.With("delivery_id", p.dl.ID, "event_id", p.dl.EventID))
	}
}

// deadLetter stores the delivery on RELAY_DEAD, then acks it on RELAY_OUT. If
// the store refuses, the delivery stays on RELAY_OUT and is tried again later.
func (w *worker) deadLetter(ctx context.Context, msg jetstream.Msg, dl schemas.Delivery, at attempts, reason string, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	dead := schemas.DeadLetter{
		Delivery: dl, Reason: reason, Attempts: at.tried,
		LastStatus: at.lastOutcome.status, ResponseExcerpt: at.lastOutcome.excerpt,
		FirstAttempt: at.first, LastAttempt: at.last, DeadAt: time.Now().UTC(),
	}
	if at.lastOutcome.err != nil {
		dead.LastError = at.lastOutcome.err.Error()
	}
	data, err := json.Marshal(dead)
	if err != nil {
		log.Error("encode dead letter", "err", err)
		return
	}
	m := nats.NewMsg(queue.DeadSubject(dl.Destination))
	m.Data = data
	m.Header.Set(queue.HeaderDeliveryID, dl.ID)
	m.Header.Set(queue.HeaderEventID, dl.EventID)
	m.Header.Set(queue.HeaderReason, reason)
	_, span := w.startDeadLetter(ctx, msg, m.Header, reason)
	began := time.Now()
	_, err = w.js.PublishMsg(ctx, m, jetstream.WithMsgID("dead."+dl.ID+"."+strconv.Itoa(dl.Replays)))
	telemetry.EndSpan(span, err)
	if err != nil {
		log.Error("store dead letter; the delivery stays queued", "reason", reason, "err", err)
		_ = msg.NakWithDelay(w.dest.MaxBackoff)
		return
	}
	w.opts.tel.Metrics().PublishLatency(queue.StreamDead, time.Since(began))
	w.opts.tel.Metrics().DeadLetter(dl.Destination, reason)
	detail := reason
	if dead.LastError != "" {
		detail += ": " + dead.LastError
	}
	w.record(dl, history.KindDeadLettered, at.tried, at.lastOutcome.status, detail)
	if err := msg.DoubleAck(ctx); err != nil {
		log.Warn("ack dead-lettered delivery", "err", err)
	}
	log.Warn("dead-lettered", "reason", reason, "status", at.lastOutcome.status, "attempts", at.tried)
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
