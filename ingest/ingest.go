// Package ingest is the HTTP front door: it verifies a vendor's webhook, stores
// it on the RELAY_IN stream and answers 2xx only once the queue acknowledged
// the write.
package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/textproto"
	"path"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/semaphore"
	"golang.org/x/time/rate"

	"github.com/hookrelay/hookrelay/internal/config"
	"github.com/hookrelay/hookrelay/internal/queue"
	"github.com/hookrelay/hookrelay/internal/telemetry"
	"github.com/hookrelay/hookrelay/schemas"
)

// retryAfter is what a 503 asks the vendor to wait, in seconds: long enough
// for the queue to reconnect or elect a leader, short enough not to pile up.
const retryAfter = 5

// Handler receives webhooks at POST /hooks/{source} and
// POST /hooks/{source}/{token} and stores them on RELAY_IN.
type Handler struct {
	mux            *http.ServeMux
	queue          queue.Queue
	log            *slog.Logger
	maxBody        int64
	publishTimeout time.Duration
	sources        map[string]*source
	// bodies bounds the bytes of request bodies held at once, across every
	// request: slow or hostile senders cannot make the process grow.
	bodies  *semaphore.Weighted
	chunks  sync.Pool // *[]byte of bodyChunk bytes, for reading bodies
	metrics *telemetry.Metrics
	tel     *telemetry.Telemetry
}

// Option configures a Handler.
type Option func(*Handler)

// WithMetrics counts every answer by source and status code and times
// the queue's acknowledgements. Default none.
func WithMetrics(m *telemetry.Metrics) Option {
	return func(h *Handler) { h.metrics = m }
}

// WithTelemetry traces each stored event: a producer span for the publish to
// RELAY_IN, whose context travels in the message's traceparent header, as a
// child of the request's span (telemetry.HTTPHandler) or of the vendor's
// traceparent. Default none: the vendor's traceparent is passed on as is.
func WithTelemetry(t *telemetry.Telemetry) Option {
	return func(h *Handler) { h.tel = t }
}

// source is a configured source, ready to verify requests.
type source struct {
	name             string
	scheme           string
	deliveryIDHeader string // canonical
	verifier         Verifier
	limiter          *rate.Limiter // nil: no rate limit
	inFlight         chan struct{} // a semaphore; nil: no cap
}

// New builds the ingest handler for cfg's sources, publishing to q. A source
// whose verification cannot be built (unknown scheme, no secret) is an error.
// A nil logger discards logs.
func New(cfg *config.Config, q queue.Queue, logger *slog.Logger, opts ...Option) (*Handler, error) {
	if cfg == nil || q == nil {
		return nil, errors.New("ingest: config and queue are required")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	h := &Handler{
		mux:            http.NewServeMux(),
		queue:          q,
		log:            logger,
		maxBody:        cfg.MaxBody,
		publishTimeout: cfg.PublishTimeout,
		sources:        make(map[string]*source, len(cfg.Sources)),
	}
	for _, o := range opts {
		o(h)
	}
	if h.maxBody <= 0 {
		h.maxBody = config.DefaultMaxBody
	}
	if h.publishTimeout <= 0 {
		h.publishTimeout = config.DefaultPublishTimeout
	}
	bodyMemory := cfg.MaxBodyMemory
	if bodyMemory <= 0 {
		bodyMemory = config.DefaultMaxBodyMemory
	}
	h.bodies = semaphore.NewWeighted(max(bodyMemory, h.maxBody))
	h.chunks.New = func() any { c := make([]byte, bodyChunk); return &c }
	for _, s := range cfg.Sources {
		v, err := NewVerifier(s.Verify)
		if err != nil {
			return nil, fmt.Errorf("ingest: source %q: %w", s.Name, err)
		}
		// A preset knows where its vendor puts the delivery id, unless
		// the source names another header than the default.
		idHeader := s.DeliveryIDHeader
		if idHeader == "" || idHeader == config.DefaultDeliveryIDHeader {
			idHeader = config.DefaultDeliveryIDHeader
			if vendor := vendorDeliveryIDHeader(s.Verify.Scheme); vendor != "" {
				idHeader = vendor
			}
		}
		h.sources[s.Name] = &source{
			name:             s.Name,
			scheme:           s.Verify.Scheme,
			deliveryIDHeader: textproto.CanonicalMIMEHeaderKey(idHeader),
			verifier:         v,
		}
		if s.RateLimit > 0 {
			burst := s.Burst
			if burst <= 0 {
				burst = int(math.Ceil(s.RateLimit))
			}
			h.sources[s.Name].limiter = rate.NewLimiter(rate.Limit(s.RateLimit), burst)
		}
		if s.MaxInFlight > 0 {
			h.sources[s.Name].inFlight = make(chan struct{}, s.MaxInFlight)
		}
	}
	// No method in the patterns: ingest answers other methods itself, with
	// a JSON body like every other refusal.
	h.mux.HandleFunc("/hooks/{source}", h.receive)
	h.mux.HandleFunc("/hooks/{source}/{token}", h.receive)
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		h.refuse(w, "", http.StatusNotFound, "no such path: webhooks are posted to /hooks/{source}", "unknown path")
	})
	return h, nil
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// ServeMux would redirect an unclean path (a doubled or trailing
	// slash, a dot segment); a sender is better told plainly.
	if p := r.URL.Path; p == "" || path.Clean(p) != p {
		h.refuse(w, "", http.StatusNotFound,
			"no such path: webhooks are posted to /hooks/{source}, without a trailing slash", "unclean path")
		return
	}
	h.mux.ServeHTTP(w, r)
}

