// Package transform is the stage between RELAY_IN and RELAY_OUT: it routes each
// stored event through the configured routes' jq filters, renders one Teams
// card per destination and stores it as a schemas.Delivery, then acks the event.
//
// Rendering is split in two so that new vendors are data, not code: a Mapping
// turns an event into a format-neutral Summary, and RenderSummary spells any
// Summary in any card format within Teams' size limit.
package transform

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/itchyny/gojq"
	"go.opentelemetry.io/otel/trace"

	"github.com/hookrelay/hookrelay/deadletter"
	"github.com/hookrelay/hookrelay/internal/config"
	"github.com/hookrelay/hookrelay/internal/history"
	"github.com/hookrelay/hookrelay/internal/pause"
	"github.com/hookrelay/hookrelay/internal/queue"
	"github.com/hookrelay/hookrelay/internal/telemetry"
	"github.com/hookrelay/hookrelay/internal/vendors/mapping"
	"github.com/hookrelay/hookrelay/schemas"
)

// FeedName is the feed of events shared by every transform instance, so
// each event is transformed by one of them.
const FeedName = "transform"

// Consumer and processing settings.
const (
	// ackWait exceeds what handling an event takes (filterBudget, its
	// mappings, storeTimeout), so a message being worked on is not
	// redelivered to another instance meanwhile; it is short because it is
	// also how long an event held by a crashed instance waits to be redone.
	ackWait = 15 * time.Second
	// messageTimeout bounds planning an event (routing and mapping it);
	// storing its outputs has storeTimeout of its own.
	messageTimeout = 10 * time.Second
	maxAckPending  = 1000
	// filterTimeout stops a jq filter that loops forever; the event is then
	// retried, and dead-lettered at its filterTries-th delivery, instead of
	// blocking the stage.
	filterTimeout = 2 * time.Second
	filterTries   = 3
	// filterBudget is what all route filters of one event share: each
	// still stops at filterTimeout, but however many of an event's routes
	// have a filter that runs out of time, planning it ends in time for its
	// outputs (their dead letters) to be stored.
	filterBudget = 3 * filterTimeout
	// storeTimeout bounds storing an event's outputs and acking it, with a
	// context of their own rather than what planning left of
	// messageTimeout: a slow plan never leaves its outputs unstored, to
	// be planned again for ever. filterBudget + storeTimeout, and the
	// mappings' time, stay within ackWait.
	storeTimeout  = 4 * time.Second
	maxRetryDelay = 30 * time.Second
)

// traceparentHeader is the W3C trace context header, copied from event to delivery.
const traceparentHeader = "traceparent"

// Transformer is the transform stage. Create it with New and start it with Run.
type Transformer struct {
	events      queue.EventFeed
	deliveries  queue.Deliveries
	deadLetters queue.DeadLetters
	log         *slog.Logger
	// table is the configuration in force; Reconfigure swaps it whole, so
	// an event is planned with one configuration from start to end.
	table atomic.Pointer[table]
	// override, set by WithMapping, is used for every event instead of the
	// configured mappings.
	override Mapping
	workers  int
	stats    counters
	history  *history.Recorder
	tel      *telemetry.Telemetry
}

// table is what a configuration says about routing and rendering.
type table struct {
	routes map[string][]route // by source, in configuration order
	dests  map[string]config.Destination
	// mappings by spec ("auto", "github", "x.jq").
	mappings map[string]Mapping
	// relayHandshakes names the sources whose handshake notices (GitHub's
	// ping) go to their routes like any event.
	relayHandshakes map[string]bool
}

// route is a config.Route with its filter compiled.
type route struct {
	name   string
	expr   string
	filter *gojq.Code // nil: the route takes every event
	to     []string
	// mapping is the spec of the route's mapping: its own or its source's.
	mapping string
}

// Option configures a Transformer.
type Option func(*Transformer)

