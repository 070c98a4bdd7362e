// Package ingest is the HTTP front door: it verifies a vendor's webhook, stores
// it on the RELAY_IN stream and answers 2xx only once the queue acknowledged
// the write.
package ingest

import (
	"cmp"
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
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/semaphore"
	"golang.org/x/time/rate"

	"github.com/hookrelay/hookrelay/internal/config"
	"github.com/hookrelay/hookrelay/internal/queue"
	"github.com/hookrelay/hookrelay/internal/telemetry"
	"github.com/hookrelay/hookrelay/internal/vendors"
	"github.com/hookrelay/hookrelay/internal/vendors/handshake"
	"github.com/hookrelay/hookrelay/schemas"
)

// retryAfter is what a 503 asks the vendor to wait, in seconds: long enough
// for the queue to reconnect or elect a leader, short enough not to pile up.
const retryAfter = 5

// Handler receives webhooks at POST /hooks/{source} and
// POST /hooks/{source}/{token} and stores them on RELAY_IN.
type Handler struct {
	mux            *http.ServeMux
	events         queue.Events
	log            *slog.Logger
	maxBody        int64
	publishTimeout time.Duration
	// sources in force, by name; Reconfigure swaps the map whole.
	sources atomic.Pointer[map[string]*source]
	// kept are the vendor registry's headers stored with events, canonical,
	// each with the message header that carries it; credentials are never
	// stored.
	kept        map[string]string
	credentials map[string]bool
	// bodies bounds the bytes of request bodies held at once, across every
	// request: slow or hostile senders cannot make the process grow.
	bodies *semaphore.Weighted
	chunks sync.Pool // *[]byte of bodyChunk bytes, for reading bodies
	// headers are message header maps for store, cleared: a message's
	// header is free again once queue.Publish returned.
	headers sync.Pool
	metrics *telemetry.Metrics
	// publishLatency is metrics' series for RELAY_IN, looked up once.
	publishLatency func(time.Duration)
	tel            *telemetry.Telemetry
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
	name    string
	subject string // queue.InSubject(name), naming its spans
	scheme  vendors.Scheme
	// deliveryIDHeaders are where the delivery id is looked for, the first
	// one present wins; canonical. Each is stored with the event, under the
	// message header of the same index in deliveryIDStored.
	deliveryIDHeaders []string
	deliveryIDStored  []string
	verifier          Verifier
	limiter           *rate.Limiter // nil: no rate limit
	inFlight          chan struct{} // a semaphore; nil: no cap

	// countAccepted counts a 202 of this source: the metric series of the
	// usual answer, looked up once.
	countAccepted func()

	// limits is what limiter and inFlight were made from, so that a
	// reconfiguration that keeps them keeps their state.
	limits [3]float64
}

// New builds the ingest handler for cfg's sources, appending to events. A source
// whose verification cannot be built (unknown scheme, no secret) is an error.
// A nil logger discards logs.
func New(cfg *config.Config, events queue.Events, logger *slog.Logger, opts ...Option) (*Handler, error) {
	if cfg == nil || events == nil {
		return nil, errors.New("ingest: config and event store are required")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	h := &Handler{
		mux:            http.NewServeMux(),
		events:         events,
		log:            logger,
		maxBody:        cfg.MaxBody,
		publishTimeout: cfg.PublishTimeout,
		kept:           storedHeaders(vendors.Headers()),
		credentials:    canonicalSet(vendors.Credentials()),
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
	h.publishLatency = h.metrics.PublishLatencyOf(queue.StreamIn)
	sources, err := newSources(cfg, nil, h.metrics)
	if err != nil {
		return nil, err
	}
	h.sources.Store(&sources)
	// No method in the patterns: ingest answers other methods itself, with
	// a JSON body like every other refusal.
	h.mux.HandleFunc("/hooks/{source}", h.receive)
	h.mux.HandleFunc("/hooks/{source}/{token}", h.receive)
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		h.refuse(w, "", http.StatusNotFound, "no such path: webhooks are posted to /hooks/{source}", "unknown path")
	})
	return h, nil
}

// Reconfigure applies cfg's sources to the requests that arrive from now on:
// a source added is accepted, one removed answers 404, a secret rotated is
// checked against the new secrets only. A source whose rate_limit, burst and
// max_in_flight stay keeps its allowance and its requests in progress count.
// The body limits stay those of New. On error nothing changes.
func (h *Handler) Reconfigure(cfg *config.Config) error {
	sources, err := newSources(cfg, *h.sources.Load(), h.metrics)
	if err != nil {
		return err
	}
	h.sources.Store(&sources)
	return nil
}

