package dispatch

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"

	"github.com/hookrelay/hookrelay/schemas"
)

// digestMax bounds how many deliveries one digest may carry; the 28 KB card
// limit usually binds first.
const digestMax = 50

// buildDigest coalesces rendered cards of one source into one card of the
// same format: "N events from SOURCE", each event its own section (or
// container) in order, with its links in the text. It takes as many cards
// from the front as fit in schemas.MaxCardBytes and returns the digest and
// how many it took; fewer than two means no digest is worth sending.
func buildDigest(format, source string, cards [][]byte) ([]byte, int, error) {
	var best []byte
	n := 0
	// Cards are small next to the limit; adding one at a time and measuring
	// is simple and costs a few marshals per digest.
	for i := 2; i <= len(cards); i++ {
		card, err := digestOf(format, source, cards[:i])
		if err != nil {
			return nil, 0, err
		}
		if len(card) > schemas.MaxCardBytes {
			break
		}
		best, n = card, i
	}
	return best, n, nil
}

// carried reports whether a digest of format carries card whole. A digest
// reads each card through schemas.MessageCard or schemas.AdaptiveCard, which
// know only what hookrelay renders (text, facts, containers, columns, links),
// and writes its links as text. A card passed through with more — images,
// rich text, inputs, other actions, a second attachment — would lose it, and
// copies of one input's id would make the digest an invalid card: such a
// card goes alone. The test is a round trip: the card read into the type and
// written again must say all the card said.
func carried(format string, card []byte) bool {
	var typed any
	switch format {
	case schemas.FormatAdaptive:
		var m schemas.WorkflowsMessage
		if json.Unmarshal(card, &m) != nil || len(m.Attachments) != 1 {
			return false
		}
		for _, a := range m.Attachments[0].Content.Actions {
			if a.Type != schemas.ActionOpenURL {
				return false
			}
		}
		typed = m
	default:
		var c schemas.MessageCard
		if json.Unmarshal(card, &c) != nil {
			return false
		}
		for _, a := range c.PotentialAction {
			if a.Type != schemas.ActionOpenURI {
				return false
			}
		}
		typed = c
	}
	again, err := json.Marshal(typed)
	if err != nil {
		return false
	}
	var was, is any
	if json.Unmarshal(card, &was) != nil || json.Unmarshal(again, &is) != nil {
		return false
	}
	return reflect.DeepEqual(withoutDefaults(was), withoutDefaults(is))
}

// withoutDefaults drops the members of JSON objects, at any depth, that say
// no more than their absence: null, false, 0, "", [] and {}. A card may spell
// them out or leave them out; the types leave out some and spell out others.
func withoutDefaults(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			x = withoutDefaults(x)
			if isDefault(x) {
				delete(v, k)
			} else {
				v[k] = x
			}
		}
		return v
	case []any:
		for i, x := range v {
			v[i] = withoutDefaults(x)
		}
		return v
	}
	return v
}

func isDefault(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case bool:
		return !v
	case float64:
		return v == 0
	case string:
		return v == ""
	case []any:
		return len(v) == 0
	case map[string]any:
		return len(v) == 0
	}
	return false
}

func digestOf(format, source string, cards [][]byte) ([]byte, error) {
	title := fmt.Sprintf("%d events from %s", len(cards), source)
	switch format {
	case schemas.FormatAdaptive:
		return adaptiveDigest(title, cards)
	default:
		return messageCardDigest(title, cards)
	}
}

func messageCardDigest(title string, cards [][]byte) ([]byte, error) {
	d := schemas.MessageCard{Type: schemas.MessageCardType, Context: schemas.MessageCardContext, Summary: title, Title: title}
	for i, raw := range cards {
		var c schemas.MessageCard
		if err := json.Unmarshal(raw, &c); err != nil {
			return nil, fmt.Errorf("digest: card %d is not a MessageCard: %w", i, err)
		}
		if d.ThemeColor == "" {
			d.ThemeColor = c.ThemeColor
		}
		s := schemas.MessageSection{ActivityTitle: c.Title, Markdown: true}
		if s.ActivityTitle == "" {
			s.ActivityTitle = c.Summary
		}
		texts := []string{c.Text}
		for _, sec := range c.Sections {
			if s.ActivitySubtitle == "" {
				s.ActivitySubtitle = sec.ActivitySubtitle
			}
			texts = append(texts, sec.Text)
			s.Facts = append(s.Facts, sec.Facts...)
		}
		for _, a := range c.PotentialAction {
			for _, t := range a.Targets {
				texts = append(texts, fmt.Sprintf("[%s](%s)", a.Name, t.URI))
			}
		}
		s.Text = joinNonEmpty(texts)
		d.Sections = append(d.Sections, s)
	}
	return json.Marshal(d)
}

func adaptiveDigest(title string, cards [][]byte) ([]byte, error) {
	card := schemas.AdaptiveCard{
		Schema: schemas.AdaptiveSchemaURL, Type: schemas.AdaptiveCardType, Version: schemas.AdaptiveVersion,
		MSTeams: &schemas.MSTeams{Width: "Full"},
		Body:    []schemas.AdaptiveElement{{Type: schemas.ElementTextBlock, Text: title, Size: "Large", Weight: "Bolder", Wrap: true}},
	}
	for i, raw := range cards {
		var m schemas.WorkflowsMessage
		if err := json.Unmarshal(raw, &m); err != nil || len(m.Attachments) == 0 {
			return nil, fmt.Errorf("digest: card %d is not a Workflows message: %v", i, err)
		}
		c := m.Attachments[0].Content
		items := append([]schemas.AdaptiveElement(nil), c.Body...)
		for _, a := range c.Actions {
			items = append(items, schemas.AdaptiveElement{Type: schemas.ElementTextBlock, Wrap: true, Text: fmt.Sprintf("[%s](%s)", a.Title, a.URL)})
		}
		card.Body = append(card.Body, schemas.AdaptiveElement{Type: schemas.ElementContainer, Separator: true, Spacing: "Medium", Items: items})
	}
	return json.Marshal(schemas.WorkflowsMessage{
		Type:        schemas.WorkflowsMessageType,
		Attachments: []schemas.WorkflowAttachment{{ContentType: schemas.AdaptiveContentType, Content: card}},
	})
}

func joinNonEmpty(parts []string) string {
	var kept []string
	for _, p := range parts {
		if p != "" {
			kept = append(kept, p)
		}
	}
	return strings.Join(kept, "\n\n")
}
