package transform

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sync/errgroup"

	"github.com/hookrelay/hookrelay/internal/config"
	"github.com/hookrelay/hookrelay/internal/queue"
	"github.com/hookrelay/hookrelay/internal/storetest"
	"github.com/hookrelay/hookrelay/schemas"
)

// writeMapping writes a jq mapping into a temporary directory.
func writeMapping(t *testing.T, name, src string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func loadJQ(t *testing.T, src string) *JQMapping {
	t.Helper()
	m, err := LoadJQ(writeMapping(t, "m.jq", src))
	if err != nil {
		t.Fatalf("LoadJQ: %v", err)
	}
	return m
}

func TestJQIntermediate(t *testing.T) {
	v := newValidator(t)
	m := loadJQ(t, `# A ticket system's webhook.
{
  title: "Ticket #\(.ticket.id): \(.ticket.subject)",
  subtitle: "via \($event.headers["User-Agent"] // "unknown") · \($event.source)",
  text: .ticket.body,
  facts: [{name: "Status", value: .ticket.status}, {name: "Count", value: .ticket.count}, {name: "Owner", value: .ticket.owner}],
  links: {"Open ticket": .ticket.url, "Bad": "javascript:alert(1)"},
  severity: (if .ticket.status == "urgent" then "critical" else "info" end)
}`)
	ev := testEvent("desk", []byte(`{"ticket":{"id":9,"subject":"Printer <at>Bob</at> on fire","body":"**now**","status":"urgent","count":3,"url":"https://desk.example/t/9"}}`))
	ev.Headers = map[string]string{"User-Agent": "Desk/1.0"}
	s, err := m.Map(ev)
	if err != nil {
		t.Fatalf("Map: %v", err)
	}
	want := Summary{
		Title: "Ticket #9: Printer <at>Bob</at> on fire", Subtitle: "via Desk/1.0 · desk", Text: "**now**",
		Facts:    []Fact{{Name: "Status", Value: "urgent"}, {Name: "Count", Value: "3"}},
		Links:    []Link{{Title: "Bad", URL: "javascript:alert(1)"}, {Title: "Open ticket", URL: "https://desk.example/t/9"}},
		Severity: SeverityCritical,
	}
	got, _ := json.Marshal(s)
	wantJSON, _ := json.Marshal(want)
	if string(got) != string(wantJSON) {
		t.Fatalf("summary\n got %s\nwant %s", got, wantJSON)
	}
	for _, format := range formats {
		card := renderSummary(t, v, s, format)
		var doc map[string]any
		if err := json.Unmarshal(card, &doc); err != nil {
			t.Fatal(err)
		}
		delete(doc, "summary") // plain text, never rendered as markup
		rest, _ := json.Marshal(doc)
		if strings.Contains(string(rest), "<at>") || strings.Contains(string(rest), "javascript:") {
			t.Errorf("%s card carries payload markup or an unsafe link: %s", format, card)
		}
	}
}

func TestJQWholeCards(t *testing.T) {
	v := newValidator(t)
	for _, tc := range []struct {
		name, src, format string
	}{
		{"messagecard", `{"@type": "MessageCard", "@context": "https://schema.org/extensions", "summary": .msg, "title": .msg,
		  "potentialAction": [{"@type": "OpenUri", "name": "Open", "targets": [{"os": "default", "uri": .url}]}]}`, schemas.FormatMessageCard},
		{"workflows message", `{type: "message", attachments: [{contentType: "application/vnd.microsoft.card.adaptive", contentUrl: null,
		  content: {type: "AdaptiveCard", version: "1.4", body: [{type: "TextBlock", text: .msg, wrap: true}],
		  actions: [{type: "Action.OpenUrl", title: "Open", url: .url}]}}]}`, schemas.FormatAdaptive},
		{"bare adaptive card", `{type: "AdaptiveCard", version: "1.4", body: [{type: "TextBlock", text: .msg}],
		  actions: [{type: "Action.OpenUrl", title: "Open", url: .url}]}`, schemas.FormatAdaptive},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := loadJQ(t, tc.src)
			s, err := m.Map(testEvent("src", []byte(`{"msg":"Deploy 42 done","url":"https://deploy.example/42"}`)))
			if err != nil {
				t.Fatalf("Map: %v", err)
			}
			if s.Title != "Deploy 42 done" || len(s.Links) != 1 || s.Links[0].URL != "https://deploy.example/42" {
				t.Errorf("card read back as %+v", s)
			}
			for _, format := range formats {
				card := renderSummary(t, v, s, format)
				// The card as written goes to destinations of its format.
				if asWritten := format == tc.format; asWritten != (string(card) == string(s.Cards[tc.format])) {
					t.Errorf("%s: card sent as written = %v, want %v", format, !asWritten, asWritten)
				}
				if !strings.Contains(string(card), "Deploy 42 done") {
					t.Errorf("%s card lost the text: %s", format, card)
				}
			}
		})
	}
}

