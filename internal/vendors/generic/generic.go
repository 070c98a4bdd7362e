// Package generic is the mapping every event falls back to, and the
// verification schemes of senders without a preset (token, basic, hmac).
package generic

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/hookrelay/hookrelay/internal/vendors/mapping"
	"github.com/hookrelay/hookrelay/schemas"
)

// Name is the generic mapping's name.
const Name = "generic"

// Bounds of the generic mapping. They keep a Summary small before rendering;
// the renderer enforces the card size limit on its own.
const (
	maxFacts      = 10
	maxFactValue  = 300
	maxLinks      = 3
	maxExcerpt    = 8000
	maxTitleGuess = 200
)

// Map maps any event to a readable Summary: a best-guess title, the body's
// top-level scalar fields (JSON members or form fields) as facts, URL fields
// as links and an excerpt of the body. A body that is neither JSON nor a
// form still gives a card. The value of a field whose name says it is a
// secret (mapping.SecretName) is masked everywhere on the card.
func Map(ev schemas.Event) (mapping.Summary, error) {
	s := mapping.Summary{
		Subtitle: fmt.Sprintf("Event %s · received %s", ev.ID, ev.ReceivedAt.UTC().Format(time.RFC3339)),
		Severity: mapping.SeverityInfo,
	}
	guess := ""
	if doc, ok := mapping.JSONDocument(ev); ok {
		s.Excerpt = prettyJSON(doc)
		if fields, isObject := topLevelFields(doc); isObject {
			guess = guessTitle(fields)
			s.Facts, s.Links = factsAndLinks(fields)
			s.Severity = guessSeverity(fields)
		}
	} else if fields, ok := formFields(ev); ok {
		guess = guessTitle(fields)
		s.Facts, s.Links = factsAndLinks(fields)
		s.Severity = guessSeverity(fields)
		s.Excerpt = formExcerpt(fields)
	} else {
		text := strings.ToValidUTF8(string(ev.Body), "\uFFFD")
		guess = mapping.FirstLine(text)
		s.Excerpt = mapping.Cut(text, maxExcerpt)
	}
	if guess == "" {
		guess = "event"
	}
	s.Title = ev.Source + ": " + mapping.Cut(guess, maxTitleGuess)
	return s, nil
}

// field is a top-level member of a JSON object, or a form field (its value
// then a JSON string), in document order.
type field struct {
	key   string
	value json.RawMessage
}

