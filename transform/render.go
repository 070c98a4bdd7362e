package transform

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/hookrelay/hookrelay/internal/markup"
	"github.com/hookrelay/hookrelay/internal/vendors/mapping"
	"github.com/hookrelay/hookrelay/schemas"
)

// Render maps ev with the generic mapping and renders it as format
// (schemas.FormatMessageCard or schemas.FormatAdaptive): the exact JSON body to
// POST, at most schemas.MaxCardBytes.
func Render(ev schemas.Event, format string) ([]byte, error) {
	s, err := Generic(ev)
	if err != nil {
		return nil, fmt.Errorf("event %s: map: %w", ev.ID, err)
	}
	return RenderSummary(s, format)
}

// RenderSummary renders s as the JSON body of format. A card that would exceed
// schemas.MaxCardBytes is rendered again with shorter text, fewer facts and
// shorter values, each cut visibly with Truncated, until it fits.
func RenderSummary(s Summary, format string) ([]byte, error) {
	build, err := builder(format)
	if err != nil {
		return nil, err
	}
	if card, ok := s.Cards[format]; ok && len(card) <= schemas.MaxCardBytes && validCard(format, card) {
		// A card made elsewhere goes as it is only when Teams would take
		// it; otherwise it is rendered from what the mapping read from it.
		return card, nil
	}
	for l := startLimits(); ; {
		card, err := marshal(build(bounded(s, l)))
		if err != nil {
			return nil, fmt.Errorf("render %s: %w", format, err)
		}
		if len(card) <= schemas.MaxCardBytes {
			return card, nil
		}
		var ok bool
		if l, ok = l.shrink(); !ok {
			return nil, fmt.Errorf("render %s: %d bytes at the smallest: %w", format, len(card), schemas.ErrTooLarge)
		}
	}
}

// cardValidator compiles the card schemas once; a Validator is immutable
// and safe for concurrent use.
var cardValidator = sync.OnceValues(schemas.NewValidator)

// validCard reports whether a card made elsewhere satisfies its format's
// schema.
func validCard(format string, card []byte) bool {
	v, err := cardValidator()
	return err == nil && v.Validate(format, card) == nil
}

// builder returns the function that spells a Summary in format. Formats differ
// only here; bounding, escaping rules and the size limit are shared.
func builder(format string) (func(Summary) any, error) {
	switch format {
	case schemas.FormatMessageCard:
		return messageCard, nil
	case schemas.FormatAdaptive:
		return adaptiveCard, nil
	}
	return nil, fmt.Errorf("unknown card format %q (want %s or %s)", format, schemas.FormatMessageCard, schemas.FormatAdaptive)
}

// limits bound a Summary's parts, in runes (facts and links: in count).
type limits struct {
	title, subtitle, text, excerpt, factName, factValue, facts, links int
}

// startLimits are generous: a typical card stays far below 28 KB with them.
func startLimits() limits {
	return limits{title: 250, subtitle: 200, text: 6000, excerpt: 8000, factName: 100, factValue: 500, facts: 20, links: 5}
}

// shrink gives up the least important content first: the long texts, then
// fact values, then facts and links, then the title's tail. It reports false
// when nothing is left to give up.
func (l limits) shrink() (limits, bool) {
	half := func(n, floor int) int { return max(n/2, floor) }
	switch {
	case l.text > 0 || l.excerpt > 0:
		l.text, l.excerpt = half(l.text, 0), half(l.excerpt, 0)
		if l.text < 64 {
			l.text = 0
		}
		if l.excerpt < 64 {
			l.excerpt = 0
		}
	case l.factValue > 40:
		l.factValue, l.factName = half(l.factValue, 40), half(l.factName, 40)
	case l.facts > 0 || l.links > 0:
		l.facts, l.links = l.facts/2, l.links/2
	case l.title > 60 || l.subtitle > 60:
		l.title, l.subtitle = half(l.title, 60), half(l.subtitle, 60)
	default:
		return l, false
	}
	return l, true
}

// bounded returns s cut to l, with a visible marker wherever something was
// cut, and the value of every fact whose name says it is a secret masked.
func bounded(s Summary, l limits) Summary {
	out := Summary{
		Title:    mapping.Cut(s.Title, l.title),
		Subtitle: mapping.Cut(s.Subtitle, l.subtitle),
		Text:     mapping.Cut(s.Text, l.text),
		Excerpt:  mapping.Cut(s.Excerpt, l.excerpt),
		Severity: s.Severity,
	}
	if strings.TrimSpace(out.Title) == "" {
		// Teams refuses a card without summary or text.
		out.Title = "(untitled event)"
	}
	var facts []Fact
	for _, f := range s.Facts {
		// A FactSet's fact needs a value: an empty one says nothing.
		if strings.TrimSpace(f.Value) != "" {
			facts = append(facts, f)
		}
	}
	for i, f := range facts {
		if i == l.facts {
			out.Facts = append(out.Facts, Fact{Name: "…", Value: fmt.Sprintf("%d more facts %s", len(facts)-i, Truncated)})
			break
		}
		value := f.Value
		if mapping.SecretName(f.Name) {
			value = mapping.Masked
		}
		out.Facts = append(out.Facts, Fact{Name: mapping.Cut(f.Name, l.factName), Value: mapping.Cut(value, l.factValue)})
	}
	for _, k := range s.Links {
		if len(out.Links) == l.links {
			break
		}
		if mapping.SafeURL(k.URL) {
			// A button needs a name (MessageCard's OpenUri refuses none).
			title := cmp.Or(mapping.Cut(oneLine(k.Title), 40), "Open link")
			out.Links = append(out.Links, Link{Title: title, URL: k.URL})
		}
	}
	return out
}

