package mapping

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Facts collects facts, skipping empty values.
type Facts []Fact

// Add appends a fact unless its value is empty.
func (f *Facts) Add(name string, value string) {
	if strings.TrimSpace(value) != "" {
		*f = append(*f, Fact{Name: name, Value: value})
	}
}

// Links collects links, skipping unsafe or duplicate URLs.
type Links []Link

// Add appends a link unless its URL is unsafe (SafeURL) or already there.
func (l *Links) Add(title, url string) {
	if !SafeURL(url) {
		return
	}
	for _, k := range *l {
		if k.URL == url {
			return
		}
	}
	*l = append(*l, Link{Title: title, URL: url})
}

// SafeURL accepts absolute http(s) URLs of sane length, the only ones a card
// may open.
func SafeURL(raw string) bool {
	if len(raw) > 2048 || !utf8.ValidString(raw) || strings.ContainsFunc(raw, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return false
	}
	u, err := url.Parse(raw)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
}

// Subtitle is the vendor, what happened and when: "GitHub · push · 2026-03-01 12:00 UTC".
func Subtitle(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, " · ")
}

// When formats a vendor timestamp for people; text it cannot parse is kept.
func When(ts string) string {
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

// Since formats the time between two vendor timestamps; "" when unknown.
func Since(from, to string) string {
	a, err1 := time.Parse(time.RFC3339Nano, from)
	b, err2 := time.Parse(time.RFC3339Nano, to)
	if err1 != nil || err2 != nil || b.Before(a) || a.Year() < 2 || b.Year() < 2 {
		return ""
	}
	return Human(b.Sub(a))
}

// Human spells a duration the way a build page does: "1h 2m", "4m 12s", "850ms".
func Human(d time.Duration) string {
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

// Seconds reads a duration given in (possibly fractional) seconds.
func Seconds(s Text) string {
	f, err := strconv.ParseFloat(string(s), 64)
	if err != nil || f <= 0 || f > 1e9 {
		return ""
	}
	return Human(time.Duration(f * float64(time.Second)))
}

// Short cuts a commit id to the seven characters people recognise.
func Short(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}

// Plural spells "1 commit", "3 commits".
func Plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}

// Bullets joins lines as a list; markup characters in them are escaped by the
// renderer, so the bullet is a plain "•".
func Bullets(lines []string) string {
	for i, l := range lines {
		lines[i] = "• " + l
	}
	return strings.Join(lines, "\n")
}

// MaxListed bounds the items (commits, alerts, jobs) a card lists one by one.
const MaxListed = 10

// MaxBodyText bounds an issue's, pull request's or release's description.
const MaxBodyText = 600

// Listed returns lines cut to MaxListed, with a line saying how many more.
func Listed(lines []string, total int) []string {
	if len(lines) > MaxListed {
		lines = lines[:MaxListed]
	}
	if total > len(lines) {
		lines = append(lines, fmt.Sprintf("… and %d more", total-len(lines)))
	}
	return lines
}

// FirstText returns the first non-empty value.
func FirstText(vs ...Text) string {
	for _, v := range vs {
		if strings.TrimSpace(string(v)) != "" {
			return string(v)
		}
	}
	return ""
}

// JoinTexts joins the non-empty values with commas.
func JoinTexts(vs []Text) string {
	out := make([]string, 0, len(vs))
	for _, v := range vs {
		if v != "" {
			out = append(out, string(v))
		}
	}
	return strings.Join(out, ", ")
}

// FirstLine returns the first non-blank line of s, trimmed.
func FirstLine(s string) string {
	for _, line := range strings.Split(s, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			return line
		}
	}
	return ""
}

// TitleCase turns "OPEN" or "open" into "Open".
func TitleCase(s string) string {
	if s == "" {
		return ""
	}
	s = strings.ToLower(s)
	r, n := utf8.DecodeRuneInString(s)
	return string(unicode.ToUpper(r)) + s[n:]
}

// Truncated marks text that was cut so that readers know there is more.
const Truncated = "… (truncated)"

// Cut bounds s to at most n runes, the marker included, cutting on a rune boundary.
func Cut(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	keep := n - utf8.RuneCountInString(Truncated) - 1
	if keep <= 0 {
		return Truncated
	}
	i := 0
	for pos := range s {
		if i == keep {
			return s[:pos] + " " + Truncated
		}
		i++
	}
	return s
}

// SeverityOf classifies a status word ("firing", "failure", "resolved"…); ""
// when it says nothing.
func SeverityOf(v string) Severity {
	words := strings.FieldsFunc(strings.ToLower(v), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
	for _, w := range words {
		switch {
		case w == "down" || w == "high" || w == "urgent" || w == "p1" || hasAnyPrefix(w, "crit", "fail", "error", "fatal", "firing", "emerg"):
			return SeverityCritical
		case w == "medium" || w == "p2" || hasAnyPrefix(w, "warn", "degraded", "unstable"):
			return SeverityWarning
		case w == "ok" || w == "up" || hasAnyPrefix(w, "success", "succeeded", "resolved", "pass", "recovered", "healthy"):
			return SeverityGood
		}
	}
	return ""
}

func hasAnyPrefix(s string, prefixes ...string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}