func (h *Handler) receive(w http.ResponseWriter, r *http.Request) {
	src, ok := h.sources[r.PathValue("source")]
	if !ok {
		h.refuse(w, r.PathValue("source"), http.StatusNotFound,
			"unknown source: check the webhook URL configured at the sender", "unknown source")
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.refuse(w, src.name, http.StatusMethodNotAllowed, "method not allowed: send webhooks with POST", "method "+r.Method)
		return
	}
	if src.scheme == "graph" {
		// Graph validates a subscription URL before using it: echo the
		// token at once, as text; the request carries no secret.
		if token, ok := validationToken(r.URL.Query()); ok {
			h.validate(w, src, token)
			return
		}
	}
	if hv, ok := src.verifier.(HeaderVerifier); ok {
		// Before the body is read: a sender that cannot be the source
		// holds no memory and is not waited for.
		if err := hv.VerifyHeaders(r); err != nil {
			h.refuse(w, src.name, http.StatusUnauthorized,
				"not verified ("+err.Error()+"): check the secret configured for this source", "verify: "+err.Error())
			return
		}
	}
	if src.inFlight != nil {
		// Before the body is read: the cap bounds the memory a source's
		// requests hold.
		select {
		case src.inFlight <- struct{}{}:
			defer func() { <-src.inFlight }()
		default:
			w.Header().Set("Retry-After", "1")
			h.refuse(w, src.name, http.StatusTooManyRequests,
				"too many requests of this source in progress: retry later", "max_in_flight")
			return
		}
	}
	body, release, err := h.readBody(w, r)
	defer release()
	if err != nil {
		if errors.Is(err, errBodyMemory) {
			w.Header().Set("Retry-After", "1")
			h.refuse(w, src.name, http.StatusServiceUnavailable,
				"too many request bodies in progress: retry later", "max_body_memory")
			return
		}
		if _, tooBig := errors.AsType[*http.MaxBytesError](err); tooBig {
			h.refuse(w, src.name, http.StatusRequestEntityTooLarge,
				fmt.Sprintf("body larger than %d bytes: send a smaller event or raise max_body", h.maxBody), "body too large")
			return
		}
		h.refuse(w, src.name, http.StatusBadRequest, "could not read the request body: retry", "read body: "+err.Error())
		return
	}
	if len(body) == 0 {
		h.refuse(w, src.name, http.StatusBadRequest, "empty body: send the event as the request body", "empty body")
		return
	}
	if err := src.verifier.Verify(r, body); err != nil {
		h.refuse(w, src.name, http.StatusUnauthorized,
			"not verified ("+err.Error()+"): check the secret configured for this source", "verify: "+err.Error())
		return
	}
	// After verification, so forged requests cannot use up the vendor's rate.
	if wait, ok := allow(src.limiter); !ok {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		h.refuse(w, src.name, http.StatusTooManyRequests,
			"rate limit of this source exceeded: retry after the time in Retry-After", "rate_limit")
		return
	}

	ev := schemas.Event{
		ID:          uuid.Must(uuid.NewV7()).String(),
		Source:      src.name,
		ReceivedAt:  time.Now().UTC(),
		ContentType: r.Header.Get("Content-Type"),
		DeliveryID:  r.Header.Get(src.deliveryIDHeader),
		Verified:    src.scheme,
		Headers:     selectHeaders(r.Header, src.deliveryIDHeader),
		Body:        body,
	}
	id, duplicate, err := h.store(r.Context(), &ev, r.Header.Get("Traceparent"))
	switch {
	case errors.Is(err, queue.ErrTooLarge):
		h.refuse(w, src.name, http.StatusRequestEntityTooLarge,
			"event larger than the event store accepts: send a smaller event", "store: "+err.Error())
		return
	case err != nil:
		h.log.Error("ingest: event not stored", "source", src.name, "event_id", ev.ID, "status", http.StatusServiceUnavailable, "err", err)
		w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
		h.count(src.name, http.StatusServiceUnavailable)
		msg := "event store unavailable, retry later"
		if errors.Is(err, queue.ErrFull) {
			msg = "event store full, retry later"
		}
		writeJSON(w, http.StatusServiceUnavailable, errorBody{Error: msg})
		return
	}
	if src.scheme == "teams-outgoing" {
		// Teams shows the answer to an @mention in the channel.
		text := "Accepted as event " + id + "."
		if duplicate {
			text = "Already accepted as event " + id + "."
		}
		h.count(src.name, http.StatusOK)
		writeJSON(w, http.StatusOK, teamsReply{Type: "message", Text: text})
		return
	}
	h.count(src.name, http.StatusAccepted)
	writeJSON(w, http.StatusAccepted, accepted{ID: id, Duplicate: duplicate})
}

