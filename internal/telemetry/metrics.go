package telemetry

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hookrelay/hookrelay/schemas"
)

// Metric family names as /metrics shows them. docs/OBSERVABILITY.md documents
// each; the Grafana dashboard and the alert rules in deploy/ use only these.
const (
	MetricIngestRequests   = "hookrelay_ingest_requests_total"
	MetricPublishDuration  = "hookrelay_publish_duration_seconds"
	MetricTransformEvents  = "hookrelay_transform_events_total"
	MetricBacklog          = "hookrelay_backlog_messages"
	MetricBacklogAge       = "hookrelay_backlog_age_seconds"
	MetricDeliveries       = "hookrelay_deliveries_total"
	MetricDeliveryDuration = "hookrelay_delivery_duration_seconds"
	MetricRetries          = "hookrelay_delivery_retries_total"
	MetricBreakerState     = "hookrelay_breaker_state"
	MetricBudgetLeft       = "hookrelay_budget_left"
	MetricDigests          = "hookrelay_digests_total"
	MetricDigestEvents     = "hookrelay_digest_events_total"
	MetricDeadLetters      = "hookrelay_dead_letters_total"
	MetricReplays          = "hookrelay_replays_total"
	MetricRouteFiltered    = "hookrelay_route_filtered_total"
	MetricBuildInfo        = "hookrelay_build_info"
	MetricReloadSuccessful = "hookrelay_config_last_reload_successful"
	MetricReloadTimestamp  = "hookrelay_config_last_reload_success_timestamp_seconds"
	MetricReloads          = "hookrelay_config_reloads_total"
	MetricStageRunning     = "hookrelay_stage_running"
	MetricStageBacklog     = "hookrelay_stage_backlog_messages"
	MetricStageBacklogAge  = "hookrelay_stage_backlog_age_seconds"
)

// Families returns every hookrelay metric family name.
func Families() []string {
	return []string{
		MetricIngestRequests, MetricPublishDuration, MetricTransformEvents, MetricBacklog, MetricBacklogAge,
		MetricDeliveries, MetricDeliveryDuration, MetricRetries, MetricBreakerState, MetricBudgetLeft,
		MetricDigests, MetricDigestEvents, MetricDeadLetters, MetricReplays, MetricRouteFiltered,
		MetricBuildInfo, MetricReloadSuccessful, MetricReloadTimestamp, MetricReloads,
		MetricStageRunning, MetricStageBacklog, MetricStageBacklogAge,
	}
}

// Breaker states as MetricBreakerState reports them.
const (
	BreakerClosed   = 0
	BreakerHalfOpen = 1
	BreakerOpen     = 2
)

// Delivery attempt outcomes for Metrics.Delivery.
const (
	OutcomeDelivered = "delivered" // the destination accepted the card
	OutcomeFailed    = "failed"    // transient failure (5xx, 429, timeout): retried later
	OutcomeRejected  = "rejected"  // permanent refusal (4xx, card refused)
	OutcomeGone      = "gone"      // the webhook was removed
)

// unknownLabel stands for a label value the caller could not name (an unknown
// source in a request path), so strangers cannot create series at will.
const unknownLabel = "unknown"

// Metrics holds every hookrelay instrument. Labels carry source and
// destination names, never URLs: a destination URL is a credential.
//
// A nil *Metrics is valid and records nothing, so stages built without
// telemetry need no checks.
type Metrics struct {
	reg              *prometheus.Registry
	ingestRequests   *prometheus.CounterVec
	publishDuration  *prometheus.HistogramVec
	transformEvents  *prometheus.CounterVec
	deliveries       *prometheus.CounterVec
	deliveryDuration *prometheus.HistogramVec
	retries          *prometheus.CounterVec
	breakerState     *prometheus.GaugeVec
	digests          *prometheus.CounterVec
	digestEvents     *prometheus.CounterVec
	deadLetters      *prometheus.CounterVec
	replays          *prometheus.CounterVec
	routeFiltered    *prometheus.CounterVec
	buildInfo        *prometheus.GaugeVec
	reloadOK         prometheus.Gauge
	reloadAt         prometheus.Gauge
	reloads          *prometheus.CounterVec
	backlog          *backlogCollector
	stageRunning     *prometheus.GaugeVec
	stageBacklog     *stageBacklogCollector
	budget           *budgetCollector
}