// WithWorkers sets how many events are transformed concurrently (default 8).
// One worker keeps RELAY_OUT in RELAY_IN's order; more trade order for
// throughput when filters or publishing are slow.
func WithWorkers(n int) Option {
	return func(t *Transformer) {
		if n > 0 {
			t.workers = n
		}
	}
}

// WithMapping maps every event with m, whatever the sources and routes name
// (default: the configured mappings, auto where none is named).
func WithMapping(m Mapping) Option {
	return func(t *Transformer) {
		if m != nil {
			t.override = m
		}
	}
}

// WithHistory records in the events' history which destinations each event
// was routed to, or that no route took it. Default none; recording never
// delays the stage.
func WithHistory(r *history.Recorder) Option {
	return func(t *Transformer) { t.history = r }
}

// WithTelemetry traces each event (a consumer span continuing the trace in
// the event's traceparent, a producer span per delivery or dead letter, whose
// context travels on in the message's traceparent) and counts outcomes, dead
// letters and publish latency. Default none: traceparent is passed on as is.
func WithTelemetry(tel *telemetry.Telemetry) Option {
	return func(t *Transformer) { t.tel = tel }
}

// New prepares the stage: it compiles every route's filter, loads every
// mapping a source or route names (compiling jq mapping files), and checks
// that routes name known destinations. It reads events from events and
// stores deliveries and the dead letters of events it cannot render. A nil
// logger discards logs.
func New(events queue.EventFeed, deliveries queue.Deliveries, deadLetters queue.DeadLetters, cfg *config.Config, logger *slog.Logger, opts ...Option) (*Transformer, error) {
	if events == nil || deliveries == nil || deadLetters == nil || cfg == nil {
		return nil, errors.New("transform: event feed, delivery and dead-letter stores and configuration are required")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	t := &Transformer{
		events: events, deliveries: deliveries, deadLetters: deadLetters,
		log:     logger.With("stage", "transform"),
		workers: 8,
	}
	tab, err := newTable(cfg, nil)
	if err != nil {
		return nil, err
	}
	t.table.Store(tab)
	for _, o := range opts {
		o(t)
	}
	return t, nil
}

// Reconfigure applies cfg's routes, filters, mappings and destinations to
// the events planned from now on; an event being planned finishes with the
// configuration it started with. On error nothing changes. Undo puts back
// the configuration it replaced as it ran, jq files included (they are not
// read again), for a reload that another stage refused.
func (t *Transformer) Reconfigure(cfg *config.Config) (undo func(), err error) {
	prev := t.table.Load()
	tab, err := newTable(cfg, prev)
	if err != nil {
		return nil, err
	}
	t.table.Store(tab)
	return func() { t.table.Store(prev) }, nil
}

// newTable compiles cfg's routes and loads its mappings. Built-in mappings
// of prev are reused; jq files are read again, as they may have changed.
func newTable(cfg *config.Config, prev *table) (*table, error) {
	tab := &table{
		routes:   map[string][]route{},
		dests:    map[string]config.Destination{},
		mappings: map[string]Mapping{},

		relayHandshakes: map[string]bool{},
	}
	for _, s := range cfg.Sources {
		tab.relayHandshakes[s.Name] = s.RelayHandshakes
	}
	for _, d := range cfg.Destinations {
		if d.Format == "" || d.Format == config.FormatAuto {
			d.Format = config.FormatForURL(d.URL)
		}
		if d.MaxAge <= 0 {
			d.MaxAge = config.DefaultMaxAge
		}
		tab.dests[d.Name] = d
	}
	for i, r := range cfg.Routes {
		name := r.Name
		if name == "" {
			name = fmt.Sprintf("%s-%d", r.Source, i+1)
		}
		spec := r.Mapping
		if spec == "" {
			src, _ := cfg.Source(r.Source)
			spec = src.Mapping
		}
		if spec == "" {
			spec = config.MappingAuto
		}
		if _, ok := tab.mappings[spec]; !ok {
			if m, ok := prev.builtin(spec); ok {
				tab.mappings[spec] = m
			} else {
				m, err := LoadMapping(spec)
				if err != nil {
					return nil, fmt.Errorf("transform: route %q: %w", name, err)
				}
				tab.mappings[spec] = m
			}
		}
		rt := route{name: name, expr: r.Filter, to: r.To, mapping: spec}
		if r.Filter != "" {
			code, err := config.CompileFilter(r.Filter)
			if err != nil {
				return nil, fmt.Errorf("transform: route %q: %w", name, err)
			}
			rt.filter = code
		}
		for _, to := range r.To {
			if _, ok := tab.dests[to]; !ok {
				return nil, fmt.Errorf("transform: route %q: unknown destination %q", name, to)
			}
		}
		tab.routes[r.Source] = append(tab.routes[r.Source], rt)
	}
	return tab, nil
}

// builtin returns the table's mapping for a built-in spec; a nil table has none.
func (tab *table) builtin(spec string) (Mapping, bool) {
	if tab == nil || config.IsJQMapping(spec) {
		return nil, false
	}
	m, ok := tab.mappings[spec]
	return m, ok
}

// Run consumes RELAY_IN until ctx is cancelled, then lets the events in flight
// finish and returns nil. Whatever the queue answers meanwhile (a failover,
// a lost heartbeat, a store away) it asks again, backing off: it returns an
// error only when the consumer cannot be created.
func (t *Transformer) Run(ctx context.Context) error {
	cons, err := t.events.FeedEvents(ctx, FeedName, queue.FeedOptions{Redeliver: ackWait, InFlight: maxAckPending})
	if err != nil {
		return fmt.Errorf("transform: feed of events %s: %w", FeedName, err)
	}

	// Events in flight finish even after ctx is cancelled: abandoning them
	// would only delay them by AckWait.
	workCtx := context.WithoutCancel(ctx)
	work := make(chan queue.Delivery)
	var wg sync.WaitGroup
	for range t.workers {
		wg.Go(func() {
			for d := range work {
				t.handle(workCtx, d)
			}
		})
	}
	defer wg.Wait()
	defer close(work)
	// First of the deferred: the events fetched but not started go back to
	// the queue at once, for another instance, not after the workers finish.
	defer cons.Stop()

	// Whatever the queue answers instead of an event (a failover, a lost
	// heartbeat, a store that is away), the stage asks again, backing off,
	// for as long as it runs: only ctx ends it.
	failing := 0
	for {
		d, err := cons.Next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			delay := min(100*time.Millisecond<<min(failing, 8), 10*time.Second)
			if failing == 0 {
				t.log.Warn("transform: next event; asking again until the queue answers",
					"stream", queue.StreamIn, "err", err)
			}
			failing++
			if !pause.For(ctx, delay) {
				return nil
			}
			continue
		}
		if failing > 0 {
			t.log.Info("transform: events flow again", "stream", queue.StreamIn, "failed_pulls", failing)
			failing = 0
		}
		select {
		case work <- d:
		case <-ctx.Done():
			_ = d.Retry(0)
			return nil
		}
	}
}

