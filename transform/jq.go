package transform

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/itchyny/gojq"

	"github.com/hookrelay/hookrelay/internal/config"
	"github.com/hookrelay/hookrelay/internal/vendors/mapping"
	"github.com/hookrelay/hookrelay/internal/vendors/teams"
	"github.com/hookrelay/hookrelay/schemas"
)

// JQMapping is a user mapping written in jq. Its input is the event's JSON
// document (the body as a string when it is not JSON) and $event is the
// envelope {id, source, received_at, content_type, headers}. Its first output
// is either the intermediate form
//
//	{title, subtitle?, text?, facts?, links?, severity?}
//
// with facts as {"name": "value", …} (shown sorted by name) or [{name, value}, …]
// (in order), links as
// {"title": "url", …} or [{title, url}, …], and severity one of info, good,
// warning, critical (or a vendor word such as "firing" or "resolved"); or a
// whole card: a MessageCard, a Workflows message or a bare Adaptive Card.
// Intermediate output is escaped and bounded like every built-in mapping. A
// whole card is sent as written to destinations of its format, after its
// schema and size are checked, and converted for the other format.
type JQMapping struct {
	file      string
	code      *gojq.Code
	validator *schemas.Validator
}

// jqTimeout stops a mapping that loops forever; the event is dead-lettered.
const jqTimeout = 2 * time.Second

// LoadJQ reads and compiles a jq mapping file. Syntax errors name the file,
// line and column.
func LoadJQ(path string) (*JQMapping, error) {
	code, err := config.CompileMapping(path)
	if err != nil {
		return nil, err
	}
	v, err := schemas.NewValidator()
	if err != nil {
		return nil, fmt.Errorf("mapping %s: %w", path, err)
	}
	return &JQMapping{file: path, code: code, validator: v}, nil
}

// Map runs the mapping on ev. Its errors name the mapping file and the event.
func (m *JQMapping) Map(ev schemas.Event) (Summary, error) {
	s, err := m.run(ev)
	if err != nil {
		return Summary{}, fmt.Errorf("mapping %s: event %s: %w", m.file, ev.ID, err)
	}
	return s, nil
}

func (m *JQMapping) run(ev schemas.Event) (Summary, error) {
	ctx, cancel := context.WithTimeout(context.Background(), jqTimeout)
	defer cancel()
	envelope := map[string]any{
		"id": ev.ID, "source": ev.Source, "received_at": ev.ReceivedAt.UTC().Format(time.RFC3339Nano),
		"content_type": ev.ContentType, "headers": headersValue(ev.Headers),
	}
	out, ok := m.code.RunWithContext(ctx, filterInput(ev), envelope).Next()
	if !ok {
		return Summary{}, errors.New("produced no output (want a card or {title, text, facts, links, severity})")
	}
	if err, isErr := out.(error); isErr {
		if ctx.Err() != nil {
			return Summary{}, fmt.Errorf("stopped after %v: %w", jqTimeout, err)
		}
		return Summary{}, err
	}
	obj, isObj := out.(map[string]any)
	if !isObj {
		return Summary{}, fmt.Errorf("output is %s, want an object (a card or {title, text, facts, links, severity})", jqType(out))
	}
	if format, card, ok := wholeCard(obj); ok {
		return m.fromCard(format, card)
	}
	return intermediate(obj)
}

func headersValue(h map[string]string) map[string]any {
	out := make(map[string]any, len(h))
	for k, v := range h {
		out[k] = v
	}
	return out
}

// wholeCard recognises a card in a mapping's output and returns it as the
// JSON a destination of its format takes (a bare Adaptive Card is wrapped in
// the Workflows envelope).
func wholeCard(obj map[string]any) (string, any, bool) {
	switch {
	case obj["@type"] == schemas.MessageCardType:
		return schemas.FormatMessageCard, obj, true
	case obj["type"] == schemas.WorkflowsMessageType:
		return schemas.FormatAdaptive, obj, true
	case obj["type"] == schemas.AdaptiveCardType:
		return schemas.FormatAdaptive, map[string]any{
			"type": schemas.WorkflowsMessageType,
			"attachments": []any{map[string]any{
				"contentType": schemas.AdaptiveContentType, "contentUrl": nil, "content": obj,
			}},
		}, true
	}
	return "", nil, false
}

