package transform

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/hookrelay/hookrelay/schemas"
)

// Summary is what a card says, independent of the card format. Mappings (the
// generic one here, the vendor mappings Builtin names, jq mappings) turn an
// event into a Summary, and RenderSummary turns a Summary into the JSON of any
// format. Every string is plain text: the renderer escapes it for the format,
// so nothing taken from a payload can add links, mentions or formatting.
type Summary struct {
	// Title is the card's headline and its notification text.
	Title string
	// Subtitle is a secondary line, e.g. the event id and when it arrived.
	Subtitle string
	// Text is prose shown under the title.
	Text string
	// Excerpt is preformatted text (e.g. pretty JSON), shown monospaced.
	Excerpt string
	// Facts are name/value rows, in order.
	Facts []Fact
	// Links become buttons; only http and https URLs are rendered.
	Links []Link
	// Severity colours the card.
	Severity Severity
	// Cards holds cards a mapping wrote whole (a jq mapping whose output is a
	// MessageCard or a Workflows message), by format. RenderSummary sends such
	// a card as written when the destination wants its format and it fits;
	// otherwise it renders the fields above, which the mapping read from it.
	Cards map[string][]byte
}

// Fact is a name/value row of a card.
type Fact struct {
	Name  string
	Value string
}

// Link is a button that opens a URL.
type Link struct {
	Title string
	URL   string
}

// Severity is how alarming an event is; it picks the card's colour.
type Severity string

// Severities, from calm to alarming. The zero value renders as SeverityInfo.
const (
	SeverityInfo     Severity = "info"
	SeverityGood     Severity = "good"
	SeverityWarning  Severity = "warning"
	SeverityCritical Severity = "critical"
)

// Mapping turns an event into a Summary. Generic is the mapping every event
// falls back to.
type Mapping func(ev schemas.Event) (Summary, error)

// Bounds of the generic mapping. They keep a Summary small before rendering;
// the renderer enforces the card size limit on its own.
const (
	maxFacts      = 10
	maxFactValue  = 300
	maxLinks      = 3
	maxExcerpt    = 8000
	maxTitleGuess = 200
)

// Generic maps any event to a readable Summary: a best-guess title, the body's
// top-level scalar fields as facts, URL fields as links and an excerpt of the
// body. A body that is not a JSON object still gives a card.
func Generic(ev schemas.Event) (Summary, error) {
	s := Summary{
		Subtitle: fmt.Sprintf("Event %s · received %s", ev.ID, ev.ReceivedAt.UTC().Format(time.RFC3339)),
		Severity: SeverityInfo,
	}
	guess := ""
	if doc, ok := jsonDocument(ev); ok {
		s.Excerpt = prettyJSON(doc)
		if fields, isObject := topLevelFields(doc); isObject {
			guess = guessTitle(fields)
			s.Facts, s.Links = factsAndLinks(fields)
			s.Severity = guessSeverity(fields)
		}
	} else {
		text := strings.ToValidUTF8(string(ev.Body), "\uFFFD")
		guess = firstLine(text)
		s.Excerpt = cut(text, maxExcerpt)
	}
	if guess == "" {
		guess = "event"
	}
	s.Title = ev.Source + ": " + cut(guess, maxTitleGuess)
	return s, nil
}

// jsonDocument returns the event's JSON document: the body itself, or the
// payload field of a form-encoded body (GitHub's and Slack's form content
// type). False when the event carries no JSON.
func jsonDocument(ev schemas.Event) ([]byte, bool) {
	body := bytes.TrimSpace(ev.Body)
	if len(body) > 0 && json.Valid(body) {
		return body, true
	}
	if mt, _, err := mime.ParseMediaType(ev.ContentType); err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, false
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, false
	}
	if p := []byte(form.Get("payload")); len(p) > 0 && json.Valid(p) {
		return p, true
	}
	return nil, false
}

// field is a top-level member of a JSON object, in document order.
type field struct {
	key   string
	value json.RawMessage
}