// output is one message the stage stores for an event: a delivery on
// RELAY_OUT or a dead letter on RELAY_DEAD.
type output struct {
	subject  string
	msgID    string
	reason   string // set for a dead letter
	err      string // why, for a dead letter
	delivery schemas.Delivery
	payload  any // schemas.Delivery or schemas.DeadLetter
}

// handle transforms one event and settles its message: ack when every output
// is stored, retry when storing failed, drop when it can never succeed.
func (t *Transformer) handle(ctx context.Context, d queue.Delivery) {
	ctx, cancel := context.WithTimeout(ctx, messageTimeout)
	defer cancel()
	msg := d.Msg()
	ctx, span := t.tel.StartProcess(ctx, msg.Subject, msg.Header)
	defer span.End()

	ev, err := schemas.DecodeEvent(msg.Header, msg.Data)
	if err != nil {
		t.log.Error("malformed event; terminated, it stays in RELAY_IN for inspection",
			"subject", msg.Subject, "error", err)
		t.stats.malformed.Add(1)
		t.tel.Metrics().TransformEvent("", "malformed")
		if err := d.Drop(); err != nil {
			t.log.Warn("drop malformed event", "subject", msg.Subject, "error", err)
		}
		return
	}
	log := telemetry.WithTraceID(ctx, t.log.With("event_id", ev.ID, "source", ev.Source))
	span.SetAttributes(telemetry.AttrEventID.String(ev.ID), telemetry.AttrSource.String(ev.Source))

	// One configuration from start to end, whatever a reload does meanwhile.
	tab := t.table.Load()
	if ev.Handshake != "" && !tab.relayHandshakes[ev.Source] {
		// Ingest answered the vendor; a channel has nothing to learn.
		log.Debug("handshake not sent", "handshake", ev.Handshake)
		t.stats.handshakes.Add(1)
		t.tel.Metrics().TransformEvent(ev.Source, "handshake")
		t.history.Record(history.Record{EventID: ev.ID, Stage: history.StageTransform, Kind: history.KindFiltered,
			Source: ev.Source, Detail: ev.Handshake + ": a handshake, answered by ingest and sent to no channel (relay_handshakes: true sends it)"})
		t.ack(ctx, log, d)
		return
	}
	planCtx, cancelPlan := context.WithTimeoutCause(ctx, filterBudget,
		fmt.Errorf("the event's route filters used the %v they share", filterBudget))
	outs, filtered, err := t.plan(planCtx, tab, ev, d.Attempt() < filterTries)
	cancelPlan()
	if err != nil {
		// A filter that ran out of time on a busy machine says nothing of
		// the event: it is tried again, and dead-lettered only when its
		// filter runs out of time filterTries times.
		t.retry(log, d, ev.Source, "route filter ran out of time; event will be retried", err)
		return
	}
	for _, r := range filtered {
		log.Debug("route filter did not take the event", "route", r.name, "filter", r.expr)
		t.tel.Metrics().RouteFiltered(ev.Source, r.name)
	}
	if replay := msg.Header.Get(queue.HeaderReplay); replay != "" {
		outs = replayed(outs, replay, msg.Header.Get(queue.HeaderReplayRoutes))
	}
	if len(outs) == 0 {
		log.Debug("event matches no route")
		t.stats.unrouted.Add(1)
		t.tel.Metrics().TransformEvent(ev.Source, "unrouted")
		t.history.Record(history.Record{EventID: ev.ID, Stage: history.StageTransform, Kind: history.KindFiltered,
			Source: ev.Source, Detail: filteredDetail(ev.Source, filtered)})
		t.ack(ctx, log, d)
		return
	}
	// What planning took does not shorten the time to store the outputs.
	ctx, cancelStore := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancelStore()
	if err := t.publish(ctx, msg.Header.Get(traceparentHeader), outs); err != nil {
		t.retry(log, d, ev.Source, "store outputs failed; event will be retried", err)
		return
	}
	for _, o := range outs {
		if o.reason != "" {
			t.stats.deadLetters.Add(1)
			t.tel.Metrics().DeadLetter(o.delivery.Destination, o.reason)
			log.Warn("event dead-lettered", "route", o.delivery.Route, "destination", o.delivery.Destination,
				"reason", o.reason, "error", o.err)
			t.record(o, history.KindDeadLettered, o.reason+": "+o.err)
		} else {
			t.stats.deliveries.Add(1)
			t.record(o, history.KindRouted, "")
		}
	}
	t.tel.Metrics().TransformEvent(ev.Source, "routed")
	t.ack(ctx, log, d)
}

