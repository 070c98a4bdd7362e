package pagerduty

import (
	"strings"

	"github.com/hookrelay/hookrelay/internal/vendors/mapping"
	"github.com/hookrelay/hookrelay/schemas"
)

// PagerDuty's v3 webhooks wrap one event: {event: {event_type:
// "incident.triggered", resource_type, occurred_at, agent, data}}.

// Detect reports whether an event is this vendor's, for mapping auto.
func Detect(p mapping.Probe) bool {
	if !p.Object("event") {
		return false
	}
	var e struct {
		Event struct {
			EventType    mapping.Text `json:"event_type"`
			ResourceType mapping.Text `json:"resource_type"`
		} `json:"event"`
	}
	_ = mapping.Decode(p.Event(), "pagerduty", &e)
	return e.Event.EventType != "" && e.Event.ResourceType != ""
}

// pdRef is PagerDuty's reference to another object.
type pdRef struct {
	Summary mapping.Text `json:"summary"`
	HTMLURL mapping.Text `json:"html_url"`
}

type pagerDutyPayload struct {
	Event struct {
		EventType    mapping.Text `json:"event_type"`
		ResourceType mapping.Text `json:"resource_type"`
		OccurredAt   mapping.Text `json:"occurred_at"`
		Agent        pdRef        `json:"agent"`
		Data         struct {
			Number           mapping.Text `json:"number"`
			Title            mapping.Text `json:"title"`
			Summary          mapping.Text `json:"summary"`
			Name             mapping.Text `json:"name"`
			Status           mapping.Text `json:"status"`
			Urgency          mapping.Text `json:"urgency"`
			HTMLURL          mapping.Text `json:"html_url"`
			Content          mapping.Text `json:"content"` // incident.annotated
			Message          mapping.Text `json:"message"` // status updates
			Service          pdRef        `json:"service"`
			EscalationPolicy pdRef        `json:"escalation_policy"`
			Priority         *pdRef       `json:"priority"`
			Assignees        []pdRef      `json:"assignees"`
			Teams            []pdRef      `json:"teams"`
			Incident         pdRef        `json:"incident"`
		} `json:"data"`
	} `json:"event"`
}

// Map maps an event to a mapping.Summary.
func Map(ev schemas.Event) (mapping.Summary, error) {
	var p pagerDutyPayload
	if err := mapping.Decode(ev, "pagerduty", &p); err != nil {
		return mapping.Summary{}, err
	}
	e, d := p.Event, p.Event.Data
	resource, change, _ := strings.Cut(e.EventType.String(), ".")
	what := strings.ReplaceAll(change, "_", " ")
	s := mapping.Summary{Subtitle: mapping.Subtitle("PagerDuty", e.EventType.String(), mapping.When(e.OccurredAt.String()))}
	var f mapping.Facts
	var l mapping.Links
	switch resource {
	case "incident":
		title := mapping.FirstText(d.Title, d.Summary, d.Incident.Summary)
		s.Title = "Incident"
		if d.Number != "" {
			s.Title += " #" + d.Number.String()
		}
		s.Title += " " + what + ": " + title
		s.Text = mapping.FirstText(d.Content, d.Message)
		s.Severity = pagerDutySeverity(change, string(d.Status), string(d.Urgency))
		f.Add("Status", d.Status.String())
		f.Add("Urgency", d.Urgency.String())
		if d.Priority != nil {
			f.Add("Priority", d.Priority.Summary.String())
		}
		f.Add("Service", d.Service.Summary.String())
		f.Add("Assigned to", refNames(d.Assignees))
		f.Add("Escalation policy", d.EscalationPolicy.Summary.String())
		f.Add("Teams", refNames(d.Teams))
		f.Add("By", e.Agent.Summary.String())
		label := "Open incident"
		if d.Number != "" {
			label += " #" + d.Number.String()
		}
		l.Add(label, mapping.FirstText(d.HTMLURL, d.Incident.HTMLURL))
		l.Add("Open service", d.Service.HTMLURL.String())
	default:
		name := mapping.FirstText(d.Name, d.Summary, d.Title)
		s.Title = strings.TrimSpace("PagerDuty " + resource + " " + name + " " + what)
		s.Severity = mapping.SeverityInfo
		f.Add("Teams", refNames(d.Teams))
		f.Add("By", e.Agent.Summary.String())
		l.Add("Open "+resource, d.HTMLURL.String())
	}
	s.Facts, s.Links = f, l
	return s, nil
}

func refNames(refs []pdRef) string {
	names := make([]string, 0, len(refs))
	for _, r := range refs {
		if r.Summary != "" {
			names = append(names, r.Summary.String())
		}
	}
	return strings.Join(names, ", ")
}

// pagerDutySeverity: an open high-urgency incident is critical, low urgency
// or acknowledged a warning, resolved good.
func pagerDutySeverity(change, status, urgency string) mapping.Severity {
	switch {
	case change == "resolved" || status == "resolved":
		return mapping.SeverityGood
	case change == "acknowledged" || status == "acknowledged" || urgency == "low":
		return mapping.SeverityWarning
	}
	return mapping.SeverityCritical
}
