// Package jenkins is what Jenkins posts: the Notification plugin's JSON and the
// Office 365 Connector plugin's cards.
package jenkins

import (
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/hookrelay/hookrelay/internal/vendors/mapping"
	"github.com/hookrelay/hookrelay/internal/vendors/teams"
	"github.com/hookrelay/hookrelay/schemas"
)

// Jenkins posts in two ways hookrelay recognises: the Notification plugin's
// JSON ({name, url, build: {number, phase, status, full_url, …}}) and the
// Office 365 Connector plugin's cards (a MessageCard, or a Workflows message,
// whose summary reads "JOB: Build #N RESULT").

// Detect reports whether an event is this vendor's, for mapping auto.
func Detect(p mapping.Probe) bool {
	if p.Has("name", "build") && p.Object("build") {
		return true
	}
	if !teams.Detect(p) {
		return false
	}
	doc, _ := mapping.JSONDocument(p.Event())
	c, err := teams.ParseCard(doc)
	return err == nil && jenkinsHeadlineRE.MatchString(c.Headline)
}

// jenkinsHeadlineRE reads the Office 365 Connector plugin's headline:
// "myJob: Build #167 Failed", "folder » job: Build #3".
var jenkinsHeadlineRE = regexp.MustCompile(`^(.+): Build #(\d+)(?:\s+(.*))?$`)

// jenkinsNotification is the Notification plugin's payload.
type jenkinsNotification struct {
	Name        mapping.Text `json:"name"`
	DisplayName mapping.Text `json:"display_name"`
	URL         mapping.Text `json:"url"`
	Build       struct {
		FullURL     mapping.Text `json:"full_url"`
		Number      mapping.Text `json:"number"`
		DisplayName mapping.Text `json:"display_name"`
		Phase       mapping.Text `json:"phase"`
		Status      mapping.Text `json:"status"`
		Duration    mapping.Text `json:"duration"` // milliseconds
		Log         mapping.Text `json:"log"`
		Notes       mapping.Text `json:"notes"`
		SCM         struct {
			URL    mapping.Text `json:"url"`
			Branch mapping.Text `json:"branch"`
			Commit mapping.Text `json:"commit"`
		} `json:"scm"`
		TestSummary *struct {
			Total   int `json:"total"`
			Failed  int `json:"failed"`
			Skipped int `json:"skipped"`
		} `json:"test_summary"`
	} `json:"build"`
}

// Map maps an event to a mapping.Summary.
func Map(ev schemas.Event) (mapping.Summary, error) {
	p := mapping.NewProbe(ev)
	if teams.Detect(p) {
		return jenkinsCard(ev)
	}
	var j jenkinsNotification
	if err := mapping.Decode(ev, "jenkins", &j); err != nil {
		return mapping.Summary{}, err
	}
	b := j.Build
	job := mapping.FirstText(j.DisplayName, j.Name)
	result := mapping.FirstText(b.Status)
	if strings.EqualFold(string(b.Phase), "STARTED") || strings.EqualFold(string(b.Phase), "QUEUED") {
		result = "" // the status of a build still running is meaningless
	}
	s := mapping.Summary{
		Title:    "Jenkins " + job + " #" + b.Number.String() + " " + jenkinsOutcome(result, string(b.Phase)),
		Subtitle: mapping.Subtitle("Jenkins", strings.ToLower(string(b.Phase))),
		Text:     b.Notes.String(),
		Excerpt:  b.Log.String(),
		Severity: jenkinsSeverity(result),
	}
	var f mapping.Facts
	f.Add("Job", job)
	f.Add("Build", "#"+b.Number.String())
	f.Add("Result", result)
	if ms, err := strconv.ParseInt(string(b.Duration), 10, 64); err == nil && ms > 0 {
		f.Add("Duration", mapping.Human(time.Duration(ms)*time.Millisecond))
	}
	f.Add("Branch", b.SCM.Branch.String())
	f.Add("Commit", mapping.Short(string(b.SCM.Commit)))
	if ts := b.TestSummary; ts != nil && ts.Total > 0 {
		f.Add("Tests", strconv.Itoa(ts.Total)+" run, "+strconv.Itoa(ts.Failed)+" failed, "+strconv.Itoa(ts.Skipped)+" skipped")
	}
	s.Facts = f
	var l mapping.Links
	l.Add("Open build #"+b.Number.String(), b.FullURL.String())
	if u := b.FullURL.String(); strings.HasSuffix(u, "/") {
		l.Add("Console output", u+"console")
	}
	s.Links = l
	return s, nil
}

// jenkinsCard maps a card from the Office 365 Connector plugin.
func jenkinsCard(ev schemas.Event) (mapping.Summary, error) {
	doc, _ := mapping.JSONDocument(ev)
	c, err := teams.ParseCard(doc)
	if err != nil {
		return mapping.Summary{}, err
	}
	m := jenkinsHeadlineRE.FindStringSubmatch(c.Headline)
	if m == nil {
		return c.Summary, nil
	}
	job, number, result := m[1], m[2], m[3]
	if result == "" {
		for _, f := range c.Facts {
			if f.Name == "Status" {
				result = f.Value
			}
		}
	}
	s := c.Summary
	s.Cards = nil // the card is made again, with the job and result in its title
	s.Title = "Jenkins " + job + " #" + number + " " + jenkinsOutcome(result, "")
	s.Subtitle = mapping.Subtitle("Jenkins", c.Subtitle)
	s.Facts = append([]mapping.Fact{{Name: "Job", Value: job}, {Name: "Build", Value: "#" + number}}, c.Facts...)
	if sev := jenkinsSeverity(result); sev != mapping.SeverityInfo {
		s.Severity = sev
	}
	return s, nil
}

// jenkinsOutcome says what happened to a build in words.
func jenkinsOutcome(result, phase string) string {
	r := strings.ToUpper(strings.TrimPrefix(strings.TrimSpace(result), "Build "))
	switch {
	case r == "SUCCESS":
		return "succeeded"
	case r == "FAILURE" || r == "FAILED":
		return "failed"
	case r == "UNSTABLE":
		return "is unstable"
	case r == "ABORTED":
		return "was aborted"
	case r == "NOT_BUILT":
		return "was not built"
	case r == "FIXED" || r == "BACK TO NORMAL":
		return "is back to normal"
	case r != "":
		return strings.ToLower(r)
	case phase != "":
		return strings.ToLower(phase)
	}
	return "started"
}

func jenkinsSeverity(result string) mapping.Severity {
	if sev := mapping.SeverityOf(strings.ReplaceAll(result, "_", " ")); sev != "" {
		return sev
	}
	switch strings.ToUpper(result) {
	case "ABORTED", "NOT_BUILT":
		return mapping.SeverityWarning
	case "FIXED", "BACK TO NORMAL":
		return mapping.SeverityGood
	}
	return mapping.SeverityInfo
}