// NewMetrics creates the instruments on a fresh registry that also holds the
// Go runtime and process collectors.
func NewMetrics() *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	f := func(c prometheus.Collector) { reg.MustRegister(c) }
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
		f(c)
		return c
	}
	gauge := func(name, help string, labels ...string) *prometheus.GaugeVec {
		g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
		f(g)
		return g
	}
	histogram := func(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
		h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels)
		f(h)
		return h
	}
	m := &Metrics{
		reg: reg,
		ingestRequests: counter(MetricIngestRequests,
			"Webhook requests answered by ingest, by source and HTTP status code.", "source", "code"),
		publishDuration: histogram(MetricPublishDuration,
			"Time from publishing a message to the queue's acknowledgement, by stream.",
			[]float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}, "stream"),
		transformEvents: counter(MetricTransformEvents,
			"Events settled by transform, by source and outcome (routed, unrouted, handshake, retried, malformed).", "source", "outcome"),
		deliveries: counter(MetricDeliveries,
			"Delivery attempts, by destination and outcome (delivered, failed, rejected, gone).", "destination", "outcome"),
		deliveryDuration: histogram(MetricDeliveryDuration,
			"Duration of one HTTP delivery attempt, by destination.",
			[]float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 20, 30}, "destination"),
		retries: counter(MetricRetries,
			"Deliveries scheduled for another attempt after a transient failure, by destination.", "destination"),
		breakerState: gauge(MetricBreakerState,
			"Circuit breaker state per destination: 0 closed, 1 half-open, 2 open.", "destination"),
		digests: counter(MetricDigests,
			"Digest cards sent, each coalescing several deliveries, by destination.", "destination"),
		digestEvents: counter(MetricDigestEvents,
			"Deliveries coalesced into digest cards, by destination.", "destination"),
		deadLetters: counter(MetricDeadLetters,
			"Deliveries stored on RELAY_DEAD, by destination and reason.", "destination", "reason"),
		replays: counter(MetricReplays,
			"Dead letters replayed to RELAY_OUT, by destination.", "destination"),
		routeFiltered: counter(MetricRouteFiltered,
			"Events a route's filter did not take, by source and route.", "source", "route"),
		buildInfo: gauge(MetricBuildInfo,
			"Always 1; the labels say which hookrelay runs: version, revision and goversion.",
			"version", "revision", "goversion"),
		reloadOK: prometheus.NewGauge(prometheus.GaugeOpts{Name: MetricReloadSuccessful,
			Help: "Whether the last configuration reload succeeded (1) or was refused (0)."}),
		reloadAt: prometheus.NewGauge(prometheus.GaugeOpts{Name: MetricReloadTimestamp,
			Help: "Unix time of the last configuration load or reload that succeeded."}),
		reloads: counter(MetricReloads,
			"Configuration reloads, by result (success, failure).", "result"),
		backlog: &backlogCollector{
			count: prometheus.NewDesc(MetricBacklog,
				"Deliveries waiting on RELAY_OUT, by destination.", []string{"destination"}, nil),
			age: prometheus.NewDesc(MetricBacklogAge,
				"Age of the oldest delivery waiting on RELAY_OUT, by destination (0 when none waits).", []string{"destination"}, nil),
		},
	}
	m.stageRunning = gauge(MetricStageRunning,
		"1 while a stage runs in this process, 0 once it stopped (the process then exits).", "stage")
	m.stageBacklog = &stageBacklogCollector{
		count: prometheus.NewDesc(MetricStageBacklog,
			"Messages waiting for a stage (transform: events on RELAY_IN not yet settled).", []string{"stage"}, nil),
		age: prometheus.NewDesc(MetricStageBacklogAge,
			"Age of the oldest message waiting for a stage (0 when none waits): growing means the stage is stalled.",
			[]string{"stage"}, nil),
		reads: map[string]WaitingFunc{},
	}
	f(m.stageBacklog)
	m.budget = &budgetCollector{left: prometheus.NewDesc(MetricBudgetLeft,
		"Requests a destination's rate window still allows now, by destination and window.",
		[]string{"destination", "window"}, nil)}
	f(m.reloadOK)
	f(m.reloadAt)
	for _, r := range []string{"success", "failure"} {
		m.reloads.WithLabelValues(r) // at zero from the start, for increase()
	}
	f(m.backlog)
	f(m.budget)
	return m
}

