package transform

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hookrelay/hookrelay/internal/config"
	"github.com/hookrelay/hookrelay/schemas"
)

// builtin is a built-in mapping: how auto recognises its vendor, and how it
// maps. Formats are data: each vendor file only reads its payload into a
// Summary; RenderSummary does the rest.
type builtin struct {
	name string
	// detect reports whether an event is this vendor's; nil: auto never picks it.
	detect func(p probe) bool
	mapFn  Mapping
}

// builtins lists the built-in mappings in the order auto tries them: vendors
// that say who they are in a header first, then body shapes from the most to
// the least specific. generic comes last and takes everything.
func builtins() []builtin {
	return []builtin{
		{"github", isGitHub, mapGitHub},
		{"gitlab", isGitLab, mapGitLab},
		{"sentry", isSentry, mapSentry},
		{"azure-monitor", isAzureMonitor, mapAzureMonitor},
		{"pagerduty", isPagerDuty, mapPagerDuty},
		{"zendesk", isZendesk, mapZendesk},
		{"grafana", isGrafana, mapGrafana},
		{"alertmanager", isAlertmanager, mapAlertmanager},
		{"jenkins", isJenkins, mapJenkins},
		{"teams", isTeamsCard, mapTeamsCard},
		{"generic", nil, Generic},
	}
}

// Builtin returns the built-in mapping called name: one of
// config.BuiltinMappings, "auto" included.
func Builtin(name string) (Mapping, bool) {
	if name == config.MappingAuto {
		return Auto, true
	}
	for _, b := range builtins() {
		if b.name == name {
			return b.mapFn, true
		}
	}
	return nil, false
}

// Detect names the built-in mapping auto picks for ev: the first vendor that
// recognises the headers or the body, else "generic".
func Detect(ev schemas.Event) string {
	p := newProbe(ev)
	for _, b := range builtins() {
		if b.detect != nil && b.detect(p) {
			return b.name
		}
	}
	return "generic"
}

// Auto maps ev with the built-in mapping Detect picks. Should that mapping
// fail (a payload that looks like a vendor's but is not), the generic mapping
// shows the event instead, with a fact saying why: auto never loses an event
// that the generic mapping could show.
func Auto(ev schemas.Event) (Summary, error) {
	name := Detect(ev)
	m, _ := Builtin(name)
	s, err := m(ev)
	if err == nil || name == "generic" {
		return s, err
	}
	g, gerr := Generic(ev)
	if gerr != nil {
		return s, err
	}
	g.Facts = append([]Fact{{Name: "Mapping", Value: fmt.Sprintf("%s failed (%v); shown generically", name, err)}}, g.Facts...)
	return g, nil
}

// LoadMapping returns the mapping a source or route names: "auto" or "" (the
// default), a built-in name, or the path of a jq mapping file (ending in
// .jq), which is compiled now.
func LoadMapping(spec string) (Mapping, error) {
	if spec == "" {
		spec = config.MappingAuto
	}
	if config.IsJQMapping(spec) {
		jm, err := LoadJQ(spec)
		if err != nil {
			return nil, err
		}
		return jm.Map, nil
	}
	if m, ok := Builtin(spec); ok {
		return m, nil
	}
	return nil, fmt.Errorf("unknown mapping %q (one of %s, or a path ending in .jq)",
		spec, strings.Join(config.BuiltinMappings(), ", "))
}

// probe is what auto detection reads: the headers and the body's top-level
// members.
type probe struct {
	ev  schemas.Event
	top map[string]json.RawMessage // nil unless the body is a JSON object
}

func newProbe(ev schemas.Event) probe {
	p := probe{ev: ev}
	if doc, ok := jsonDocument(ev); ok && bytes.HasPrefix(doc, []byte("{")) {
		_ = json.Unmarshal(doc, &p.top)
	}
	return p
}

// header returns an event header, whatever its capitalisation.
func (p probe) header(name string) string { return header(p.ev, name) }

