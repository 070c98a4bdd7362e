package transform

import (
	"encoding/json"
	"strings"

	"github.com/hookrelay/hookrelay/schemas"
)

// Sentry's integration webhooks name the resource in Sentry-Hook-Resource
// (event_alert, issue, metric_alert, error, …) and wrap it as
// {action, actor, data: {<resource>: …}, installation}.

func isSentry(p probe) bool {
	return p.header("Sentry-Hook-Resource") != "" ||
		(p.has("action", "data", "actor") && p.object("data") && p.has("installation"))
}

type sentryPayload struct {
	Action text `json:"action"`
	Data   struct {
		Event          *sentryEvent `json:"event"`
		Error          *sentryEvent `json:"error"`
		Issue          *sentryIssue `json:"issue"`
		TriggeredRule  text         `json:"triggered_rule"`
		DescriptionTxt text         `json:"description_text"`
		DescriptionTtl text         `json:"description_title"`
		WebURL         text         `json:"web_url"`
		MetricAlert    *struct {
			Title     text `json:"title"`
			AlertRule struct {
				Name text `json:"name"`
			} `json:"alert_rule"`
		} `json:"metric_alert"`
	} `json:"data"`
}

type sentryEvent struct {
	Title       text            `json:"title"`
	Message     text            `json:"message"`
	Culprit     text            `json:"culprit"`
	Level       text            `json:"level"`
	Platform    text            `json:"platform"`
	Environment text            `json:"environment"`
	Release     text            `json:"release"`
	IssueID     text            `json:"issue_id"`
	Datetime    text            `json:"datetime"`
	WebURL      text            `json:"web_url"`
	Tags        json.RawMessage `json:"tags"`
}

type sentryIssue struct {
	ShortID   text `json:"shortId"`
	Title     text `json:"title"`
	Culprit   text `json:"culprit"`
	Level     text `json:"level"`
	Status    text `json:"status"`
	Count     text `json:"count"`
	UserCount text `json:"userCount"`
	FirstSeen text `json:"firstSeen"`
	LastSeen  text `json:"lastSeen"`
	Permalink text `json:"permalink"`
	WebURL    text `json:"web_url"`
	Project   struct {
		Slug text `json:"slug"`
		Name text `json:"name"`
	} `json:"project"`
}

func mapSentry(ev schemas.Event) (Summary, error) {
	var p sentryPayload
	if err := decode(ev, "sentry", &p); err != nil {
		return Summary{}, err
	}
	d := p.Data
	resource := header(ev, "Sentry-Hook-Resource")
	s := Summary{Subtitle: subtitle("Sentry", strings.TrimSpace(strings.ReplaceAll(resource, "_", " ")+" "+p.Action.String()))}
	var f facts
	var l links
	switch {
	case d.Event != nil || d.Error != nil:
		e := d.Event
		if e == nil {
			e = d.Error
		}
		s.Title = "Sentry: " + firstText(e.Title, e.Message)
		s.Text = e.Culprit.String()
		s.Severity = sentryLevel(string(e.Level))
		f.add("Level", e.Level.String())
		f.add("Rule", d.TriggeredRule.String())
		f.add("Environment", firstText(e.Environment, sentryTag(e.Tags, "environment")))
		f.add("Release", firstText(e.Release, sentryTag(e.Tags, "release")))
		f.add("Platform", e.Platform.String())
		f.add("Issue", e.IssueID.String())
		f.add("Seen", when(e.Datetime.String()))
		l.add("Open in Sentry", e.WebURL.String())
	case d.Issue != nil:
		is := d.Issue
		s.Title = "Sentry issue " + firstText(is.ShortID) + " " + p.Action.String() + ": " + is.Title.String()
		s.Text = is.Culprit.String()
		s.Severity = sentryLevel(string(is.Level))
		if p.Action == "resolved" {
			s.Severity = SeverityGood
		}
		f.add("Project", firstText(is.Project.Name, is.Project.Slug))
		f.add("Level", is.Level.String())
		f.add("Status", is.Status.String())
		f.add("Events", is.Count.String())
		f.add("Users", is.UserCount.String())
		f.add("First seen", when(is.FirstSeen.String()))
		l.add("Open issue "+is.ShortID.String(), firstText(is.WebURL, is.Permalink))
	case d.MetricAlert != nil:
		// description_title already says the state: "Critical: <rule>".
		s.Title = "Sentry metric alert: " + d.DescriptionTtl.String()
		if d.DescriptionTtl == "" {
			s.Title = "Sentry metric alert " + p.Action.String() + ": " + firstText(d.MetricAlert.Title, d.MetricAlert.AlertRule.Name)
		}
		s.Text = d.DescriptionTxt.String()
		s.Severity = sentryLevel(string(p.Action))
		f.add("Rule", d.MetricAlert.AlertRule.Name.String())
		l.add("Open in Sentry", d.WebURL.String())
	default:
		s.Title = strings.TrimSpace("Sentry " + strings.ReplaceAll(resource, "_", " ") + " " + p.Action.String())
	}
	if s.Severity == "" {
		s.Severity = SeverityInfo
	}
	s.Facts, s.Links = f, l
	return s, nil
}

// sentryTag finds a tag in Sentry's [[key, value], …] list.
func sentryTag(raw json.RawMessage, key string) text {
	var pairs [][]text
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
func sentryLevel(level string) Severity {
	switch level {
	case "fatal", "error", "critical":
		return SeverityCritical
	case "warning":
		return SeverityWarning
	case "resolved":
		return SeverityGood
	}
	return SeverityInfo
}
