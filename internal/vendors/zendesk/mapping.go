package zendesk

import (
	"strings"

	"github.com/hookrelay/hookrelay/internal/vendors/mapping"
	"github.com/hookrelay/hookrelay/schemas"
)

// Zendesk sends two kinds of webhook: event-based ones with a fixed schema
// ("type": "zen:event-type:ticket.created", the ticket in "detail"), and
// trigger-based ones whose body the admin writes. For the latter hookrelay
// documents a body with a "ticket" object (docs/MAPPINGS.md) built from
// Zendesk placeholders; only that one carries the ticket's URL, because
// event-based payloads do not name the account's subdomain.

// zendeskEventPrefix starts the type of every event-based Zendesk webhook.
const zendeskEventPrefix = "zen:event-type:"

// Detect reports whether an event is this vendor's, for mapping auto.
func Detect(p mapping.Probe) bool {
	return p.Header("X-Zendesk-Webhook-Id") != "" ||
		strings.HasPrefix(p.Str("type"), zendeskEventPrefix) ||
		(p.Object("ticket") && p.Len() <= 3)
}

// zendeskPayload reads both kinds of webhook.
type zendeskPayload struct {
	// Event-based webhooks.
	Type    mapping.Text `json:"type"`
	Subject mapping.Text `json:"subject"` // "zen:ticket:5158"
	Time    mapping.Text `json:"time"`
	Detail  struct {
		ID          mapping.Text   `json:"id"`
		Subject     mapping.Text   `json:"subject"`
		Description mapping.Text   `json:"description"`
		Status      mapping.Text   `json:"status"`
		Priority    mapping.Text   `json:"priority"`
		Type        mapping.Text   `json:"type"`
		RequesterID mapping.Text   `json:"requester_id"`
		AssigneeID  mapping.Text   `json:"assignee_id"`
		Tags        []mapping.Text `json:"tags"`
		Email       mapping.Text   `json:"email"` // user events
		Role        mapping.Text   `json:"role"`
		Name        mapping.Text   `json:"name"`
		Via         struct {
			Channel mapping.Text `json:"channel"`
		} `json:"via"`
	} `json:"detail"`
	Event struct {
		Previous mapping.Text `json:"previous"`
		Current  mapping.Text `json:"current"`
		Actor    struct {
			Name mapping.Text `json:"name"`
		} `json:"actor"`
		Message struct {
			Body mapping.Text `json:"body"`
		} `json:"message"`
		Comment struct {
			Body   mapping.Text `json:"body"`
			Author struct {
				Name mapping.Text `json:"name"`
			} `json:"author"`
		} `json:"comment"`
	} `json:"event"`

	// The trigger body hookrelay documents.
	Ticket *zendeskTicket `json:"ticket"`
}

// zendeskTicket is the "ticket" object of the documented trigger body; every
// field is a Zendesk placeholder such as {{ticket.id}}.
type zendeskTicket struct {
	ID            mapping.Text `json:"id"`
	Title         mapping.Text `json:"title"`
	URL           mapping.Text `json:"url"`
	Status        mapping.Text `json:"status"`
	Priority      mapping.Text `json:"priority"`
	Type          mapping.Text `json:"type"`
	Requester     mapping.Text `json:"requester"`
	Assignee      mapping.Text `json:"assignee"`
	Group         mapping.Text `json:"group"`
	Organization  mapping.Text `json:"organization"`
	Tags          mapping.Text `json:"tags"`
	UpdateType    mapping.Text `json:"update_type"` // "Create" or "Change"
	LatestComment mapping.Text `json:"latest_comment"`
}