// TestJQBrokenMappings: every way a mapping can fail names the file, and the
// line where jq knows it, or the event when it fails at run time.
func TestJQBrokenMappings(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		load      bool     // fails when loaded (at start-up), not per event
		want      []string // in the error, besides the file
	}{
		{"syntax error", "{\n  title: .a,\n  text: .b |||\n}", true, []string{":3:"}},
		{"undefined function", "{\n  title: .a\n}\n| nosuchfn(1)", true, []string{":4:3:", "nosuchfn/1"}},
		{"undefined variable", "{title: $nope}", true, []string{":1:9:", "$nope"}},
		{"runtime error", `{title: (.a | tonumber)}`, false, []string{"ev-broken", "tonumber cannot be applied"}},
		{"error()", `if .a == "x" then error("unsupported payload \(.a)") else {title: .a} end`, false, []string{"ev-broken", "unsupported payload x"}},
		{"no output", `empty`, false, []string{"ev-broken", "produced no output"}},
		{"not an object", `.a`, false, []string{"ev-broken", "output is a string"}},
		{"unknown field", `{title: .a, colour: "red"}`, false, []string{".colour: unknown field"}},
		{"missing title", `{text: .a}`, false, []string{".title: is required"}},
		{"bad severity", `{title: .a, severity: "purple"}`, false, []string{".severity:", "purple"}},
		{"bad facts", `{title: .a, facts: "x"}`, false, []string{".facts: is a string"}},
		{"invalid whole card", `{"@type": "MessageCard", "@context": "https://schema.org/extensions", "themeColor": 5}`, false, []string{"not a valid messagecard"}},
		{"adaptive 1.5", `{type: "AdaptiveCard", version: "1.5", body: []}`, false, []string{"not a valid adaptive"}},
		{"endless loop", `def f: f; {title: f}`, false, []string{"stopped after"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeMapping(t, "broken.jq", tc.src)
			m, err := LoadJQ(path)
			if tc.load {
				if err == nil {
					t.Fatal("loaded a broken mapping")
				}
				assertMentions(t, err, append([]string{path}, tc.want...))
				return
			}
			if err != nil {
				t.Fatalf("LoadJQ: %v", err)
			}
			_, err = m.Map(schemas.Event{ID: "ev-broken", Source: "src", Body: []byte(`{"a":"x"}`)})
			if err == nil {
				t.Fatal("a broken mapping mapped the event")
			}
			assertMentions(t, err, append([]string{path}, tc.want...))
		})
	}
}

func assertMentions(t *testing.T, err error, want []string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
}

// runStage runs a Transformer for cfg until the returned stop is called.
func runStage(t *testing.T, q *queue.Stores, cfg *config.Config) (tr *Transformer, stop func()) {
	t.Helper()
	tr, err := New(q, q, q, cfg, nil, WithWorkers(2))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return tr.Run(ctx) })
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := g.Wait(); err != nil {
			t.Errorf("Run: %v", err)
		}
	}
	t.Cleanup(stop)
	return tr, stop
}

// TestBrokenJQMappingDeadLettersThenReplays: an event a mapping cannot map is
// dead-lettered with reason transform and an error naming the file and the
// event; after the mapping is fixed, replaying the event from source
// delivers it. A route's mapping overrides its source's.
func TestBrokenJQMappingDeadLettersThenReplays(t *testing.T) {
	storetest.Each(t, testBrokenJQMappingDeadLettersThenReplays)
}

