package ingest_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/hookrelay/hookrelay/ingest"
	"github.com/hookrelay/hookrelay/internal/config"
	"github.com/hookrelay/hookrelay/internal/natstest"
	"github.com/hookrelay/hookrelay/internal/queue"
	"github.com/hookrelay/hookrelay/internal/storetest"
	"github.com/hookrelay/hookrelay/internal/telemetry"
	"github.com/hookrelay/hookrelay/schemas"
)

const testConfig = `
max_body: 1024
publish_timeout: 500ms
sources:
  - name: alpha
    verify: {scheme: token, secret: alpha-secret, secrets: [alpha-next]}
  - name: beta
    verify: {scheme: token, secret: beta-secret}
    delivery_id_header: X-GitHub-Delivery
`

// secrets are every secret in testConfig; none may ever reach a log.
var secrets = []string{"alpha-secret", "alpha-next", "beta-secret"}

// syncBuffer is a log sink the test can read while the server writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startQueue starts a JetStream with hookrelay's streams and opens a queue on
// it, both stopped when the test ends.
func startQueue(t testing.TB) (*natstest.Env, queue.Queue) {
	t.Helper()
	env := natstest.Start(t)
	return env, env.Queue(t)
}

type fixture struct {
	env  *natstest.Env // nil when started on another backend
	q    *queue.Stores
	url  string
	logs *syncBuffer
}

// start runs a real JetStream and the ingest handler on 127.0.0.1.
func start(t testing.TB) *fixture {
	t.Helper()
	return startConfig(t, testConfig)
}

// startConfig is start with the configuration file yaml and opts.
func startConfig(t testing.TB, yaml string, opts ...ingest.Option) *fixture {
	t.Helper()
	env, q := startQueue(t)
	f := serve(t, queue.Over(q), yaml, opts...)
	f.env = env
	return f
}

// startOn runs the ingest handler on 127.0.0.1 over a store opened by open,
// with the configuration file yaml.
func startOn(t *testing.T, open storetest.Opener, yaml string) *fixture {
	t.Helper()
	return serve(t, open(t), yaml)
}

// serve runs the ingest handler on 127.0.0.1 over q.
func serve(t testing.TB, q *queue.Stores, yaml string, opts ...ingest.Option) *fixture {
	t.Helper()
	cfg, err := config.Parse([]byte(yaml))
	if err != nil {
		t.Fatalf("parse config: %v", err)
	}
	logs := &syncBuffer{}
	h, err := ingest.New(cfg, q, slog.New(slog.NewTextHandler(logs, nil)), opts...)
	if err != nil {
		t.Fatalf("ingest.New: %v", err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &fixture{q: q, url: srv.URL, logs: logs}
}

type response struct {
	status int
	header http.Header
	body   map[string]any
}

// do sends one request; body may be nil.
func do(t *testing.T, method, url string, header map[string]string, body io.Reader) response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, body)
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("%s %s: Content-Type %q, want application/json (body %q)", method, url, ct, raw)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%s %s: response %q is not JSON: %v", method, url, raw, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: m}
}

// stored counts the stored events.
func stored(t *testing.T, q queue.Events) uint64 {
	t.Helper()
	var n uint64
	err := q.ScanEvents(t.Context(), "", time.Time{}, func(queue.Stored) (bool, error) {
		n++
		return true, nil
	})
	if err != nil {
		t.Fatalf("scan events: %v", err)
	}
	return n
}

// last reads the newest stored event of a source.
func last(t *testing.T, q queue.Events, source string) queue.Stored {
	t.Helper()
	var m queue.Stored
	err := q.ScanEvents(t.Context(), source, time.Time{}, func(s queue.Stored) (bool, error) {
		m = s
		return true, nil
	})
	if err != nil {
		t.Fatalf("scan events of %s: %v", source, err)
	}
	if m.Seq == 0 {
		t.Fatalf("no event of %s stored", source)
	}
	return m
}

