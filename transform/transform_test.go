package transform

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/hookrelay/hookrelay/internal/config"
	"github.com/hookrelay/hookrelay/internal/natstest"
	"github.com/hookrelay/hookrelay/internal/queue"
	"github.com/hookrelay/hookrelay/internal/queue/jsqueue"
	"github.com/hookrelay/hookrelay/internal/storetest"
	"github.com/hookrelay/hookrelay/schemas"
)

const baseConfig = `
sources:
  - {name: github, verify: {scheme: token, secret: s}}
  - {name: plain, verify: {scheme: token, secret: s}}
  - {name: quiet, verify: {scheme: token, secret: s}}
destinations:
  - {name: ops, url: "https://teams.example/ops", format: messagecard}
  - {name: dev, url: "https://teams.example/dev", format: adaptive, max_age: 1h}
routes:
`

func parseConfig(t *testing.T, routes string) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(baseConfig + routes))
	if err != nil {
		t.Fatalf("parse config: %v", err)
	}
	return cfg
}

// startStage runs a Transformer on q until the test ends, then checks that
// Run returned nil once cancelled.
func startStage(t *testing.T, q *queue.Stores, routes string) *Transformer {
	t.Helper()
	return startStageConfig(t, q, parseConfig(t, routes))
}

// startStageConfig is startStage with a whole configuration.
func startStageConfig(t *testing.T, q *queue.Stores, cfg *config.Config) *Transformer {
	t.Helper()
	tr, err := New(q, q, q, cfg, nil, WithWorkers(4))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return tr.Run(ctx) })
	t.Cleanup(func() {
		cancel()
		if err := g.Wait(); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return tr
}

// publishEvent stores ev as ingest does.
func publishEvent(t *testing.T, q queue.Events, ev schemas.Event, msgID string, hdr queue.Header) {
	t.Helper()
	h := queue.Header{}
	for k, vs := range hdr {
		h[k] = vs
	}
	data := schemas.EncodeEvent(&ev, h)
	publishRaw(t, q, ev.Source, data, msgID, h)
}

// publishRaw stores data as an event of source.
func publishRaw(t *testing.T, q queue.Events, source string, data []byte, msgID string, hdr queue.Header) {
	t.Helper()
	if _, err := q.AppendEvent(context.Background(), queue.Msg{Key: source, Header: hdr, Data: data, ID: msgID}); err != nil {
		t.Fatalf("append an event of %s: %v", source, err)
	}
}

// waitSettled waits until tr has settled n events: acked once their outputs
// were stored, or terminated as malformed. It polls the stage's counters:
// nothing else tells, on every backend, that an event is settled.
func waitSettled(t *testing.T, tr *Transformer, n uint64) {
	t.Helper()
	storetest.Eventually(t, fmt.Sprintf("%d events settled", n), func() bool {
		s := tr.Stats()
		return s.Events+s.Malformed >= n
	})
}

// events counts the stored events.
func events(t *testing.T, q queue.Events) int {
	t.Helper()
	n := 0
	if err := q.ScanEvents(context.Background(), "", time.Time{}, func(queue.Stored) (bool, error) {
		n++
		return true, nil
	}); err != nil {
		t.Fatalf("scan events: %v", err)
	}
	return n
}

// destinations are baseConfig's.
var destinations = []string{"ops", "dev"}

// takeAll takes the deliveries of each destination; a destination with
// none is left out.
func takeAll(t *testing.T, l *storetest.Lanes, dests ...string) map[string][]queue.Stored {
	t.Helper()
	out := map[string][]queue.Stored{}
	for _, dest := range dests {
		if ms := l.Take(t, dest); len(ms) > 0 {
			out[dest] = ms
		}
	}
	return out
}

// count counts the messages of every destination.
func count(byDest map[string][]queue.Stored) int {
	n := 0
	for _, ms := range byDest {
		n += len(ms)
	}
	return n
}

// deliveries takes the deliveries of dests, at most one each, decoded.
func deliveries(t *testing.T, l *storetest.Lanes, dests ...string) map[string]schemas.Delivery {
	t.Helper()
	return decodeDeliveries(t, takeAll(t, l, dests...))
}

func decodeDeliveries(t *testing.T, byDest map[string][]queue.Stored) map[string]schemas.Delivery {
	t.Helper()
	out := map[string]schemas.Delivery{}
	for dest, ms := range byDest {
		if len(ms) > 1 {
			t.Errorf("%d deliveries for %s, want one", len(ms), dest)
		}
		var d schemas.Delivery
		if err := json.Unmarshal(ms[0].Data, &d); err != nil {
			t.Fatalf("delivery for %s is not JSON: %v", dest, err)
		}
		if d.Destination != dest {
			t.Errorf("delivery for %s stored for %s", d.Destination, dest)
		}
		out[dest] = d
	}
	return out
}

// deadLetters reads the dead letters, by destination.
func deadLetters(t *testing.T, q queue.DeadLetters) map[string]schemas.DeadLetter {
	t.Helper()
	out := map[string]schemas.DeadLetter{}
	err := q.ScanDeadLetters(context.Background(), "", time.Time{}, func(m queue.Stored) (bool, error) {
		var d schemas.DeadLetter
		if err := json.Unmarshal(m.Data, &d); err != nil {
			t.Fatalf("dead letter of %s is not JSON: %v", m.Key, err)
		}
		if m.Key != d.Delivery.Destination {
			t.Errorf("dead letter for %s stored for %s", d.Delivery.Destination, m.Key)
		}
		if got := m.Header.Get(queue.HeaderReason); got != schemas.ReasonTransform {
			t.Errorf("dead letter header reason %q", got)
		}
		if want := d.Delivery.EventID + ":" + d.Delivery.Destination + ":0"; m.ID != want || m.Ref != want {
			t.Errorf("dead letter stored as %q, named %q, want %q", m.ID, m.Ref, want)
		}
		out[d.Delivery.Destination] = d
		return true, nil
	})
	if err != nil {
		t.Fatalf("scan dead letters: %v", err)
	}
	return out
}

func event(id, source, body string) schemas.Event {
	return schemas.Event{
		ID: id, Source: source, ReceivedAt: time.Now().UTC().Truncate(time.Millisecond),
		ContentType: "application/json", Body: []byte(body),
	}
}

func TestDeliversOneCardPerDestination(t *testing.T) {
	storetest.Each(t, testDeliversOneCardPerDestination)
}

func testDeliversOneCardPerDestination(t *testing.T, open storetest.Opener) {
	q := open(t)
	tr := startStage(t, q, `  - {name: all, source: github, to: [ops, dev]}`)
	v := newValidator(t)
	ev := event("ev1", "github", `{"action":"opened","title":"Spelling error","html_url":"https://github.com/o/r/issues/1"}`)
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	publishEvent(t, q, ev, "in-1", queue.Header{"traceparent": {tp}})
	waitSettled(t, tr, 1)

	stored := takeAll(t, storetest.NewLanes(t, q), destinations...)
	got := decodeDeliveries(t, stored)
	if len(got) != 2 {
		t.Fatalf("got deliveries for %d destinations, want ops and dev: %v", len(got), got)
	}
	for _, tc := range []struct {
		dest, format string
		maxAge       time.Duration
	}{
		{"ops", schemas.FormatMessageCard, config.DefaultMaxAge},
		{"dev", schemas.FormatAdaptive, time.Hour},
	} {
		d := got[tc.dest]
		if d.ID != "ev1."+tc.dest || d.EventID != "ev1" || d.Source != "github" || d.Route != "all" || d.Format != tc.format {
			t.Errorf("%s: delivery = %+v", tc.dest, d)
		}
		if !d.NotAfter.Equal(ev.ReceivedAt.Add(tc.maxAge)) {
			t.Errorf("%s: not_after %v, want received_at + %v", tc.dest, d.NotAfter, tc.maxAge)
		}
		if time.Since(d.CreatedAt) > time.Minute || d.CreatedAt.After(time.Now()) {
			t.Errorf("%s: created_at %v is not now", tc.dest, d.CreatedAt)
		}
		if len(d.Card) > schemas.MaxCardBytes {
			t.Errorf("%s: card of %d bytes", tc.dest, len(d.Card))
		}
		if err := v.Validate(tc.format, d.Card); err != nil {
			t.Errorf("%s: %v", tc.dest, err)
		}
		if !strings.Contains(string(d.Card), "Spelling error") {
			t.Errorf("%s: card lacks the title: %s", tc.dest, d.Card)
		}
	}
	m := stored["dev"][0]
	for h, want := range map[string]string{
		queue.HeaderDeliveryID: "ev1.dev", queue.HeaderEventID: "ev1", "traceparent": tp,
	} {
		if got := m.Header.Get(h); got != want {
			t.Errorf("header %s = %q, want %q", h, got, want)
		}
	}
	if got := m.ID; got != "ev1.dev" {
		t.Errorf("id %q, want ev1.dev", got)
	}
	if s := tr.Stats(); s.Events != 1 || s.Deliveries != 2 || s.DeadLetters != 0 {
		t.Errorf("stats = %+v", s)
	}
}

func TestFilters(t *testing.T) {
	for _, tc := range []struct {
		name, source, filter, body string
		delivered, dead, form      bool
		errPart                    string
		retried                    uint64
	}{
		{name: "true", source: "github", filter: `.action == "opened"`, body: `{"action":"opened"}`, delivered: true},
		{name: "false", source: "github", filter: `.action == "opened"`, body: `{"action":"closed"}`},
		{name: "null is false", source: "github", filter: `.missing`, body: `{"action":"closed"}`},
		{name: "truthy value", source: "github", filter: `.labels[0]`, body: `{"labels":["bug"]}`, delivered: true},
		{name: "first value decides", source: "github", filter: `.a[]`, body: `{"a":[true,false]}`, delivered: true},
		{name: "no value", source: "github", filter: `empty`, body: `{}`},
		{name: "non-JSON body is a string", source: "plain", filter: `startswith("build")`, body: "build 12 failed", delivered: true},
		{name: "non-JSON body no match", source: "plain", filter: `test("ok$")`, body: "build 12 failed"},
		{name: "form payload is decoded", source: "github", filter: `.action == "opened"`, form: true,
			body: "payload=%7B%22action%22%3A%22opened%22%7D", delivered: true},
		// A number beyond float64 leaves the document a document.
		{name: "number beyond float64", source: "github", filter: `.action == "opened"`, body: `{"action":"opened","n":1e400}`, delivered: true},
		{name: "integer beyond 2^53 compared exactly", source: "github", filter: `.id == 12345678901234567891`,
			body: `{"id":12345678901234567891}`, delivered: true},
		{name: "runtime error", source: "github", filter: `.action | tonumber`, body: `{"action":"opened"}`, dead: true, errPart: "tonumber"},
		{name: "error()", source: "github", filter: `error("boom")`, body: `{}`, dead: true, errPart: "boom"},
		{name: "object field on a string body", source: "plain", filter: `.action == "x"`, body: "text", dead: true, errPart: "expected an object"},
		// Out of time: tried again (a busy machine is no reason to drop an
		// event), and dead-lettered at its filterTries-th delivery.
		{name: "filter that never ends", source: "github", filter: `last(repeat(1))`, body: `{}`, dead: true,
			errPart: "deadline exceeded", retried: filterTries - 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, open storetest.Opener) {
				// Side by side: the filter that never ends mostly waits,
				// for its timeouts and retries, on either backend.
				t.Parallel()
				q := open(t)
				tr := startStage(t, q, `  - {name: filtered, source: `+tc.source+`, filter: '`+tc.filter+`', to: [ops]}`)
				ev := event("ev-f", tc.source, tc.body)
				if tc.form {
					ev.ContentType = "application/x-www-form-urlencoded"
				}
				publishEvent(t, q, ev, "in-f", nil)
				waitSettled(t, tr, 1)

				_, delivered := deliveries(t, storetest.NewLanes(t, q), "ops")["ops"]
				dl, dead := deadLetters(t, q)["ops"]
				if delivered != tc.delivered || dead != tc.dead {
					t.Fatalf("delivered=%v dead=%v, want %v %v", delivered, dead, tc.delivered, tc.dead)
				}
				if dead {
					if dl.Reason != schemas.ReasonTransform || dl.Delivery.ID != "ev-f.ops" || dl.Delivery.Route != "filtered" {
						t.Errorf("dead letter = %+v", dl)
					}
					for _, part := range []string{"ev-f", `"filtered"`, tc.errPart} {
						if !strings.Contains(dl.LastError, part) {
							t.Errorf("last error %q does not name %q", dl.LastError, part)
						}
					}
				}
				s := tr.Stats()
				if s.Events != 1 || (!tc.delivered && !tc.dead && s.Unrouted != 1) || s.Retried != tc.retried {
					t.Errorf("stats = %+v", s)
				}
			})
		})
	}
}