// retry hands the event back, to come again after retryDelay, saying why.
func (t *Transformer) retry(log *slog.Logger, d queue.Delivery, source, why string, err error) {
	delay := retryDelay(d)
	log.Warn(why, "retry_in", delay, "error", err)
	t.stats.retried.Add(1)
	t.tel.Metrics().TransformEvent(source, "retried")
	if err := d.Retry(delay); err != nil {
		log.Warn("hand the event back for a retry", "error", err)
	}
}

// record adds an output to its event's history, at the time the delivery was
// made: dispatch may already be trying it when the record is written.
func (t *Transformer) record(o output, kind history.Kind, detail string) {
	d := o.delivery
	t.history.Record(history.Record{EventID: d.EventID, At: d.CreatedAt, Stage: history.StageTransform, Kind: kind,
		Source: d.Source, Route: d.Route, Destination: d.Destination, DeliveryID: d.ID, Detail: detail})
}

// replayed adapts the outputs of an event replayed from source
// (queue.HeaderReplay): only the routes the replay names, if any, apply, and
// the ids carry the replay's id, so the new deliveries are not dropped as
// duplicates of the first ones.
func replayed(outs []output, replayID, routes string) []output {
	var keep []output
	for _, o := range outs {
		if routes != "" && !slices.Contains(strings.Split(routes, ","), o.delivery.Route) {
			continue
		}
		o.delivery.ID += ".replay-" + replayID
		switch p := o.payload.(type) {
		case schemas.Delivery:
			p.ID = o.delivery.ID
			o.payload, o.msgID = p, p.ID
		case schemas.DeadLetter:
			p.Delivery.ID = o.delivery.ID
			o.payload = p
		}
		keep = append(keep, o)
	}
	return keep
}