// Map maps an event to a mapping.Summary.
func Map(ev schemas.Event) (mapping.Summary, error) {
	var z zendeskPayload
	if err := mapping.Decode(ev, "zendesk", &z); err != nil {
		return mapping.Summary{}, err
	}
	if z.Ticket != nil {
		t := *z.Ticket
		// A trigger body of the admin's own design may name the event in
		// a string: "event": "ticket.created".
		var named struct {
			Event mapping.Text `json:"event"`
		}
		_ = mapping.Decode(ev, "zendesk", &named)
		if t.UpdateType == "" && strings.Contains(strings.ToLower(named.Event.String()), "creat") {
			t.UpdateType = "Create"
		}
		return zendeskTrigger(t), nil
	}
	kind := strings.TrimPrefix(string(z.Type), zendeskEventPrefix) // "ticket.created"
	object, change, _ := strings.Cut(kind, ".")
	what := strings.ReplaceAll(change, "_", " ") // "status changed"
	id := z.Detail.ID.String()
	if _, subjectID, ok := strings.Cut(strings.TrimPrefix(string(z.Subject), "zen:"), ":"); ok && id == "" {
		id = subjectID
	}
	s := mapping.Summary{Subtitle: mapping.Subtitle("Zendesk", strings.ReplaceAll(kind, "_", " "), mapping.When(string(z.Time)))}
	var f mapping.Facts
	switch {
	case strings.HasSuffix(object, "ticket"): // ticket, messaging_ticket
		s.Title = "Ticket #" + id + " " + what
		if z.Detail.Subject != "" {
			s.Title += ": " + z.Detail.Subject.String()
		}
		f.Add("Status", mapping.TitleCase(string(z.Detail.Status)))
		f.Add("Priority", mapping.TitleCase(string(z.Detail.Priority)))
		f.Add("Type", mapping.TitleCase(string(z.Detail.Type)))
		if z.Detail.RequesterID != "" {
			f.Add("Requester", "user "+z.Detail.RequesterID.String())
		}
		if z.Detail.AssigneeID != "" {
			f.Add("Assignee", "user "+z.Detail.AssigneeID.String())
		}
		f.Add("Channel", z.Detail.Via.Channel.String())
		f.Add("Tags", mapping.JoinTexts(z.Detail.Tags))
		s.Text = mapping.FirstText(z.Event.Comment.Body, z.Event.Message.Body, z.Detail.Description)
		s.Severity = zendeskSeverity(string(z.Detail.Priority), string(z.Detail.Status))
	case object == "user":
		s.Title = "User " + id + " " + what
		if name := mapping.FirstText(z.Detail.Name, z.Detail.Email); name != "" {
			s.Title += ": " + name
		}
		f.Add("Email", z.Detail.Email.String())
		f.Add("Role", z.Detail.Role.String())
	default:
		s.Title = "Zendesk " + strings.ReplaceAll(kind, "_", " ")
		f.Add("Subject", z.Subject.String())
	}
	if z.Event.Previous != "" || z.Event.Current != "" {
		f.Add("Change", z.Event.Previous.String()+" → "+z.Event.Current.String())
	}
	f.Add("By", mapping.FirstText(z.Event.Comment.Author.Name, z.Event.Actor.Name))
	s.Facts = f
	if s.Severity == "" {
		s.Severity = mapping.SeverityInfo
	}
	return s, nil
}

// zendeskTrigger maps the documented trigger body.
func zendeskTrigger(t zendeskTicket) mapping.Summary {
	what := "updated"
	if strings.EqualFold(string(t.UpdateType), "create") {
		what = "created"
	}
	s := mapping.Summary{
		Title:    "Ticket #" + t.ID.String() + " " + what + ": " + t.Title.String(),
		Subtitle: mapping.Subtitle("Zendesk", "ticket "+what),
		Text:     t.LatestComment.String(),
		Severity: zendeskSeverity(string(t.Priority), string(t.Status)),
	}
	var f mapping.Facts
	f.Add("Status", mapping.TitleCase(string(t.Status)))
	f.Add("Priority", mapping.TitleCase(string(t.Priority)))
	f.Add("Type", mapping.TitleCase(string(t.Type)))
	f.Add("Requester", t.Requester.String())
	f.Add("Assignee", t.Assignee.String())
	f.Add("Group", t.Group.String())
	f.Add("Organization", t.Organization.String())
	f.Add("Tags", t.Tags.String())
	s.Facts = f
	url := t.URL.String()
	if url != "" && !strings.Contains(url, "://") {
		url = "https://" + url // {{ticket.url}} has no scheme
	}
	var l mapping.Links
	l.Add("Open ticket #"+t.ID.String(), url)
	s.Links = l
	return s
}

func zendeskSeverity(priority, status string) mapping.Severity {
	switch strings.ToLower(status) {
	case "solved", "closed":
		return mapping.SeverityGood
	}
	switch strings.ToLower(priority) {
	case "urgent":
		return mapping.SeverityCritical
	case "high":
		return mapping.SeverityWarning
	}
	return mapping.SeverityInfo
}