// topLevelFields returns the members of a JSON object in document order, and
// false when body is not a JSON object.
func topLevelFields(body []byte) ([]field, bool) {
	if len(body) == 0 || body[0] != '{' || !json.Valid(body) {
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if _, err := dec.Token(); err != nil {
		return nil, false
	}
	var out []field
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, false
		}
		key, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, false
		}
		out = append(out, field{key: key, value: v})
	}
	return out, true
}

// scalar returns a JSON scalar as text; false for objects, arrays and null.
func scalar(v json.RawMessage) (string, bool) {
	if len(v) == 0 {
		return "", false
	}
	switch v[0] {
	case '{', '[', 'n':
		return "", false
	case '"':
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return "", false
		}
		return s, true
	}
	return string(v), true
}

// guessTitle picks the top-level field that most likely names what happened.
func guessTitle(fields []field) string {
	for _, key := range []string{"title", "subject", "name", "summary", "message", "event", "action", "type"} {
		for _, f := range fields {
			if !strings.EqualFold(f.key, key) {
				continue
			}
			if s, ok := scalar(f.value); ok && strings.TrimSpace(s) != "" {
				return firstLine(s)
			}
		}
	}
	return ""
}

func factsAndLinks(fields []field) ([]Fact, []Link) {
	var facts []Fact
	var links []Link
	hidden := 0
	for _, f := range fields {
		v, ok := scalar(f.value)
		if !ok {
			continue
		}
		if len(links) < maxLinks && looksLikeLink(f.key, v) {
			links = append(links, Link{Title: "Open " + f.key, URL: v})
		}
		if len(facts) == maxFacts {
			hidden++
			continue
		}
		facts = append(facts, Fact{Name: f.key, Value: cut(v, maxFactValue)})
	}
	if hidden > 0 {
		facts = append(facts, Fact{Name: "…", Value: fmt.Sprintf("%d more fields", hidden)})
	}
	return facts, links
}

func looksLikeLink(key, value string) bool {
	k := strings.ToLower(key)
	return (strings.HasSuffix(k, "url") || k == "link" || k == "href") && safeURL(value)
}

// guessSeverity reads the first status-like top-level field.
func guessSeverity(fields []field) Severity {
	for _, key := range []string{"severity", "level", "priority", "status", "state", "conclusion", "result"} {
		for _, f := range fields {
			if !strings.EqualFold(f.key, key) {
				continue
			}
			v, _ := scalar(f.value)
			if sev := severityOf(v); sev != "" {
				return sev
			}
		}
	}
	return SeverityInfo
}

// severityOf classifies a status word ("firing", "failure", "resolved"…); ""
// when it says nothing.
func severityOf(v string) Severity {
	words := strings.FieldsFunc(strings.ToLower(v), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
	for _, w := range words {
		switch {
		case w == "down" || w == "high" || w == "urgent" || w == "p1" || hasAnyPrefix(w, "crit", "fail", "error", "fatal", "firing", "emerg"):
			return SeverityCritical
		case w == "medium" || w == "p2" || hasAnyPrefix(w, "warn", "degraded", "unstable"):
			return SeverityWarning
		case w == "ok" || w == "up" || hasAnyPrefix(w, "success", "succeeded", "resolved", "pass", "recovered", "healthy"):
			return SeverityGood
		}
	}
	return ""
}

func hasAnyPrefix(s string, prefixes ...string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// prettyJSON indents valid JSON and bounds it; the body is never unmarshalled
// into Go values, so numbers keep their exact text.
func prettyJSON(body []byte) string {
	var b bytes.Buffer
	if err := json.Indent(&b, body, "", "  "); err != nil {
		return cut(strings.ToValidUTF8(string(body), "\uFFFD"), maxExcerpt)
	}
	return cut(b.String(), maxExcerpt)
}

func firstLine(s string) string {
	for _, line := range strings.Split(s, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			return line
		}
	}
	return ""
}

// Truncated marks text that was cut so that readers know there is more.
const Truncated = "… (truncated)"

// cut bounds s to at most n runes, the marker included, cutting on a rune boundary.
func cut(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	keep := n - utf8.RuneCountInString(Truncated) - 1
	if keep <= 0 {
		return Truncated
	}
	i := 0
	for pos := range s {
		if i == keep {
			return s[:pos] + " " + Truncated
		}
		i++
	}
	return s
}
