package generic

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/internal/vendors/mapping"
	"github.com/hookrelay/hookrelay/schemas"
)

func event(source, contentType, body string) schemas.Event {
	return schemas.Event{
		ID: "0190b5d2-0000-7000-8000-000000000001", Source: source,
		ReceivedAt: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), ContentType: contentType, Body: []byte(body),
	}
}

// slashCommand is the form Slack posts for a slash command, after Slack's
// documentation; its token is Slack's (deprecated) verification token.
const slashCommand = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V" +
	"&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fdeploy&text=prod+now" +
	"&api_app_id=A123456&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN" +
	"&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"

func TestGenericFactsAndLinks(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"html_url":"https://github.com/o/r/issues/1","bad_url":"javascript:alert(1)","nested":{"x":1},"list":[1],"nothing":null`)
	for i := range 15 {
		fmt.Fprintf(&b, `,"f%02d":%d`, i, i)
	}
	b.WriteString(`}`)
	s, err := Map(event("src", "application/json", b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Facts) != maxFacts+1 {
		t.Fatalf("got %d facts, want %d and a marker: %v", len(s.Facts), maxFacts, s.Facts)
	}
	// Document order, scalars only.
	if s.Facts[0].Name != "html_url" || s.Facts[1].Name != "bad_url" || s.Facts[2] != (mapping.Fact{Name: "f00", Value: "0"}) {
		t.Errorf("facts out of order or with non-scalars: %v", s.Facts[:3])
	}
	if last := s.Facts[maxFacts]; last.Value != "7 more fields" {
		t.Errorf("marker fact = %v, want 7 more fields", last)
	}
	if len(s.Links) != 1 || s.Links[0].URL != "https://github.com/o/r/issues/1" {
		t.Errorf("links = %v, want only the https one", s.Links)
	}
}

func TestGenericSeverity(t *testing.T) {
	for _, tc := range []struct {
		body string
		want mapping.Severity
	}{
		{`{"status":"firing"}`, mapping.SeverityCritical},
		{`{"conclusion":"failure"}`, mapping.SeverityCritical},
		{`{"status":"resolved"}`, mapping.SeverityGood},
		{`{"state":"warning"}`, mapping.SeverityWarning},
		{`{"status":"markdown"}`, mapping.SeverityInfo},
		{`{"status":"queued","conclusion":"success"}`, mapping.SeverityGood},
		{`not json`, mapping.SeverityInfo},
	} {
		s, _ := Map(event("src", "application/json", tc.body))
		if s.Severity != tc.want {
			t.Errorf("%s: severity %q, want %q", tc.body, s.Severity, tc.want)
		}
	}
}

func TestGenericFormPayload(t *testing.T) {
	for _, tc := range []struct {
		name, contentType, body, wantTitle string
		wantFacts                          int
	}{
		{"github form", "application/x-www-form-urlencoded", "payload=" + url.QueryEscape(`{"action":"opened","number":1}`), "src: opened", 2},
		{"form without payload", "application/x-www-form-urlencoded", "a=1&b=2", "src: event", 2},
		{"slack slash command", "application/x-www-form-urlencoded", slashCommand, "src: /deploy", 11},
		{"payload field but JSON content type", "application/json", "payload=" + url.QueryEscape(`{"action":"opened"}`), "src: payload=%7B%22action%22%3A%22opened%22%7D", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Map(event("src", tc.contentType, tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if s.Title != tc.wantTitle || len(s.Facts) != tc.wantFacts {
				t.Errorf("title %q with %d facts, want %q with %d", s.Title, len(s.Facts), tc.wantTitle, tc.wantFacts)
			}
		})
	}
}

// TestSecretsMasked: a field whose name says it is a secret never reaches
// the card, in JSON (at any depth) or form bodies, as fact or excerpt.
func TestSecretsMasked(t *testing.T) {
	for _, tc := range []struct {
		name, contentType, body, secret string
	}{
		{"slack slash command", "application/x-www-form-urlencoded", slashCommand, "xyzz0WbapA4vBCDEFasx0q6G"},
		{"json token", "application/json", `{"title":"t","Token":"tok-123456"}`, "tok-123456"},
		{"json nested password", "application/json", `{"title":"t","db":{"user":"u","PASSWORD":"hunter2hunter2"}}`, "hunter2hunter2"},
		{"json api-key", "application/json", `{"title":"t","api-key":"AKIA0000SECRET"}`, "AKIA0000SECRET"},
		{"json client_secret in array", "application/json", `[{"client_secret":"cs-987654"}]`, "cs-987654"},
		{"json authorization", "application/json", `{"Authorization":"Bearer abc.def.ghi"}`, "abc.def.ghi"},
		{"json signature", "application/json", `{"x_signature":"sha256=deadbeef00"}`, "deadbeef00"},
		{"json name spelled with escapes", "application/json", `{"title":"t","\u0074oken":"esc-123456"}`, "esc-123456"},
		{"json name cut by separators", "application/json", `{"title":"t","pass_word":"pw-123456"}`, "pw-123456"},
		{"form password", "application/x-www-form-urlencoded", "user=a&password=p4ssw0rd-form", "p4ssw0rd-form"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Map(event("src", tc.contentType, tc.body))
			if err != nil {
				t.Fatal(err)
			}
			all := []string{s.Title, s.Subtitle, s.Text, s.Excerpt}
			for _, f := range s.Facts {
				all = append(all, f.Name, f.Value)
			}
			for _, l := range s.Links {
				all = append(all, l.Title, l.URL)
			}
			for _, str := range all {
				if strings.Contains(str, tc.secret) {
					t.Errorf("the secret %q is on the card: %q", tc.secret, str)
				}
			}
			if !strings.Contains(strings.Join(all, "\n"), mapping.Masked) {
				t.Errorf("no field is marked as hidden: %q", all)
			}
		})
	}
	// The slash command's card names the command, not the form string.
	s, _ := Map(event("slack", "application/x-www-form-urlencoded", slashCommand))
	if s.Title != "slack: /deploy" {
		t.Errorf("title %q, want the command", s.Title)
	}
}

// TestNoEmptyFacts: a FactSet's fact needs a value, so empty and blank
// fields are left out.
func TestNoEmptyFacts(t *testing.T) {
	s, err := Map(event("src", "application/json", `{"title":"t","blank":"","spaces":"   ","none":null,"ok":"yes","zero":0}`))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range s.Facts {
		names = append(names, f.Name)
	}
	if strings.Join(names, ",") != "title,ok,zero" {
		t.Errorf("facts %v, want title, ok and zero only", s.Facts)
	}
}

// deepBody is a JSON object nested depth deep, each level padded to about
// 180 bytes, whose innermost member is a token.
func deepBody(depth int, secret string) string {
	pad := strings.Repeat("x", 160)
	var b strings.Builder
	for range depth {
		b.WriteString(`{"pad":"` + pad + `","next":`)
	}
	b.WriteString(`{"token":"` + secret + `","spaced" : {"api_key" : [1, {"x": "}"}], "after": "kept"}}`)
	b.WriteString(strings.Repeat("}", depth))
	return b.String()
}

// TestDeepSecretMaskedInOnePass: a secret at the bottom of a deeply nested
// body is masked, every other member stays as sent and the excerpt is
// indented as json.Indent indents. Masking once read the whole remaining
// document again at every level, and indenting wrote the whole document
// however little of it the excerpt keeps: a 0.5 MB body nested 3000 deep
// took about half a minute to map. The test's deadline is far above what
// one pass costs and far below what that cost.
func TestDeepSecretMaskedInOnePass(t *testing.T) {
	body := deepBody(3000, "deep-secret-123456")
	done := make(chan mapping.Summary, 1)
	go func() {
		s, _ := Map(event("src", "application/json", body))
		done <- s
	}()
	select {
	case s := <-done:
		if !strings.HasSuffix(s.Excerpt, mapping.Truncated) {
			t.Errorf("excerpt of a %d-byte body is not cut: %d bytes", len(body), len(s.Excerpt))
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("mapping a %d-byte body nested 3000 deep did not end within 5s", len(body))
	}

	// At a depth whose indented text is small enough to compare whole.
	body = deepBody(200, "deep-secret-123456")
	want := strings.Replace(deepBody(200, "SECRET"), `"SECRET"`, strconv.Quote(mapping.Masked), 1)
	want = strings.Replace(want, `[1, {"x": "}"}]`, strconv.Quote(mapping.Masked), 1)
	var indented bytes.Buffer
	if err := json.Indent(&indented, []byte(want), "", "  "); err != nil {
		t.Fatal(err)
	}
	if got := indentMasked([]byte(body), len(body)*1000); got != indented.String() {
		t.Errorf("masked body differs from the body with its two secrets masked, indented; its end:\n%s", got[len(got)-400:])
	}
}

// TestIndentMaskedIndentsAsJSONIndent: without secrets, the excerpt is what
// json.Indent makes of the body.
func TestIndentMaskedIndentsAsJSONIndent(t *testing.T) {
	for _, doc := range []string{
		`{}`, `[]`, `{ }`, `[ ]`, `"s"`, `12.5e3`, `null`,
		` { "a" : [ 1 , 2 , { } , [ ] ] , "b\"\\" : "x\"}" , "c" : { "d" : null } } `,
		`[{"a":1},{"b":[true,false]},"\u00e9",-0.0]`,
	} {
		var want bytes.Buffer
		if err := json.Indent(&want, bytes.TrimSpace([]byte(doc)), "", "  "); err != nil {
			t.Fatal(err)
		}
		if got := indentMasked(bytes.TrimSpace([]byte(doc)), 1<<20); got != want.String() {
			t.Errorf("%s:\n%s\nwant\n%s", doc, got, want.String())
		}
	}
}

func BenchmarkMapDeepBody(b *testing.B) {
	ev := event("src", "application/json", deepBody(3000, "deep-secret-123456"))
	b.SetBytes(int64(len(ev.Body)))
	for b.Loop() {
		if _, err := Map(ev); err != nil {
			b.Fatal(err)
		}
	}
}
