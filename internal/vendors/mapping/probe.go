package mapping

import (
	"bytes"
	"encoding/json"
	"mime"
	"net/url"
	"strings"

	"github.com/hookrelay/hookrelay/schemas"
)

// Probe is what auto detection reads: the headers and the body's top-level
// members.
type Probe struct {
	ev  schemas.Event
	top map[string]json.RawMessage // nil unless the body is a JSON object
}

// NewProbe reads ev's top-level members.
func NewProbe(ev schemas.Event) Probe {
	p := Probe{ev: ev}
	if doc, ok := JSONDocument(ev); ok && bytes.HasPrefix(doc, []byte("{")) {
		_ = json.Unmarshal(doc, &p.top)
	}
	return p
}

// Event is the event probed.
func (p Probe) Event() schemas.Event { return p.ev }

// Header returns an event header, whatever its capitalisation.
func (p Probe) Header(name string) string { return Header(p.ev, name) }

// Header returns an event header, whatever its capitalisation.
func Header(ev schemas.Event, name string) string {
	for k, v := range ev.Headers {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// Has reports whether the body has every one of the top-level members.
func (p Probe) Has(keys ...string) bool {
	for _, k := range keys {
		if _, ok := p.top[k]; !ok {
			return false
		}
	}
	return p.top != nil
}

// Len is the number of top-level members.
func (p Probe) Len() int { return len(p.top) }

// Str returns a top-level string member, "" when absent or not a string.
func (p Probe) Str(key string) string {
	var s string
	if json.Unmarshal(p.top[key], &s) != nil {
		return ""
	}
	return s
}

// Raw returns a top-level member as it is in the body, nil when absent.
func (p Probe) Raw(key string) json.RawMessage { return p.top[key] }

// Object reports whether a top-level member is a JSON object.
func (p Probe) Object(key string) bool {
	return bytes.HasPrefix(bytes.TrimSpace(p.top[key]), []byte("{"))
}

// JSONDocument returns the event's JSON document: the body itself, or the
// payload field of a form-encoded body (GitHub's and Slack's form content
// type). False when the event carries no JSON.
func JSONDocument(ev schemas.Event) ([]byte, bool) {
	body := bytes.TrimSpace(ev.Body)
	if len(body) > 0 && json.Valid(body) {
		return body, true
	}
	form, ok := Form(ev)
	if !ok {
		return nil, false
	}
	if p := []byte(form.Get("payload")); len(p) > 0 && json.Valid(p) {
		return p, true
	}
	return nil, false
}

// Form returns the fields of a form-encoded body
// (application/x-www-form-urlencoded); false for any other body. It is read
// as FormFields reads it.
func Form(ev schemas.Event) (url.Values, bool) {
	fields, ok := FormFields(ev)
	if !ok {
		return nil, false
	}
	form := url.Values{}
	for _, f := range fields {
		form.Add(f.Key, f.Value)
	}
	return form, true
}

// FormField is one field of a form-encoded body.
type FormField struct{ Key, Value string }

// FormFields returns the fields of a form-encoded body
// (application/x-www-form-urlencoded) in the order sent; false for any other
// body. A form is read field by field, leniently: what a person's
// `curl -d "text=disk at 95%"` sends (a '%' that escapes nothing, a raw ';')
// is kept as sent, so that the other fields are still read, and a secret
// among them is still found by its name, rather than the whole form being
// refused as url.ParseQuery refuses it.
func FormFields(ev schemas.Event) ([]FormField, bool) {
	if mt, _, err := mime.ParseMediaType(ev.ContentType); err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, false
	}
	var out []FormField
	for part := range strings.SplitSeq(string(bytes.TrimSpace(ev.Body)), "&") {
		if part == "" {
			continue
		}
		key, value, _ := strings.Cut(part, "=")
		out = append(out, FormField{Key: formUnescape(key), Value: formUnescape(value)})
	}
	return out, true
}

// formUnescape decodes a form's key or value: '+' is a space and %XX a
// byte; a '%' not followed by two hex digits stays as it is.
func formUnescape(s string) string {
	if !strings.ContainsAny(s, "%+") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '+':
			b.WriteByte(' ')
		case c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}