func (t *Transformer) ack(ctx context.Context, log *slog.Logger, d queue.Delivery) {
	if err := d.Ack(ctx); err != nil {
		// The event comes back after AckWait; its outputs are deduplicated by id.
		log.Warn("ack event", "error", err)
		return
	}
	t.stats.events.Add(1)
}

// retryDelay backs off exponentially with the event's attempts, up to maxRetryDelay.
func retryDelay(d queue.Delivery) time.Duration {
	n := max(d.Attempt(), 1)
	if n > 6 {
		return maxRetryDelay
	}
	return min(time.Second<<(n-1), maxRetryDelay)
}

// filteredDetail says in the event's history why no route took it: the
// routes whose filter did not match, each with its filter.
func filteredDetail(source string, filtered []route) string {
	if len(filtered) == 0 {
		return fmt.Sprintf("no route took the event: source %q has no route", source)
	}
	parts := make([]string, 0, len(filtered))
	for _, r := range filtered {
		parts = append(parts, fmt.Sprintf("route %q filter %s did not match", r.name, r.expr))
	}
	return "no route took the event: " + strings.Join(parts, "; ")
}

// plan routes ev and renders its outputs. Each destination gets at most one
// output per event: the first route that claims it wins. It also returns the
// routes whose filter did not take the event.
func (t *Transformer) plan(ctx context.Context, tab *table, ev schemas.Event, retryTimeouts bool) (outs []output, filtered []route, err error) {
	var (
		claimed = map[string]bool{}
		input   any
		decoded bool
		// An event is mapped once per mapping and rendered once per mapping
		// and format, however many routes and destinations share them.
		mapped = map[string]mapResult{}
		cards  = map[string][]byte{}
	)
	for _, r := range tab.routes[ev.Source] {
		var pending []string
		for _, to := range r.to {
			if !claimed[to] {
				pending = append(pending, to)
				claimed[to] = true
			}
		}
		if len(pending) == 0 {
			continue
		}
		if r.filter != nil && !decoded {
			input, decoded = filterInput(ev), true
		}
		ok, err := r.matches(ctx, input)
		if err != nil && retryTimeouts && errors.Is(err, context.DeadlineExceeded) {
			return nil, nil, fmt.Errorf("event %s: route %q: filter %s: %w", ev.ID, r.name, r.expr, err)
		}
		if err != nil {
			// The destinations stay claimed: a later, broader route must not
			// deliver what this route might have filtered out.
			for _, to := range pending {
				outs = append(outs, t.deadLetter(ev, r.name, tab.dests[to],
					fmt.Sprintf("event %s: route %q: filter %s: %v", ev.ID, r.name, r.expr, err)))
			}
			continue
		}
		if !ok {
			for _, to := range pending {
				delete(claimed, to)
			}
			filtered = append(filtered, r)
			continue
		}
		res, ok := mapped[r.mapping]
		if !ok {
			res = t.mapEvent(tab, r.mapping, ev)
			mapped[r.mapping] = res
		}
		for _, to := range pending {
			d := tab.dests[to]
			key := r.mapping + "\x00" + d.Format
			card, ok := cards[key]
			err := res.err
			if !ok && err == nil {
				if card, err = RenderSummary(res.summary, d.Format); err == nil {
					cards[key] = card
				}
			}
			if err != nil {
				step := "render " + d.Format + " card"
				if res.err != nil {
					step = "map"
				}
				outs = append(outs, t.deadLetter(ev, r.name, d,
					fmt.Sprintf("event %s: route %q: %s: %v", ev.ID, r.name, step, err)))
				continue
			}
			outs = append(outs, t.delivery(ev, r.name, d, card))
		}
	}
	return outs, filtered, nil
}

