package teams

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/hookrelay/hookrelay/internal/vendors/mapping"
	"github.com/hookrelay/hookrelay/schemas"
)

// The teams mapping reads a card some tool already made for Teams (an Office
// 365 connector MessageCard, a Workflows message with an Adaptive Card, or a
// bare Adaptive Card). A card the destination's format and version carry is
// sent unchanged; otherwise it is rendered again for the destination, its
// text as plain text and its links as buttons, so a tool that can only post
// to the retired connectors reaches a Workflows channel. What the target
// cannot carry (a 1.5 Table, an Action.Execute button, a MessageCard's
// HttpPOST action) becomes text or a link, and the card says it was
// simplified: nothing is lost silently.

// Detect reports whether an event is a Teams card, for mapping auto.
func Detect(p mapping.Probe) bool {
	return p.Str("@type") == schemas.MessageCardType ||
		(p.Str("type") == schemas.WorkflowsMessageType &&
			bytes.Contains(p.Raw("attachments"), []byte(schemas.AdaptiveContentType))) ||
		p.Str("type") == schemas.AdaptiveCardType
}

// Map maps a Teams card: unchanged for the format it is in when that format
// carries all of it, rendered from its content otherwise.
func Map(ev schemas.Event) (mapping.Summary, error) {
	doc, ok := mapping.JSONDocument(ev)
	if !ok {
		return mapping.Summary{}, errors.New("teams mapping: the body is not JSON")
	}
	c, err := ParseCard(doc)
	if err != nil {
		return mapping.Summary{}, err
	}
	return c.Summary, nil
}

// Card is a Teams card read back into a Summary, plus its headline (a
// MessageCard's summary, an Adaptive Card's first text), which tools fill
// with the most telling line.
type Card struct {
	mapping.Summary
	Headline string
}

// ParseCard reads a MessageCard, a Workflows message or a bare Adaptive
// Card. The Summary's Cards holds the card as it came, for the format that
// carries it unchanged.
func ParseCard(doc []byte) (Card, error) {
	var top map[string]any
	if err := json.Unmarshal(doc, &top); err != nil {
		return Card{}, fmt.Errorf("teams mapping: the card is not a JSON object: %w", err)
	}
	switch {
	case top["@type"] == schemas.MessageCardType:
		var mc messageCardIn
		_ = mapping.DecodeJSON(doc, &mc)
		c := fromMessageCard(mc)
		// Teams refuses a MessageCard with neither summary nor text; such
		// a card is made again, with a title.
		if mc.Summary != "" || mc.Text != "" {
			c.Cards = map[string][]byte{schemas.FormatMessageCard: doc}
		}
		return c, nil
	case top["type"] == schemas.WorkflowsMessageType:
		atts, _ := top["attachments"].([]any)
		for _, a := range atts {
			att, _ := a.(map[string]any)
			content, isCard := att["content"].(map[string]any)
			if att["contentType"] != schemas.AdaptiveContentType || !isCard {
				continue
			}
			c := fromAdaptive(content)
			if len(atts) == 1 && carried(content) {
				c.Cards = map[string][]byte{schemas.FormatAdaptive: doc}
			}
			return c, nil
		}
		return Card{}, errors.New("teams mapping: the message has no Adaptive Card attachment")
	case top["type"] == schemas.AdaptiveCardType:
		c := fromAdaptive(top)
		if carried(top) {
			if env, err := json.Marshal(envelope(json.RawMessage(doc))); err == nil {
				c.Cards = map[string][]byte{schemas.FormatAdaptive: env}
			}
		}
		return c, nil
	}
	return Card{}, errors.New("teams mapping: neither a MessageCard nor a Workflows message")
}

// envelope wraps a bare Adaptive Card in the Workflows message.
func envelope(card json.RawMessage) any {
	return map[string]any{
		"type": schemas.WorkflowsMessageType,
		"attachments": []any{map[string]any{
			"contentType": schemas.AdaptiveContentType, "contentUrl": nil, "content": card,
		}},
	}
}

// messageCardIn is the part of an incoming MessageCard hookrelay reads.
type messageCardIn struct {
	Type       mapping.Text `json:"@type"`
	Summary    mapping.Text `json:"summary"`
	Title      mapping.Text `json:"title"`
	Text       mapping.Text `json:"text"`
	ThemeColor mapping.Text `json:"themeColor"`
	Sections   []struct {
		ActivityTitle    mapping.Text `json:"activityTitle"`
		ActivitySubtitle mapping.Text `json:"activitySubtitle"`
		ActivityText     mapping.Text `json:"activityText"`
		Title            mapping.Text `json:"title"`
		Text             mapping.Text `json:"text"`
		Facts            []struct {
			Name  mapping.Text `json:"name"`
			Value mapping.Text `json:"value"`
		} `json:"facts"`
	} `json:"sections"`
	PotentialAction []struct {
		Type    mapping.Text `json:"@type"`
		Name    mapping.Text `json:"name"`
		Targets []struct {
			URI mapping.Text `json:"uri"`
		} `json:"targets"` // OpenUri
		Target []mapping.Text `json:"target"` // ViewAction
	} `json:"potentialAction"`
}

