// Package dispatch delivers rendered cards from RELAY_OUT to their
// destinations: one worker per destination, each with its own budget (rate
// ladder), circuit breaker, retries and timeouts, so that one destination's
// trouble never delays another's deliveries.
//
// A delivery stays unacknowledged on RELAY_OUT until it was delivered or
// dead-lettered; while it waits (budget, backoff, open breaker) the worker
// tells the queue it is still in progress, so the queue never hands it to a
// second worker and a crash only causes a redelivery.
package dispatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/hookrelay/hookrelay/internal/config"
	"github.com/hookrelay/hookrelay/internal/history"
	"github.com/hookrelay/hookrelay/internal/pause"
	"github.com/hookrelay/hookrelay/internal/queue"
	"github.com/hookrelay/hookrelay/internal/telemetry"
	"github.com/hookrelay/hookrelay/schemas"
)

// Option configures a Dispatcher.
type Option func(*options)

type options struct {
	history *history.Recorder
	tel     *telemetry.Telemetry
}

// WithHistory records every attempt, delivery and dead letter in the events'
// history. Default none; recording never delays a delivery.
func WithHistory(r *history.Recorder) Option {
	return func(o *options) { o.history = r }
}

// Stores are what dispatch keeps its data in: the deliveries, lane by lane,
// the dead letters it files, and the log of its sends that the budgets
// inherit.
type Stores interface {
	queue.Lanes
	queue.DeadLetters
	queue.SendLog
}

// Dispatcher runs one worker per destination.
type Dispatcher struct {
	q       Stores
	logger  *slog.Logger
	opts    options
	guarded *http.Client // refuses private addresses
	open    *http.Client // for destinations with allow_private

	// changing is held by Reconfigure from start to end, and by Run while
	// it starts the workers: one at a time changes which workers run.
	changing sync.Mutex

	mu      sync.Mutex
	workers []*worker // in configuration order
	named   map[string]*worker
	// runCtx is Run's context while it runs: Reconfigure starts workers
	// and drains under it. wg counts them, for Run to wait.
	runCtx context.Context
	wg     sync.WaitGroup
	// draining is the drain of each destination removed, or swept as a
	// stray, by name: a destination added back stops it first.
	draining map[string]drainRun
	// strays are the destinations not configured that deliveries wait for
	// here, by name (see sweepLocked).
	strays map[string]*stray
	// adding are the names Reconfigure configures, while it changes the
	// workers: not swept as strays.
	adding map[string]bool
	// claimed is Run's share of the deliveries, while it runs.
	claimed queue.Claim
	// retired are the trends of removed destinations, by name: their dead
	// letters still count in the overall trend, and a destination added
	// back takes its trend up again.
	retired map[string]*trend
}

// New builds workers for the destinations. It refuses destinations whose URL
// names a non-public address without allow_private.
func New(ctx context.Context, q Stores, dests []config.Destination, logger *slog.Logger, opts ...Option) (*Dispatcher, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	d := &Dispatcher{q: q, logger: logger, opts: o, guarded: newClient(false), open: newClient(true)}
	for _, dest := range dests {
		if err := CheckDestination(ctx, dest.URL, dest.AllowPrivate); err != nil {
			return nil, fmt.Errorf("destination %q: %w (set allow_private: true for an internal receiver)", dest.Name, err)
		}
		d.workers = append(d.workers, newWorker(q, dest, d.client(dest), logger, o, nil))
	}
	d.named = byName(d.workers)
	o.tel.Metrics().WatchBudget(d.budgets)
	return d, nil
}

func (d *Dispatcher) client(dest config.Destination) *http.Client {
	if dest.AllowPrivate {
		return d.open
	}
	return d.guarded
}