func header(ev schemas.Event, name string) string {
	for k, v := range ev.Headers {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// has reports whether the body has every one of the top-level members.
func (p probe) has(keys ...string) bool {
	for _, k := range keys {
		if _, ok := p.top[k]; !ok {
			return false
		}
	}
	return p.top != nil
}

// str returns a top-level string member, "" when absent or not a string.
func (p probe) str(key string) string {
	var s string
	if json.Unmarshal(p.top[key], &s) != nil {
		return ""
	}
	return s
}

// object reports whether a top-level member is a JSON object.
func (p probe) object(key string) bool {
	return bytes.HasPrefix(bytes.TrimSpace(p.top[key]), []byte("{"))
}

// decode reads the event's JSON document into v, for a vendor mapping.
func decode(ev schemas.Event, vendor string, v any) error {
	doc, ok := jsonDocument(ev)
	if !ok {
		return fmt.Errorf("%s mapping: the body is not JSON", vendor)
	}
	if err := json.Unmarshal(doc, v); err != nil {
		return fmt.Errorf("%s mapping: %w", vendor, err)
	}
	return nil
}

// text is a JSON scalar read as text. Vendors send an id as a number in one
// payload and as a string in the next; an object or array reads as "" rather
// than failing the whole payload.
type text string

// UnmarshalJSON implements json.Unmarshaler.
func (t *text) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0, b[0] == '{', b[0] == '[', bytes.Equal(b, []byte("null")):
		*t = ""
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*t = text(s)
	default:
		*t = text(b)
	}
	return nil
}

func (t text) String() string { return string(t) }

// facts collects facts, skipping empty values.
type facts []Fact

func (f *facts) add(name string, value string) {
	if strings.TrimSpace(value) != "" {
		*f = append(*f, Fact{Name: name, Value: value})
	}
}

// links collects links, skipping unsafe or duplicate URLs.
type links []Link

func (l *links) add(title, url string) {
	if !safeURL(url) {
		return
	}
	for _, k := range *l {
		if k.URL == url {
			return
		}
	}
	*l = append(*l, Link{Title: title, URL: url})
}

// subtitle is the vendor, what happened and when: "GitHub · push · 2026-03-01 12:00 UTC".
func subtitle(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, " · ")
}

// when formats a vendor timestamp for people; text it cannot parse is kept.
func when(ts string) string {
	if ts == "" {
		return ""
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05 MST", "2006-01-02 15:04:05 -0700"} {
		if t, err := time.Parse(layout, ts); err == nil {
			if t.IsZero() || t.Year() < 2 {
				return ""
			}
			return t.UTC().Format("2006-01-02 15:04 UTC")
		}
	}
	return ts
}

// since formats the time between two vendor timestamps; "" when unknown.
func since(from, to string) string {
	a, err1 := time.Parse(time.RFC3339Nano, from)
	b, err2 := time.Parse(time.RFC3339Nano, to)
	if err1 != nil || err2 != nil || b.Before(a) || a.Year() < 2 || b.Year() < 2 {
		return ""
	}
	return human(b.Sub(a))
}

// human spells a duration the way a build page does: "1h 2m", "4m 12s", "850ms".
func human(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(time.Second).String()
	case d < time.Hour:
		return fmt.Sprintf("%dm %ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh %dm", int(d.Hours()), int(d.Minutes())%60)
}

// seconds reads a duration given in (possibly fractional) seconds.
func seconds(s text) string {
	f, err := strconv.ParseFloat(string(s), 64)
	if err != nil || f <= 0 {
		return ""
	}
	return human(time.Duration(f * float64(time.Second)))
}

// short cuts a commit id to the seven characters people recognise.
func short(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}

// plural spells "1 commit", "3 commits".
func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}

// bullets joins lines as a list; markup characters in them are escaped by the
// renderer, so the bullet is a plain "•".
func bullets(lines []string) string {
	for i, l := range lines {
		lines[i] = "• " + l
	}
	return strings.Join(lines, "\n")
}

// maxListed bounds the items (commits, alerts, jobs) a card lists one by one.
const maxListed = 10

// listed returns lines cut to maxListed, with a line saying how many more.
func listed(lines []string, total int) []string {
	if len(lines) > maxListed {
		lines = lines[:maxListed]
	}
	if total > len(lines) {
		lines = append(lines, fmt.Sprintf("… and %d more", total-len(lines)))
	}
	return lines
}
