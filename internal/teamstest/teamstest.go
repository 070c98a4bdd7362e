// Package teamstest simulates a Microsoft Teams incoming-webhook endpoint, in the
// manner of net/http/httptest: NewServer starts a real server on loopback, URL
// says where, Close stops it. Any path except /_sim/… is one webhook URL.
//
// It models what Microsoft documents and what has been observed of Teams:
//
//   - Two body kinds. A legacy Office 365 connector MessageCard must carry a
//     non-empty "summary" or "text" (else 400 "Summary or Text is required.") and
//     is answered 200 with the body "1". A Workflows (Power Automate) envelope
//     {"type":"message","attachments":[…]} must hold Adaptive Cards of version
//     1.4 or lower and is answered 202 with an empty body.
//   - A body above 28 KB is refused with 413.
//   - Each webhook URL is throttled by the ladder 4 per 1 s, 60 per 30 s, 100 per
//     1 h, 150 per 2 h, 1800 per 24 h, counted over a sliding window of accepted
//     requests; a request beyond it gets 429.
//   - Connector URLs report failures inside an HTTP 200 whose body reads
//     "Webhook message delivery failed with error: Microsoft Teams endpoint
//     returned HTTP error NNN …" — a sender must read the body, not only the
//     status. WithBareErrors answers with the plain status instead (and
//     Retry-After on 429). Workflows URLs never wrap.
//   - A removed webhook answers a bare 410.
//
// Faults (an outage, latency, 5xx) can be switched on per path with SetFault or
// POST /_sim/fault, and everything received is kept for assertions
// (Received, Accepted, MaxInWindow, WaitAccepted, GET /_sim/received).
package teamstest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// MaxBodyBytes is the largest request body Teams accepts (28 KB); above it the
// answer is 413.
const MaxBodyBytes = 28 * 1024

// DeliveryIDHeader is the request header whose value is kept as
// Received.DeliveryID, so tests can match deliveries to events.
const DeliveryIDHeader = "X-Hookrelay-Delivery-Id"

// maxRecords bounds how many requests are kept; beyond it the oldest are
// dropped, so a long-running `hookrelay teams-sim` does not grow forever.
const maxRecords = 100_000

// maxReadBytes bounds how much of a body is read and kept: enough to tell the
// kind of an oversized body, not so much that a stray upload fills memory.
const maxReadBytes = 1 << 20

// Limit allows at most Max accepted requests per webhook URL in any sliding
// interval of length Per.
type Limit struct {
	Per time.Duration
	Max int
}

// TeamsLadder returns the per-URL limits Teams applies to incoming webhooks:
// 4 in 1 s, 60 in 30 s, 100 in 1 h, 150 in 2 h and 1800 in 24 h.
func TeamsLadder() []Limit {
	return []Limit{
		{Per: time.Second, Max: 4},
		{Per: 30 * time.Second, Max: 60},
		{Per: time.Hour, Max: 100},
		{Per: 2 * time.Hour, Max: 150},
		{Per: 24 * time.Hour, Max: 1800},
	}
}

type config struct {
	limits []Limit
	bare   bool
	now    func() time.Time
}

// Option configures a Handler or Server.
type Option func(*config)

// WithLimits replaces the rate limits applied to each webhook URL. The default
// is TeamsLadder(); an empty list means no limit.
func WithLimits(l []Limit) Option {
	return func(c *config) { c.limits = slices.Clone(l) }
}

// WithBareErrors answers MessageCard errors with their own status code (and
// Retry-After: 1 on 429) instead of the default connector style, an HTTP 200
// whose body names the error. Use it to model a receiver that does not wrap.
func WithBareErrors() Option {
	return func(c *config) { c.bare = true }
}

// WithClock sets the clock used for arrival times, rate windows and fault
// expiry. The default is time.Now; tests pass a fake clock to hit window
// boundaries exactly. Fault latency always waits in real time.
func WithClock(now func() time.Time) Option {
	return func(c *config) { c.now = now }
}