// Run dispatches until ctx is cancelled. Requests in flight finish (bounded by
// their timeout) and are acknowledged; deliveries waiting for a retry are
// released to the queue at once.
//
// A destination's worker runs only while it has deliveries: the queue's
// claim announces destinations with deliveries waiting in the partitions
// this instance owns, and a worker with nothing to do for idleAfter ends.
// A configured destination with nothing waiting costs no goroutine, no
// consumer and no request.
func (d *Dispatcher) Run(ctx context.Context) error {
	claim, err := d.claim(ctx)
	if err != nil {
		return nil // ctx was cancelled
	}
	d.changing.Lock()
	d.inheritAll(ctx, time.Now())
	d.mu.Lock()
	d.runCtx = ctx
	d.claimed = claim
	d.wg.Go(func() { d.sampleBacklog(ctx) })
	for _, w := range d.workers {
		d.start(w)
	}
	d.mu.Unlock()
	d.changing.Unlock()
	d.wg.Go(func() {
		for name := range claim.Waiting() {
			d.wake(name)
		}
	})
	<-ctx.Done()
	d.mu.Lock()
	d.runCtx = nil
	d.forgetStraysLocked()
	d.mu.Unlock()
	d.wg.Wait()
	return nil
}

// claim takes part in sharing the deliveries' partitions, retrying until
// it works or ctx ends.
func (d *Dispatcher) claim(ctx context.Context) (queue.Claim, error) {
	for delay := time.Second; ; delay = min(2*delay, time.Minute) {
		claim, err := d.q.Claim(ctx)
		if err == nil {
			return claim, nil
		}
		d.logger.Error("claim a share of the deliveries; retrying", "err", err, "retry_in", delay)
		if !pause.For(ctx, delay) {
			return nil, ctx.Err()
		}
	}
}

// wake runs the worker of destination, which has deliveries waiting.
func (d *Dispatcher) wake(destination string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if w, ok := d.named[destination]; ok {
		w.activate(&d.wg)
		return
	}
	d.sweepLocked(destination)
}

func byName(workers []*worker) map[string]*worker {
	m := make(map[string]*worker, len(workers))
	for _, w := range workers {
		m[w.dest.Name] = w
	}
	return m
}

// idleAfter is how long a worker waits for a delivery before it ends, to
// run again when one arrives.
const idleAfter = 30 * time.Second

// start makes w ready to run until Run's context ends or w.stop is called;
// it runs when its destination has deliveries (wake). Called with d.mu
// held, while Run runs.
func (d *Dispatcher) start(w *worker) {
	ctx, cancel := context.WithCancel(d.runCtx)
	w.act.Lock()
	w.life, w.claim = ctx, d.claimed
	w.act.Unlock()
	w.stop = func() {
		cancel()
		w.act.Lock()
		done := w.done
		w.act.Unlock()
		if done != nil {
			<-done
		}
	}
}

// activate runs w's loop unless it runs already (then it runs once more
// should it be ending) or was stopped.
func (w *worker) activate(wg *sync.WaitGroup) {
	w.act.Lock()
	defer w.act.Unlock()
	if w.life == nil || w.life.Err() != nil {
		return
	}
	if w.running {
		w.again = true
		return
	}
	w.running = true
	w.opts.tel.Metrics().Preset([]string{w.dest.Name})
	done := make(chan struct{})
	w.done = done
	ctx := w.life
	wg.Go(func() {
		defer close(done)
		for {
			_ = w.run(ctx)
			w.act.Lock()
			if w.again && ctx.Err() == nil {
				w.again = false
				w.act.Unlock()
				continue
			}
			w.running = false
			w.act.Unlock()
			return
		}
	})
}

// snapshot returns the workers in configuration order.
func (d *Dispatcher) snapshot() []*worker {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.workers)
}