func TestRefused(t *testing.T) {
	t.Parallel()
	const body = `{"marker":"BODY-MUST-NOT-BE-LOGGED"}`
	tests := []struct {
		name   string
		method string
		path   string
		header map[string]string
		body   io.Reader
		want   int
	}{
		{"unknown source", "POST", "/hooks/nope/alpha-secret", nil, strings.NewReader(body), 404},
		{"unknown path", "POST", "/elsewhere", nil, strings.NewReader(body), 404},
		{"too many segments", "POST", "/hooks/alpha/alpha-secret/x", nil, strings.NewReader(body), 404},
		{"trailing slash", "POST", "/hooks/alpha/", map[string]string{"Authorization": "Bearer alpha-secret"}, strings.NewReader(body), 404},
		{"dot segment", "POST", "/hooks/x/../alpha/alpha-secret", nil, strings.NewReader(body), 404},
		{"GET", "GET", "/hooks/alpha/alpha-secret", nil, nil, 405},
		{"PUT", "PUT", "/hooks/alpha", map[string]string{"Authorization": "Bearer alpha-secret"}, strings.NewReader(body), 405},
		{"body too large", "POST", "/hooks/alpha/alpha-secret", nil, bytes.NewReader(make([]byte, 1025)), 413},
		// A reader of unknown length makes the client send chunked, so
		// only the body limit, not Content-Length, can catch it.
		{"body too large, chunked", "POST", "/hooks/alpha/alpha-secret", nil, io.MultiReader(bytes.NewReader(make([]byte, 4096))), 413},
		{"empty body", "POST", "/hooks/alpha/alpha-secret", nil, nil, 400},
		{"wrong path token", "POST", "/hooks/alpha/wrong-token", nil, strings.NewReader(body), 401},
		{"wrong bearer", "POST", "/hooks/alpha", map[string]string{"Authorization": "Bearer wrong-token"}, strings.NewReader(body), 401},
		{"secret with a suffix", "POST", "/hooks/alpha/alpha-secretX", nil, strings.NewReader(body), 401},
		{"secret prefix", "POST", "/hooks/alpha/alpha-", nil, strings.NewReader(body), 401},
		{"missing token", "POST", "/hooks/alpha", nil, strings.NewReader(body), 401},
		{"secret not as bearer", "POST", "/hooks/alpha", map[string]string{"Authorization": "Basic alpha-secret"}, strings.NewReader(body), 401},
		{"token of another source in path", "POST", "/hooks/alpha/beta-secret", nil, strings.NewReader(body), 401},
		{"token of another source as bearer", "POST", "/hooks/beta", map[string]string{"Authorization": "Bearer alpha-secret"}, strings.NewReader(body), 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := start(t)
			got := do(t, tt.method, f.url+tt.path, tt.header, tt.body)
			if got.status != tt.want {
				t.Fatalf("status %d, want %d (body %v)", got.status, tt.want, got.body)
			}
			if msg, _ := got.body["error"].(string); msg == "" {
				t.Errorf("response %v has no error message", got.body)
			}
			if tt.want == 405 && got.header.Get("Allow") != "POST" {
				t.Errorf("Allow %q, want POST", got.header.Get("Allow"))
			}
			if n := stored(t, f.q); n != 0 {
				t.Errorf("%d events stored for a refused request", n)
			}
			logs := f.logs.String()
			if !strings.Contains(logs, "status="+strconv.Itoa(tt.want)) {
				t.Errorf("refusal not logged with its status: %q", logs)
			}
			for _, leak := range append([]string{"BODY-MUST-NOT-BE-LOGGED", "wrong-token"}, secrets...) {
				if strings.Contains(logs, leak) {
					t.Errorf("log contains %q: %s", leak, logs)
				}
			}
		})
	}
}

func TestAccepted(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		source string
		path   string
		header map[string]string
	}{
		{"path token", "alpha", "/hooks/alpha/alpha-secret", nil},
		{"bearer", "alpha", "/hooks/alpha", map[string]string{"Authorization": "Bearer alpha-secret"}},
		{"bearer, lower-case scheme", "alpha", "/hooks/alpha", map[string]string{"Authorization": "bearer alpha-secret"}},
		{"rotated second secret in path", "alpha", "/hooks/alpha/alpha-next", nil},
		{"rotated second secret as bearer", "alpha", "/hooks/alpha", map[string]string{"Authorization": "Bearer alpha-next"}},
		{"other source", "beta", "/hooks/beta/beta-secret", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			storetest.Each(t, func(t *testing.T, open storetest.Opener) {
				f := startOn(t, open, testConfig)
				got := do(t, "POST", f.url+tt.path, tt.header, strings.NewReader(`{"ok":true}`))
				if got.status != http.StatusAccepted {
					t.Fatalf("status %d, want 202 (body %v)", got.status, got.body)
				}
				id, _ := got.body["id"].(string)
				if u, err := uuid.Parse(id); err != nil || u.Version() != 7 {
					t.Fatalf("id %q is not a UUIDv7 (%v)", id, err)
				}
				if _, dup := got.body["duplicate"]; dup {
					t.Errorf("first delivery answered as duplicate: %v", got.body)
				}
				if n := stored(t, f.q); n != 1 {
					t.Fatalf("%d messages stored, want 1", n)
				}
				m := last(t, f.q, tt.source)
				if h := m.Header.Get(queue.HeaderEventID); h != id {
					t.Errorf("stored %s %q, answered id %q", queue.HeaderEventID, h, id)
				}
				// Without a delivery id there is nothing to deduplicate.
				if m.ID != "" {
					t.Errorf("stored with id %q without a delivery id, want none", m.ID)
				}
			})
		})
	}
}

