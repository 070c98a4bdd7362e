package transform

import (
	"strings"

	"github.com/hookrelay/hookrelay/schemas"
)

// PagerDuty's v3 webhooks wrap one event: {event: {event_type:
// "incident.triggered", resource_type, occurred_at, agent, data}}.

func isPagerDuty(p probe) bool {
	if !p.object("event") {
		return false
	}
	var e struct {
		Event struct {
			EventType    text `json:"event_type"`
			ResourceType text `json:"resource_type"`
		} `json:"event"`
	}
	_ = decode(p.ev, "pagerduty", &e)
	return e.Event.EventType != "" && e.Event.ResourceType != ""
}

// pdRef is PagerDuty's reference to another object.
type pdRef struct {
	Summary text `json:"summary"`
	HTMLURL text `json:"html_url"`
}

type pagerDutyPayload struct {
	Event struct {
		EventType    text  `json:"event_type"`
		ResourceType text  `json:"resource_type"`
		OccurredAt   text  `json:"occurred_at"`
		Agent        pdRef `json:"agent"`
		Data         struct {
			Number           text    `json:"number"`
			Title            text    `json:"title"`
			Summary          text    `json:"summary"`
			Name             text    `json:"name"`
			Status           text    `json:"status"`
			Urgency          text    `json:"urgency"`
			HTMLURL          text    `json:"html_url"`
			Content          text    `json:"content"` // incident.annotated
			Message          text    `json:"message"` // status updates
			Service          pdRef   `json:"service"`
			EscalationPolicy pdRef   `json:"escalation_policy"`
			Priority         *pdRef  `json:"priority"`
			Assignees        []pdRef `json:"assignees"`
			Teams            []pdRef `json:"teams"`
			Incident         pdRef   `json:"incident"`
		} `json:"data"`
	} `json:"event"`
}

func mapPagerDuty(ev schemas.Event) (Summary, error) {
	var p pagerDutyPayload
	if err := decode(ev, "pagerduty", &p); err != nil {
		return Summary{}, err
	}
	e, d := p.Event, p.Event.Data
	resource, change, _ := strings.Cut(e.EventType.String(), ".")
	what := strings.ReplaceAll(change, "_", " ")
	s := Summary{Subtitle: subtitle("PagerDuty", e.EventType.String(), when(e.OccurredAt.String()))}
	var f facts
	var l links
	switch resource {
	case "incident":
		title := firstText(d.Title, d.Summary, d.Incident.Summary)
		s.Title = "Incident"
		if d.Number != "" {
			s.Title += " #" + d.Number.String()
		}
		s.Title += " " + what + ": " + title
		s.Text = firstText(d.Content, d.Message)
		s.Severity = pagerDutySeverity(change, string(d.Status), string(d.Urgency))
		f.add("Status", d.Status.String())
		f.add("Urgency", d.Urgency.String())
		if d.Priority != nil {
			f.add("Priority", d.Priority.Summary.String())
		}
		f.add("Service", d.Service.Summary.String())
		f.add("Assigned to", refNames(d.Assignees))
		f.add("Escalation policy", d.EscalationPolicy.Summary.String())
		f.add("Teams", refNames(d.Teams))
		f.add("By", e.Agent.Summary.String())
		label := "Open incident"
		if d.Number != "" {
			label += " #" + d.Number.String()
		}
		l.add(label, firstText(d.HTMLURL, d.Incident.HTMLURL))
		l.add("Open service", d.Service.HTMLURL.String())
	default:
		name := firstText(d.Name, d.Summary, d.Title)
		s.Title = strings.TrimSpace("PagerDuty " + resource + " " + name + " " + what)
		s.Severity = SeverityInfo
		f.add("Teams", refNames(d.Teams))
		f.add("By", e.Agent.Summary.String())
		l.add("Open "+resource, d.HTMLURL.String())
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
func pagerDutySeverity(change, status, urgency string) Severity {
	switch {
	case change == "resolved" || status == "resolved":
		return SeverityGood
	case change == "acknowledged" || status == "acknowledged" || urgency == "low":
		return SeverityWarning
	}
	return SeverityCritical
}