func TestFirstMatchingRouteWinsPerDestination(t *testing.T) {
	storetest.Each(t, testFirstMatchingRouteWinsPerDestination)
}

func testFirstMatchingRouteWinsPerDestination(t *testing.T, open storetest.Opener) {
	q := open(t)
	tr := startStage(t, q, `
  - {name: urgent, source: github, filter: '.urgent', to: [ops]}
  - {name: never, source: github, filter: 'false', to: [dev]}
  - {name: rest, source: github, to: [ops, dev]}
  - {name: late, source: github, to: [dev]}`)
	publishEvent(t, q, event("u", "github", `{"urgent":true}`), "in-u", nil)
	waitSettled(t, tr, 1)
	got := deliveries(t, storetest.NewLanes(t, q), destinations...)
	if got["ops"].Route != "urgent" || got["dev"].Route != "rest" {
		t.Fatalf("routes: ops from %q, dev from %q; want urgent and rest", got["ops"].Route, got["dev"].Route)
	}
}

// TestRedeliveredEventStoredOnce stores the same event twice (as a replay
// from source would) and expects one delivery per destination.
func TestRedeliveredEventStoredOnce(t *testing.T) { storetest.Each(t, testRedeliveredEventStoredOnce) }

func testRedeliveredEventStoredOnce(t *testing.T, open storetest.Opener) {
	q := open(t)
	tr := startStage(t, q, `  - {name: all, source: github, to: [ops, dev]}`)
	ev := event("same", "github", `{"title":"once"}`)
	publishEvent(t, q, ev, "first", nil)
	publishEvent(t, q, ev, "second", nil)
	waitSettled(t, tr, 2)

	if n := events(t, q); n != 2 {
		t.Fatalf("%d copies of the event stored, want 2", n)
	}
	if n := count(takeAll(t, storetest.NewLanes(t, q), destinations...)); n != 2 {
		t.Fatalf("%d deliveries stored, want 2 (one per destination)", n)
	}
	if s := tr.Stats(); s.Events != 2 {
		t.Errorf("stats = %+v, want both copies settled", s)
	}
}