func TestStoredEvent(t *testing.T) {
	t.Parallel()
	storetest.Each(t, testStoredEvent)
}

func testStoredEvent(t *testing.T, open storetest.Opener) {
	f := startOn(t, open, testConfig)
	// Not valid UTF-8 and with a trailing newline: stored exactly as sent.
	body := []byte("{\"a\":1}\xff\xfe\x00\r\n")
	header := map[string]string{
		"Authorization":       "Bearer alpha-secret",
		"Content-Type":        "application/json; charset=utf-8",
		"User-Agent":          "GitHub-Hookshot/abc123",
		"X-GitHub-Event":      "push",
		"X-Request-Id":        "req-42",
		"X-Hub-Signature-256": "sha256=deadbeef",
		"Cookie":              "session=secret",
		"X-Unlisted":          "dropped",
		"traceparent":         "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
	}
	before := time.Now()
	got := do(t, "POST", f.url+"/hooks/alpha", header, bytes.NewReader(body))
	after := time.Now()
	if got.status != http.StatusAccepted {
		t.Fatalf("status %d, want 202 (body %v)", got.status, got.body)
	}
	id := got.body["id"].(string)

	m := last(t, f.q, "alpha")
	wantHeaders := map[string]string{
		queue.HeaderEventID: id,
		queue.HeaderSource:  "alpha",
		"traceparent":       header["traceparent"],
	}
	for k, want := range wantHeaders {
		if got := m.Header.Get(k); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	if m.ID != "alpha:req-42" || m.Stream != queue.StreamIn {
		t.Errorf("stored on %s with id %q, want %s with the source and delivery id", m.Stream, m.ID, queue.StreamIn)
	}

	ev, err := schemas.DecodeEvent(m.Header, m.Data)
	if err != nil {
		t.Fatalf("stored event unreadable: %v", err)
	}
	// The body is stored as it came, byte for byte: no envelope around it.
	if !bytes.Equal(m.Data, body) || !bytes.Equal(ev.Body, body) {
		t.Errorf("stored data %q, body %q, want %q", m.Data, ev.Body, body)
	}
	if f := m.Header.Get(schemas.HeaderEventFormat); f != schemas.EventFormatRaw {
		t.Errorf("format header %q, want %q", f, schemas.EventFormatRaw)
	}
	if ev.ID != id || ev.Source != "alpha" || ev.ContentType != header["Content-Type"] ||
		ev.DeliveryID != "req-42" || ev.Verified != "token" {
		t.Errorf("stored event %+v", ev)
	}
	if ev.ReceivedAt.Before(before.Add(-time.Second)) || ev.ReceivedAt.After(after.Add(time.Second)) {
		t.Errorf("received_at %v outside [%v, %v]", ev.ReceivedAt, before, after)
	}
	wantKept := map[string]string{
		"User-Agent":     "GitHub-Hookshot/abc123",
		"X-Github-Event": "push",
		"X-Request-Id":   "req-42",
	}
	if len(ev.Headers) != len(wantKept) {
		t.Errorf("stored headers %v, want %v", ev.Headers, wantKept)
	}
	for k, want := range wantKept {
		if ev.Headers[k] != want {
			t.Errorf("stored header %s = %q, want %q", k, ev.Headers[k], want)
		}
	}
	for _, secret := range []string{"alpha-secret", "deadbeef", "session=secret"} {
		if bytes.Contains(m.Data, []byte(secret)) {
			t.Errorf("stored event contains credential %q", secret)
		}
		for k, vs := range m.Header {
			if strings.Contains(k+strings.Join(vs, ","), secret) {
				t.Errorf("stored header %s: %q contains credential %q", k, vs, secret)
			}
		}
	}
}

func TestDuplicateDelivery(t *testing.T) {
	t.Parallel()
	storetest.Each(t, testDuplicateDelivery)
}

func testDuplicateDelivery(t *testing.T, open storetest.Opener) {
	f := startOn(t, open, testConfig)
	post := func(path, headerName, deliveryID string) response {
		t.Helper()
		got := do(t, "POST", f.url+path, map[string]string{headerName: deliveryID}, strings.NewReader(`{"n":1}`))
		if got.status != http.StatusAccepted {
			t.Fatalf("status %d, want 202 (body %v)", got.status, got.body)
		}
		return got
	}

	first := post("/hooks/alpha/alpha-secret", "X-Request-Id", "delivery-1")
	again := post("/hooks/alpha/alpha-next", "X-Request-Id", "delivery-1")
	if again.body["duplicate"] != true {
		t.Errorf("retry answered %v, want duplicate:true", again.body)
	}
	if again.body["id"] != first.body["id"] {
		t.Errorf("retry answered id %v, want the original %v", again.body["id"], first.body["id"])
	}
	if n := stored(t, f.q); n != 1 {
		t.Fatalf("%d messages stored after a retry, want 1", n)
	}

	// The dedup key is per delivery id and per source.
	other := post("/hooks/alpha/alpha-secret", "X-Request-Id", "delivery-2")
	beta := post("/hooks/beta/beta-secret", "X-GitHub-Delivery", "delivery-1")
	for _, r := range []response{other, beta} {
		if r.body["duplicate"] != nil || r.body["id"] == first.body["id"] {
			t.Errorf("distinct delivery answered %v", r.body)
		}
	}
	if n := stored(t, f.q); n != 3 {
		t.Fatalf("%d messages stored, want 3", n)
	}
}

func TestStoreUnavailable(t *testing.T) {
	t.Parallel()
	// JetStream only: the test stops the embedded server it started.
	t.Run("server stopped", func(t *testing.T) {
		t.Parallel()
		f := start(t)
		f.env.Server.Shutdown()
		wantUnavailable(t, f)
	})
	t.Run("connection closed", func(t *testing.T) {
		t.Parallel()
		storetest.Each(t, func(t *testing.T, open storetest.Opener) {
			f := startOn(t, open, testConfig)
			_ = f.q.Backend().Close(context.Background())
			wantUnavailable(t, f)
		})
	})
}

// wantUnavailable posts an event and wants it answered 503 within the
// publish timeout.
func wantUnavailable(t *testing.T, f *fixture) {
	t.Helper()
	began := time.Now()
	got := do(t, "POST", f.url+"/hooks/alpha/alpha-secret", nil, strings.NewReader(`{"n":1}`))
	if got.status != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503 (body %v)", got.status, got.body)
	}
	if took := time.Since(began); took > 500*time.Millisecond+2*time.Second {
		t.Errorf("503 after %v, want within the 500ms publish timeout", took)
	}
	if got.header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	if got.body["error"] != "event store unavailable, retry later" {
		t.Errorf("body %v", got.body)
	}
}

