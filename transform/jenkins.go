package transform

import (
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/hookrelay/hookrelay/schemas"
)

// Jenkins posts in two ways hookrelay recognises: the Notification plugin's
// JSON ({name, url, build: {number, phase, status, full_url, …}}) and the
// Office 365 Connector plugin's cards (a MessageCard, or a Workflows message,
// whose summary reads "JOB: Build #N RESULT").

func isJenkins(p probe) bool {
	if p.has("name", "build") && p.object("build") {
		return true
	}
	if !isTeamsCard(p) {
		return false
	}
	doc, _ := jsonDocument(p.ev)
	c, err := parseCard(doc)
	return err == nil && jenkinsHeadlineRE.MatchString(c.headline)
}

// jenkinsHeadlineRE reads the Office 365 Connector plugin's headline:
// "myJob: Build #167 Failed", "folder » job: Build #3".
var jenkinsHeadlineRE = regexp.MustCompile(`^(.+): Build #(\d+)(?:\s+(.*))?$`)

// jenkinsNotification is the Notification plugin's payload.
type jenkinsNotification struct {
	Name        text `json:"name"`
	DisplayName text `json:"display_name"`
	URL         text `json:"url"`
	Build       struct {
		FullURL     text `json:"full_url"`
		Number      text `json:"number"`
		DisplayName text `json:"display_name"`
		Phase       text `json:"phase"`
		Status      text `json:"status"`
		Duration    text `json:"duration"` // milliseconds
		Log         text `json:"log"`
		Notes       text `json:"notes"`
		SCM         struct {
			URL    text `json:"url"`
			Branch text `json:"branch"`
			Commit text `json:"commit"`
		} `json:"scm"`
		TestSummary *struct {
			Total   int `json:"total"`
			Failed  int `json:"failed"`
			Skipped int `json:"skipped"`
		} `json:"test_summary"`
	} `json:"build"`
}

func mapJenkins(ev schemas.Event) (Summary, error) {
	p := newProbe(ev)
	if isTeamsCard(p) {
		return jenkinsCard(ev)
	}
	var j jenkinsNotification
	if err := decode(ev, "jenkins", &j); err != nil {
		return Summary{}, err
	}
	b := j.Build
	job := firstText(j.DisplayName, j.Name)
	result := firstText(b.Status)
	if strings.EqualFold(string(b.Phase), "STARTED") || strings.EqualFold(string(b.Phase), "QUEUED") {
		result = "" // the status of a build still running is meaningless
	}
	s := Summary{
		Title:    "Jenkins " + job + " #" + b.Number.String() + " " + jenkinsOutcome(result, string(b.Phase)),
		Subtitle: subtitle("Jenkins", strings.ToLower(string(b.Phase))),
		Text:     b.Notes.String(),
		Excerpt:  b.Log.String(),
		Severity: jenkinsSeverity(result),
	}
	var f facts
	f.add("Job", job)
	f.add("Build", "#"+b.Number.String())
	f.add("Result", result)
	if ms, err := strconv.ParseInt(string(b.Duration), 10, 64); err == nil && ms > 0 {
		f.add("Duration", human(time.Duration(ms)*time.Millisecond))
	}
	f.add("Branch", b.SCM.Branch.String())
	f.add("Commit", short(string(b.SCM.Commit)))
	if ts := b.TestSummary; ts != nil && ts.Total > 0 {
		f.add("Tests", strconv.Itoa(ts.Total)+" run, "+strconv.Itoa(ts.Failed)+" failed, "+strconv.Itoa(ts.Skipped)+" skipped")
	}
	s.Facts = f
	var l links
	l.add("Open build #"+b.Number.String(), b.FullURL.String())
	if u := b.FullURL.String(); strings.HasSuffix(u, "/") {
		l.add("Console output", u+"console")
	}
	s.Links = l
	return s, nil
}

// jenkinsCard maps a card from the Office 365 Connector plugin.
func jenkinsCard(ev schemas.Event) (Summary, error) {
	doc, _ := jsonDocument(ev)
	c, err := parseCard(doc)
	if err != nil {
		return Summary{}, err
	}
	m := jenkinsHeadlineRE.FindStringSubmatch(c.headline)
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
	s.Title = "Jenkins " + job + " #" + number + " " + jenkinsOutcome(result, "")
	s.Subtitle = subtitle("Jenkins", c.Subtitle)
	s.Facts = append([]Fact{{Name: "Job", Value: job}, {Name: "Build", Value: "#" + number}}, c.Facts...)
	if sev := jenkinsSeverity(result); sev != SeverityInfo {
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

func jenkinsSeverity(result string) Severity {
	if sev := severityOf(strings.ReplaceAll(result, "_", " ")); sev != "" {
		return sev
	}
	switch strings.ToUpper(result) {
	case "ABORTED", "NOT_BUILT":
		return SeverityWarning
	case "FIXED", "BACK TO NORMAL":
		return SeverityGood
	}
	return SeverityInfo
}
