package deadletter

import (
	"encoding/json"
	"strings"
	"unicode/utf8"
)

// MaxTitle bounds Entry.Title.
const MaxTitle = 200

// CardTitle reads what a card is about, as its reader in the channel would
// first see it: a MessageCard's title (else its summary, its first
// section's activity title, its text), an Adaptive Card's first TextBlock
// (in a Workflows envelope or bare). It returns "" for anything else, a
// digest's title being its first TextBlock too. The result is one line of
// at most MaxTitle bytes.
func CardTitle(card []byte) string {
	var c struct {
		Title    string `json:"title"`
		Summary  string `json:"summary"`
		Text     string `json:"text"`
		Sections []struct {
			ActivityTitle string `json:"activityTitle"`
		} `json:"sections"`
		Attachments []struct {
			Content json.RawMessage `json:"content"`
		} `json:"attachments"`
		Body []json.RawMessage `json:"body"`
	}
	if len(card) == 0 || json.Unmarshal(card, &c) != nil {
		return ""
	}
	title := ""
	switch {
	case len(c.Attachments) > 0:
		for _, a := range c.Attachments {
			if title = adaptiveTitle(a.Content); title != "" {
				break
			}
		}
	case len(c.Body) > 0:
		title = firstTextBlock(c.Body, 0)
	case c.Title != "":
		title = c.Title
	case c.Summary != "":
		title = c.Summary
	case len(c.Sections) > 0 && c.Sections[0].ActivityTitle != "":
		title = c.Sections[0].ActivityTitle
	default:
		title = c.Text
	}
	return oneLine(title, MaxTitle)
}

func adaptiveTitle(content json.RawMessage) string {
	var ac struct {
		Body []json.RawMessage `json:"body"`
	}
	if json.Unmarshal(content, &ac) != nil {
		return ""
	}
	return firstTextBlock(ac.Body, 0)
}

// firstTextBlock finds the first TextBlock's text, depth first through
// containers, column sets and columns; depth bounds hostile nesting.
func firstTextBlock(elements []json.RawMessage, depth int) string {
	if depth > 8 {
		return ""
	}
	for _, raw := range elements {
		var el struct {
			Type    string            `json:"type"`
			Text    string            `json:"text"`
			Items   []json.RawMessage `json:"items"`
			Columns []json.RawMessage `json:"columns"`
		}
		if json.Unmarshal(raw, &el) != nil {
			continue
		}
		if el.Type == "TextBlock" && strings.TrimSpace(el.Text) != "" {
			return el.Text
		}
		if t := firstTextBlock(append(el.Items, el.Columns...), depth+1); t != "" {
			return t
		}
	}
	return ""
}

// oneLine joins s's lines and shortens it to n bytes on a rune boundary,
// marking the cut.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) <= n {
		return s
	}
	s = s[:n-len("…")]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "…"
}