// mapResult is an event mapped by one mapping.
type mapResult struct {
	summary Summary
	err     error
}

// mapEvent maps ev with the mapping called spec, or WithMapping's.
func (t *Transformer) mapEvent(tab *table, spec string, ev schemas.Event) mapResult {
	m := t.override
	if m == nil {
		m = tab.mappings[spec]
	}
	s, err := m(ev)
	return mapResult{summary: s, err: err}
}

// filterInput is what a route's jq filter (and a jq mapping) sees: the
// event's JSON document decoded, or the body as a string when there is
// none. Numbers are decoded as json.Number, which gojq reads as jq does: an
// integer beyond 2^53 keeps its digits, and one beyond float64 (1e400) does
// not make the whole document a string.
func filterInput(ev schemas.Event) any {
	doc, ok := mapping.JSONDocument(ev)
	if !ok {
		return string(ev.Body)
	}
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return string(ev.Body)
	}
	return v
}

// matches runs the filter; the route applies when its first value is truthy
// (neither false nor null). A filter that yields nothing does not match.
func (r route) matches(ctx context.Context, input any) (bool, error) {
	if r.filter == nil {
		return true, nil
	}
	ctx, cancel := context.WithTimeoutCause(ctx, filterTimeout, fmt.Errorf("stopped after %v", filterTimeout))
	defer cancel()
	v, ok := r.filter.RunWithContext(ctx, input).Next()
	if !ok {
		return false, nil
	}
	if err, isErr := v.(error); isErr {
		if ctx.Err() != nil {
			// Which time ran out: the filter's own or the event's.
			return false, fmt.Errorf("%w (%v)", err, context.Cause(ctx))
		}
		return false, err
	}
	return v != nil && v != false, nil
}

func (t *Transformer) baseDelivery(ev schemas.Event, routeName string, d config.Destination) schemas.Delivery {
	return schemas.Delivery{
		ID:          ev.ID + "." + d.Name,
		EventID:     ev.ID,
		Source:      ev.Source,
		Route:       routeName,
		Destination: d.Name,
		Format:      d.Format,
		CreatedAt:   time.Now().UTC(),
		NotAfter:    ev.ReceivedAt.Add(d.MaxAge),
	}
}

func (t *Transformer) delivery(ev schemas.Event, routeName string, d config.Destination, card []byte) output {
	del := t.baseDelivery(ev, routeName, d)
	del.Card = card
	return output{subject: queue.OutSubject(d.Name), msgID: del.ID, delivery: del, payload: del}
}

func (t *Transformer) deadLetter(ev schemas.Event, routeName string, dest config.Destination, lastErr string) output {
	del := t.baseDelivery(ev, routeName, dest)
	dl := schemas.DeadLetter{Delivery: del, Reason: schemas.ReasonTransform, LastError: lastErr}
	return output{subject: queue.DeadSubject(dest.Name), reason: dl.Reason, err: lastErr, delivery: del, payload: dl}
}