// Received is one request to a webhook URL and how it was answered.
type Received struct {
	Path string
	// At is the arrival time, by the configured clock.
	At time.Time
	// Body is the request body (its first MiB, if longer).
	Body []byte
	// Status is the code Teams decided on: 200 or 202 on success, else the
	// error code — also when connector style sent it inside an HTTP 200. It is
	// 0 while the request is still being answered, or when the client gave up
	// during a fault's latency.
	Status int
	// DeliveryID is the DeliveryIDHeader of the request.
	DeliveryID string
	// Accepted reports that the message was delivered.
	Accepted bool
}

// Fault makes matching requests slow or failing for a while.
type Fault struct {
	// Status, when not 0, answers matching requests with this bare status.
	Status int
	// Latency delays matching requests before they are answered; a client that
	// gives up first is recorded with Status 0.
	Latency time.Duration
	// For is how long the fault lasts from SetFault; 0 means until cleared.
	For time.Duration
	// Path limits the fault to one webhook URL; "" means all.
	Path string
	// Count limits the fault to this many requests; 0 means no limit.
	Count int
}

// fault is a Fault with its expiry and remaining count.
type fault struct {
	Fault
	until time.Time // zero: no expiry
	left  int       // meaningful only if Count > 0
}

// Handler is the simulated endpoint as an http.Handler. It is safe for
// concurrent use.
type Handler struct {
	cfg config

	mu        sync.Mutex
	records   []*Received
	accepted  map[string][]time.Time // per path, decision times of accepted requests still inside the widest window
	acceptedN map[string]int         // per path ("" for all), requests accepted so far
	removed   map[string]bool
	faults    []*fault
	changed   chan struct{} // closed and replaced whenever a request is answered
}

// NewHandler returns a simulated Teams endpoint.
func NewHandler(opts ...Option) *Handler {
	cfg := config{limits: TeamsLadder(), now: time.Now}
	for _, o := range opts {
		o(&cfg)
	}
	return &Handler{
		cfg:       cfg,
		accepted:  make(map[string][]time.Time),
		acceptedN: make(map[string]int),
		removed:   make(map[string]bool),
		changed:   make(chan struct{}),
	}
}

// ServeHTTP answers webhook requests and the /_sim/ control endpoints.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/_sim/") {
		h.serveSim(w, r)
		return
	}
	h.serveWebhook(w, r)
}

// Received returns the requests to path ("" for all paths) in arrival order,
// including refused ones.
func (h *Handler) Received(path string) []Received {
	return h.filter(path, false)
}

// Accepted returns the requests to path ("" for all paths) that were answered
// as success, in arrival order.
func (h *Handler) Accepted(path string) []Received {
	return h.filter(path, true)
}

func (h *Handler) filter(path string, acceptedOnly bool) []Received {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []Received
	for _, rec := range h.records {
		if (path == "" || rec.Path == path) && (!acceptedOnly || rec.Accepted) {
			out = append(out, *rec)
		}
	}
	return out
}

// MaxInWindow returns the largest number of requests to path ("" for all
// paths), accepted or not, that arrived within any interval of length per:
// arrivals exactly per apart are not in the same interval, as with the limits.
func (h *Handler) MaxInWindow(path string, per time.Duration) int {
	if per <= 0 {
		return 0
	}
	recs := h.Received(path)
	at := make([]time.Time, len(recs))
	for i, rec := range recs {
		at[i] = rec.At
	}
	slices.SortFunc(at, time.Time.Compare)
	best, lo := 0, 0
	for hi := range at {
		for at[hi].Sub(at[lo]) >= per {
			lo++
		}
		best = max(best, hi-lo+1)
	}
	return best
}

// WaitAccepted blocks until at least n requests to path ("" for all paths) were
// accepted, or ctx ends.
func (h *Handler) WaitAccepted(ctx context.Context, path string, n int) error {
	for {
		h.mu.Lock()
		got := h.acceptedN[path]
		changed := h.changed
		h.mu.Unlock()
		if got >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %d accepted on %q, have %d: %w", n, path, got, ctx.Err())
		case <-changed:
		}
	}
}

// Remove deletes the webhook at path: later requests to it get 410.
func (h *Handler) Remove(path string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.removed[path] = true
}