func fromMessageCard(mc messageCardIn) Card {
	c := Card{Headline: unmarkdown(string(mc.Summary), nil)}
	var l mapping.Links
	var f mapping.Facts
	var body, lost []string
	add := func(t mapping.Text) {
		if s := unmarkdown(string(t), &l); strings.TrimSpace(s) != "" {
			body = append(body, s)
		}
	}
	c.Title = unmarkdown(mapping.FirstText(mc.Title), &l)
	add(mc.Text)
	for _, sec := range mc.Sections {
		switch {
		case c.Title == "":
			c.Title = unmarkdown(mapping.FirstText(sec.ActivityTitle, sec.Title), &l)
		default:
			add(sec.ActivityTitle)
			add(sec.Title)
		}
		if c.Subtitle == "" {
			c.Subtitle = unmarkdown(string(sec.ActivitySubtitle), &l)
		} else {
			add(sec.ActivitySubtitle)
		}
		add(sec.ActivityText)
		add(sec.Text)
		for _, fc := range sec.Facts {
			f.Add(unmarkdown(string(fc.Name), &l), unmarkdown(string(fc.Value), &l))
		}
	}
	if c.Title == "" {
		c.Title = c.Headline
	}
	for _, a := range mc.PotentialAction {
		switch a.Type {
		case "OpenUri":
			if len(a.Targets) > 0 {
				l.Add(string(a.Name), string(a.Targets[0].URI))
			}
		case "ViewAction":
			if len(a.Target) > 0 {
				l.Add(string(a.Name), string(a.Target[0]))
			}
		default:
			lost = append(lost, fmt.Sprintf("the action %q (%s) needs the sender's service and is left out", mapping.FirstText(a.Name, "(untitled)"), a.Type))
		}
	}
	if len(lost) > 0 {
		body = append(body, "Simplified by hookrelay: "+strings.Join(lost, "; ")+".")
	}
	c.Text, c.Facts, c.Links = strings.Join(body, "\n"), f, l
	c.Severity = colourSeverity(string(mc.ThemeColor))
	return c
}

// The Adaptive Card elements and actions of version 1.4 that a Teams
// Workflows channel shows as they are; anything else is simplified.
func carriedElement(t string) bool {
	switch t {
	case "TextBlock", "Image", "Media", "RichTextBlock", "TextRun", "Container", "ColumnSet", "Column", "FactSet",
		"ImageSet", "ActionSet", "Input.Text", "Input.Number", "Input.Date", "Input.Time", "Input.Toggle", "Input.ChoiceSet":
		return true
	}
	return false
}

// carriedAction: Action.Submit and Action.Execute need a bot to answer them,
// which a Workflows webhook does not have; their buttons would do nothing.
func carriedAction(t string) bool {
	switch t {
	case schemas.ActionOpenURL, "Action.ShowCard", "Action.ToggleVisibility":
		return true
	}
	return false
}

// carried reports whether an Adaptive Card can be sent to a Workflows
// channel unchanged: version 1.4 or older, and only elements and actions
// that version has and a webhook's card can use.
func carried(card map[string]any) bool {
	v, _ := card["version"].(string)
	if !versionAtMost(v, schemas.AdaptiveVersion) {
		return false
	}
	ok := true
	walkCard(card, func(kind string, node map[string]any) {
		t, _ := node["type"].(string)
		switch {
		case kind == "action" && !carriedAction(t), kind == "element" && !carriedElement(t):
			ok = false
		case t == "Action.ShowCard":
			if inner, isCard := node["card"].(map[string]any); isCard && !carried(inner) {
				ok = false
			}
		}
	})
	return ok
}

// versionAtMost compares "major.minor" versions; an unreadable one is not.
func versionAtMost(v, limit string) bool {
	parse := func(s string) (int, int, bool) {
		maj, min, ok := strings.Cut(s, ".")
		a, err1 := strconv.Atoi(maj)
		b, err2 := strconv.Atoi(min)
		return a, b, ok && err1 == nil && err2 == nil
	}
	a, b, ok1 := parse(v)
	c, d, ok2 := parse(limit)
	return ok1 && ok2 && (a < c || (a == c && b <= d))
}

