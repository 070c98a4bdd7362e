package transform

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/internal/markup"
	"github.com/hookrelay/hookrelay/schemas"
)

var formats = []string{schemas.FormatMessageCard, schemas.FormatAdaptive}

func newValidator(t testing.TB) *schemas.Validator {
	t.Helper()
	v, err := schemas.NewValidator()
	if err != nil {
		t.Fatalf("NewValidator: %v", err)
	}
	return v
}

func testEvent(source string, body []byte) schemas.Event {
	return schemas.Event{
		ID: "0190b5d2-0000-7000-8000-000000000001", Source: source,
		ReceivedAt: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), ContentType: "application/json", Body: body,
	}
}

// render renders ev and checks what every card must satisfy (checkCard).
func render(t *testing.T, v *schemas.Validator, ev schemas.Event, format string) []byte {
	t.Helper()
	card, err := Render(ev, format)
	if err != nil {
		t.Fatalf("Render(%s): %v", format, err)
	}
	checkCard(t, v, format, card)
	return card
}

// renderSummary renders s and checks what every card must satisfy (checkCard).
func renderSummary(t *testing.T, v *schemas.Validator, s Summary, format string) []byte {
	t.Helper()
	card, err := RenderSummary(s, format)
	if err != nil {
		t.Fatalf("RenderSummary(%s): %v", format, err)
	}
	checkCard(t, v, format, card)
	return card
}

// checkCard stops the test unless card satisfies what every card must: the
// format's schema and Teams' size limit.
func checkCard(t *testing.T, v *schemas.Validator, format string, card []byte) {
	t.Helper()
	if len(card) > schemas.MaxCardBytes {
		t.Fatalf("%s card is %d bytes > %d", format, len(card), schemas.MaxCardBytes)
	}
	if err := v.Validate(format, card); err != nil {
		t.Fatalf("%s card invalid: %v\n%s", format, err, card)
	}
}

// texts collects every string in a JSON document.
func texts(t *testing.T, doc []byte) []string {
	t.Helper()
	var v any
	if err := json.Unmarshal(doc, &v); err != nil {
		t.Fatalf("card is not JSON: %v", err)
	}
	var out []string
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case string:
			out = append(out, v)
		case []any:
			for _, e := range v {
				walk(e)
			}
		case map[string]any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(v)
	return out
}

func TestRenderBodies(t *testing.T) {
	v := newValidator(t)
	for _, tc := range []struct {
		name      string
		body      string
		wantTitle string
	}{
		{"title field", `{"title":"Disk full","host":"db1"}`, "src: Disk full"},
		{"subject before name", `{"name":"n","subject":"s"}`, "src: s"},
		{"action", `{"action":"opened","number":7}`, "src: opened"},
		{"type only", `{"type":"zen:event-type:ticket.created"}`, "src: zen:event-type:ticket.created"},
		{"number title", `{"event":42}`, "src: 42"},
		{"multi-line title keeps first line", `{"message":"\n first\nsecond"}`, "src: first"},
		{"object without title", `{"a":{"b":1}}`, "src: event"},
		{"array", `[1,2,3]`, "src: event"},
		{"json string", `"hello"`, "src: event"},
		{"plain text", "build 12 failed\nsee logs", "src: build 12 failed"},
		{"empty", "", "src: event"},
		{"invalid utf-8", "\xff\xfe oops", "src: \uFFFD oops"},
		{"form encoded", "a=1&b=2", "src: a=1&b=2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Generic(testEvent("src", []byte(tc.body)))
			if err != nil {
				t.Fatal(err)
			}
			if s.Title != tc.wantTitle {
				t.Errorf("title = %q, want %q", s.Title, tc.wantTitle)
			}
			if !strings.Contains(s.Subtitle, "0190b5d2-0000-7000-8000-000000000001") || !strings.Contains(s.Subtitle, "2026-03-01T12:00:00Z") {
				t.Errorf("subtitle %q lacks event id or received time", s.Subtitle)
			}
			for _, f := range formats {
				render(t, v, testEvent("src", []byte(tc.body)), f)
			}
		})
	}
}