// SetFault switches a fault on, replacing any fault for the same Path.
func (h *Handler) SetFault(f Fault) {
	nf := &fault{Fault: f, left: f.Count}
	h.mu.Lock()
	defer h.mu.Unlock()
	if f.For > 0 {
		nf.until = h.cfg.now().Add(f.For)
	}
	h.faults = slices.DeleteFunc(h.faults, func(old *fault) bool { return old.Path == f.Path })
	h.faults = append(h.faults, nf)
}

// ClearFaults switches all faults off.
func (h *Handler) ClearFaults() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.faults = nil
}

// arrive records a request and takes one use of the fault that applies to it,
// if any. The caller must lock h.mu.
func (h *Handler) arrive(rec *Received) (Fault, bool) {
	h.records = append(h.records, rec)
	if len(h.records) > 2*maxRecords {
		h.records = slices.Clone(h.records[len(h.records)-maxRecords:])
	}
	var match *fault
	h.faults = slices.DeleteFunc(h.faults, func(f *fault) bool {
		return (!f.until.IsZero() && !rec.At.Before(f.until)) || (f.Count > 0 && f.left <= 0)
	})
	for _, f := range h.faults {
		if f.Path == rec.Path {
			match = f
			break
		}
		if f.Path == "" && match == nil {
			match = f
		}
	}
	if match == nil {
		return Fault{}, false
	}
	match.left--
	return match.Fault, true
}

// finish sets the outcome of a recorded request and wakes waiters. The caller
// must lock h.mu.
func (h *Handler) finish(rec *Received, status int) {
	rec.Status = status
	rec.Accepted = status == http.StatusOK || status == http.StatusAccepted
	if rec.Accepted {
		h.acceptedN[rec.Path]++
		h.acceptedN[""]++
	}
	close(h.changed)
	h.changed = make(chan struct{})
}

// admit reports whether one more accepted request on path stays within the
// limits at now, and if so counts it. The caller must lock h.mu.
func (h *Handler) admit(path string, now time.Time) bool {
	var widest time.Duration
	for _, l := range h.cfg.limits {
		widest = max(widest, l.Per)
	}
	times := slices.DeleteFunc(h.accepted[path], func(t time.Time) bool { return now.Sub(t) >= widest })
	for _, l := range h.cfg.limits {
		in := 0
		for _, t := range times {
			if now.Sub(t) < l.Per {
				in++
			}
		}
		if in+1 > l.Max {
			h.accepted[path] = times
			return false
		}
	}
	if len(h.cfg.limits) > 0 {
		times = append(times, now)
	}
	h.accepted[path] = times
	return true
}

// kind is the body kind of a webhook request.
type kind int

const (
	messageCard kind = iota
	workflows
)

// verdict is what the body alone earns: status 0 means it is acceptable.
type verdict struct {
	kind   kind
	status int
	msg    string
}

func (h *Handler) serveWebhook(w http.ResponseWriter, r *http.Request) {
	body, readErr := io.ReadAll(io.LimitReader(r.Body, maxReadBytes))
	rec := &Received{Path: r.URL.Path, Body: body, DeliveryID: r.Header.Get(DeliveryIDHeader)}

	h.mu.Lock()
	rec.At = h.cfg.now()
	f, faulty := h.arrive(rec)
	h.mu.Unlock()

	if faulty && f.Latency > 0 {
		t := time.NewTimer(f.Latency)
		select {
		case <-r.Context().Done():
			t.Stop()
			h.mu.Lock()
			h.finish(rec, 0)
			h.mu.Unlock()
			return
		case <-t.C:
		}
	}
	if faulty && f.Status != 0 {
		h.mu.Lock()
		h.finish(rec, f.Status)
		h.mu.Unlock()
		writeBare(w, f.Status, http.StatusText(f.Status))
		return
	}

	v := judge(r.Method, body, readErr)
	bare := h.cfg.bare || v.kind == workflows
	h.mu.Lock()
	switch {
	case h.removed[rec.Path]:
		v.status, v.msg, bare = http.StatusGone, "this webhook has been removed: the connector was deleted or the workflow turned off", true
	case v.status != 0:
	case !h.admit(rec.Path, h.cfg.now()):
		v.status, v.msg = http.StatusTooManyRequests, "too many requests to this webhook"
	case v.kind == workflows:
		v.status = http.StatusAccepted
	default:
		v.status = http.StatusOK
	}
	h.finish(rec, v.status)
	h.mu.Unlock()

	switch {
	case v.status == http.StatusAccepted:
		w.WriteHeader(http.StatusAccepted)
	case v.status == http.StatusOK:
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "1")
	case v.status == http.StatusMethodNotAllowed:
		w.Header().Set("Allow", http.MethodPost)
		writeBare(w, v.status, v.msg)
	case bare:
		writeBare(w, v.status, v.msg)
	default:
		// Connector style: the failure travels in a 200.
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error %d with ContextId tcid=0,server=msgapi-production-eus-azsc2-4-170,cv=deadbeef.0..", v.status)
	}
}