// msg is how o is stored: a dead letter as every stage stores one.
func (o output) msg() (queue.Msg, error) {
	if dl, ok := o.payload.(schemas.DeadLetter); ok {
		return deadletter.Msg(dl)
	}
	data, err := json.Marshal(o.payload)
	if err != nil {
		return queue.Msg{}, fmt.Errorf("encode %s: %w", o.msgID, err)
	}
	m := queue.Msg{Key: o.delivery.Destination, Header: queue.Header{}, Data: data, ID: o.msgID}
	m.Header.Set(queue.HeaderEventID, o.delivery.EventID)
	m.Header.Set(queue.HeaderDeliveryID, o.delivery.ID)
	m.Header.Set(queue.HeaderSource, o.delivery.Source)
	return m, nil
}

// publish stores every output and waits for all acknowledgements. Ids make a
// retry store each output once (within RELAY_OUT's deduplication window).
func (t *Transformer) publish(ctx context.Context, traceparent string, outs []output) (err error) {
	var deliveries, deadLetters []queue.Msg
	spans := make([]trace.Span, 0, len(outs))
	defer func() {
		for _, s := range spans {
			telemetry.EndSpan(s, err)
		}
	}()
	ctx = telemetry.WithRemoteParent(ctx, traceparent)
	for _, o := range outs {
		m, err := o.msg()
		if err != nil {
			return err
		}
		_, span := t.tel.StartPublish(ctx, o.subject, m.Header, telemetry.AttrDeliveryID.String(o.delivery.ID),
			telemetry.AttrDestination.String(o.delivery.Destination), telemetry.AttrRoute.String(o.delivery.Route))
		spans = append(spans, span)
		if o.reason != "" {
			deadLetters = append(deadLetters, m)
		} else {
			deliveries = append(deliveries, m)
		}
	}
	began := time.Now()
	if len(deliveries) > 0 {
		if _, err := t.deliveries.Enqueue(ctx, deliveries); err != nil {
			return fmt.Errorf("store deliveries of event %s: %w", outs[0].delivery.EventID, err)
		}
	}
	if len(deadLetters) > 0 {
		if _, err := t.deadLetters.PutDeadLetters(ctx, deadLetters); err != nil {
			return fmt.Errorf("store dead letters of event %s: %w", outs[0].delivery.EventID, err)
		}
	}
	took := time.Since(began)
	for _, o := range outs {
		stream := queue.StreamOut
		if o.reason != "" {
			stream = queue.StreamDead
		}
		t.tel.Metrics().PublishLatency(stream, took)
	}
	return nil
}

// Stats counts what a Transformer did since it was created.
type Stats struct {
	// Events were settled (acked) after their outputs were stored.
	Events uint64
	// Deliveries were stored on RELAY_OUT.
	Deliveries uint64
	// DeadLetters were stored on RELAY_DEAD (filter or rendering failed).
	DeadLetters uint64
	// Unrouted events matched no route and were acked without output.
	Unrouted uint64
	// Retried events could not be stored, or a route filter ran out of
	// time, and were handed back for a retry.
	Retried uint64
	// Malformed messages were not events and were terminated.
	Malformed uint64
	// Handshakes were vendor handshakes (GitHub's ping), acked without
	// output because their source does not relay them.
	Handshakes uint64
}

type counters struct {
	events, deliveries, deadLetters, unrouted, retried, malformed, handshakes atomic.Uint64
}

// Stats returns the counters so far.
func (t *Transformer) Stats() Stats {
	return Stats{
		Events:      t.stats.events.Load(),
		Deliveries:  t.stats.deliveries.Load(),
		DeadLetters: t.stats.deadLetters.Load(),
		Unrouted:    t.stats.unrouted.Load(),
		Retried:     t.stats.retried.Load(),
		Malformed:   t.stats.malformed.Load(),
		Handshakes:  t.stats.handshakes.Load(),
	}
}