// BuildInfo sets hookrelay_build_info, Prometheus' habit for saying which
// build runs: one series at 1 whose labels carry the version.
func (m *Metrics) BuildInfo(version, revision, goVersion string) {
	if m == nil {
		return
	}
	m.buildInfo.Reset()
	m.buildInfo.WithLabelValues(version, revision, goVersion).Set(1)
}

// ConfigLoaded records a configuration load or reload: ok says whether it
// was applied, and an applied one moves the success timestamp to at. The
// first load at start is not counted as a reload.
func (m *Metrics) ConfigLoaded(ok, reload bool, at time.Time) {
	if m == nil {
		return
	}
	if ok {
		m.reloadOK.Set(1)
		m.reloadAt.Set(float64(at.UnixNano()) / 1e9)
	} else {
		m.reloadOK.Set(0)
	}
	if reload {
		result := "success"
		if !ok {
			result = "failure"
		}
		m.reloads.WithLabelValues(result).Inc()
	}
}

// RouteFiltered counts an event of source that route's filter did not take.
func (m *Metrics) RouteFiltered(source, route string) {
	if m == nil {
		return
	}
	m.routeFiltered.WithLabelValues(source, route).Inc()
}

// Preset creates the series of destinations at zero, so that dashboards and
// alerts see them before their first outcome (increase() over a counter that
// appears at 1 misses that first increment). Dispatch presets a destination
// when it first has deliveries: 15 series for each of 10,000 idle
// destinations would be most of an idle relay's memory.
func (m *Metrics) Preset(destinations []string) {
	if m == nil {
		return
	}
	for _, d := range destinations {
		for _, o := range []string{OutcomeDelivered, OutcomeFailed, OutcomeRejected, OutcomeGone} {
			m.deliveries.WithLabelValues(d, o)
		}
		for _, r := range []string{schemas.ReasonRejected, schemas.ReasonGone, schemas.ReasonExhausted,
			schemas.ReasonExpired, schemas.ReasonTransform, schemas.ReasonRemoved} {
			m.deadLetters.WithLabelValues(d, r)
		}
		m.retries.WithLabelValues(d)
		m.digests.WithLabelValues(d)
		m.digestEvents.WithLabelValues(d)
		m.replays.WithLabelValues(d)
	}
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	if m == nil {
		return http.NotFoundHandler()
	}
	// A collector that fails (the backlog, with the store away) leaves its
	// series out; the rest of the scrape is still served.
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg, ErrorHandling: promhttp.ContinueOnError})
}

// Registry is the registry the instruments live on, for tests and for
// registering further collectors.
func (m *Metrics) Registry() *prometheus.Registry {
	if m == nil {
		return nil
	}
	return m.reg
}

// IngestRequest counts a webhook request answered with code. An empty source
// (the path named no configured source) is counted as "unknown".
func (m *Metrics) IngestRequest(source string, code int) {
	if m == nil {
		return
	}
	if source == "" {
		source = unknownLabel
	}
	m.ingestRequests.WithLabelValues(source, strconv.Itoa(code)).Inc()
}

// IngestCounter is IngestRequest(source, code) with the series looked up
// once, at the first count (a series appears once counted, as with
// IngestRequest): for the answer every stored event of a source gets.
func (m *Metrics) IngestCounter(source string, code int) func() {
	if m == nil {
		return func() {}
	}
	if source == "" {
		source = unknownLabel
	}
	series := sync.OnceValue(func() prometheus.Counter {
		return m.ingestRequests.WithLabelValues(source, strconv.Itoa(code))
	})
	return func() { series().Inc() }
}