// writeBare answers with status itself, adding Retry-After on 429.
func writeBare(w http.ResponseWriter, status int, msg string) {
	if status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "1")
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	io.WriteString(w, msg)
}

// judge checks a request against what Teams accepts, before rate limits.
func judge(method string, body []byte, readErr error) verdict {
	if method != http.MethodPost {
		return verdict{status: http.StatusMethodNotAllowed, msg: "only POST is allowed"}
	}
	if readErr != nil {
		return verdict{status: http.StatusBadRequest, msg: "read body: " + readErr.Error()}
	}
	var top struct {
		Type        string `json:"type"`
		Summary     string `json:"summary"`
		Text        string `json:"text"`
		Attachments []struct {
			ContentType string `json:"contentType"`
			Content     struct {
				Type    string `json:"type"`
				Version string `json:"version"`
			} `json:"content"`
		} `json:"attachments"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	jsonErr := dec.Decode(&top)
	if jsonErr == nil && dec.More() {
		jsonErr = errors.New("data after the object")
	}
	k := messageCard
	if jsonErr == nil && top.Type == "message" {
		k = workflows
	}
	// The kind is known before the size check so that a large Workflows
	// envelope is refused bare, as Workflows does.
	if len(body) > MaxBodyBytes {
		return verdict{kind: k, status: http.StatusRequestEntityTooLarge, msg: "message is larger than 28 KB"}
	}
	if jsonErr != nil {
		return verdict{status: http.StatusBadRequest, msg: "body is not valid JSON: " + jsonErr.Error()}
	}
	if top.Type != "message" {
		if strings.TrimSpace(top.Summary) == "" && strings.TrimSpace(top.Text) == "" {
			return verdict{kind: messageCard, status: http.StatusBadRequest, msg: "Summary or Text is required."}
		}
		return verdict{kind: messageCard}
	}
	bad := func(msg string) verdict {
		b, _ := json.Marshal(map[string]map[string]string{"error": {"code": "InvalidRequestContent", "message": msg}})
		return verdict{kind: workflows, status: http.StatusBadRequest, msg: string(b)}
	}
	if len(top.Attachments) == 0 {
		return bad("attachments are required")
	}
	for i, a := range top.Attachments {
		if a.ContentType != "application/vnd.microsoft.card.adaptive" {
			return bad(fmt.Sprintf("attachment %d: contentType %q is not application/vnd.microsoft.card.adaptive", i, a.ContentType))
		}
		if a.Content.Type != "AdaptiveCard" {
			return bad(fmt.Sprintf("attachment %d: content type %q is not AdaptiveCard", i, a.Content.Type))
		}
		if !supportedVersion(a.Content.Version) {
			return bad(fmt.Sprintf("attachment %d: Adaptive Card version %q is not supported, use 1.4 or lower", i, a.Content.Version))
		}
	}
	return verdict{kind: workflows}
}

// supportedVersion reports whether an Adaptive Card version is 1.0 to 1.4.
func supportedVersion(v string) bool {
	major, minor, ok := strings.Cut(v, ".")
	if !ok || major != "1" {
		return false
	}
	n, err := strconv.Atoi(minor)
	return err == nil && n >= 0 && n <= 4
}