// TestEventLargerThanTheStore answers 413 for an event within max_body that
// the queue refuses as too large: retrying would not help, so not 503.
func TestEventLargerThanTheStore(t *testing.T) {
	t.Parallel()
	storetest.Each(t, testEventLargerThanTheStore)
}

func testEventLargerThanTheStore(t *testing.T, open storetest.Opener) {
	f := startOn(t, open, `
max_body: 16777216
sources:
  - name: alpha
    verify: {scheme: token, secret: alpha-secret}
`)
	// Larger than JetStream's 8 MiB and a Kafka broker's 1 MiB, within
	// max_body.
	got := do(t, "POST", f.url+"/hooks/alpha/alpha-secret", nil, bytes.NewReader(make([]byte, 9<<20)))
	if got.status != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d, want 413 (body %v)", got.status, got.body)
	}
	if got.body["error"] != "event larger than the event store accepts: send a smaller event" {
		t.Errorf("body %v", got.body)
	}
	if n := stored(t, f.q); n != 0 {
		t.Fatalf("%d messages stored, want 0", n)
	}
}

func TestNewRefusesUnverifiableSources(t *testing.T) {
	t.Parallel()
	_, q := startQueue(t)
	tests := []struct {
		name   string
		verify config.Verify
	}{
		{"unknown scheme", config.Verify{Scheme: "nonsense", Secret: "s"}},
		{"no scheme", config.Verify{Secret: "s"}},
		{"no secret", config.Verify{Scheme: "token"}},
		{"only empty secrets", config.Verify{Scheme: "token", Secrets: []string{""}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := &config.Config{Sources: []config.Source{{Name: "s", Verify: tt.verify}}}
			if h, err := ingest.New(cfg, queue.Over(q), nil); err == nil {
				t.Fatalf("New accepted %+v: %v", tt.verify, h)
			}
		})
	}
}