// validate answers a Microsoft Graph or SharePoint subscription validation.
func (h *Handler) validate(w http.ResponseWriter, src *source, token string) {
	if token == "" || len(token) > maxValidationToken {
		h.refuse(w, src.name, http.StatusBadRequest,
			fmt.Sprintf("validation token must be 1 to %d bytes", maxValidationToken), "bad validation token")
		return
	}
	h.log.Info("ingest: subscription validated", "source", src.name)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	h.count(src.name, http.StatusOK)
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, token)
}

// bodyChunk is the part of every body ingest reads without asking
// max_body_memory: small events, the usual kind, are never refused for
// memory, and max_connections bounds what these take (32 MiB at 1024).
const bodyChunk = 32 << 10

// errBodyMemory: reading on would exceed max_body_memory.
var errBodyMemory = errors.New("request bodies in memory at their limit")

// readBody reads at most h.maxBody bytes of the request body. Memory is
// taken as the body arrives, never by the Content-Length a sender declares,
// in chunks of bodyChunk that go back to a pool: the first chunk freely, the
// others from h.bodies, which release gives back once the body is no longer
// used. A body that fits one chunk is read straight into its own slice.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request) (body []byte, release func(), err error) {
	rd := http.MaxBytesReader(w, r.Body, h.maxBody)
	defer rd.Close()
	var reserved int64
	release = func() { h.bodies.Release(reserved) }
	if n := r.ContentLength; n >= 0 && n < bodyChunk {
		body = make([]byte, 0, n+1) // room to see EOF without growing
		for {
			m, err := rd.Read(body[len(body):cap(body)])
			body = body[:len(body)+m]
			switch {
			case errors.Is(err, io.EOF):
				return body, release, nil
			case err != nil:
				return nil, release, err
			case len(body) == cap(body):
				// More than declared: MaxBytesReader still bounds it.
				body = append(body, make([]byte, bodyChunk)...)[:len(body)]
			}
		}
	}
	var chunks []*[]byte
	defer func() {
		for _, c := range chunks {
			h.chunks.Put(c)
		}
	}()
	total := 0
	for {
		c := h.chunks.Get().(*[]byte)
		if len(chunks) > 0 {
			if !h.bodies.TryAcquire(bodyChunk) {
				h.chunks.Put(c)
				return nil, release, errBodyMemory
			}
			reserved += bodyChunk
		}
		chunks = append(chunks, c)
		filled, err := io.ReadFull(rd, *c)
		total += filled
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			return nil, release, err
		}
	}
	body = make([]byte, 0, total)
	for _, c := range chunks {
		body = append(body, (*c)[:min(bodyChunk, total-len(body))]...)
	}
	return body, release, nil
}