// worker owns one destination.
type worker struct {
	q      Stores
	dest   config.Destination
	client *http.Client
	logger *slog.Logger
	opts   options
	budget *budget
	brk    *breaker
	// stop ends run and waits for it; set by Dispatcher.start.
	stop func()

	// act guards the worker's activity: life is its context from
	// Dispatcher.start, running and done say whether and until when run
	// runs, and again asks it to run once more.
	act     sync.Mutex
	life    context.Context
	claim   queue.Claim
	running bool
	again   bool
	done    chan struct{}

	// lastMsgAt is when this worker last got a delivery; a long gap means
	// another instance may have owned the destination meanwhile.
	lastMsgAt time.Time
	// budgetAt is when the budget last took in the sent log (Run's read of
	// all of it, or this worker's): the next read reads only what was
	// logged since, and while this instance owns the destination without a
	// break, the budget counts every send.
	budgetAt time.Time
	// unlogged are sends not written to the send log yet (see logSend).
	unlogged []time.Time
	// quietUntil is when the receiver lets us ask again, by its last
	// answer's Retry-After (a step's quiet): it holds every delivery, not
	// only the one answered. Zero: no such wait.
	quietUntil time.Time

	trend *trend // this instance's counts, for the admin page

	mu         sync.Mutex
	lastAnswer *Answer   // the last attempt's answer
	retryAt    time.Time // when the held delivery, which failed, is tried again; zero when none waits

	gone     *atomic.Bool                   // the URL answered as a removed webhook
	consumer atomic.Pointer[queue.Consumer] // set once the consumer runs, for Status
}

// breaker is a destination's circuit breaker and when it last opened; a
// reconfigured destination whose breaker settings stay keeps it.
type breaker struct {
	cb       *gobreaker.CircuitBreaker[outcome]
	mu       sync.Mutex
	openedAt time.Time // when the breaker last opened
	since    time.Time // when the breaker left closed (through its probes), or last closed
}

