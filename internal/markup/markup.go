// Package markup makes payload text inert in each Teams card format:
// whatever a vendor (or an attacker posting to a webhook) put in a field is
// shown as typed, never as a link, mention, heading, emphasis, HTML or an
// Adaptive Card function. The renderer escapes every Summary with it, and jq
// mappings call it as adaptive_text and messagecard_text.
package markup

import (
	"strconv"
	"strings"
	"unicode"
)

// Escaper makes payload text inert in one card format.
type Escaper struct {
	// char spells one markup character as literal text.
	char func(r rune) string
}

// Adaptive serves Adaptive Cards: their TextBlock and Fact speak a
// CommonMark subset without HTML, where a backslash makes any ASCII
// punctuation literal.
func Adaptive() Escaper {
	return Escaper{char: func(r rune) string { return `\` + string(r) }}
}

// MessageCard serves MessageCards: their text speaks markdown and a little
// HTML, and a numeric character reference is literal text in both, also inside
// <pre>.
func MessageCard() Escaper {
	return Escaper{char: func(r rune) string { return "&#" + strconv.Itoa(int(r)) + ";" }}
}

// Special reports whether r can start markup anywhere in a line: markdown
// emphasis, code, links, HTML tags and entities (<at> mentions), autolinks,
// and Adaptive Cards' {{DATE()}} functions.
func Special(r rune) bool {
	return strings.ContainsRune("\\`*_~[]<>&{}|", r)
}

// blockChar reports whether r starts a block (heading, quote, list, setext
// underline) when it opens a line.
func blockChar(r rune) bool {
	return strings.ContainsRune("#>-+=", r)
}

// Line escapes s as a single line; line breaks become spaces.
func (e Escaper) Line(s string) string {
	return e.escapeLine(strings.Join(strings.Fields(Clean(s)), " "))
}

// Text escapes prose: each line is escaped on its own and lines are joined
// with sep, the format's line break.
func (e Escaper) Text(s, sep string) string {
	lines := strings.Split(Clean(s), "\n")
	for i, l := range lines {
		// Leading spaces would make an indented code block.
		lines[i] = e.escapeLine(strings.TrimLeftFunc(l, unicode.IsSpace))
	}
	return strings.Join(lines, sep)
}

// Code escapes preformatted text, keeping indentation as indent per space.
func (e Escaper) Code(s, sep, indent string) string {
	lines := strings.Split(Clean(s), "\n")
	for i, l := range lines {
		trimmed := strings.TrimLeft(l, " ")
		lines[i] = strings.Repeat(indent, len(l)-len(trimmed)) + e.escapeLine(trimmed)
	}
	return strings.Join(lines, sep)
}

// escapeLine escapes one line that has no leading spaces.
func (e Escaper) escapeLine(l string) string {
	var b strings.Builder
	b.Grow(len(l) + 8)
	digitsOnly := true
	for i, r := range l {
		switch {
		case Special(r), i == 0 && blockChar(r):
			b.WriteString(e.char(r))
		case (r == '.' || r == ')') && digitsOnly && i > 0:
			// "1." or "1)" opening a line is an ordered list.
			b.WriteString(e.char(r))
		default:
			b.WriteRune(r)
		}
		digitsOnly = digitsOnly && r >= '0' && r <= '9'
	}
	return b.String()
}

// Clean normalises line breaks to \n and removes control and bidirectional
// override characters, which could hide or reorder what a reader sees.
func Clean(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\n':
			return r
		case r == '\r':
			return '\n'
		case r == '\t':
			return ' '
		case unicode.IsControl(r), r >= '\u202A' && r <= '\u202E', r >= '\u2066' && r <= '\u2069':
			return -1
		}
		return r
	}, s)
}