func testBrokenJQMappingDeadLettersThenReplays(t *testing.T, open storetest.Opener) {
	q := open(t)
	out := storetest.NewLanes(t, q)
	dir := t.TempDir()
	path := filepath.Join(dir, "desk.jq")
	if err := os.WriteFile(path, []byte("{title: (.ticket | tonumber)}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	raw := []byte(`
sources:
  - {name: desk, verify: {scheme: token, secret: s}, mapping: desk.jq}
destinations:
  - {name: ops, url: "https://prod-01.westeurope.logic.azure.com/workflows/abc"}
  - {name: audit, url: "https://audit.example/hook"}
routes:
  - {source: desk, to: [ops]}
  - {source: desk, to: [audit], mapping: generic}
`)
	cfgPath := filepath.Join(dir, "hookrelay.yaml")
	if err := os.WriteFile(cfgPath, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	ev := event("ev-desk-1", "desk", `{"ticket":"T-77"}`)

	tr, stop := runStage(t, q, cfg)
	publishEvent(t, q, ev, "in-desk-1", nil)
	waitSettled(t, tr, 1)
	stop()

	dead := deadLetters(t, q)
	dl, ok := dead["ops"]
	if !ok || len(dead) != 1 {
		t.Fatalf("dead letters = %v, want one for ops", dead)
	}
	if dl.Reason != schemas.ReasonTransform || dl.Delivery.EventID != ev.ID {
		t.Errorf("dead letter = %+v", dl)
	}
	assertMentionsText(t, dl.LastError, path, "ev-desk-1", "tonumber cannot be applied")
	got := deliveries(t, out, "ops", "audit")
	if d, ok := got["audit"]; !ok || d.Format != schemas.FormatMessageCard || !strings.Contains(string(d.Card), "T-77") {
		t.Fatalf("the generic route override did not deliver to audit: %v", got)
	}

	// Fix the mapping, restart, replay the event from source.
	if err := os.WriteFile(path, []byte("{title: \"Ticket \\(.ticket)\", severity: \"warning\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err = config.Load(cfgPath)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	tr, _ = runStage(t, q, cfg)
	publishEvent(t, q, ev, "replay-1", queue.Header{
		queue.HeaderReplay: {"r1"}, queue.HeaderReplayRoutes: {cfg.Routes[0].Name},
	})
	waitSettled(t, tr, 1)
	var ops []schemas.Delivery
	for _, m := range out.Take(t, "ops") {
		var d schemas.Delivery
		if err := json.Unmarshal(m.Data, &d); err != nil {
			t.Fatal(err)
		}
		ops = append(ops, d)
	}
	if len(ops) != 1 {
		t.Fatalf("%d deliveries to ops after the replay, want 1", len(ops))
	}
	if ops[0].Format != schemas.FormatAdaptive {
		t.Errorf("format auto gave %q for a Workflows URL", ops[0].Format)
	}
	if err := newValidator(t).Validate(ops[0].Format, ops[0].Card); err != nil {
		t.Error(err)
	}
	if !strings.Contains(string(ops[0].Card), "Ticket T-77") {
		t.Errorf("replayed card lacks the fixed title: %s", ops[0].Card)
	}
}

func assertMentionsText(t *testing.T, s string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(s, w) {
			t.Errorf("%q does not mention %q", s, w)
		}
	}
}

// TestExampleMappings runs the jq mappings shipped in examples/mappings.
func TestExampleMappings(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "examples", "mappings", "*.jq"))
	if err != nil || len(files) == 0 {
		t.Skipf("SKIPPING: no examples/mappings/*.jq (%v)", err)
	}
	v := newValidator(t)
	body := `{"title":"CPU high on web-1","body":"CPU above 95% for 10m","transition":"Triggered","priority":"P1",` +
		`"host":"web-1","tags":"env:prod","url":"https://app.datadoghq.com/event/event?id=1","id":"123"}`
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			m, err := LoadJQ(file)
			if err != nil {
				t.Fatal(err)
			}
			s, err := m.Map(testEvent("datadog", []byte(body)))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(s.Title, "CPU high on web-1") || len(s.Links) != 1 {
				t.Errorf("summary = %+v", s)
			}
			for _, format := range formats {
				renderSummary(t, v, s, format)
			}
		})
	}
}

// TestJQWholeCardTooLarge: a whole card above Teams' limit is not sent as
// written; the card read back from it is rendered within the limit instead.
func TestJQWholeCardTooLarge(t *testing.T) {
	m := loadJQ(t, `{"@type": "MessageCard", "@context": "https://schema.org/extensions", "summary": "big", "text": ([range(40000)] | map("x") | join(""))}`)
	s, err := m.Map(testEvent("src", []byte(`{}`)))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Cards[schemas.FormatMessageCard]) <= schemas.MaxCardBytes {
		t.Fatalf("the test card is only %d bytes", len(s.Cards[schemas.FormatMessageCard]))
	}
	v := newValidator(t)
	for _, format := range formats {
		card := renderSummary(t, v, s, format)
		if !strings.Contains(string(card), Truncated) {
			t.Errorf("%s card was cut without the marker", format)
		}
	}
}

// hostileTitle is payload text full of markup Adaptive Cards and
// MessageCards would act on.
const hostileTitle = `<img src=x onerror=alert(1)> # Heading [click](https://evil.example) {{DATE(2026-01-01T00:00:00Z)}} **now** <at>CEO</at>`

// cardJQHostile runs examples/mappings/card.jq on a payload full of markup
// and returns the card it writes, as sent to an Adaptive destination.
func cardJQHostile(t *testing.T) []byte {
	t.Helper()
	m, err := LoadJQ(filepath.Join("..", "examples", "mappings", "card.jq"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"title": hostileTitle, "note": "<a href=https://evil.example>x</a>", "empty": "",
		"count": 3, "url": "https://example.com/alert/1"})
	s, err := m.Map(testEvent("src", body))
	if err != nil {
		t.Fatal(err)
	}
	card := s.Cards[schemas.FormatAdaptive]
	if card == nil {
		t.Fatal("card.jq wrote no Adaptive Card")
	}
	return card
}

// TestCardJQEscapesPayloadText: the example people copy passes payload text
// through adaptive_text, so no markup from the payload is active in the
// card, and it leaves out empty facts.
func TestCardJQEscapesPayloadText(t *testing.T) {
	card := cardJQHostile(t)
	var msg struct {
		Attachments []struct {
			Content struct {
				Body []struct {
					Type  string
					Text  string
					Facts []struct{ Title, Value string }
				}
			}
		}
	}
	if err := json.Unmarshal(card, &msg); err != nil || len(msg.Attachments) != 1 {
		t.Fatalf("card %s: %v", card, err)
	}
	var texts []string
	for _, el := range msg.Attachments[0].Content.Body {
		texts = append(texts, el.Text)
		for _, f := range el.Facts {
			if f.Value == "" {
				t.Errorf("empty fact %q", f.Title)
			}
			texts = append(texts, f.Title, f.Value)
		}
	}
	if !strings.Contains(strings.Join(texts, "\n"), `\<img src=x onerror=alert(1)\>`) {
		t.Errorf("the title is not in the card, escaped: %q", texts)
	}
	for _, s := range texts {
		if r, ok := firstUnescaped(s, schemas.FormatAdaptive); ok {
			t.Errorf("%q leaves %q active", s, r)
		}
	}
}

// TestJQNumbersKeepTheirDigits: a jq mapping reads numbers as jq does: an
// integer beyond 2^53 keeps its digits, and a number beyond float64 does
// not turn the whole body into a string.
func TestJQNumbersKeepTheirDigits(t *testing.T) {
	for _, tc := range []struct{ mapping, body, title string }{
		{`{title: ("Order " + (.id|tostring))}`, `{"id":12345678901234567891}`, "Order 12345678901234567891"},
		{`{title: ("Order " + .name)}`, `{"name":"A-1","n":1e400}`, "Order A-1"},
		{`{title: (.id | adaptive_text)}`, `{"id":12345678901234567891}`, "12345678901234567891"},
		{`{title: ("n=" + (.n * 2 | tostring))}`, `{"n":1.25}`, "n=2.5"},
	} {
		s, err := loadJQ(t, tc.mapping).Map(testEvent("shop", []byte(tc.body)))
		if err != nil {
			t.Fatalf("%s on %s: %v", tc.mapping, tc.body, err)
		}
		if s.Title != tc.title {
			t.Errorf("%s on %s: title %q, want %q", tc.mapping, tc.body, s.Title, tc.title)
		}
	}
}