// store publishes ev to RELAY_IN and waits for the acknowledgement. It returns
// the stored event's id: ev.ID, or the original's id when the queue already
// holds this delivery.
func (h *Handler) store(ctx context.Context, ev *schemas.Event, traceparent string) (id string, duplicate bool, err error) {
	data, err := json.Marshal(ev)
	if err != nil {
		return "", false, fmt.Errorf("encode event: %w", err)
	}
	msg := queue.Msg{Subject: queue.InSubject(ev.Source), Header: queue.Header{}, Data: data}
	msg.Header.Set(queue.HeaderEventID, ev.ID)
	msg.Header.Set(queue.HeaderSource, ev.Source)
	if ev.DeliveryID != "" {
		// The vendor's retry of this delivery is stored once. Without a
		// delivery id there is nothing to deduplicate: every event id is new.
		msg.ID = ev.Source + ":" + ev.DeliveryID
	}
	ctx = telemetry.WithRemoteParent(ctx, traceparent)
	trace.SpanFromContext(ctx).SetAttributes(telemetry.AttrSource.String(ev.Source), telemetry.AttrEventID.String(ev.ID))
	ctx, span := h.tel.StartPublish(ctx, msg.Subject, msg.Header,
		telemetry.AttrSource.String(ev.Source), telemetry.AttrEventID.String(ev.ID))
	defer func() { telemetry.EndSpan(span, err) }()

	ctx, cancel := context.WithTimeout(ctx, h.publishTimeout)
	defer cancel()
	began := time.Now()
	ack, err := h.queue.Publish(ctx, msg)
	if err != nil {
		return "", false, fmt.Errorf("publish to %s: %w", msg.Subject, err)
	}
	h.metrics.PublishLatency(queue.StreamIn, time.Since(began))
	if !ack.Duplicate {
		return ev.ID, false, nil
	}
	// The original is stored, so the answer is 2xx whatever happens next;
	// its id is a courtesy to the sender.
	orig, err := h.queue.Get(ctx, queue.StreamIn, ack.Seq)
	if err != nil {
		h.log.Warn("ingest: duplicate delivery, original id not found", "source", ev.Source, "seq", ack.Seq, "err", err)
		return "", true, nil
	}
	return orig.Header.Get(queue.HeaderEventID), true, nil
}

// selectHeaders keeps the headers that identify the sender and the event
// type, and the source's delivery id header; never credentials.
func selectHeaders(in http.Header, deliveryIDHeader string) map[string]string {
	out := make(map[string]string, 4)
	for k, vs := range in {
		if len(vs) > 0 && vs[0] != "" && (keptHeader(k) || k == deliveryIDHeader) && !credentialHeader(k) {
			out[k] = vs[0]
		}
	}
	return out
}

// keptHeader reports whether a canonical header key is stored with events.
func keptHeader(k string) bool {
	switch k {
	case "User-Agent",
		"X-Github-Event", "X-Github-Delivery", "X-Github-Hook-Id",
		"X-Gitlab-Event", "X-Gitlab-Event-Uuid", "X-Gitlab-Webhook-Uuid", "X-Gitlab-Instance", "Idempotency-Key",
		"X-Zendesk-Webhook-Id", "X-Zendesk-Webhook-Invocation-Id",
		"X-Event-Type", "X-Event-Key", "Sentry-Hook-Resource", "X-Slack-Retry-Num",
		"Webhook-Id", "Webhook-Timestamp":
		return true
	}
	return false
}

// credentialHeader reports whether a canonical header key carries a secret or
// a signature; those are never stored, even when a source names one as its
// delivery id header.
func credentialHeader(k string) bool {
	switch k {
	case "Authorization", "Proxy-Authorization", "Cookie",
		"X-Hub-Signature", "X-Hub-Signature-256", "X-Gitlab-Token",
		"X-Zendesk-Webhook-Signature", "Webhook-Signature", "X-Slack-Signature",
		"X-Pagerduty-Signature", "X-Grafana-Alerting-Signature", "Sentry-Hook-Signature":
		return true
	}
	return false
}

// refuse answers a request that will not be stored, and logs why. reason is
// for the log and must not contain the body or a secret.
func (h *Handler) refuse(w http.ResponseWriter, source string, status int, msg, reason string) {
	h.log.Info("ingest: refused", "source", source, "status", status, "reason", reason)
	h.count(source, status)
	writeJSON(w, status, errorBody{Error: msg})
}

// count records an answer. A source name that is not configured is counted
// as unknown, so strangers cannot create metric series.
func (h *Handler) count(source string, status int) {
	if _, ok := h.sources[source]; !ok {
		source = ""
	}
	h.metrics.IngestRequest(source, status)
}

// allow takes a token from lim (nil: no limit), or says how long until one
// is free.
func allow(lim *rate.Limiter) (time.Duration, bool) {
	if lim == nil {
		return 0, true
	}
	res := lim.Reserve()
	if wait := res.Delay(); wait > 0 {
		res.Cancel()
		return wait, false
	}
	return 0, true
}

type errorBody struct {
	Error string `json:"error"`
}

// teamsReply is the message a Teams outgoing webhook posts back to the channel.
type teamsReply struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type accepted struct {
	ID        string `json:"id,omitempty"`
	Duplicate bool   `json:"duplicate,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