// TestPublishUsesRequestContext checks the publish gives up with the request:
// a client that hangs up does not keep a publish waiting for the timeout.
func TestPublishUsesRequestContext(t *testing.T) {
	t.Parallel()
	env, q := startQueue(t)
	cfg, err := config.Parse([]byte(testConfig))
	if err != nil {
		t.Fatal(err)
	}
	cfg.PublishTimeout = time.Minute
	h, err := ingest.New(cfg, queue.Over(q), nil)
	if err != nil {
		t.Fatal(err)
	}
	env.Server.Shutdown()
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	req := httptest.NewRequestWithContext(ctx, "POST", "/hooks/alpha/alpha-secret", strings.NewReader("x"))
	rec := httptest.NewRecorder()
	began := time.Now()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("status %d, want 503", rec.Code)
	}
	if took := time.Since(began); took > 5*time.Second {
		t.Errorf("publish outlived its request by %v", took)
	}
}

func TestSignedSource(t *testing.T) {
	t.Parallel()
	storetest.Each(t, testSignedSource)
}

func testSignedSource(t *testing.T, open storetest.Opener) {
	f := startOn(t, open, `
sources:
  - name: gh
    verify: {scheme: github, secret: old-secret, secrets: [gh-secret]}
`)

	body := `{"zen":"Design for failure."}`
	mac := hmac.New(sha256.New, []byte("gh-secret"))
	mac.Write([]byte(body))
	signature := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	header := func(sig string) map[string]string {
		return map[string]string{
			"X-Hub-Signature-256": sig,
			"X-GitHub-Delivery":   "72d3162e-cc78-11e3-81ab-4c9367dc0958",
			"X-GitHub-Event":      "ping",
		}
	}

	for _, sig := range []string{"", "sha256=" + strings.Repeat("0", 64), strings.Replace(signature, "a", "b", 1)} {
		if got := do(t, "POST", f.url+"/hooks/gh", header(sig), strings.NewReader(body)); got.status != http.StatusUnauthorized {
			t.Fatalf("signature %q: status %d, want 401", sig, got.status)
		}
	}
	if n := stored(t, f.q); n != 0 {
		t.Fatalf("%d messages stored for forged requests", n)
	}

	first := do(t, "POST", f.url+"/hooks/gh", header(signature), strings.NewReader(body))
	if first.status != http.StatusAccepted {
		t.Fatalf("status %d, want 202 (body %v)", first.status, first.body)
	}
	// GitHub's redelivery keeps X-GitHub-Delivery: the preset makes it the
	// dedup key without any delivery_id_header setting.
	again := do(t, "POST", f.url+"/hooks/gh", header(signature), strings.NewReader(body))
	if again.status != http.StatusAccepted || again.body["duplicate"] != true || again.body["id"] != first.body["id"] {
		t.Fatalf("redelivery answered %d %v, want 202 duplicate of %v", again.status, again.body, first.body["id"])
	}
	m := last(t, f.q, "gh")
	if m.ID != "gh:72d3162e-cc78-11e3-81ab-4c9367dc0958" {
		t.Errorf("id %q, want the source and X-GitHub-Delivery", m.ID)
	}
	ev, err := schemas.DecodeEvent(m.Header, m.Data)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Verified != "github" || string(ev.Body) != body || ev.Headers["X-Hub-Signature-256"] != "" {
		t.Errorf("stored event %+v", ev)
	}
	if n := stored(t, f.q); n != 1 {
		t.Fatalf("%d messages stored, want 1", n)
	}
}