// walkCard calls fn for every element ("element") and action ("action") of
// a card, depth first in document order.
func walkCard(card map[string]any, fn func(kind string, node map[string]any)) {
	var elements func(v any)
	var actions func(v any)
	elements = func(v any) {
		list, _ := v.([]any)
		for _, e := range list {
			node, ok := e.(map[string]any)
			if !ok {
				continue
			}
			fn("element", node)
			for _, k := range []string{"items", "columns", "rows", "cells", "inlines"} {
				elements(node[k])
			}
			if sel, ok := node["selectAction"].(map[string]any); ok {
				fn("action", sel)
			}
			actions(node["actions"])
		}
	}
	actions = func(v any) {
		list, _ := v.([]any)
		for _, a := range list {
			if node, ok := a.(map[string]any); ok {
				fn("action", node)
			}
		}
	}
	elements(card["body"])
	actions(card["actions"])
}

// fromAdaptive reads an Adaptive Card: its first text is the title, the rest
// of its text in order, facts, links; tables, rich text and images become
// text and links, and what a card in another format cannot do is named in a
// closing note.
func fromAdaptive(card map[string]any) Card {
	var c Card
	var l mapping.Links
	var f mapping.Facts
	var body []string
	var lost []string
	note := func(s string) {
		if !slices.Contains(lost, s) {
			lost = append(lost, s)
		}
	}
	addText := func(s string) {
		s = unmarkdown(s, &l)
		switch {
		case strings.TrimSpace(s) == "":
		case c.Title == "":
			c.Title, c.Headline = s, s
		default:
			body = append(body, s)
		}
	}
	var elements func(v any)
	action := func(a map[string]any) {
		t, title, url := str(a["type"]), str(a["title"]), str(a["url"])
		switch t {
		case schemas.ActionOpenURL:
			l.Add(title, url)
		case "Action.ShowCard":
			if inner, ok := a["card"].(map[string]any); ok {
				elements(inner["body"])
				for _, ia := range list(inner["actions"]) {
					if m, ok := ia.(map[string]any); ok && str(m["type"]) == schemas.ActionOpenURL {
						l.Add(str(m["title"]), str(m["url"]))
					}
				}
			}
		case "Action.ToggleVisibility":
		default:
			if title == "" {
				title = "(untitled)"
			}
			note(fmt.Sprintf("the button %q (%s) needs an app to answer it and is left out", title, t))
		}
	}
	elements = func(v any) {
		for _, e := range list(v) {
			node, ok := e.(map[string]any)
			if !ok {
				continue
			}
			t := str(node["type"])
			switch t {
			case "TextBlock":
				if c.Title == "" {
					c.Severity = adaptiveColourSeverity(str(node["color"]))
				}
				addText(str(node["text"]))
			case "RichTextBlock":
				var b strings.Builder
				for _, in := range list(node["inlines"]) {
					switch in := in.(type) {
					case string:
						b.WriteString(in)
					case map[string]any:
						b.WriteString(str(in["text"]))
						if sel, ok := in["selectAction"].(map[string]any); ok && str(sel["type"]) == schemas.ActionOpenURL {
							l.Add(str(in["text"]), str(sel["url"]))
						}
					}
				}
				addText(b.String())
			case "FactSet":
				for _, fc := range list(node["facts"]) {
					if m, ok := fc.(map[string]any); ok {
						f.Add(unmarkdown(str(m["title"]), &l), unmarkdown(str(m["value"]), &l))
					}
				}
			case "Table":
				rows := tableRows(node, &l)
				if len(rows) > 0 {
					body = append(body, mapping.Bullets(rows))
				}
				note("a table is shown as text")
			case "Image":
				if u := str(node["url"]); mapping.SafeURL(u) {
					l.Add(mapping.FirstText(mapping.Text(str(node["altText"])), "Image"), u)
				}
			case "ImageSet":
				for _, im := range list(node["images"]) {
					if m, ok := im.(map[string]any); ok {
						l.Add(mapping.FirstText(mapping.Text(str(m["altText"])), "Image"), str(m["url"]))
					}
				}
			case "ActionSet":
				for _, a := range list(node["actions"]) {
					if m, ok := a.(map[string]any); ok {
						action(m)
					}
				}
			case "Container", "Column", "ColumnSet":
			default:
				if strings.HasPrefix(t, "Input.") {
					note("an input field is left out")
				} else if !carriedElement(t) {
					note(fmt.Sprintf("an element of type %q is left out", t))
				}
			}
			if sel, ok := node["selectAction"].(map[string]any); ok && str(sel["type"]) == schemas.ActionOpenURL {
				l.Add(mapping.FirstText(mapping.Text(str(sel["title"])), "Open"), str(sel["url"]))
			}
			elements(node["items"])
			for _, col := range list(node["columns"]) {
				if m, ok := col.(map[string]any); ok {
					elements(m["items"])
				}
			}
		}
	}
	elements(card["body"])
	for _, a := range list(card["actions"]) {
		if m, ok := a.(map[string]any); ok {
			action(m)
		}
	}
	if v := str(card["version"]); v != "" && !versionAtMost(v, schemas.AdaptiveVersion) {
		note("the card was made for Adaptive Cards " + v + ", Teams shows " + schemas.AdaptiveVersion)
	}
	if len(lost) > 0 {
		body = append(body, "Simplified by hookrelay: "+strings.Join(lost, "; ")+".")
	}
	c.Text, c.Facts, c.Links = strings.Join(body, "\n"), f, l
	if c.Severity == "" {
		c.Severity = mapping.SeverityInfo
	}
	return c
}