// markdownURLEscaper percent-encodes what would end or break a markdown link
// target; safeURL already refused spaces and control characters. A Replacer
// is immutable and safe for concurrent use.
var markdownURLEscaper = strings.NewReplacer("(", "%28", ")", "%29", "<", "%3C", ">", "%3E", "[", "%5B", "]", "%5D",
	"`", "%60", "\"", "%22", "'", "%27", "*", "%2A", "_", "%5F")

func markdownURL(u string) string { return markdownURLEscaper.Replace(u) }

func oneLine(s string) string { return strings.Join(strings.Fields(markup.Clean(s)), " ") }

// marshal encodes a card without Go's HTML escaping (\u003c), which would
// only make cards larger.
func marshal(card any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(card); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// messageCard spells s as an Office 365 connector MessageCard.
func messageCard(s Summary) any {
	e := markup.MessageCard()
	var text []string
	if s.Text != "" {
		text = append(text, e.Text(s.Text, "\n\n"))
	}
	if s.Excerpt != "" {
		text = append(text, "<pre>"+e.Code(s.Excerpt, "\n", " ")+"</pre>")
	}
	if len(s.Links) > 0 {
		// Teams Workflows show a MessageCard's text but not its buttons.
		var ls []string
		for _, k := range s.Links {
			ls = append(ls, "["+e.Line(k.Title)+"]("+markdownURL(k.URL)+")")
		}
		text = append(text, strings.Join(ls, " · "))
	}
	sec := schemas.MessageSection{
		ActivitySubtitle: e.Line(s.Subtitle),
		Text:             strings.Join(text, "\n\n"),
		Markdown:         true,
	}
	for _, f := range s.Facts {
		sec.Facts = append(sec.Facts, schemas.MessageFact{Name: e.Line(f.Name), Value: e.Line(f.Value)})
	}
	card := schemas.MessageCard{
		Type:    schemas.MessageCardType,
		Context: schemas.MessageCardContext,
		// summary is the plain-text notification line; it is never rendered as markup.
		Summary:    oneLine(s.Title),
		Title:      e.Line(s.Title),
		ThemeColor: themeColor(s.Severity),
		Sections:   []schemas.MessageSection{sec},
	}
	for _, k := range s.Links {
		card.PotentialAction = append(card.PotentialAction, schemas.MessageCardAction{
			Type: schemas.ActionOpenURI, Name: k.Title,
			Targets: []schemas.OpenURITarget{{OS: "default", URI: k.URL}},
		})
	}
	return card
}

// adaptiveCard spells s as an Adaptive Card 1.4 in the Teams Workflows envelope.
func adaptiveCard(s Summary) any {
	e := markup.Adaptive()
	header := []schemas.AdaptiveElement{{
		Type: schemas.ElementTextBlock, Text: e.Line(s.Title), Weight: "Bolder", Size: "Medium", Wrap: true,
	}}
	if s.Subtitle != "" {
		header = append(header, schemas.AdaptiveElement{
			Type: schemas.ElementTextBlock, Text: e.Line(s.Subtitle), IsSubtle: true, Size: "Small", Spacing: "None", Wrap: true,
		})
	}
	body := []schemas.AdaptiveElement{{
		Type: schemas.ElementContainer, Style: containerStyle(s.Severity), Bleed: true, Items: header,
	}}
	if s.Text != "" {
		// A blank line is the line break every Teams client honours.
		body = append(body, schemas.AdaptiveElement{Type: schemas.ElementTextBlock, Text: e.Text(s.Text, "\n\n"), Wrap: true})
	}
	if len(s.Facts) > 0 {
		fs := schemas.AdaptiveElement{Type: schemas.ElementFactSet}
		for _, f := range s.Facts {
			fs.Facts = append(fs.Facts, schemas.AdaptiveFact{Title: e.Line(f.Name), Value: e.Line(f.Value)})
		}
		body = append(body, fs)
	}
	if s.Excerpt != "" {
		// Markdown collapses spaces; no-break spaces keep the indentation.
		body = append(body, schemas.AdaptiveElement{
			Type: schemas.ElementTextBlock, Text: e.Code(s.Excerpt, "\n\n", "\u00a0"),
			FontType: "Monospace", Size: "Small", Wrap: true, Separator: true,
		})
	}
	card := schemas.AdaptiveCard{
		Schema: schemas.AdaptiveSchemaURL, Type: schemas.AdaptiveCardType, Version: schemas.AdaptiveVersion,
		Body: body, MSTeams: &schemas.MSTeams{Width: "Full"},
	}
	for _, k := range s.Links {
		card.Actions = append(card.Actions, schemas.AdaptiveAction{Type: schemas.ActionOpenURL, Title: k.Title, URL: k.URL})
	}
	return schemas.WorkflowsMessage{
		Type: schemas.WorkflowsMessageType,
		Attachments: []schemas.WorkflowAttachment{{
			ContentType: schemas.AdaptiveContentType, Content: card,
		}},
	}
}

func themeColor(sev Severity) string {
	switch sev {
	case SeverityGood:
		return "2EB886"
	case SeverityWarning:
		return "DAA038"
	case SeverityCritical:
		return "D00000"
	}
	return "0076D7"
}

func containerStyle(sev Severity) string {
	switch sev {
	case SeverityGood:
		return "good"
	case SeverityWarning:
		return "warning"
	case SeverityCritical:
		return "attention"
	}
	return "emphasis"
}