func TestMicrosoftHandshakes(t *testing.T) {
	t.Parallel()
	teamsKey := []byte("teams outgoing webhook key bytes")
	f := startConfig(t, `
sources:
  - name: graph
    verify: {scheme: graph, secret: secretClientValue}
  - name: teams
    verify: {scheme: teams-outgoing, secret: `+base64.StdEncoding.EncodeToString(teamsKey)+`}
  - name: alpha
    verify: {scheme: token, secret: alpha-secret}
`)

	t.Run("validation", func(t *testing.T) {
		tests := []struct{ name, query, want string }{
			{"graph", "validationToken=Validation%3A%20Testing%20client%20application%20at%202016-05-28T22%3A33%3A08.9400000%2B00%3A00",
				"Validation: Testing client application at 2016-05-28T22:33:08.9400000+00:00"},
			{"sharepoint spelling", "validationtoken=3a1b0c4e-sp-token", "3a1b0c4e-sp-token"},
		}
		for _, tt := range tests {
			resp, err := http.Post(f.url+"/hooks/graph?"+tt.query, "text/plain", nil)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || string(got) != tt.want ||
				!strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
				t.Errorf("%s: answered %d %q (%s), want 200 %q as text/plain", tt.name, resp.StatusCode, got, resp.Header.Get("Content-Type"), tt.want)
			}
		}
		// Only a graph source echoes: anywhere else it is an unverified request.
		if got := do(t, "POST", f.url+"/hooks/alpha?validationToken=x", nil, strings.NewReader("x")); got.status != http.StatusUnauthorized {
			t.Errorf("token source answered a validation request with %d, want 401", got.status)
		}
		if n := stored(t, f.q); n != 0 {
			t.Fatalf("%d messages stored by validation requests", n)
		}
	})

	t.Run("graph notifications", func(t *testing.T) {
		raw, err := os.ReadFile(filepath.Join("..", "..", "shared", "payloads", "msgraph_change_notification_message_created.json"))
		if err != nil {
			t.Skipf("SKIPPED: Graph sample notification not found: %v", err)
		}
		forged := bytes.Replace(raw, []byte("secretClientValue"), []byte("guessedClientValue"), 1)
		if got := do(t, "POST", f.url+"/hooks/graph", nil, bytes.NewReader(forged)); got.status != http.StatusUnauthorized {
			t.Fatalf("wrong clientState answered %d, want 401", got.status)
		}
		if n := stored(t, f.q); n != 0 {
			t.Fatalf("%d messages stored for a wrong clientState", n)
		}
		if got := do(t, "POST", f.url+"/hooks/graph", nil, bytes.NewReader(raw)); got.status != http.StatusAccepted {
			t.Fatalf("notification answered %d %v, want 202", got.status, got.body)
		}
	})

	t.Run("teams outgoing reply", func(t *testing.T) {
		body := []byte(`{"type":"message","text":"<at>relay</at> deploy finished"}`)
		mac := hmac.New(sha256.New, teamsKey)
		mac.Write(body)
		auth := "HMAC " + base64.StdEncoding.EncodeToString(mac.Sum(nil))
		got := do(t, "POST", f.url+"/hooks/teams", map[string]string{"Authorization": auth}, bytes.NewReader(body))
		if got.status != http.StatusOK || got.body["type"] != "message" {
			t.Fatalf("answered %d %v, want 200 and a Teams message", got.status, got.body)
		}
		id := last(t, f.q, "teams").Header.Get(queue.HeaderEventID)
		if text, _ := got.body["text"].(string); id == "" || !strings.Contains(text, id) {
			t.Errorf("reply %q does not name the stored event %q", text, id)
		}
	})
}