// TestRenderCannotInject renders hostile payloads and checks that no string in
// the card carries the markup unescaped.
func TestRenderCannotInject(t *testing.T) {
	v := newValidator(t)
	body := `{"title":"[click](http://evil.example) <at>CEO</at>","message":"**urgent** _now_",` +
		`"url":"javascript:alert(1)","note":"<a href=\"http://evil.example\">x</a>"}`
	for _, f := range formats {
		t.Run(f, func(t *testing.T) {
			card := render(t, v, testEvent("src", []byte(body)), f)
			var doc map[string]any
			if err := json.Unmarshal(card, &doc); err != nil {
				t.Fatal(err)
			}
			if f == schemas.FormatMessageCard {
				// summary is the plain-text notification line, never rendered as markup.
				if got, want := doc["summary"], "src: [click](http://evil.example) <at>CEO</at>"; got != want {
					t.Errorf("summary = %q, want %q", got, want)
				}
				delete(doc, "summary")
			}
			rest, _ := json.Marshal(doc)
			for _, s := range texts(t, rest) {
				if r, ok := firstUnescaped(s, f); ok {
					t.Errorf("card text %q has an unescaped %q", s, r)
				}
			}
			if strings.Contains(string(card), `"uri":"javascript:`) || strings.Contains(string(card), `"url":"javascript:`) {
				t.Errorf("card links to a javascript: URL:\n%s", card)
			}
		})
	}
}

// firstUnescaped finds a markup character left active in a card text: in
// Adaptive Cards one not preceded by a backslash, in MessageCards any markup
// character but the & of a numeric entity and hookrelay's own <pre> wrapper.
func firstUnescaped(s, format string) (rune, bool) {
	if format == schemas.FormatMessageCard {
		s = strings.TrimSuffix(strings.TrimPrefix(s, "<pre>"), "</pre>")
	}
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case format == schemas.FormatAdaptive && r == '\\':
			i++ // the escaped character
		case format == schemas.FormatMessageCard && r == '&':
			rest := string(rs[i+1:])
			end := strings.IndexByte(rest, ';')
			if !strings.HasPrefix(rest, "#") || end < 2 || strings.Trim(rest[1:end], "0123456789") != "" {
				return r, true
			}
		case markup.Special(r):
			return r, true
		}
	}
	return 0, false
}

// TestRenderHugeBodies proves that no body, however large or however costly to
// escape, yields a card Teams would refuse.
func TestRenderHugeBodies(t *testing.T) {
	v := newValidator(t)
	const mib = 1 << 20
	manyFields := func() []byte {
		var b bytes.Buffer
		b.WriteString("{")
		for i := 0; b.Len() < mib; i++ {
			if i > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, `"field_%d_%s":"%s"`, i, strings.Repeat("k", 200), strings.Repeat("<*>", 300))
		}
		b.WriteString("}")
		return b.Bytes()
	}
	for _, tc := range []struct {
		name string
		body []byte
	}{
		{"long JSON string", []byte(`{"title":"` + strings.Repeat("x", mib) + `","data":"` + strings.Repeat("y", mib) + `"}`)},
		{"many JSON fields", manyFields()},
		{"markup-heavy text", bytes.Repeat([]byte("<[*_`&{"), mib/7)},
		{"control characters in JSON", []byte(`{"title":"` + strings.Repeat(`\u0001\"`, mib/8) + `"}`)},
		{"long single line", bytes.Repeat([]byte("a"), mib)},
		{"multi-byte text", []byte(strings.Repeat("日本語🎉", mib/13))},
	} {
		for _, f := range formats {
			t.Run(tc.name+"/"+f, func(t *testing.T) {
				card := render(t, v, testEvent("src", tc.body), f)
				if !strings.Contains(string(card), "(truncated)") {
					t.Errorf("%d-byte card of a %d-byte body has no truncation marker", len(card), len(tc.body))
				}
			})
		}
	}
}

