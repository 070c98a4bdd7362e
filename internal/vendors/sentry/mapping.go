package sentry

import (
	"encoding/json"
	"strings"

	"github.com/hookrelay/hookrelay/internal/vendors/mapping"
	"github.com/hookrelay/hookrelay/schemas"
)

// Sentry's integration webhooks name the resource in Sentry-Hook-Resource
// (event_alert, issue, metric_alert, error, …) and wrap it as
// {action, actor, data: {<resource>: …}, installation}.

// Detect reports whether an event is this vendor's, for mapping auto.
func Detect(p mapping.Probe) bool {
	return p.Header("Sentry-Hook-Resource") != "" ||
		(p.Has("action", "data", "actor") && p.Object("data") && p.Has("installation"))
}

type sentryPayload struct {
	Action mapping.Text `json:"action"`
	Data   struct {
		Event          *sentryEvent `json:"event"`
		Error          *sentryEvent `json:"error"`
		Issue          *sentryIssue `json:"issue"`
		TriggeredRule  mapping.Text `json:"triggered_rule"`
		DescriptionTxt mapping.Text `json:"description_text"`
		DescriptionTtl mapping.Text `json:"description_title"`
		WebURL         mapping.Text `json:"web_url"`
		MetricAlert    *struct {
			Title     mapping.Text `json:"title"`
			AlertRule struct {
				Name mapping.Text `json:"name"`
			} `json:"alert_rule"`
		} `json:"metric_alert"`
	} `json:"data"`
}

type sentryEvent struct {
	Title       mapping.Text    `json:"title"`
	Message     mapping.Text    `json:"message"`
	Culprit     mapping.Text    `json:"culprit"`
	Level       mapping.Text    `json:"level"`
	Platform    mapping.Text    `json:"platform"`
	Environment mapping.Text    `json:"environment"`
	Release     mapping.Text    `json:"release"`
	IssueID     mapping.Text    `json:"issue_id"`
	Datetime    mapping.Text    `json:"datetime"`
	WebURL      mapping.Text    `json:"web_url"`
	Tags        json.RawMessage `json:"tags"`
}

type sentryIssue struct {
	ShortID   mapping.Text `json:"shortId"`
	Title     mapping.Text `json:"title"`
	Culprit   mapping.Text `json:"culprit"`
	Level     mapping.Text `json:"level"`
	Status    mapping.Text `json:"status"`
	Count     mapping.Text `json:"count"`
	UserCount mapping.Text `json:"userCount"`
	FirstSeen mapping.Text `json:"firstSeen"`
	LastSeen  mapping.Text `json:"lastSeen"`
	Permalink mapping.Text `json:"permalink"`
	WebURL    mapping.Text `json:"web_url"`
	Project   struct {
		Slug mapping.Text `json:"slug"`
		Name mapping.Text `json:"name"`
	} `json:"project"`
}

// Map maps an event to a mapping.Summary.
func Map(ev schemas.Event) (mapping.Summary, error) {
	var p sentryPayload
	if err := mapping.Decode(ev, "sentry", &p); err != nil {
		return mapping.Summary{}, err
	}
	d := p.Data
	resource := mapping.Header(ev, "Sentry-Hook-Resource")
	s := mapping.Summary{Subtitle: mapping.Subtitle("Sentry", strings.TrimSpace(strings.ReplaceAll(resource, "_", " ")+" "+p.Action.String()))}
	var f mapping.Facts
	var l mapping.Links
	switch {
	case d.Event != nil || d.Error != nil:
		e := d.Event
		if e == nil {
			e = d.Error
		}
		s.Title = "Sentry: " + mapping.FirstText(e.Title, e.Message)
		s.Text = e.Culprit.String()
		s.Severity = sentryLevel(string(e.Level))
		f.Add("Level", e.Level.String())
		f.Add("Rule", d.TriggeredRule.String())
		f.Add("Environment", mapping.FirstText(e.Environment, sentryTag(e.Tags, "environment")))
		f.Add("Release", mapping.FirstText(e.Release, sentryTag(e.Tags, "release")))
		f.Add("Platform", e.Platform.String())
		f.Add("Issue", e.IssueID.String())
		f.Add("Seen", mapping.When(e.Datetime.String()))
		l.Add("Open in Sentry", e.WebURL.String())
	case d.Issue != nil:
		is := d.Issue
		s.Title = "Sentry issue " + mapping.FirstText(is.ShortID) + " " + p.Action.String() + ": " + is.Title.String()
		s.Text = is.Culprit.String()
		s.Severity = sentryLevel(string(is.Level))
		if p.Action == "resolved" {
			s.Severity = mapping.SeverityGood
		}
		f.Add("Project", mapping.FirstText(is.Project.Name, is.Project.Slug))
		f.Add("Level", is.Level.String())
		f.Add("Status", is.Status.String())
		f.Add("Events", is.Count.String())
		f.Add("Users", is.UserCount.String())
		f.Add("First seen", mapping.When(is.FirstSeen.String()))
		l.Add("Open issue "+is.ShortID.String(), mapping.FirstText(is.WebURL, is.Permalink))
	case d.MetricAlert != nil:
		// description_title already says the state: "Critical: <rule>".
		s.Title = "Sentry metric alert: " + d.DescriptionTtl.String()
		if d.DescriptionTtl == "" {
			s.Title = "Sentry metric alert " + p.Action.String() + ": " + mapping.FirstText(d.MetricAlert.Title, d.MetricAlert.AlertRule.Name)
		}
		s.Text = d.DescriptionTxt.String()
		s.Severity = sentryLevel(string(p.Action))
		f.Add("Rule", d.MetricAlert.AlertRule.Name.String())
		l.Add("Open in Sentry", d.WebURL.String())
	default:
		s.Title = strings.TrimSpace("Sentry " + strings.ReplaceAll(resource, "_", " ") + " " + p.Action.String())
	}
	if s.Severity == "" {
		s.Severity = mapping.SeverityInfo
	}
	s.Facts, s.Links = f, l
	return s, nil
}

// sentryTag finds a tag in Sentry's [[key, value], …] list.
func sentryTag(raw json.RawMessage, key string) mapping.Text {
	var pairs [][]mapping.Text
	if json.Unmarshal(raw, &pairs) != nil {
		return ""
	}
	for _, p := range pairs {
		if len(p) == 2 && string(p[0]) == key {
			return p[1]
		}
	}
	return ""
}

// sentryLevel colours an event level or a metric alert's action.
func sentryLevel(level string) mapping.Severity {
	switch level {
	case "fatal", "error", "critical":
		return mapping.SeverityCritical
	case "warning":
		return mapping.SeverityWarning
	case "resolved":
		return mapping.SeverityGood
	}
	return mapping.SeverityInfo
}
