package transform

import (
	"github.com/hookrelay/hookrelay/internal/vendors/generic"
	"github.com/hookrelay/hookrelay/internal/vendors/mapping"
	"github.com/hookrelay/hookrelay/schemas"
)

// Summary is what a card says, independent of the card format (see
// mapping.Summary): mappings make one, RenderSummary spells it in a format.
type Summary = mapping.Summary

// Fact is a name/value row of a card.
type Fact = mapping.Fact

// Link is a button that opens a URL.
type Link = mapping.Link

// Severity is how alarming an event is; it picks the card's colour.
type Severity = mapping.Severity

// Severities, from calm to alarming. The zero value renders as SeverityInfo.
const (
	SeverityInfo     = mapping.SeverityInfo
	SeverityGood     = mapping.SeverityGood
	SeverityWarning  = mapping.SeverityWarning
	SeverityCritical = mapping.SeverityCritical
)

// Mapping turns an event into a Summary. Generic is the mapping every event
// falls back to.
type Mapping = mapping.Func

// Truncated marks text that was cut so that readers know there is more.
const Truncated = mapping.Truncated

// Generic maps any event to a readable Summary: a best-guess title, the body's
// top-level scalar fields as facts (secrets masked), URL fields as links and
// an excerpt of the body. A body that is not a JSON object still gives a card.
func Generic(ev schemas.Event) (Summary, error) { return generic.Map(ev) }
