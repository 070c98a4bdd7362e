package transform

import (
	"bytes"
	"encoding/json"
	"errors"
	"regexp"
	"strconv"
	"strings"

	"github.com/hookrelay/hookrelay/schemas"
)

// The teams mapping reads a card some tool already made for Teams (an Office
// 365 connector MessageCard or a Workflows message with an Adaptive Card) and
// renders it again for the destination: a tool that can only post to the
// retired connectors reaches a Workflows channel unchanged. The card's text is
// shown as plain text; its links become buttons.

func isTeamsCard(p probe) bool {
	return p.str("@type") == schemas.MessageCardType ||
		(p.str("type") == schemas.WorkflowsMessageType &&
			bytes.Contains(p.top["attachments"], []byte(schemas.AdaptiveContentType))) ||
		p.str("type") == schemas.AdaptiveCardType
}

func mapTeamsCard(ev schemas.Event) (Summary, error) {
	doc, ok := jsonDocument(ev)
	if !ok {
		return Summary{}, errors.New("teams mapping: the body is not JSON")
	}
	c, err := parseCard(doc)
	if err != nil {
		return Summary{}, err
	}
	return c.Summary, nil
}

// parsedCard is a Teams card read back into a Summary, plus its headline (a
// MessageCard's summary, an Adaptive Card's first text), which tools fill
// with the most telling line.
type parsedCard struct {
	Summary
	headline string
}

// messageCardIn is the part of an incoming MessageCard hookrelay reads.
type messageCardIn struct {
	Type       text `json:"@type"`
	Summary    text `json:"summary"`
	Title      text `json:"title"`
	Text       text `json:"text"`
	ThemeColor text `json:"themeColor"`
	Sections   []struct {
		ActivityTitle    text `json:"activityTitle"`
		ActivitySubtitle text `json:"activitySubtitle"`
		ActivityText     text `json:"activityText"`
		Title            text `json:"title"`
		Text             text `json:"text"`
		Facts            []struct {
			Name  text `json:"name"`
			Value text `json:"value"`
		} `json:"facts"`
	} `json:"sections"`
	PotentialAction []struct {
		Type    text `json:"@type"`
		Name    text `json:"name"`
		Targets []struct {
			URI text `json:"uri"`
		} `json:"targets"` // OpenUri
		Target []text `json:"target"` // ViewAction
	} `json:"potentialAction"`
}

// adaptiveIn is the part of an incoming Adaptive Card hookrelay reads.
type adaptiveIn struct {
	Type    text               `json:"type"`
	Body    []adaptiveElemIn   `json:"body"`
	Actions []adaptiveActionIn `json:"actions"`
}

type adaptiveElemIn struct {
	Type  text `json:"type"`
	Text  text `json:"text"`
	Color text `json:"color"`
	Facts []struct {
		Title text `json:"title"`
		Value text `json:"value"`
	} `json:"facts"`
	Items   []adaptiveElemIn `json:"items"`
	Columns []struct {
		Items []adaptiveElemIn `json:"items"`
	} `json:"columns"`
	Actions []adaptiveActionIn `json:"actions"` // ActionSet
}

type adaptiveActionIn struct {
	Type  text `json:"type"`
	Title text `json:"title"`
	URL   text `json:"url"`
}

// parseCard reads a MessageCard, a Workflows message or a bare Adaptive Card.
func parseCard(doc []byte) (parsedCard, error) {
	var probe struct {
		Type        text `json:"type"`
		AtType      text `json:"@type"`
		Attachments []struct {
			ContentType text       `json:"contentType"`
			Content     adaptiveIn `json:"content"`
		} `json:"attachments"`
	}
	if err := json.Unmarshal(doc, &probe); err != nil {
		return parsedCard{}, errors.New("teams mapping: " + err.Error())
	}
	switch {
	case probe.AtType == schemas.MessageCardType:
		var mc messageCardIn
		if err := json.Unmarshal(doc, &mc); err != nil {
			return parsedCard{}, errors.New("teams mapping: " + err.Error())
		}
		return fromMessageCard(mc), nil
	case probe.Type == schemas.WorkflowsMessageType:
		for _, a := range probe.Attachments {
			if a.ContentType == schemas.AdaptiveContentType {
				return fromAdaptive(a.Content), nil
			}
		}
		return parsedCard{}, errors.New("teams mapping: the message has no Adaptive Card attachment")
	case probe.Type == schemas.AdaptiveCardType:
		var ac adaptiveIn
		if err := json.Unmarshal(doc, &ac); err != nil {
			return parsedCard{}, errors.New("teams mapping: " + err.Error())
		}
		return fromAdaptive(ac), nil
	}
	return parsedCard{}, errors.New("teams mapping: neither a MessageCard nor a Workflows message")
}