// topLevelFields returns the members of a JSON object in document order, and
// false when body is not a JSON object.
func topLevelFields(body []byte) ([]field, bool) {
	body = bytes.TrimSpace(body)
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

// formFields reads a form-encoded body's fields in the order sent; false
// when the body is not a form with at least one field.
func formFields(ev schemas.Event) ([]field, bool) {
	form, ok := mapping.FormFields(ev)
	if !ok {
		return nil, false
	}
	var out []field
	seen := map[string]bool{}
	for _, f := range form {
		if !seen[f.Key] {
			seen[f.Key] = true
			v, _ := json.Marshal(f.Value)
			out = append(out, field{key: f.Key, value: v})
		}
	}
	return out, len(out) > 0
}

// formExcerpt spells form fields one per line, secrets masked.
func formExcerpt(fields []field) string {
	var b strings.Builder
	for _, f := range fields {
		v, _ := scalar(f.value)
		if mapping.SecretName(f.key) {
			v = mapping.Masked
		}
		fmt.Fprintf(&b, "%s: %s\n", f.key, v)
	}
	return mapping.Cut(strings.TrimSuffix(b.String(), "\n"), maxExcerpt)
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

// guessTitle picks the top-level field that most likely names what
// happened; never one whose name says it is a secret.
func guessTitle(fields []field) string {
	for _, key := range []string{"title", "subject", "name", "summary", "message", "event", "action", "type", "command", "text"} {
		for _, f := range fields {
			if !strings.EqualFold(f.key, key) {
				continue
			}
			if s, ok := scalar(f.value); ok && strings.TrimSpace(s) != "" {
				return mapping.FirstLine(s)
			}
		}
	}
	return ""
}

// factsAndLinks turns scalar fields into facts, leaving out empty values
// (an Adaptive Card's FactSet needs a value) and masking secrets.
func factsAndLinks(fields []field) ([]mapping.Fact, []mapping.Link) {
	var facts []mapping.Fact
	var links []mapping.Link
	hidden := 0
	for _, f := range fields {
		v, ok := scalar(f.value)
		if !ok || strings.TrimSpace(v) == "" {
			continue
		}
		secret := mapping.SecretName(f.key)
		if secret {
			v = mapping.Masked
		}
		if len(links) < maxLinks && !secret && looksLikeLink(f.key, v) {
			links = append(links, mapping.Link{Title: "Open " + f.key, URL: v})
		}
		if len(facts) == maxFacts {
			hidden++
			continue
		}
		facts = append(facts, mapping.Fact{Name: f.key, Value: mapping.Cut(v, maxFactValue)})
	}
	if hidden > 0 {
		facts = append(facts, mapping.Fact{Name: "…", Value: fmt.Sprintf("%d more fields", hidden)})
	}
	return facts, links
}

func looksLikeLink(key, value string) bool {
	k := strings.ToLower(key)
	return (strings.HasSuffix(k, "url") || k == "link" || k == "href") && mapping.SafeURL(value)
}

// guessSeverity reads the first status-like top-level field.
func guessSeverity(fields []field) mapping.Severity {
	for _, key := range []string{"severity", "level", "priority", "status", "state", "conclusion", "result"} {
		for _, f := range fields {
			if !strings.EqualFold(f.key, key) {
				continue
			}
			v, _ := scalar(f.value)
			if sev := mapping.SeverityOf(v); sev != "" {
				return sev
			}
		}
	}
	return mapping.SeverityInfo
}

// prettyJSON indents valid JSON as json.Indent does (two spaces), secrets
// masked, and bounds it; the body is never unmarshalled into Go values, so
// numbers keep their exact text.
func prettyJSON(body []byte) string {
	body = bytes.TrimSpace(body)
	if !json.Valid(body) {
		return mapping.Cut(strings.ToValidUTF8(string(body), "\uFFFD"), maxExcerpt)
	}
	return mapping.Cut(indentMasked(body, 4*maxExcerpt+1), maxExcerpt)
}

// indentMasked spells the valid JSON doc indented, with the value of every
// member whose name says it is a secret replaced by mapping.Masked, at any
// depth. It is one pass over doc and stops once it wrote limit bytes: a
// deep or large document costs no more than its size, and its indentation
// (which grows with the depth, line by line) no more than limit.
func indentMasked(doc []byte, limit int) string {
	masked, _ := json.Marshal(mapping.Masked)
	var b bytes.Buffer
	depth := 0
	newline := func() {
		b.WriteByte('\n')
		for range depth {
			b.WriteString("  ")
		}
	}
	// inObject says, for each container open at i, whether it is an
	// object; a string in an object right after '{' or ',' is a name.
	var inObject []bool
	expectName := false
	for i := 0; i < len(doc) && b.Len() < limit; {
		c := doc[i]
		switch c {
		case '{', '[':
			b.WriteByte(c)
			i = skipSpace(doc, i+1)
			if i < len(doc) && (doc[i] == '}' || doc[i] == ']') {
				b.WriteByte(doc[i])
				i++
				continue
			}
			inObject = append(inObject, c == '{')
			expectName = c == '{'
			depth++
			newline()
			continue
		case '}', ']':
			if len(inObject) > 0 {
				inObject = inObject[:len(inObject)-1]
			}
			expectName = false
			depth = max(depth-1, 0)
			newline()
			b.WriteByte(c)
		case ',':
			expectName = len(inObject) > 0 && inObject[len(inObject)-1]
			b.WriteByte(c)
			newline()
		case ':':
			b.WriteString(": ")
		case '"':
			end := stringEnd(doc, i)
			b.Write(doc[i:end])
			name := doc[i:end]
			isName := expectName
			i, expectName = end, false
			var key string
			if !isName || json.Unmarshal(name, &key) != nil || !mapping.SecretName(key) {
				continue
			}
			// Put the mask in place of the value.
			i = skipSpace(doc, i)
			if i < len(doc) && doc[i] == ':' {
				b.WriteString(": ")
				i = skipSpace(doc, i+1)
			}
			end = valueEnd(doc, i)
			if v := doc[i:end]; len(v) > 0 && !bytes.Equal(v, []byte("null")) {
				b.Write(masked)
			} else {
				b.Write(v)
			}
			i = end
			continue
		default:
			if !isSpace(c) {
				b.WriteByte(c)
			}
		}
		i++
	}
	return b.String()
}

func skipSpace(doc []byte, i int) int {
	for i < len(doc) && isSpace(doc[i]) {
		i++
	}
	return i
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// stringEnd returns the index just past the JSON string that starts at
// doc[i] (a '"'), or len(doc) when it is not closed.
func stringEnd(doc []byte, i int) int {
	for j := i + 1; j < len(doc); j++ {
		switch doc[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(doc)
}

// valueEnd returns the index just past the JSON value that starts at doc[i]:
// a string, an object or array with all it holds, or a literal or number.
func valueEnd(doc []byte, i int) int {
	if i >= len(doc) {
		return i
	}
	switch doc[i] {
	case '"':
		return stringEnd(doc, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(doc); j++ {
			switch doc[j] {
			case '"':
				j = stringEnd(doc, j) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1
				}
			}
		}
		return len(doc)
	}
	j := i
	for j < len(doc) && !isSpace(doc[j]) && doc[j] != ',' && doc[j] != '}' && doc[j] != ']' {
		j++
	}
	return j
}