// newWorker makes the worker of dest. With prev, the worker that ran the
// destination under the previous configuration, what the change leaves
// valid carries over, for the same URL only (a new URL is a new receiver,
// with its own limits and health): the breaker when its settings are the
// same, the budget when rate, burst and limits are, and the "gone" mark.
func newWorker(q Stores, dest config.Destination, client *http.Client, logger *slog.Logger, o options, prev *worker) *worker {
	w := &worker{
		q: q, dest: dest, client: client, opts: o,
		logger: logger.With("destination", dest.Name),
		gone:   new(atomic.Bool),
		trend:  newTrend(),
	}
	if prev != nil {
		// The trend counts by name, as the metrics do, whatever the URL.
		w.trend = prev.trend
	}
	if prev != nil && prev.dest.URL != dest.URL {
		prev = nil
	}
	if prev != nil && prev.dest.Rate == dest.Rate && prev.dest.Burst == dest.Burst && slices.Equal(prev.dest.Limits, dest.Limits) {
		w.budget, w.lastMsgAt, w.budgetAt = prev.budget, prev.lastMsgAt, prev.budgetAt
	} else {
		w.budget = newBudget(dest.Rate, dest.Burst, limitsOf(dest))
	}
	if prev != nil {
		prev.mu.Lock()
		w.gone, w.lastAnswer = prev.gone, prev.lastAnswer
		prev.mu.Unlock()
		// prev has stopped: its run no longer writes this.
		w.quietUntil = prev.quietUntil
	}
	if prev != nil && prev.dest.BreakerFailures == dest.BreakerFailures && prev.dest.BreakerOpenFor == dest.BreakerOpenFor {
		w.brk = prev.brk
		return w
	}
	brk := &breaker{since: time.Now()}
	log := w.logger
	brk.cb = gobreaker.NewCircuitBreaker[outcome](gobreaker.Settings{
		Name:    dest.Name,
		Timeout: dest.BreakerOpenFor,
		ReadyToTrip: func(c gobreaker.Counts) bool {
			return c.ConsecutiveFailures >= uint32(dest.BreakerFailures)
		},
		// Only transient failures say the destination is unwell; a refused
		// card says it is up.
		IsSuccessful: func(err error) bool {
			var f *failure
			return err == nil || (errors.As(err, &f) && f.verdict != retry)
		},
		// A 429 (bare or wrapped) is our own excess: it says nothing of
		// the destination's health either way, and its Retry-After, not
		// breaker_open_for, says when to ask again.
		IsExcluded: func(err error) bool {
			var f *failure
			return errors.As(err, &f) && f.status == http.StatusTooManyRequests
		},
		OnStateChange: func(_ string, from, to gobreaker.State) {
			brk.mu.Lock()
			now := time.Now()
			if to == gobreaker.StateOpen {
				brk.openedAt = now
			}
			// An outage lasts from the first opening to the closing,
			// however many probes fail meanwhile.
			if from == gobreaker.StateClosed || to == gobreaker.StateClosed {
				brk.since = now
			}
			brk.mu.Unlock()
			o.tel.Metrics().BreakerState(dest.Name, breakerGauge(to))
			log.Warn("breaker state changed", "from", from.String(), "to", to.String())
		},
	})
	w.brk = brk
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

func (w *worker) run(ctx context.Context) error {
	cons, err := w.consume(ctx)
	if err != nil {
		return nil // ctx was cancelled
	}
	defer cons.Stop()
	w.consumer.Store(&cons)
	defer w.consumer.Store(nil)
	// held are deliveries this worker holds unacknowledged, in queue order:
	// usually one, more while a backlog is coalesced into digests.
	var held []pending
	failing := 0 // fetches failed in a row
	defer func() {
		for _, p := range held {
			_ = p.msg.Retry(0) // released at once to whoever runs next
		}
	}()
	defer w.flushSends()
	for ctx.Err() == nil {
		if len(held) == 0 {
			// While another instance owns the destination, Next waits for
			// it to stop or die; with nothing to do for idleAfter, the
			// worker ends until the destination has deliveries again.
			// Sends not logged yet are logged after sentLogIdle of it.
			idle := idleAfter
			if len(w.unlogged) > 0 {
				idle = sentLogIdle
			}
			next, cancel := context.WithTimeout(ctx, idle)
			msg, err := cons.Next(next)
			cancel()
			switch {
			case err == nil && ctx.Err() != nil:
				_ = msg.Retry(0)
			case err == nil:
				if p, ok := w.decode(msg); ok {
					held = append(held, p)
				}
			case ctx.Err() != nil:
			case next.Err() != nil && len(w.unlogged) > 0:
				w.flushSends()
				continue
			case next.Err() != nil:
				return nil // idle
			default:
				// Ask again for as long as the worker runs: only ctx ends
				// it. One warning per failing streak, not one a second.
				if failing == 0 {
					w.logger.Warn("fetch delivery; asking again until the queue answers", "err", err)
				}
				w.flushSends()
				failing++
				if !pause.For(ctx, min(time.Second*time.Duration(failing), 10*time.Second)) {
					return nil
				}
				continue
			}
			if failing > 0 {
				w.logger.Info("deliveries flow again", "failed_fetches", failing)
				failing = 0
			}
			continue
		}
		n, card := w.group(ctx, cons, &held)
		switch w.handle(ctx, held[:n], card, held) {
		case groupSettled:
			held = held[n:]
			continue
		case heldHandedBack:
			held = nil
			continue
		}
		if ctx.Err() == nil && !w.owned() {
			// The destination moved to another instance while these waited
			// (a retry, the budget, an open breaker): it sends them now, so
			// this one lets go rather than send beside it.
			w.logger.Info("destination moved to another instance; releasing its held deliveries", "held", len(held))
			w.flushSends() // before the hand-back the next owner waits for
			for _, p := range held {
				_ = p.msg.Retry(0)
			}
			held = nil
		}
	}
	return nil
}

// owned reports whether this instance dispatches the destination now.
func (w *worker) owned() bool {
	if c := w.consumer.Load(); c != nil {
		return (*c).Owned()
	}
	claim := w.currentClaim()
	return claim != nil && claim.Owns(w.dest.Name)
}

// currentClaim is the claim the worker runs under, nil before it runs.
func (w *worker) currentClaim() queue.Claim {
	w.act.Lock()
	defer w.act.Unlock()
	return w.claim
}

// budgetCurrent reports whether the budget counts every send to the
// destination: this instance has owned it without a break since at least a
// gap before the budget last took in the sent log. The gap covers what the
// previous owner logs after handing over (its request in flight, answered
// late, and its sends not logged yet), so no send of another instance can
// be missing. A destination receiving a delivery now and then reads its log
// once or twice after a takeover, not at each delivery.
func (w *worker) budgetCurrent() bool {
	claim := w.currentClaim()
	if claim == nil || w.budgetAt.IsZero() {
		return false
	}
	since := claim.OwnedSince(w.dest.Name)
	return !since.IsZero() && since.Add(w.gap()).Before(w.budgetAt)
}

// pending is a delivery held unacknowledged.
type pending struct {
	msg queue.Delivery
	dl  schemas.Delivery
}

func (w *worker) decode(msg queue.Delivery) (pending, bool) {
	var dl schemas.Delivery
	if err := json.Unmarshal(msg.Msg().Data, &dl); err != nil {
		w.logger.Error("malformed delivery, terminating it", "subject", msg.Msg().Subject, "err", err)
		_ = msg.Drop()
		return pending{}, false
	}
	return pending{msg: msg, dl: dl}, true
}

// group decides what to send next: the first held delivery alone, or — when
// the backlog cannot drain within digest_after at the current budget — a
// digest of the consecutive deliveries from the same source. It returns how
// many held deliveries go, and the card that carries them.
func (w *worker) group(ctx context.Context, cons queue.Consumer, held *[]pending) (int, []byte) {
	first := (*held)[0]
	if !*w.dest.Digest || first.dl.Replays > 0 {
		return 1, first.dl.Card
	}
	backlog := len(*held) + int((*held)[len(*held)-1].msg.Behind())
	if backlog < 2 || !w.budget.exceeds(backlog, time.Now(), w.dest.DigestAfter) {
		return 1, first.dl.Card
	}
	if want := min(backlog, digestMax) - len(*held); want > 0 {
		more, err := cons.More(ctx, want, 200*time.Millisecond)
		if err != nil && ctx.Err() == nil {
			w.logger.Debug("fetch a digest's deliveries", "err", err)
		}
		for _, msg := range more {
			if p, ok := w.decode(msg); ok {
				*held = append(*held, p)
			}
		}
	}
	var cards [][]byte
	for _, p := range (*held)[:digestRun(*held, time.Now())] {
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

// digestRun is how many deliveries from the front of held one digest may
// carry: consecutive ones of the first's source and format, none a replay or
// expired, each a card the digest carries whole. It stops at the first that
// is not; a first that is not goes alone.
func digestRun(held []pending, now time.Time) int {
	first := held[0].dl
	for i, p := range held {
		if p.dl.Source != first.Source || p.dl.Format != first.Format || p.dl.Replays > 0 || now.After(p.dl.NotAfter) ||
			!carried(p.dl.Format, p.dl.Card) {
			return i
		}
	}
	return len(held)
}

// consume opens the destination's lane, retrying until it succeeds or ctx
// is cancelled: one slow or failing destination must not stop the others.
func (w *worker) consume(ctx context.Context) (queue.Consumer, error) {
	lane := queue.LaneOptions{Hold: w.hold()}
	for delay := time.Second; ; delay = min(2*delay, time.Minute) {
		// Not bounded: thousands of destinations may wait their turn at the
		// store, and a queue retries an unreachable store by itself.
		cons, err := w.q.OpenLane(ctx, w.dest.Name, lane)
		if err == nil {
			return cons, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		w.logger.Error("open the destination's lane; retrying", "err", err, "retry_in", delay)
		if !pause.For(ctx, delay) {
			return nil, ctx.Err()
		}
	}
}

// hold is 1 (one delivery in flight, in order) unless digests may need to
// hold a backlog's front.
func (w *worker) hold() int {
	if *w.dest.Digest {
		return digestMax
	}
	return 1
}

// gap exceeds one request by a margin: a worker that got no delivery for
// half of it may have lost the destination to another instance meanwhile,
// and one holding a delivery checks every third of it that it still owns
// the destination.
func (w *worker) gap() time.Duration { return w.dest.Timeout + 5*time.Second }

// attempts tracks one delivery's tries. Only failures while the breaker was
// closed count towards max_attempts: a half-open probe that fails says the
// destination is down, not that this delivery is bad.
type attempts struct {
	tried, counted int
	first, last    time.Time
	lastOutcome    outcome
}

// handled is what handle did with the deliveries the worker held.
type handled int

const (
	groupSettled   handled = iota // the group is delivered or dead-lettered; the rest stay held
	groupKept                     // shutdown, or the destination moved: nothing settled
	heldHandedBack                // a dead letter was refused: every held delivery not settled went back, in order
)

// handle sends group (one delivery, or several as one digest card) until it is
// delivered or dead-lettered, holding every delivery in held meanwhile. On
// shutdown, or when the destination moved to another instance, it leaves the
// group unsettled (groupKept).
func (w *worker) handle(ctx context.Context, group []pending, card []byte, held []pending) handled {
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
	if now := time.Now(); now.Sub(w.lastMsgAt) > w.gap()/2 && !w.budgetCurrent() {
		w.inheritBudget(ctx, now, log)
	}
	w.lastMsgAt = time.Now()
	var at attempts
	for {
		if !w.owned() {
			return groupKept // moved to another instance: run lets go
		}
		now := time.Now()
		st := decide(situation{
			now: now, notAfter: notAfter, gone: w.gone.Load(), replay: dl.Replays > 0,
			breakerWait: w.breakerWait(now), quietWait: max(w.quietUntil.Sub(now), 0), budgetWait: w.budget.wait(now),
			counted: at.counted, maxAttempts: w.dest.MaxAttempts,
		})
		switch st.action {
		case deadLetter:
			if st.reason == schemas.ReasonGone {
				at.lastOutcome.err = errors.New("destination answered as a removed webhook earlier")
			}
			return w.deadLetterGroup(ctx, group, at, st.reason, held, log)
		case hold:
			if !w.wait(ctx, st.wait) {
				return groupKept
			}
			continue
		}
		w.budget.take(now)
		probe := w.brk.cb.State() == gobreaker.StateHalfOpen
		o, err := w.brk.cb.Execute(func() (outcome, error) {
			o := w.attempt(ctx, id, card, at.tried, probe)
			if o.verdict != delivered {
				return o, &failure{o}
			}
			return o, nil
		})
		if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
			continue // the breaker changed under us; the next decision holds the delivery
		}
		answered := time.Now()
		w.budget.settle(answered)
		w.logSend(answered)
		var f *failure
		if errors.As(err, &f) {
			o = f.outcome
		}
		w.answered(answered, o)
		at.tried++
		at.last = time.Now()
		if at.first.IsZero() {
			at.first = at.last
		}
		at.lastOutcome = o
		if o.verdict != delivered {
			// A delivered attempt is the delivered record, with its
			// attempt and status: one history write per delivery, not two.
			for _, p := range group {
				w.record(p.dl, history.KindAttempt, at.tried, o.status, o.describe())
			}
		}
		st = decide(situation{
			now: answered, notAfter: notAfter, answer: &o, probe: probe,
			counted: at.counted, maxAttempts: w.dest.MaxAttempts, backoff: w.backoff,
		})
		at.counted = st.counted
		if until := answered.Add(st.quiet); until.After(w.quietUntil) {
			w.quietUntil = until
		}
		switch st.action {
		case ack:
			w.gone.Store(false)
			if len(group) > 1 {
				w.opts.tel.Metrics().Digest(w.dest.Name, len(group))
			}
			if len(held) == len(group) && group[len(group)-1].msg.Behind() == 0 {
				// Nothing known waits behind: the burst's sends are
				// logged before its last delivery settles, which is
				// what a handover waits for.
				w.flushSends()
			}
			for _, p := range group {
				w.record(p.dl, history.KindDelivered, at.tried, o.status, "")
				if err := p.msg.Ack(context.WithoutCancel(ctx)); err != nil {
					log.Warn("ack delivered card; it may be delivered again", "err", err)
				}
			}
			log.Debug("delivered", "status", o.status, "attempts", at.tried)
			return groupSettled
		case deadLetter:
			if o.verdict == gone {
				w.gone.Store(true)
				log.Error("destination answers as a removed webhook; its deliveries dead-letter until its URL changes", "status", o.status)
			}
			return w.deadLetterGroup(ctx, group, at, st.reason, held, log)
		}
		w.opts.tel.Metrics().Retry(w.dest.Name)
		log.Info("delivery failed, will retry", "status", o.status, "err", o.err, "attempt", at.tried, "retry_in", st.wait)
		w.setRetryAt(time.Now().Add(st.wait))
		waited := w.wait(ctx, st.wait)
		w.setRetryAt(time.Time{})
		if !waited {
			return groupKept
		}
	}
}

// deadLetterGroup dead-letters group, the front of held. When the store
// refuses one, it and every held delivery after it go back to the lane, in
// order, to be tried after MaxBackoff: handed back alone, the refused one
// would be handed out again behind deliveries held after it.
func (w *worker) deadLetterGroup(ctx context.Context, group []pending, at attempts, reason string, held []pending, log *slog.Logger) handled {
	stored := w.deadLetterAll(ctx, group, at, reason, log)
	if stored == len(group) {
		return groupSettled
	}
	for _, p := range held[stored:] {
		_ = p.msg.Retry(w.dest.MaxBackoff)
	}
	return heldHandedBack
}

// setRetryAt says, for Status, when the failed delivery held is tried again.
func (w *worker) setRetryAt(t time.Time) {
	w.mu.Lock()
	w.retryAt = t
	w.mu.Unlock()
}

// backoff is exponential with full jitter in [d/2, d].
func (w *worker) backoff(attempt int) time.Duration {
	d := w.dest.Backoff << min(max(attempt-1, 0), 30)
	if d <= 0 || d > w.dest.MaxBackoff {
		d = w.dest.MaxBackoff
	}
	return d/2 + rand.N(d/2+1)
}

func (w *worker) breakerWait(now time.Time) time.Duration {
	if w.brk.cb.State() != gobreaker.StateOpen {
		return 0
	}
	w.brk.mu.Lock()
	defer w.brk.mu.Unlock()
	return max(w.brk.openedAt.Add(w.dest.BreakerOpenFor).Sub(now), 10*time.Millisecond)
}

// wait holds the deliveries for d. It returns false when ctx was cancelled
// or the destination moved to another instance.
func (w *worker) wait(ctx context.Context, d time.Duration) bool {
	w.flushSends()
	tick := w.gap() / 3
	for d > 0 {
		step := min(d, tick)
		if !pause.For(ctx, step) {
			return false
		}
		d -= step
		if !w.owned() {
			return false
		}
	}
	return true
}

// Check refuses what Reconfigure would refuse of dests: a destination new
// or with a new URL that resolves to a non-public address without
// allow_private. It changes nothing.
func (d *Dispatcher) Check(ctx context.Context, dests []config.Destination) error {
	old := map[string]*worker{}
	for _, w := range d.snapshot() {
		old[w.dest.Name] = w
	}
	for _, dest := range dests {
		if w, ok := old[dest.Name]; ok && w.dest.URL == dest.URL && w.dest.AllowPrivate == dest.AllowPrivate {
			continue
		}
		if err := CheckDestination(ctx, dest.URL, dest.AllowPrivate); err != nil {
			return fmt.Errorf("destination %q: %w (set allow_private: true for an internal receiver)", dest.Name, err)
		}
	}
	return nil
}

// Reconfigure applies a new list of destinations while Run runs (or before):
// a destination added gets a worker; one whose settings are unchanged keeps
// its worker, budget, breaker and backlog; one that changed gets a new worker
// once the old one finished its request in flight (its held deliveries go
// back to the queue, in order), keeping what the change leaves valid (see
// newWorker); one removed stops, and what waits for it is dead-lettered with
// reason "removed", to be replayed once it is back. On error nothing changes.
// Calls are taken one at a time.
func (d *Dispatcher) Reconfigure(ctx context.Context, dests []config.Destination) error {
	d.changing.Lock()
	defer d.changing.Unlock()
	if err := d.Check(ctx, dests); err != nil {
		return err
	}
	old := map[string]*worker{}
	for _, w := range d.snapshot() {
		old[w.dest.Name] = w
	}
	next := make([]*worker, len(dests))
	var stop, removed []*worker // stop: changed or removed
	for i, dest := range dests {
		prev, ok := old[dest.Name]
		delete(old, dest.Name)
		switch {
		case !ok:
			next[i] = newWorker(d.q, dest, d.client(dest), d.logger, d.opts, nil)
			d.mu.Lock()
			if tr, ok := d.retired[dest.Name]; ok {
				next[i].trend = tr
				delete(d.retired, dest.Name)
			}
			d.mu.Unlock()
			d.logger.Info("destination added", "destination", dest.Name)
		case reflect.DeepEqual(prev.dest, dest):
			next[i] = prev
		default:
			// Its replacement is made once it has stopped, from what it
			// left.
			stop = append(stop, prev)
			d.logger.Info("destination changed", "destination", dest.Name)
		}
	}
	for _, w := range old {
		stop = append(stop, w)
		removed = append(removed, w)
	}
	// The old workers and drains stop first, so that two never run one
	// destination.
	d.mu.Lock()
	stops := make([]func(), 0, len(stop))
	for _, w := range stop {
		if w.stop != nil {
			stops = append(stops, w.stop)
		}
	}
	d.adding = map[string]bool{}
	for _, dest := range dests {
		if r, ok := d.draining[dest.Name]; ok {
			stops = append(stops, r.stop)
			delete(d.draining, dest.Name)
		}
		d.forgetStraysLocked(dest.Name)
		d.adding[dest.Name] = true
	}
	d.mu.Unlock()
	for _, s := range stops {
		s()
	}
	changed := map[string]*worker{}
	for _, w := range stop {
		changed[w.dest.Name] = w
	}
	for i, dest := range dests {
		if next[i] == nil {
			next[i] = newWorker(d.q, dest, d.client(dest), d.logger, d.opts, changed[dest.Name])
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.workers, d.named, d.adding = next, byName(next), nil
	if d.runCtx == nil {
		return nil // Run starts them
	}
	for _, w := range next {
		if w.stop == nil {
			// Added or changed: it looks for deliveries once, as the
			// claim may have announced some before it was configured.
			d.start(w)
			w.activate(&d.wg)
		}
	}
	for _, w := range removed {
		if d.retired == nil {
			d.retired = map[string]*trend{}
		}
		d.retired[w.dest.Name] = w.trend
		d.logger.Warn("destination removed: its waiting deliveries are dead-lettered with reason removed; "+
			"replay them once it is configured again", "destination", w.dest.Name)
		d.drainLocked(w, func(ctx context.Context) { w.drain(ctx, false) })
	}
	return nil
}