func fromMessageCard(mc messageCardIn) parsedCard {
	c := parsedCard{headline: unmarkdown(string(mc.Summary), nil)}
	var l links
	var f facts
	var body []string
	add := func(t text) {
		if s := unmarkdown(string(t), &l); strings.TrimSpace(s) != "" {
			body = append(body, s)
		}
	}
	c.Title = unmarkdown(firstText(mc.Title), &l)
	add(mc.Text)
	for _, sec := range mc.Sections {
		switch {
		case c.Title == "":
			c.Title = unmarkdown(firstText(sec.ActivityTitle, sec.Title), &l)
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
			f.add(unmarkdown(string(fc.Name), &l), unmarkdown(string(fc.Value), &l))
		}
	}
	if c.Title == "" {
		c.Title = c.headline
	}
	for _, a := range mc.PotentialAction {
		switch a.Type {
		case "OpenUri":
			if len(a.Targets) > 0 {
				l.add(string(a.Name), string(a.Targets[0].URI))
			}
		case "ViewAction":
			if len(a.Target) > 0 {
				l.add(string(a.Name), string(a.Target[0]))
			}
		}
	}
	c.Text, c.Facts, c.Links = strings.Join(body, "\n"), f, l
	c.Severity = colourSeverity(string(mc.ThemeColor))
	return c
}

func fromAdaptive(ac adaptiveIn) parsedCard {
	var c parsedCard
	var l links
	var f facts
	var body []string
	var walk func([]adaptiveElemIn)
	walk = func(els []adaptiveElemIn) {
		for _, e := range els {
			switch e.Type {
			case "TextBlock":
				s := unmarkdown(string(e.Text), &l)
				if c.Title == "" {
					c.Title, c.headline = s, s
					c.Severity = adaptiveColourSeverity(string(e.Color))
				} else if strings.TrimSpace(s) != "" {
					body = append(body, s)
				}
			case "FactSet":
				for _, fc := range e.Facts {
					f.add(unmarkdown(string(fc.Title), &l), unmarkdown(string(fc.Value), &l))
				}
			case "ActionSet":
				addActions(&l, e.Actions)
			}
			walk(e.Items)
			for _, col := range e.Columns {
				walk(col.Items)
			}
		}
	}
	walk(ac.Body)
	addActions(&l, ac.Actions)
	c.Text, c.Facts, c.Links = strings.Join(body, "\n"), f, l
	if c.Severity == "" {
		c.Severity = SeverityInfo
	}
	return c
}

func addActions(l *links, actions []adaptiveActionIn) {
	for _, a := range actions {
		if a.Type == schemas.ActionOpenURL {
			l.add(string(a.Title), string(a.URL))
		}
	}
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
func unmarkdown(s string, l *links) string {
	s = markdownLinkRE.ReplaceAllStringFunc(s, func(m string) string {
		sub := markdownLinkRE.FindStringSubmatch(m)
		if l != nil {
			l.add(sub[1], sub[2])
		}
		return sub[1]
	})
	s = lineBreaks.Replace(s)
	s = strings.ReplaceAll(s, "**", "") // bold; the card is shown as plain text
	return markdownEscapeRE.ReplaceAllString(s, "$1")
}

// colourSeverity reads a MessageCard's themeColor: red is critical, amber a
// warning, green good, anything else information.
func colourSeverity(hex string) Severity {
	hex = strings.TrimPrefix(strings.TrimSpace(hex), "#")
	v, err := strconv.ParseUint(hex, 16, 32)
	if err != nil || len(hex) != 6 {
		return SeverityInfo
	}
	r, g, b := float64(v>>16&0xff), float64(v>>8&0xff), float64(v&0xff)
	switch {
	case g > r && g > b:
		return SeverityGood
	case r > 1.5*g && r > 1.5*b:
		return SeverityCritical
	case r >= 150 && g >= 100 && b < g:
		return SeverityWarning
	}
	return SeverityInfo
}

// adaptiveColourSeverity reads a TextBlock colour.
func adaptiveColourSeverity(colour string) Severity {
	switch strings.ToLower(colour) {
	case "good":
		return SeverityGood
	case "warning":
		return SeverityWarning
	case "attention":
		return SeverityCritical
	}
	return ""
}