// PublishLatency records how long the queue took to acknowledge a write to stream.
func (m *Metrics) PublishLatency(stream string, d time.Duration) {
	if m == nil {
		return
	}
	m.publishDuration.WithLabelValues(stream).Observe(d.Seconds())
}

// PublishLatencyOf is PublishLatency for one stream, the series looked up
// once, at the first observation.
func (m *Metrics) PublishLatencyOf(stream string) func(time.Duration) {
	if m == nil {
		return func(time.Duration) {}
	}
	series := sync.OnceValue(func() prometheus.Observer { return m.publishDuration.WithLabelValues(stream) })
	return func(d time.Duration) { series().Observe(d.Seconds()) }
}

// TransformEvent counts an event transform settled with outcome.
func (m *Metrics) TransformEvent(source, outcome string) {
	if m == nil {
		return
	}
	if source == "" {
		source = unknownLabel
	}
	m.transformEvents.WithLabelValues(source, outcome).Inc()
}

// Delivery counts one delivery attempt to dest and its outcome (Outcome…).
func (m *Metrics) Delivery(dest, outcome string) {
	if m == nil {
		return
	}
	m.deliveries.WithLabelValues(dest, outcome).Inc()
}

// DeliveryLatency records the duration of one HTTP delivery attempt.
func (m *Metrics) DeliveryLatency(dest string, d time.Duration) {
	if m == nil {
		return
	}
	m.deliveryDuration.WithLabelValues(dest).Observe(d.Seconds())
}

// Retry counts a delivery to dest scheduled for another attempt.
func (m *Metrics) Retry(dest string) {
	if m == nil {
		return
	}
	m.retries.WithLabelValues(dest).Inc()
}

// BreakerState records dest's circuit breaker state (Breaker…).
func (m *Metrics) BreakerState(dest string, state int) {
	if m == nil {
		return
	}
	m.breakerState.WithLabelValues(dest).Set(float64(state))
}

// Budget is what one rate window of a destination still allows.
type Budget struct {
	Destination string
	// Window names the window by its length, e.g. "1s", "1h0m0s".
	Window string
	Left   int
}

// WatchBudget makes each scrape report the budgets read returns. Budgets
// refill as time passes, so they are read when scraped, not when spent.
func (m *Metrics) WatchBudget(read func() []Budget) {
	if m == nil {
		return
	}
	m.budget.setRead(read)
}

// Digest counts a digest card to dest that coalesced events deliveries.
func (m *Metrics) Digest(dest string, events int) {
	if m == nil {
		return
	}
	m.digests.WithLabelValues(dest).Inc()
	m.digestEvents.WithLabelValues(dest).Add(float64(events))
}

// DeadLetter counts a delivery to dest stored on RELAY_DEAD for reason.
func (m *Metrics) DeadLetter(dest, reason string) {
	if m == nil {
		return
	}
	m.deadLetters.WithLabelValues(dest, reason).Inc()
}

// Replay counts a dead letter replayed to dest.
func (m *Metrics) Replay(dest string) {
	if m == nil {
		return
	}
	m.replays.WithLabelValues(dest).Inc()
}

// Backlog is one destination's waiting deliveries.
type Backlog struct {
	Destination string
	// Messages waiting (including one being attempted).
	Messages uint64
	// OldestAge is the age of the oldest; zero when none waits.
	OldestAge time.Duration
}

// BacklogFunc reads the backlog of every destination. It is called on each
// scrape with a bounded context.
type BacklogFunc func(ctx context.Context) ([]Backlog, error)

// WatchBacklog makes each scrape report the backlog that read returns. The
// backlog is read from the queue, not counted in process, so every instance
// reports the same truth.
func (m *Metrics) WatchBacklog(read BacklogFunc) {
	if m == nil {
		return
	}
	m.backlog.setRead(read)
}
