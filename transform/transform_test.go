package transform

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"github.com/hookrelay/hookrelay/internal/config"
	"github.com/hookrelay/hookrelay/internal/natstest"
	"github.com/hookrelay/hookrelay/internal/queue"
	"github.com/hookrelay/hookrelay/internal/queue/jsqueue"
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

// startQueue starts a JetStream with hookrelay's streams and opens a queue on
// it, both stopped when the test ends.
func startQueue(t testing.TB) (*natstest.Env, queue.Queue) {
	t.Helper()
	env := natstest.Start(t)
	return env, env.Queue(t)
}

// startStage runs a Transformer until the test ends, then checks that Run
// returned nil once cancelled.
func startStage(t *testing.T, q queue.Queue, routes string) *Transformer {
	t.Helper()
	return startStageConfig(t, q, parseConfig(t, routes))
}

// startStageConfig is startStage with a whole configuration.
func startStageConfig(t *testing.T, q queue.Queue, cfg *config.Config) *Transformer {
	t.Helper()
	s := queue.Over(q)
	tr, err := New(s, s, s, cfg, nil, WithWorkers(4))
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

// publishEvent stores ev on RELAY_IN as ingest does and returns its sequence.
func publishEvent(t *testing.T, q queue.Queue, ev schemas.Event, msgID string, hdr queue.Header) uint64 {
	t.Helper()
	h := queue.Header{}
	for k, vs := range hdr {
		h[k] = vs
	}
	data := schemas.EncodeEvent(&ev, h)
	return publishRaw(t, q, queue.InSubject(ev.Source), data, msgID, h)
}

func publishRaw(t *testing.T, q queue.Queue, subject string, data []byte, msgID string, hdr queue.Header) uint64 {
	t.Helper()
	ack, err := q.Publish(context.Background(), queue.Msg{Subject: subject, Header: hdr, Data: data, ID: msgID})
	if err != nil {
		t.Fatalf("publish to %s: %v", subject, err)
	}
	return ack.Seq
}

// waitSettled waits until the transform consumer has acked (or terminated)
// every RELAY_IN message up to seq. It polls the consumer's state, which is
// where JetStream records the settlement (the queue does not show it).
func waitSettled(t *testing.T, js jetstream.JetStream, seq uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		cons, err := js.Consumer(ctx, queue.StreamIn, FeedName)
		if err == nil {
			info, err := cons.Info(ctx)
			if err == nil && info.AckFloor.Stream >= seq {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("RELAY_IN message %d not settled in time", seq)
		case <-tick.C:
		}
	}
}

// stored returns every message of a stream on subjects matching filter. It
// reads by sequence from 1 to the first missing one: the tests delete
// nothing, so there are no gaps, and a scan cannot read RELAY_OUT, a
// JetStream work queue.
func stored(t *testing.T, q queue.Queue, stream, filter string) []queue.Stored {
	t.Helper()
	var out []queue.Stored
	for seq := uint64(1); ; seq++ {
		m, err := q.Get(context.Background(), stream, seq)
		if errors.Is(err, queue.ErrNotFound) {
			return out
		}
		if err != nil {
			t.Fatalf("get %s/%d: %v", stream, seq, err)
		}
		if subjectMatches(filter, m.Subject) {
			out = append(out, m)
		}
	}
}

func subjectMatches(filter, subject string) bool {
	if p, ok := strings.CutSuffix(filter, ">"); ok {
		return strings.HasPrefix(subject, p)
	}
	return filter == subject
}

func deliveries(t *testing.T, q queue.Queue) map[string]schemas.Delivery {
	t.Helper()
	out := map[string]schemas.Delivery{}
	for _, m := range stored(t, q, queue.StreamOut, queue.OutAll) {
		var d schemas.Delivery
		if err := json.Unmarshal(m.Data, &d); err != nil {
			t.Fatalf("delivery on %s is not JSON: %v", m.Subject, err)
		}
		if m.Subject != queue.OutSubject(d.Destination) {
			t.Errorf("delivery for %s stored on %s", d.Destination, m.Subject)
		}
		if _, dup := out[d.Destination]; dup {
			t.Errorf("two deliveries for %s", d.Destination)
		}
		out[d.Destination] = d
	}
	return out
}

func deadLetters(t *testing.T, q queue.Queue) map[string]schemas.DeadLetter {
	t.Helper()
	out := map[string]schemas.DeadLetter{}
	for _, m := range stored(t, q, queue.StreamDead, queue.DeadAll) {
		var d schemas.DeadLetter
		if err := json.Unmarshal(m.Data, &d); err != nil {
			t.Fatalf("dead letter on %s is not JSON: %v", m.Subject, err)
		}
		if got := m.Header.Get(queue.HeaderReason); got != schemas.ReasonTransform {
			t.Errorf("dead letter header reason %q", got)
		}
		if got, want := m.ID, "dead."+d.Delivery.ID+".0"; got != want {
			t.Errorf("dead letter id %q, want %q", got, want)
		}
		out[d.Delivery.Destination] = d
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
	env, q := startQueue(t)
	tr := startStage(t, q, `  - {name: all, source: github, to: [ops, dev]}`)
	v := newValidator(t)
	ev := event("ev1", "github", `{"action":"opened","title":"Spelling error","html_url":"https://github.com/o/r/issues/1"}`)
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	waitSettled(t, env.JS, publishEvent(t, q, ev, "in-1", queue.Header{"traceparent": {tp}}))

	got := deliveries(t, q)
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
	msgs := stored(t, q, queue.StreamOut, queue.OutSubject("dev"))
	if len(msgs) != 1 {
		t.Fatalf("%d messages on %s", len(msgs), queue.OutSubject("dev"))
	}
	for h, want := range map[string]string{
		queue.HeaderDeliveryID: "ev1.dev", queue.HeaderEventID: "ev1", "traceparent": tp,
	} {
		if got := msgs[0].Header.Get(h); got != want {
			t.Errorf("header %s = %q, want %q", h, got, want)
		}
	}
	if got := msgs[0].ID; got != "ev1.dev" {
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
		{name: "runtime error", source: "github", filter: `.action | tonumber`, body: `{"action":"opened"}`, dead: true, errPart: "tonumber"},
		{name: "error()", source: "github", filter: `error("boom")`, body: `{}`, dead: true, errPart: "boom"},
		{name: "object field on a string body", source: "plain", filter: `.action == "x"`, body: "text", dead: true, errPart: "expected an object"},
		// Out of time: tried again (a busy machine is no reason to drop an
		// event), and dead-lettered at its filterTries-th delivery.
		{name: "filter that never ends", source: "github", filter: `last(repeat(1))`, body: `{}`, dead: true,
			errPart: "deadline exceeded", retried: filterTries - 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env, q := startQueue(t)
			tr := startStage(t, q, `  - {name: filtered, source: `+tc.source+`, filter: '`+tc.filter+`', to: [ops]}`)
			ev := event("ev-f", tc.source, tc.body)
			if tc.form {
				ev.ContentType = "application/x-www-form-urlencoded"
			}
			waitSettled(t, env.JS, publishEvent(t, q, ev, "in-f", nil))

			_, delivered := deliveries(t, q)["ops"]
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
	}
}

func TestFirstMatchingRouteWinsPerDestination(t *testing.T) {
	env, q := startQueue(t)
	startStage(t, q, `
  - {name: urgent, source: github, filter: '.urgent', to: [ops]}
  - {name: never, source: github, filter: 'false', to: [dev]}
  - {name: rest, source: github, to: [ops, dev]}
  - {name: late, source: github, to: [dev]}`)
	waitSettled(t, env.JS, publishEvent(t, q, event("u", "github", `{"urgent":true}`), "in-u", nil))
	got := deliveries(t, q)
	if got["ops"].Route != "urgent" || got["dev"].Route != "rest" {
		t.Fatalf("routes: ops from %q, dev from %q; want urgent and rest", got["ops"].Route, got["dev"].Route)
	}
}

// TestRedeliveredEventStoredOnce stores the same event twice on RELAY_IN (as a
// replay from source would) and expects one delivery per destination.
func TestRedeliveredEventStoredOnce(t *testing.T) {
	env, q := startQueue(t)
	tr := startStage(t, q, `  - {name: all, source: github, to: [ops, dev]}`)
	ev := event("same", "github", `{"title":"once"}`)
	publishEvent(t, q, ev, "first", nil)
	waitSettled(t, env.JS, publishEvent(t, q, ev, "second", nil))

	if n := len(stored(t, q, queue.StreamIn, queue.InAll)); n != 2 {
		t.Fatalf("RELAY_IN holds %d copies, want 2", n)
	}
	if n := len(stored(t, q, queue.StreamOut, queue.OutAll)); n != 2 {
		t.Fatalf("RELAY_OUT holds %d deliveries, want 2 (one per destination)", n)
	}
	if s := tr.Stats(); s.Events != 2 {
		t.Errorf("stats = %+v, want both copies settled", s)
	}
}

func TestEventsWithoutOutputAreSettled(t *testing.T) {
	env, q := startQueue(t)
	tr := startStage(t, q, `  - {name: all, source: github, to: [ops]}`)
	publishEvent(t, q, event("q", "quiet", `{}`), "in-q", nil)
	malformed := publishRaw(t, q, queue.InSubject("github"), []byte("not an event"), "in-bad", nil)
	noID := publishRaw(t, q, queue.InSubject("github"), []byte(`{"source":"github"}`), "in-noid", nil)
	waitSettled(t, env.JS, max(malformed, noID))

	if n := len(stored(t, q, queue.StreamOut, queue.OutAll)) + len(stored(t, q, queue.StreamDead, queue.DeadAll)); n != 0 {
		t.Fatalf("%d outputs, want none", n)
	}
	if n := len(stored(t, q, queue.StreamIn, queue.InAll)); n != 3 {
		t.Errorf("RELAY_IN holds %d messages, want all 3 kept for inspection", n)
	}
	if s := tr.Stats(); s.Unrouted != 1 || s.Malformed != 2 || s.Events != 1 {
		t.Errorf("stats = %+v, want 1 unrouted and 2 malformed", s)
	}
}

func TestHugeBodyFitsBothFormats(t *testing.T) {
	env, q := startQueue(t)
	startStage(t, q, `  - {name: all, source: plain, to: [ops, dev]}`)
	v := newValidator(t)
	body := strings.Repeat("<at>x</at> [a](http://evil) ", (1<<20)/28)
	waitSettled(t, env.JS, publishEvent(t, q, event("big", "plain", body), "in-big", nil))
	got := deliveries(t, q)
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
// handed back, not acked, and delivered once the stream is back.
func TestStoreFailureRetries(t *testing.T) {
	env, q := startQueue(t)
	ctx := context.Background()
	if err := env.JS.DeleteStream(ctx, queue.StreamOut); err != nil {
		t.Fatal(err)
	}
	tr := startStage(t, q, `  - {name: all, source: github, to: [ops]}`)
	seq := publishEvent(t, q, event("r", "github", `{}`), "in-r", nil)

	deadline := time.Now().Add(15 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for tr.Stats().Retried == 0 {
		if time.Now().After(deadline) {
			t.Fatal("storing into a missing stream was not retried")
		}
		<-tick.C
	}
	if s := tr.Stats(); s.Events != 0 {
		t.Fatalf("event acked although its delivery was not stored: %+v", s)
	}
	if err := jsqueue.EnsureStreams(ctx, env.JS, queue.StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	waitSettled(t, env.JS, seq)
	if d, ok := deliveries(t, q)["ops"]; !ok || d.ID != "r.ops" {
		t.Fatalf("delivery after retry = %+v, %v", d, ok)
	}
}

func TestNewRejectsBadRoutes(t *testing.T) {
	_, q := startQueue(t)
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
		if _, err := New(queue.Over(q), queue.Over(q), queue.Over(q), tc.cfg, nil); err == nil || !strings.Contains(err.Error(), `route "r"`) {
			t.Errorf("%s: err = %v, want one naming the route", tc.name, err)
		}
	}
}

// TestHandshakesAreNotSent: a GitHub ping (marked by ingest) goes to no
// channel unless its source sets relay_handshakes.
func TestHandshakesAreNotSent(t *testing.T) {
	env, q := startQueue(t)
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
	waitSettled(t, env.JS, publishEvent(t, q, relayed, "in-p2", nil))

	got := deliveries(t, q)
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
	env, q := startQueue(t)
	startStage(t, q, `  - {source: github, to: [ops, dev], mapping: github}
  - {source: plain, to: [ops], mapping: zendesk}
`)
	publishEvent(t, q, event("odd-gh", "github", `{"repository":"not an object","sender":5,"commits":{"a":1}}`), "in-1", nil)
	publishEvent(t, q, event("odd-array", "github", `[1,"two",{"three":3}]`), "in-2", nil)
	waitSettled(t, env.JS, publishEvent(t, q, event("odd-zd", "plain", `{"event":"ticket.created","ticket":"#12"}`), "in-3", nil))

	if dl := deadLetters(t, q); len(dl) != 0 {
		t.Fatalf("dead letters %v, want none", dl)
	}
	if got := len(stored(t, q, queue.StreamOut, queue.OutAll)); got != 5 {
		t.Errorf("%d deliveries, want 5 (one card per destination per event)", got)
	}
}