// newSources builds cfg's sources, reusing the limits of prev's sources of
// the same name and settings.
func newSources(cfg *config.Config, prev map[string]*source, metrics *telemetry.Metrics) (map[string]*source, error) {
	sources := make(map[string]*source, len(cfg.Sources))
	for _, s := range cfg.Sources {
		v, err := NewVerifier(s.Verify)
		if err != nil {
			return nil, fmt.Errorf("ingest: source %q: %w", s.Name, err)
		}
		scheme, _ := vendors.LookupScheme(s.Verify.Scheme) // NewVerifier found it
		// A preset knows where its vendor puts the delivery id, unless
		// the source names another header than the default.
		idHeaders := []string{s.DeliveryIDHeader}
		if s.DeliveryIDHeader == "" || s.DeliveryIDHeader == config.DefaultDeliveryIDHeader {
			idHeaders = []string{config.DefaultDeliveryIDHeader}
			if len(scheme.DeliveryIDHeaders) > 0 {
				idHeaders = slices.Clone(scheme.DeliveryIDHeaders)
			}
		}
		idStored := make([]string, len(idHeaders))
		for i := range idHeaders {
			idHeaders[i] = textproto.CanonicalMIMEHeaderKey(idHeaders[i])
			idStored[i] = schemas.RequestHeader(idHeaders[i])
		}
		src := &source{
			name:              s.Name,
			subject:           queue.InSubject(s.Name),
			countAccepted:     metrics.IngestCounter(s.Name, http.StatusAccepted),
			scheme:            scheme,
			deliveryIDHeaders: idHeaders,
			deliveryIDStored:  idStored,
			verifier:          v,
			limits:            [3]float64{s.RateLimit, float64(s.Burst), float64(s.MaxInFlight)},
		}
		if old, ok := prev[s.Name]; ok && old.limits == src.limits {
			src.limiter, src.inFlight = old.limiter, old.inFlight
		} else {
			if s.RateLimit > 0 {
				burst := s.Burst
				if burst <= 0 {
					burst = int(math.Ceil(s.RateLimit))
				}
				src.limiter = rate.NewLimiter(rate.Limit(s.RateLimit), burst)
			}
			if s.MaxInFlight > 0 {
				src.inFlight = make(chan struct{}, s.MaxInFlight)
			}
		}
		sources[s.Name] = src
	}
	return sources, nil
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
	src, ok := (*h.sources.Load())[r.PathValue("source")]
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
	if src.scheme.Unverified != nil {
		// A handshake that carries no secret (Graph's subscription
		// validation) is answered at once, before anything is read.
		if reply, ok := src.scheme.Unverified(r); ok {
			h.answer(w, src, reply)
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
	body, chunk, reserved, err := h.readBody(w, r)
	if reserved > 0 {
		defer h.bodies.Release(reserved)
	}
	if chunk != nil {
		// The body is read into a pooled chunk, which goes back once the
		// request is answered; not after a failed store, which may still
		// hold it (a Kafka record in flight).
		defer func() {
			if chunk != nil {
				h.chunks.Put(chunk)
			}
		}()
	}
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
	if src.scheme.Verified != nil {
		// A verified handshake (Slack's url_verification) is answered in
		// the vendor's stead, never stored or relayed.
		if reply, ok := src.scheme.Verified(r, body); ok {
			h.answer(w, src, reply)
			return
		}
	}
	// After verification, so forged requests cannot use up the vendor's rate.
	if wait, ok := allow(src.limiter); !ok {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		h.refuse(w, src.name, http.StatusTooManyRequests,
			"rate limit of this source exceeded: retry after the time in Retry-After", "rate_limit")
		return
	}

	deliveryID := 0
	for i, k := range src.deliveryIDHeaders {
		if r.Header.Get(k) != "" {
			deliveryID = i
			break
		}
	}
	ev := schemas.Event{
		ID:          uuid.Must(uuid.NewV7()).String(),
		Source:      src.name,
		ReceivedAt:  time.Now().UTC(),
		ContentType: r.Header.Get("Content-Type"),
		DeliveryID:  r.Header.Get(src.deliveryIDHeaders[deliveryID]),
		Verified:    src.scheme.Name,
		// Headers: the selected request headers go straight to the
		// message (store), under names made once.
		Body: body,
	}
	if ev.DeliveryID == "" && src.scheme.BodyDeliveryID != nil {
		ev.DeliveryID = src.scheme.BodyDeliveryID(body)
	}
	if src.scheme.Notice != nil {
		ev.Handshake = src.scheme.Notice(r.Header, body)
	}
	id, duplicate, err := h.store(r.Context(), src, &ev, r.Header, deliveryID)
	switch {
	case errors.Is(err, queue.ErrTooLarge):
		chunk = nil
		h.refuse(w, src.name, http.StatusRequestEntityTooLarge,
			"event larger than the event store accepts: send a smaller event", "store: "+err.Error())
		return
	case err != nil:
		chunk = nil
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
	if src.scheme.Accepted != nil {
		// The vendor expects an answer of its own (Teams shows the answer
		// to an @mention in the channel).
		reply := src.scheme.Accepted(id, duplicate)
		h.count(src.name, cmp.Or(reply.Status, http.StatusOK))
		reply.Write(w)
		return
	}
	src.countAccepted()
	writeAccepted(w, id, duplicate, ev.Handshake)
}

// writeAccepted answers 202 with {"id": …}, and "duplicate": true for a
// vendor's retry, "handshake" naming the vendor handshake the event is
// (stored, but sent to no channel unless the source's relay_handshakes is
// set). Appended by hand, not by a general JSON encoder: it is the answer to
// every stored event (TestWriteAccepted holds it to encoding/json's output).
func writeAccepted(w http.ResponseWriter, id string, duplicate bool, handshake string) {
	b := make([]byte, 0, 96)
	b = append(b, '{')
	if id != "" {
		b = appendJSONField(b, "id", id)
	}
	if duplicate {
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = append(b, `"duplicate":true`...)
	}
	if handshake != "" {
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = appendJSONField(b, "handshake", handshake)
	}
	b = append(b, "}\n"...)
	// net/http adds the Content-Length of so short an answer itself.
	w.Header()["Content-Type"] = []string{"application/json"}
	w.WriteHeader(http.StatusAccepted)
	_, _ = w.Write(b)
}

// appendJSONField appends "key":value, value a JSON string. key is plain.
func appendJSONField(b []byte, key, value string) []byte {
	b = append(b, '"')
	b = append(b, key...)
	b = append(b, `":`...)
	for i := 0; i < len(value); i++ {
		if c := value[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			// Not the plain ASCII of an event id: let encoding/json
			// escape it.
			q, _ := json.Marshal(value) // a string always encodes
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, value...)
	return append(b, '"')
}

// answer sends a handshake's reply in the vendor's stead; nothing is stored.
func (h *Handler) answer(w http.ResponseWriter, src *source, reply handshake.Reply) {
	status := cmp.Or(reply.Status, http.StatusOK)
	h.log.Info("ingest: handshake answered", "source", src.name, "handshake", reply.Name, "status", status)
	h.count(src.name, status)
	reply.Write(w)
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
// others from h.bodies; reserved is what the caller gives back to h.bodies
// once the body is no longer used. A body declared to fit one chunk is read
// straight into a chunk of the pool, which the caller gives back (chunk, not
// nil) once nothing holds the body: the usual event allocates none.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request) (body []byte, chunk *[]byte, reserved int64, err error) {
	if n := r.ContentLength; n >= 0 && n < bodyChunk && n <= h.maxBody {
		// net/http ends a body at its Content-Length: no more than n
		// bytes can come, nothing to bound beyond that.
		chunk = h.chunks.Get().(*[]byte)
		body = (*chunk)[:n]
		if _, err := io.ReadFull(r.Body, body); err != nil {
			// A sender gone mid-body: a truncated body is never an
			// event.
			h.chunks.Put(chunk)
			return nil, nil, 0, err
		}
		return body, chunk, 0, nil
	}
	rd := http.MaxBytesReader(w, r.Body, h.maxBody)
	defer rd.Close()
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
				return nil, nil, reserved, errBodyMemory
			}
			reserved += bodyChunk
		}
		chunks = append(chunks, c)
		filled, err := fill(rd, *c)
		total += filled
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			// A sender gone mid-body included: a truncated body is
			// never an event.
			return nil, nil, reserved, err
		}
	}
	body = make([]byte, 0, total)
	for _, c := range chunks {
		body = append(body, (*c)[:min(bodyChunk, total-len(body))]...)
	}
	return body, nil, reserved, nil
}