// fromCard checks a whole card and reads it back into a Summary, which
// renders it for the other format.
func (m *JQMapping) fromCard(format string, card any) (Summary, error) {
	raw, err := marshal(card)
	if err != nil {
		return Summary{}, fmt.Errorf("encode the card: %w", err)
	}
	if err := m.validator.Validate(format, raw); err != nil && !errors.Is(err, schemas.ErrTooLarge) {
		return Summary{}, fmt.Errorf("the card is not a valid %s: %w", format, err)
	}
	c, err := teams.ParseCard(raw)
	if err != nil {
		return Summary{}, err
	}
	s := c.Summary
	// The card as the mapping wrote it, for its own format only.
	s.Cards = map[string][]byte{format: raw}
	return s, nil
}

// intermediate reads {title, subtitle, text, facts, links, severity}.
func intermediate(obj map[string]any) (Summary, error) {
	var s Summary
	var errs []error
	for _, k := range slices.Sorted(maps.Keys(obj)) {
		v := obj[k]
		var err error
		switch k {
		case "title":
			s.Title, err = jqText(v)
		case "subtitle":
			s.Subtitle, err = jqText(v)
		case "text":
			s.Text, err = jqText(v)
		case "severity":
			var sev string
			if sev, err = jqText(v); err == nil {
				s.Severity, err = jqSeverity(sev)
			}
		case "facts":
			s.Facts, err = jqFacts(v)
		case "links":
			s.Links, err = jqLinks(v)
		default:
			err = errors.New("unknown field (want title, subtitle, text, facts, links, severity)")
		}
		if err != nil {
			errs = append(errs, fmt.Errorf(".%s: %w", k, err))
		}
	}
	if strings.TrimSpace(s.Title) == "" && len(errs) == 0 {
		errs = append(errs, errors.New(".title: is required"))
	}
	if s.Severity == "" {
		s.Severity = SeverityInfo
	}
	return s, errors.Join(errs...)
}

// jqText accepts a string, a number or a boolean; null reads as "".
func jqText(v any) (string, error) {
	switch v := v.(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	case bool, int, float64, json.Number:
		return fmt.Sprint(v), nil
	}
	if b, ok := v.(interface{ String() string }); ok { // *big.Int
		return b.String(), nil
	}
	return "", fmt.Errorf("is %s, want a string", jqType(v))
}

func jqSeverity(v string) (Severity, error) {
	switch sev := Severity(strings.ToLower(v)); sev {
	case "", SeverityInfo, SeverityGood, SeverityWarning, SeverityCritical:
		return sev, nil
	}
	if sev := mapping.SeverityOf(v); sev != "" {
		return sev, nil
	}
	return "", fmt.Errorf("%q is not info, good, warning or critical", v)
}

// jqFacts accepts {"name": value} (sorted by name) or [{name, value}]; a
// fact whose value is null or empty is left out.
func jqFacts(v any) ([]Fact, error) {
	pairs, err := jqPairs(v, "name", "value")
	var out []Fact
	for _, p := range pairs {
		if p[1] != "" {
			out = append(out, Fact{Name: p[0], Value: p[1]})
		}
	}
	return out, err
}

// jqLinks accepts {"title": url} or [{title, url}]; only http(s) URLs are
// rendered, others are dropped by the renderer.
func jqLinks(v any) ([]Link, error) {
	pairs, err := jqPairs(v, "title", "url")
	var out []Link
	for _, p := range pairs {
		out = append(out, Link{Title: p[0], URL: p[1]})
	}
	return out, err
}

// jqPairs reads {"key": value} (sorted by key) or [{key, value}], with the
// fields named key and value, as text pairs.
func jqPairs(v any, key, value string) ([][2]string, error) {
	var out [][2]string
	switch v := v.(type) {
	case nil:
		return nil, nil
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(v)) {
			val, err := jqText(v[k])
			if err != nil {
				return nil, fmt.Errorf("%q: %w", k, err)
			}
			out = append(out, [2]string{k, val})
		}
	case []any:
		for i, e := range v {
			pair, ok := e.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("[%d] is %s, want {%s, %s}", i, jqType(e), key, value)
			}
			k, err1 := jqText(pair[key])
			val, err2 := jqText(pair[value])
			if err := errors.Join(err1, err2); err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			out = append(out, [2]string{k, val})
		}
	default:
		return nil, fmt.Errorf("is %s, want an object or an array of {%s, %s}", jqType(v), key, value)
	}
	return out, nil
}

// jqType names a jq value's type as jq does.
func jqType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case string:
		return "a string"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return "a number"
}