func TestRenderSummaryShrinksUntilItFits(t *testing.T) {
	v := newValidator(t)
	var facts []Fact
	for i := range 40 {
		facts = append(facts, Fact{Name: strings.Repeat("n", 500), Value: strings.Repeat("<", 5000) + fmt.Sprint(i)})
	}
	var links []Link
	for range 10 {
		links = append(links, Link{Title: strings.Repeat("t", 100), URL: "https://example.com/" + strings.Repeat("p", 2000)})
	}
	s := Summary{
		Title: strings.Repeat("<", 10000), Subtitle: strings.Repeat("&", 10000),
		Text: strings.Repeat("*", 100000), Excerpt: strings.Repeat("[", 100000),
		Facts: facts, Links: links, Severity: SeverityCritical,
	}
	for _, f := range formats {
		card, err := RenderSummary(s, f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if err := v.Validate(f, card); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
}

func TestRenderSummaryKeepsSmallCardsWhole(t *testing.T) {
	s := Summary{
		Title: "t", Text: "some text", Excerpt: "x", Severity: SeverityGood,
		Facts: []Fact{{Name: "a", Value: "b"}}, Links: []Link{{Title: "open", URL: "https://example.com/"}, {Title: "bad", URL: "ftp://example.com/"}},
	}
	for _, tc := range []struct {
		format string
		want   []string
	}{
		{schemas.FormatMessageCard, []string{`"themeColor":"2EB886"`, `"uri":"https://example.com/"`, `<pre>x</pre>`, `{"name":"a","value":"b"}`}},
		{schemas.FormatAdaptive, []string{`"version":"1.4"`, `"style":"good"`, `"url":"https://example.com/"`, `{"title":"a","value":"b"}`, `"width":"Full"`}},
	} {
		card, err := RenderSummary(s, tc.format)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range tc.want {
			if !strings.Contains(string(card), w) {
				t.Errorf("%s card lacks %s:\n%s", tc.format, w, card)
			}
		}
		for _, bad := range []string{"truncated", "ftp://"} {
			if strings.Contains(string(card), bad) {
				t.Errorf("%s card contains %q:\n%s", tc.format, bad, card)
			}
		}
	}
}

func TestRenderUnknownFormat(t *testing.T) {
	if _, err := Render(testEvent("src", nil), "slack"); err == nil {
		t.Fatal("rendered an unknown format")
	}
}

// TestRenderSharedPayloads renders every published vendor sample.
func TestRenderSharedPayloads(t *testing.T) {
	dir := filepath.Join("..", "..", "shared", "payloads")
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Skipf("SKIPPING: no vendor samples in %s (%v)", dir, err)
	}
	v := newValidator(t)
	for _, file := range files {
		body, err := os.ReadFile(file)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		t.Run(filepath.Base(file), func(t *testing.T) {
			for _, f := range formats {
				render(t, v, testEvent("vendor", body), f)
			}
		})
	}
}

// TestMalformedFormsKeepSecretsOff: a form as a person's curl sends it — a
// '%' that escapes nothing, a raw ';' — is still read field by field, so
// its token and password are masked in either format and the card is titled
// with its command. url.ParseQuery refuses such a form whole; the generic
// mapping then showed the raw body, secrets and all.
func TestMalformedFormsKeepSecretsOff(t *testing.T) {
	for _, tc := range []struct {
		body, title string
		secrets     []string
	}{
		{"token=gIkuvaNzQIHg97ATvDxqgjtO&command=/disk&text=disk at 95%", "/disk", []string{"gIkuvaNzQIHg97ATvDxqgjtO"}},
		{"token=gIkuvaNzQIHg97ATvDxqgjtO&command=/disk&text=disk at 95%25", "/disk", []string{"gIkuvaNzQIHg97ATvDxqgjtO"}},
		{"password=hunter2&msg=a;b", "event", []string{"hunter2"}},
	} {
		t.Run(tc.body, func(t *testing.T) {
			ev := testEvent("slack", []byte(tc.body))
			ev.ContentType = "application/x-www-form-urlencoded"
			s, err := Auto(ev)
			if err != nil {
				t.Fatal(err)
			}
			if want := "slack: " + tc.title; s.Title != want {
				t.Errorf("title %q, want %q", s.Title, want)
			}
			for _, f := range formats {
				card, err := RenderSummary(s, f)
				if err != nil {
					t.Fatalf("%s: %v", f, err)
				}
				for _, secret := range tc.secrets {
					if strings.Contains(string(card), secret) {
						t.Errorf("%s card shows the secret %q: %s", f, secret, card)
					}
				}
				if !strings.Contains(string(card), "hidden") {
					t.Errorf("%s card marks no field as hidden: %s", f, card)
				}
			}
		})
	}
}
