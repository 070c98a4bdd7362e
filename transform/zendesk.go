package transform

import (
	"strings"
	"unicode"
	"unicode/utf8"

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

func isZendesk(p probe) bool {
	return p.header("X-Zendesk-Webhook-Id") != "" ||
		strings.HasPrefix(p.str("type"), zendeskEventPrefix) ||
		(p.object("ticket") && len(p.top) <= 3)
}

// zendeskPayload reads both kinds of webhook.
type zendeskPayload struct {
	// Event-based webhooks.
	Type    text `json:"type"`
	Subject text `json:"subject"` // "zen:ticket:5158"
	Time    text `json:"time"`
	Detail  struct {
		ID          text   `json:"id"`
		Subject     text   `json:"subject"`
		Description text   `json:"description"`
		Status      text   `json:"status"`
		Priority    text   `json:"priority"`
		Type        text   `json:"type"`
		RequesterID text   `json:"requester_id"`
		AssigneeID  text   `json:"assignee_id"`
		Tags        []text `json:"tags"`
		Email       text   `json:"email"` // user events
		Role        text   `json:"role"`
		Name        text   `json:"name"`
		Via         struct {
			Channel text `json:"channel"`
		} `json:"via"`
	} `json:"detail"`
	Event struct {
		Previous text `json:"previous"`
		Current  text `json:"current"`
		Actor    struct {
			Name text `json:"name"`
		} `json:"actor"`
		Message struct {
			Body text `json:"body"`
		} `json:"message"`
		Comment struct {
			Body   text `json:"body"`
			Author struct {
				Name text `json:"name"`
			} `json:"author"`
		} `json:"comment"`
	} `json:"event"`

	// The trigger body hookrelay documents.
	Ticket *zendeskTicket `json:"ticket"`
}

// zendeskTicket is the "ticket" object of the documented trigger body; every
// field is a Zendesk placeholder such as {{ticket.id}}.
type zendeskTicket struct {
	ID            text `json:"id"`
	Title         text `json:"title"`
	URL           text `json:"url"`
	Status        text `json:"status"`
	Priority      text `json:"priority"`
	Type          text `json:"type"`
	Requester     text `json:"requester"`
	Assignee      text `json:"assignee"`
	Group         text `json:"group"`
	Organization  text `json:"organization"`
	Tags          text `json:"tags"`
	UpdateType    text `json:"update_type"` // "Create" or "Change"
	LatestComment text `json:"latest_comment"`
}

func mapZendesk(ev schemas.Event) (Summary, error) {
	var z zendeskPayload
	if err := decode(ev, "zendesk", &z); err != nil {
		return Summary{}, err
	}
	if z.Ticket != nil {
		return zendeskTrigger(*z.Ticket), nil
	}
	kind := strings.TrimPrefix(string(z.Type), zendeskEventPrefix) // "ticket.created"
	object, change, _ := strings.Cut(kind, ".")
	what := strings.ReplaceAll(change, "_", " ") // "status changed"
	id := z.Detail.ID.String()
	if _, subjectID, ok := strings.Cut(strings.TrimPrefix(string(z.Subject), "zen:"), ":"); ok && id == "" {
		id = subjectID
	}
	s := Summary{Subtitle: subtitle("Zendesk", strings.ReplaceAll(kind, "_", " "), when(string(z.Time)))}
	var f facts
	switch {
	case strings.HasSuffix(object, "ticket"): // ticket, messaging_ticket
		s.Title = "Ticket #" + id + " " + what
		if z.Detail.Subject != "" {
			s.Title += ": " + z.Detail.Subject.String()
		}
		f.add("Status", titleCase(string(z.Detail.Status)))
		f.add("Priority", titleCase(string(z.Detail.Priority)))
		f.add("Type", titleCase(string(z.Detail.Type)))
		if z.Detail.RequesterID != "" {
			f.add("Requester", "user "+z.Detail.RequesterID.String())
		}
		if z.Detail.AssigneeID != "" {
			f.add("Assignee", "user "+z.Detail.AssigneeID.String())
		}
		f.add("Channel", z.Detail.Via.Channel.String())
		f.add("Tags", joinTexts(z.Detail.Tags))
		s.Text = firstText(z.Event.Comment.Body, z.Event.Message.Body, z.Detail.Description)
		s.Severity = zendeskSeverity(string(z.Detail.Priority), string(z.Detail.Status))
	case object == "user":
		s.Title = "User " + id + " " + what
		if name := firstText(z.Detail.Name, z.Detail.Email); name != "" {
			s.Title += ": " + name
		}
		f.add("Email", z.Detail.Email.String())
		f.add("Role", z.Detail.Role.String())
	default:
		s.Title = "Zendesk " + strings.ReplaceAll(kind, "_", " ")
		f.add("Subject", z.Subject.String())
	}
	if z.Event.Previous != "" || z.Event.Current != "" {
		f.add("Change", z.Event.Previous.String()+" → "+z.Event.Current.String())
	}
	f.add("By", firstText(z.Event.Comment.Author.Name, z.Event.Actor.Name))
	s.Facts = f
	if s.Severity == "" {
		s.Severity = SeverityInfo
	}
	return s, nil
}

// zendeskTrigger maps the documented trigger body.
func zendeskTrigger(t zendeskTicket) Summary {
	what := "updated"
	if strings.EqualFold(string(t.UpdateType), "create") {
		what = "created"
	}
	s := Summary{
		Title:    "Ticket #" + t.ID.String() + " " + what + ": " + t.Title.String(),
		Subtitle: subtitle("Zendesk", "ticket "+what),
		Text:     t.LatestComment.String(),
		Severity: zendeskSeverity(string(t.Priority), string(t.Status)),
	}
	var f facts
	f.add("Status", titleCase(string(t.Status)))
	f.add("Priority", titleCase(string(t.Priority)))
	f.add("Type", titleCase(string(t.Type)))
	f.add("Requester", t.Requester.String())
	f.add("Assignee", t.Assignee.String())
	f.add("Group", t.Group.String())
	f.add("Organization", t.Organization.String())
	f.add("Tags", t.Tags.String())
	s.Facts = f
	url := t.URL.String()
	if url != "" && !strings.Contains(url, "://") {
		url = "https://" + url // {{ticket.url}} has no scheme
	}
	var l links
	l.add("Open ticket #"+t.ID.String(), url)
	s.Links = l
	return s
}

func zendeskSeverity(priority, status string) Severity {
	switch strings.ToLower(status) {
	case "solved", "closed":
		return SeverityGood
	}
	switch strings.ToLower(priority) {
	case "urgent":
		return SeverityCritical
	case "high":
		return SeverityWarning
	}
	return SeverityInfo
}

// titleCase turns Zendesk's "OPEN" or "open" into "Open".
func titleCase(s string) string {
	if s == "" {
		return ""
	}
	s = strings.ToLower(s)
	r, n := utf8.DecodeRuneInString(s)
	return string(unicode.ToUpper(r)) + s[n:]
}

// firstText returns the first non-empty value.
func firstText(vs ...text) string {
	for _, v := range vs {
		if strings.TrimSpace(string(v)) != "" {
			return string(v)
		}
	}
	return ""
}

func joinTexts(vs []text) string {
	out := make([]string, 0, len(vs))
	for _, v := range vs {
		if v != "" {
			out = append(out, string(v))
		}
	}
	return strings.Join(out, ", ")
}