func TestEventsWithoutOutputAreSettled(t *testing.T) {
	storetest.Each(t, testEventsWithoutOutputAreSettled)
}

func testEventsWithoutOutputAreSettled(t *testing.T, open storetest.Opener) {
	q := open(t)
	tr := startStage(t, q, `  - {name: all, source: github, to: [ops]}`)
	publishEvent(t, q, event("q", "quiet", `{}`), "in-q", nil)
	publishRaw(t, q, "github", []byte("not an event"), "in-bad", nil)
	publishRaw(t, q, "github", []byte(`{"source":"github"}`), "in-noid", nil)
	waitSettled(t, tr, 3)

	if n := count(takeAll(t, storetest.NewLanes(t, q), destinations...)) + len(deadLetters(t, q)); n != 0 {
		t.Fatalf("%d outputs, want none", n)
	}
	if n := events(t, q); n != 3 {
		t.Errorf("%d events stored, want all 3 kept for inspection", n)
	}
	if s := tr.Stats(); s.Unrouted != 1 || s.Malformed != 2 || s.Events != 1 {
		t.Errorf("stats = %+v, want 1 unrouted and 2 malformed", s)
	}
}

// TestHugeBodyFitsBothFormats: an event of the default max_body becomes a
// card of either format. JetStream only: with its headers such an event
// exceeds what a Kafka broker accepts by default (message.max.bytes,
// 1 MiB), and is refused as too large.
func TestHugeBodyFitsBothFormats(t *testing.T) {
	q := storetest.JetStream(t)
	tr := startStage(t, q, `  - {name: all, source: plain, to: [ops, dev]}`)
	v := newValidator(t)
	body := strings.Repeat("<at>x</at> [a](http://evil) ", (1<<20)/28)
	publishEvent(t, q, event("big", "plain", body), "in-big", nil)
	waitSettled(t, tr, 1)
	got := deliveries(t, storetest.NewLanes(t, q), destinations...)
	if len(got) != 2 {
		t.Fatalf("%d deliveries, want 2", len(got))
	}
	for dest, d := range got {
		if err := v.Validate(d.Format, d.Card); err != nil {
			t.Errorf("%s: %v", dest, err)
		}
		if !strings.Contains(string(d.Card), "(truncated)") {
			t.Errorf("%s: %d-byte card has no truncation marker", dest, len(d.Card))
		}
	}
}