// tableRows spells each row of an Adaptive Card 1.5 Table as one line, its
// cells' text joined with " | "; the header row first when the table has one.
func tableRows(table map[string]any, l *mapping.Links) []string {
	var rows []string
	for _, r := range list(table["rows"]) {
		row, ok := r.(map[string]any)
		if !ok {
			continue
		}
		var cells []string
		for _, cl := range list(row["cells"]) {
			cell, ok := cl.(map[string]any)
			if !ok {
				continue
			}
			var parts []string
			var collect func(v any)
			collect = func(v any) {
				for _, it := range list(v) {
					m, ok := it.(map[string]any)
					if !ok {
						continue
					}
					switch str(m["type"]) {
					case "TextBlock":
						parts = append(parts, unmarkdown(str(m["text"]), l))
					case "RichTextBlock":
						for _, in := range list(m["inlines"]) {
							if s, ok := in.(string); ok {
								parts = append(parts, s)
							} else if im, ok := in.(map[string]any); ok {
								parts = append(parts, str(im["text"]))
							}
						}
					}
					collect(m["items"])
				}
			}
			collect(cell["items"])
			cells = append(cells, strings.Join(parts, " "))
		}
		if strings.TrimSpace(strings.Join(cells, "")) != "" {
			rows = append(rows, strings.Join(cells, " | "))
		}
	}
	return rows
}

// str reads a JSON string, a number or a boolean as text; anything else is "".
func str(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case float64, bool, json.Number:
		return fmt.Sprint(v)
	}
	return ""
}

// list reads a JSON array; anything else is empty.
func list(v any) []any {
	l, _ := v.([]any)
	return l
}

var (
	// markdownLinkRE finds [text](url) in a card's markdown.
	markdownLinkRE = regexp.MustCompile(`\[([^\]]*)\]\(([^)\s]+)\)`)
	// markdownEscapeRE finds a backslash-escaped punctuation character.
	markdownEscapeRE = regexp.MustCompile(`\\([!-/:-@\[-` + "`" + `{-~])`)
	// lineBreaks turns a card's HTML line breaks into newlines.
	lineBreaks = strings.NewReplacer("<br>", "\n", "<br/>", "\n", "<br />", "\n")
)

// unmarkdown turns a card's markdown into the plain text a Summary holds:
// escapes and bold are undone and a link keeps its text, its URL going to l
// (when l is not nil). The renderer escapes the result again for the destination.
func unmarkdown(s string, l *mapping.Links) string {
	s = markdownLinkRE.ReplaceAllStringFunc(s, func(m string) string {
		sub := markdownLinkRE.FindStringSubmatch(m)
		if l != nil {
			l.Add(sub[1], sub[2])
		}
		return sub[1]
	})
	s = lineBreaks.Replace(s)
	s = strings.ReplaceAll(s, "**", "") // bold; the card is shown as plain text
	return markdownEscapeRE.ReplaceAllString(s, "$1")
}

// colourSeverity reads a MessageCard's themeColor: red is critical, amber a
// warning, green good, anything else information.
func colourSeverity(hex string) mapping.Severity {
	hex = strings.TrimPrefix(strings.TrimSpace(hex), "#")
	v, err := strconv.ParseUint(hex, 16, 32)
	if err != nil || len(hex) != 6 {
		return mapping.SeverityInfo
	}
	r, g, b := float64(v>>16&0xff), float64(v>>8&0xff), float64(v&0xff)
	switch {
	case g > r && g > b:
		return mapping.SeverityGood
	case r > 1.5*g && r > 1.5*b:
		return mapping.SeverityCritical
	case r >= 150 && g >= 100 && b < g:
		return mapping.SeverityWarning
	}
	return mapping.SeverityInfo
}

// adaptiveColourSeverity reads a TextBlock colour.
func adaptiveColourSeverity(colour string) mapping.Severity {
	switch strings.ToLower(colour) {
	case "good":
		return mapping.SeverityGood
	case "warning":
		return mapping.SeverityWarning
	case "attention":
		return mapping.SeverityCritical
	}
	return ""
}
