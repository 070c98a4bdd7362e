// Package mapping is what every vendor's mapping is written with: the Summary
// a mapping turns an event into, and readers of payloads that take what they
// can and never fail on a shape they did not expect. transform renders a
// Summary in either card format.
package mapping

import (
	"github.com/hookrelay/hookrelay/schemas"
)

// Summary is what a card says, independent of the card format. Mappings (the
// generic one, each vendor's, jq mappings) turn an event into a Summary, and
// transform.RenderSummary turns a Summary into the JSON of any format. Every
// string is plain text: the renderer escapes it for the format, so nothing
// taken from a payload can add links, mentions or formatting.
type Summary struct {
	// Title is the card's headline and its notification text.
	Title string
	// Subtitle is a secondary line, e.g. the event id and when it arrived.
	Subtitle string
	// Text is prose shown under the title.
	Text string
	// Excerpt is preformatted text (e.g. pretty JSON), shown monospaced.
	Excerpt string
	// Facts are name/value rows, in order.
	Facts []Fact
	// Links become buttons; only http and https URLs are rendered.
	Links []Link
	// Severity colours the card.
	Severity Severity
	// Cards holds cards to send as they are, by format: a card a jq mapping
	// wrote whole, or a card another tool made that the destination's format
	// carries unchanged. The renderer sends such a card as it is when the
	// destination wants its format and it fits; otherwise it renders the
	// fields above, which the mapping read from it.
	Cards map[string][]byte
}

// Fact is a name/value row of a card.
type Fact struct {
	Name  string
	Value string
}

// Link is a button that opens a URL.
type Link struct {
	Title string
	URL   string
}

// Severity is how alarming an event is; it picks the card's colour.
type Severity string

// Severities, from calm to alarming. The zero value renders as SeverityInfo.
const (
	SeverityInfo     Severity = "info"
	SeverityGood     Severity = "good"
	SeverityWarning  Severity = "warning"
	SeverityCritical Severity = "critical"
)

// Func turns an event into a Summary.
type Func func(ev schemas.Event) (Summary, error)

// Mapping is a built-in mapping as the registry lists it: its name, how auto
// recognises its vendor, and how it maps.
type Mapping struct {
	// Name is what a source's or route's mapping setting calls it.
	Name string
	// Detect reports whether an event is this vendor's; nil: auto never picks
	// it (the generic mapping, which takes what nothing else does).
	Detect func(p Probe) bool
	// Map maps an event.
	Map Func
}