func TestSourceLimits(t *testing.T) {
	t.Parallel()
	f := startConfig(t, `
sources:
  - name: limited
    verify: {scheme: token, secret: limited-secret}
    rate_limit: 0.001
    burst: 2
  - name: capped
    verify: {scheme: token, secret: capped-secret}
    max_in_flight: 1
`)

	t.Run("rate limit", func(t *testing.T) {
		// Forged requests do not use up the vendor's budget.
		for range 5 {
			if got := do(t, "POST", f.url+"/hooks/limited/forged", nil, strings.NewReader("{}")); got.status != http.StatusUnauthorized {
				t.Fatalf("forged request answered %d, want 401", got.status)
			}
		}
		for i := range 2 {
			if got := do(t, "POST", f.url+"/hooks/limited/limited-secret", nil, strings.NewReader("{}")); got.status != http.StatusAccepted {
				t.Fatalf("request %d within the burst answered %d, want 202", i+1, got.status)
			}
		}
		got := do(t, "POST", f.url+"/hooks/limited/limited-secret", nil, strings.NewReader("{}"))
		if got.status != http.StatusTooManyRequests {
			t.Fatalf("request over the limit answered %d %v, want 429", got.status, got.body)
		}
		// One request per 1000 s: the wait is long, and said so.
		if s, err := strconv.Atoi(got.header.Get("Retry-After")); err != nil || s < 900 {
			t.Errorf("Retry-After %q, want about 1000 seconds", got.header.Get("Retry-After"))
		}
	})

	t.Run("requests in flight", func(t *testing.T) {
		// The slow request holds the only slot while its body is unfinished:
		// written on a connection of its own, 8 of its 13 bytes sent.
		type held struct {
			conn net.Conn
			r    *bufio.Reader // one per connection: a read that timed out keeps what it read
		}
		hold := func() held {
			c := rawRequest(t, f, "/hooks/capped/capped-secret", nil, 13, `{"slow":`)
			return held{c, bufio.NewReader(c)}
		}
		// refused reports whether the slow request was answered within d:
		// refused, as it came while a probe held the slot.
		refused := func(h held, d time.Duration) bool {
			_ = h.conn.SetReadDeadline(time.Now().Add(d))
			resp, err := http.ReadResponse(h.r, nil)
			if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() {
				return false
			}
			if err != nil {
				t.Fatalf("read the slow request's answer: %v", err)
			}
			if resp.StatusCode != http.StatusTooManyRequests {
				t.Fatalf("the slow request answered %d before its body ended, want 429 or nothing", resp.StatusCode)
			}
			return true
		}
		slow := hold()
		// Probe until the slot is seen taken. The slow request is given a
		// head start to take it; a probe that takes it first is stored and
		// frees it, and the slow request that came meanwhile is refused:
		// another one is sent. (A wrong token never reaches the slot: it is
		// refused before the body is read.)
		deadline := time.Now().Add(10 * time.Second)
		for {
			if refused(slow, 100*time.Millisecond) {
				slow = hold()
				continue
			}
			got := do(t, "POST", f.url+"/hooks/capped/capped-secret", nil, strings.NewReader("{}"))
			if got.status == http.StatusTooManyRequests {
				if got.header.Get("Retry-After") == "" {
					t.Error("429 without Retry-After")
				}
				break
			}
			if got.status != http.StatusAccepted || time.Now().After(deadline) {
				t.Fatalf("probe answered %d; the slot was never seen taken", got.status)
			}
		}
		_ = slow.conn.SetReadDeadline(time.Time{})
		if _, err := slow.conn.Write([]byte(`true}`)); err != nil {
			t.Fatal(err)
		}
		if code := answer(t, slow.conn); code != http.StatusAccepted {
			t.Fatalf("the slow request answered %d, want 202", code)
		}
		// The slot is free again.
		if got := do(t, "POST", f.url+"/hooks/capped/capped-secret", nil, strings.NewReader("{}")); got.status != http.StatusAccepted {
			t.Fatalf("after the slow request: %d, want 202", got.status)
		}
	})
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	m := telemetry.NewMetrics()
	f := startConfig(t, testConfig, ingest.WithMetrics(m))
	for _, p := range []string{"/hooks/alpha/alpha-secret", "/hooks/alpha/alpha-secret", "/hooks/alpha/wrong", "/hooks/stranger-name/x"} {
		do(t, "POST", f.url+p, nil, strings.NewReader("{}"))
	}

	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		if f.GetName() != telemetry.MetricIngestRequests {
			continue
		}
		for _, s := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range s.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			got[labels["source"]+" "+labels["code"]] = s.GetCounter().GetValue()
		}
	}
	want := map[string]float64{"alpha 202": 2, "alpha 401": 1, "unknown 404": 1}
	if len(got) != len(want) {
		t.Errorf("%s = %v, want %v", telemetry.MetricIngestRequests, got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s{%s} = %v, want %v", telemetry.MetricIngestRequests, k, got[k], v)
		}
	}
}