// fill reads from r until buf is full (nil error) or r ends (io.EOF, the
// body's end) or fails. Unlike io.ReadFull, a reader that fails with
// io.ErrUnexpectedEOF (a sender that hung up mid-body) stays an error.
func fill(r io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// store publishes ev to RELAY_IN and waits for the acknowledgement. It returns
// the stored event's id: ev.ID, or the original's id when the queue already
// holds this delivery.
func (h *Handler) store(ctx context.Context, src *source, ev *schemas.Event, req http.Header, deliveryID int) (id string, duplicate bool, err error) {
	// The body is stored as it came, the envelope in headers: nothing to
	// encode, and no byte more than the vendor sent.
	requestCtx := ctx
	hdr, _ := h.headers.Get().(queue.Header)
	if hdr == nil {
		hdr = make(queue.Header, 8+len(req))
	}
	defer func() {
		clear(hdr)
		h.headers.Put(hdr)
	}()
	msg := queue.Msg{Key: src.name, Header: hdr}
	msg.Data = schemas.EncodeEvent(ev, msg.Header)
	h.selectHeaders(msg.Header, req, src, deliveryID)
	if ev.DeliveryID != "" {
		// The vendor's retry of this delivery is stored once. Without a
		// delivery id there is nothing to deduplicate: every event id is new.
		msg.ID = ev.Source + ":" + ev.DeliveryID
	}
	ctx = h.tel.WithRequestParent(ctx, req)
	if h.tel.Tracing() {
		trace.SpanFromContext(ctx).SetAttributes(telemetry.AttrSource.String(ev.Source), telemetry.AttrEventID.String(ev.ID))
		var span trace.Span
		ctx, span = h.tel.StartPublish(ctx, src.subject, msg.Header,
			telemetry.AttrSource.String(ev.Source), telemetry.AttrEventID.String(ev.ID))
		defer func() { telemetry.EndSpan(span, err) }()
	} else if ctx != requestCtx {
		// No span is recorded; the request carried a trace context,
		// which is passed on as it came.
		h.tel.Inject(ctx, msg.Header)
	}

	ctx, cancel := context.WithTimeout(ctx, h.publishTimeout)
	defer cancel()
	began := time.Now()
	ack, err := h.events.AppendEvent(ctx, msg)
	if err != nil {
		return "", false, fmt.Errorf("store event of %s: %w", src.name, err)
	}
	h.publishLatency(time.Since(began))
	if !ack.Duplicate {
		return ev.ID, false, nil
	}
	// The original is stored, so the answer is 2xx whatever happens next;
	// its id is a courtesy to the sender.
	orig, err := h.events.Event(ctx, ack.Seq)
	if err != nil {
		h.log.Warn("ingest: duplicate delivery, original id not found", "source", ev.Source, "seq", ack.Seq, "err", err)
		return "", true, nil
	}
	return orig.Header.Get(queue.HeaderEventID), true, nil
}

// selectHeaders stores in out the request headers that identify the sender
// and the event type, and the delivery id header that was looked up (the
// deliveryID-th of src's); never credentials.
func (h *Handler) selectHeaders(out queue.Header, in http.Header, src *source, deliveryID int) {
	idHeader := src.deliveryIDHeaders[deliveryID]
	for k, vs := range in {
		if len(vs) == 0 || vs[0] == "" || h.credentials[k] {
			continue
		}
		if name, ok := h.kept[k]; ok {
			out[name] = vs[:1:1]
		} else if k == idHeader {
			out[src.deliveryIDStored[deliveryID]] = vs[:1:1]
		}
	}
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
	if _, ok := (*h.sources.Load())[source]; !ok {
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

// storedHeaders maps the canonical forms of header names to the message
// headers that store them with an event.
func storedHeaders(names []string) map[string]string {
	m := make(map[string]string, len(names))
	for _, n := range names {
		n = textproto.CanonicalMIMEHeaderKey(n)
		m[n] = schemas.RequestHeader(n)
	}
	return m
}

// canonicalSet is the set of the canonical forms of header names.
func canonicalSet(names []string) map[string]bool {
	set := make(map[string]bool, len(names))
	for _, n := range names {
		set[textproto.CanonicalMIMEHeaderKey(n)] = true
	}
	return set
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
