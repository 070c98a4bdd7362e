package schemas

// Constants of the Office 365 connector MessageCard.
const (
	MessageCardType    = "MessageCard"
	MessageCardContext = "https://schema.org/extensions"
	// ActionOpenURI is the MessageCard action that opens a link.
	ActionOpenURI = "OpenUri"
)

// MessageCard is the legacy Office 365 connector card
// (https://learn.microsoft.com/outlook/actionable-messages/message-card-reference).
// Teams refuses one with neither Summary nor Text.
type MessageCard struct {
	Type            string              `json:"@type"`
	Context         string              `json:"@context"`
	Summary         string              `json:"summary,omitempty"`
	Title           string              `json:"title,omitempty"`
	Text            string              `json:"text,omitempty"`
	ThemeColor      string              `json:"themeColor,omitempty"`
	Sections        []MessageSection    `json:"sections,omitempty"`
	PotentialAction []MessageCardAction `json:"potentialAction,omitempty"`
}

// MessageSection is one section of a MessageCard.
type MessageSection struct {
	ActivityTitle    string        `json:"activityTitle,omitempty"`
	ActivitySubtitle string        `json:"activitySubtitle,omitempty"`
	Text             string        `json:"text,omitempty"`
	Facts            []MessageFact `json:"facts,omitempty"`
	// Markdown turns on markdown in the section's texts.
	Markdown bool `json:"markdown"`
}

// MessageFact is a name/value row of a MessageCard section.
type MessageFact struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// MessageCardAction is an OpenUri action (the only kind hookrelay sends).
type MessageCardAction struct {
	Type    string          `json:"@type"`
	Name    string          `json:"name"`
	Targets []OpenURITarget `json:"targets"`
}

// OpenURITarget is the link of an OpenUri action for one OS ("default").
type OpenURITarget struct {
	OS  string `json:"os"`
	URI string `json:"uri"`
}

// Constants of Adaptive Cards as Teams Workflows receive them.
const (
	WorkflowsMessageType = "message"
	AdaptiveContentType  = "application/vnd.microsoft.card.adaptive"
	AdaptiveSchemaURL    = "http://adaptivecards.io/schemas/adaptive-card.json"
	AdaptiveCardType     = "AdaptiveCard"
	// AdaptiveVersion is the newest version every Teams client renders.
	AdaptiveVersion = "1.4"
)

// Adaptive element and action types hookrelay renders.
const (
	ElementTextBlock = "TextBlock"
	ElementFactSet   = "FactSet"
	ElementContainer = "Container"
	ElementColumnSet = "ColumnSet"
	ElementColumn    = "Column"
	ActionOpenURL    = "Action.OpenUrl"
)

// WorkflowsMessage is the envelope a Teams Workflows (Power Automate) webhook
// takes: {"type":"message","attachments":[{adaptive card}]}.
type WorkflowsMessage struct {
	Type        string               `json:"type"`
	Attachments []WorkflowAttachment `json:"attachments"`
}

// WorkflowAttachment carries one Adaptive Card.
type WorkflowAttachment struct {
	ContentType string `json:"contentType"`
	// ContentURL is always null; it is sent because Microsoft's examples do.
	ContentURL *string      `json:"contentUrl"`
	Content    AdaptiveCard `json:"content"`
}

// AdaptiveCard is an Adaptive Card (https://adaptivecards.io/explorer/),
// limited to what hookrelay renders.
type AdaptiveCard struct {
	Schema  string            `json:"$schema"`
	Type    string            `json:"type"`
	Version string            `json:"version"`
	Body    []AdaptiveElement `json:"body"`
	Actions []AdaptiveAction  `json:"actions,omitempty"`
	MSTeams *MSTeams          `json:"msteams,omitempty"`
}

// MSTeams holds Teams-specific card properties.
type MSTeams struct {
	// Width "Full" lets the card use the whole message width.
	Width string `json:"width,omitempty"`
}

// AdaptiveElement is one body element: a TextBlock, FactSet, Container or
// ColumnSet. Type says which; the fields of the other types stay empty.
type AdaptiveElement struct {
	Type      string `json:"type"`
	Spacing   string `json:"spacing,omitempty"`
	Separator bool   `json:"separator,omitempty"`

	// TextBlock.
	Text     string `json:"text,omitempty"`
	Wrap     bool   `json:"wrap,omitempty"`
	Size     string `json:"size,omitempty"`
	Weight   string `json:"weight,omitempty"`
	Color    string `json:"color,omitempty"`
	FontType string `json:"fontType,omitempty"`
	IsSubtle bool   `json:"isSubtle,omitempty"`
	MaxLines int    `json:"maxLines,omitempty"`

	// FactSet.
	Facts []AdaptiveFact `json:"facts,omitempty"`

	// Container.
	Style string            `json:"style,omitempty"`
	Bleed bool              `json:"bleed,omitempty"`
	Items []AdaptiveElement `json:"items,omitempty"`

	// ColumnSet.
	Columns []AdaptiveColumn `json:"columns,omitempty"`
}

// AdaptiveFact is a title/value row of a FactSet.
type AdaptiveFact struct {
	Title string `json:"title"`
	Value string `json:"value"`
}

// AdaptiveColumn is a column of a ColumnSet.
type AdaptiveColumn struct {
	Type  string            `json:"type"`
	Width string            `json:"width,omitempty"`
	Items []AdaptiveElement `json:"items"`
}

// AdaptiveAction is an Action.OpenUrl.
type AdaptiveAction struct {
	Type  string `json:"type"`
	Title string `json:"title"`
	URL   string `json:"url"`
}