// TestStoreFailureRetries removes RELAY_OUT so storing fails: the event must be
// handed back, not acked, and delivered once the stream is back. JetStream
// only: it removes a JetStream stream under the queue.
func TestStoreFailureRetries(t *testing.T) {
	env := natstest.Start(t)
	q := queue.Over(env.Queue(t))
	ctx := context.Background()
	if err := env.JS.DeleteStream(ctx, queue.StreamOut); err != nil {
		t.Fatal(err)
	}
	tr := startStage(t, q, `  - {name: all, source: github, to: [ops]}`)
	publishEvent(t, q, event("r", "github", `{}`), "in-r", nil)

	storetest.Eventually(t, "storing into a missing stream retried", func() bool { return tr.Stats().Retried > 0 })
	if s := tr.Stats(); s.Events != 0 {
		t.Fatalf("event acked although its delivery was not stored: %+v", s)
	}
	if err := jsqueue.EnsureStreams(ctx, env.JS, queue.StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	waitSettled(t, tr, 1)
	if d, ok := deliveries(t, storetest.NewLanes(t, q), "ops")["ops"]; !ok || d.ID != "r.ops" {
		t.Fatalf("delivery after retry = %+v, %v", d, ok)
	}
}

// New checks the routes before it reads any store.
func TestNewRejectsBadRoutes(t *testing.T) {
	q := queue.Over(nil)
	for _, tc := range []struct {
		name string
		cfg  *config.Config
	}{
		{"bad filter", &config.Config{
			Destinations: []config.Destination{{Name: "ops"}},
			Routes:       []config.Route{{Name: "r", Source: "s", Filter: ".a |", To: []string{"ops"}}},
		}},
		{"unknown destination", &config.Config{
			Routes: []config.Route{{Name: "r", Source: "s", To: []string{"nowhere"}}},
		}},
	} {
		if _, err := New(q, q, q, tc.cfg, nil); err == nil || !strings.Contains(err.Error(), `route "r"`) {
			t.Errorf("%s: err = %v, want one naming the route", tc.name, err)
		}
	}
}

// TestHandshakesAreNotSent: a GitHub ping (marked by ingest) goes to no
// channel unless its source sets relay_handshakes.
func TestHandshakesAreNotSent(t *testing.T) { storetest.Each(t, testHandshakesAreNotSent) }

func testHandshakesAreNotSent(t *testing.T, open storetest.Opener) {
	q := open(t)
	cfg, err := config.Parse([]byte(strings.Replace(baseConfig, "{name: plain, verify: {scheme: token, secret: s}}",
		"{name: plain, verify: {scheme: token, secret: s}, relay_handshakes: true}", 1) +
		"  - {source: github, to: [ops]}\n  - {source: plain, to: [ops]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	tr := startStageConfig(t, q, cfg)
	ping := `{"zen":"Keep it logically awesome.","hook_id":30}`
	quiet := event("p1", "github", ping)
	quiet.Handshake = "github ping"
	relayed := event("p2", "plain", ping)
	relayed.Handshake = "github ping"
	publishEvent(t, q, quiet, "in-p1", nil)
	publishEvent(t, q, relayed, "in-p2", nil)
	waitSettled(t, tr, 2)

	got := deliveries(t, storetest.NewLanes(t, q), destinations...)
	if len(got) != 1 || got["ops"].EventID != "p2" {
		t.Fatalf("deliveries %v, want only the relaying source's ping", got)
	}
	if s := tr.Stats(); s.Handshakes != 1 || s.Events != 2 {
		t.Errorf("stats = %+v, want 1 handshake not sent", s)
	}
}

// TestBuiltinMappingsNeverDeadLetterValidJSON: under a named built-in
// mapping, JSON of a shape the vendor never sends still becomes a card;
// only a jq mapping can dead-letter an event for transform.
func TestBuiltinMappingsNeverDeadLetterValidJSON(t *testing.T) {
	storetest.Each(t, testBuiltinMappingsNeverDeadLetterValidJSON)
}

func testBuiltinMappingsNeverDeadLetterValidJSON(t *testing.T, open storetest.Opener) {
	q := open(t)
	tr := startStage(t, q, `  - {source: github, to: [ops, dev], mapping: github}
  - {source: plain, to: [ops], mapping: zendesk}
`)
	publishEvent(t, q, event("odd-gh", "github", `{"repository":"not an object","sender":5,"commits":{"a":1}}`), "in-1", nil)
	publishEvent(t, q, event("odd-array", "github", `[1,"two",{"three":3}]`), "in-2", nil)
	publishEvent(t, q, event("odd-zd", "plain", `{"event":"ticket.created","ticket":"#12"}`), "in-3", nil)
	waitSettled(t, tr, 3)

	if dl := deadLetters(t, q); len(dl) != 0 {
		t.Fatalf("dead letters %v, want none", dl)
	}
	if got := count(takeAll(t, storetest.NewLanes(t, q), destinations...)); got != 5 {
		t.Errorf("%d deliveries, want 5 (one card per destination per event)", got)
	}
}

// TestDeepBodySettles: a deeply nested body naming a secret is mapped
// (auto, then generic) well within messageTimeout, so its delivery is stored
// and the event acked at its first delivery, the secret masked. The generic
// mapping's masking once cost the body's size times its depth: such an event
// outlived messageTimeout, its outputs were never stored and it was retried
// for ever. JetStream only: the event is near a Kafka broker's default
// message limit.
func TestDeepBodySettles(t *testing.T) {
	q := storetest.JetStream(t)
	tr := startStage(t, q, `  - {name: all, source: plain, to: [ops]}`)
	pad := strings.Repeat("x", 160)
	body := strings.Repeat(`{"pad":"`+pad+`","next":`, 3000) + `{"token":"deep-secret-123456"}` + strings.Repeat("}", 3000)
	publishEvent(t, q, event("deep", "plain", body), "in-deep", nil)
	waitSettled(t, tr, 1)

	if s := tr.Stats(); s.Retried != 0 || s.Deliveries != 1 {
		t.Errorf("stats = %+v, want one delivery and no retry", s)
	}
	d, ok := deliveries(t, storetest.NewLanes(t, q), "ops")["ops"]
	if !ok {
		t.Fatal("no delivery for ops")
	}
	if strings.Contains(string(d.Card), "deep-secret-123456") {
		t.Errorf("the token is on the card")
	}
}

// settlement is a queue.Delivery handed to handle directly, at the attempt
// a test chooses, recording how handle settled it.
type settlement struct {
	msg     queue.Stored
	attempt int
	acked   bool
	retried bool
}

func (s *settlement) Msg() queue.Stored               { return s.msg }
func (s *settlement) Attempt() int                    { return s.attempt }
func (s *settlement) Behind() uint64                  { return 0 }
func (s *settlement) Ack(ctx context.Context) error   { s.acked = true; return ctx.Err() }
func (s *settlement) Retry(after time.Duration) error { s.retried = true; return nil }
func (s *settlement) Drop() error                     { return fmt.Errorf("drop: the event is well formed") }

// TestSlowFiltersOfManyRoutesAreSettled: five routes whose filter never ends,
// an event at its filterTries-th delivery. Each filter timing out took
// filterTimeout in turn, all five the whole messageTimeout, and storing the
// dead letters then failed on the spent context: the event was retried for
// ever. Now the filters share filterBudget and the outputs are stored with a
// context of their own: every route is dead-lettered and the event acked.
func TestSlowFiltersOfManyRoutesAreSettled(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		t.Parallel()
		q := open(t)
		cfg := "sources:\n  - {name: slow, verify: {scheme: token, secret: s}}\ndestinations:\n"
		routes := "routes:\n"
		for i := range 5 {
			cfg += fmt.Sprintf("  - {name: d%d, url: \"https://teams.example/d%d\", format: messagecard}\n", i, i)
			routes += fmt.Sprintf("  - {name: r%d, source: slow, filter: 'last(repeat(1))', to: [d%d]}\n", i, i)
		}
		c, err := config.Parse([]byte(cfg + routes))
		if err != nil {
			t.Fatal(err)
		}
		tr, err := New(q, q, q, c, nil)
		if err != nil {
			t.Fatal(err)
		}
		ev := event("ev-slow", "slow", `{}`)
		h := queue.Header{}
		d := &settlement{attempt: filterTries, msg: queue.Stored{Msg: queue.Msg{Key: "slow", Header: h, Data: schemas.EncodeEvent(&ev, h)}}}
		tr.handle(context.Background(), d)

		if !d.acked || d.retried {
			t.Fatalf("acked %v, retried %v: want the event settled, not retried (stats %+v)", d.acked, d.retried, tr.Stats())
		}
		dls := deadLetters(t, q)
		if len(dls) != 5 {
			t.Fatalf("%d dead letters, want one per route: %v", len(dls), dls)
		}
		for dest, dl := range dls {
			if !strings.Contains(dl.LastError, "deadline exceeded") {
				t.Errorf("%s: last error %q does not say the filter ran out of time", dest, dl.LastError)
			}
		}
		if e := dls["d4"].LastError; !strings.Contains(e, "share") {
			t.Errorf("the last route's error %q does not say the filters' shared time ran out", e)
		}
	})
}
