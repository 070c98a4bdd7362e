// Package alertmanager is Prometheus Alertmanager's webhook (version "4"): how auto
// recognises it and its card; Grafana's alerting webhook shares its Group.
package alertmanager

import (
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"

	"github.com/hookrelay/hookrelay/internal/vendors/mapping"
	"github.com/hookrelay/hookrelay/schemas"
)

// Prometheus Alertmanager's webhook (version "4") posts a group of alerts
// that share the group labels; Grafana alerting posts the same shape with
// more links per alert (internal/vendors/grafana).

// Detect reports whether an event is this vendor's, for mapping auto.
func Detect(p mapping.Probe) bool {
	return p.Str("version") == "4" && p.Has("alerts", "groupKey")
}

// Group is Alertmanager's webhook payload, and the base of Grafana's.
type Group struct {
	Receiver          mapping.Text            `json:"receiver"`
	Status            mapping.Text            `json:"status"`
	GroupLabels       map[string]mapping.Text `json:"groupLabels"`
	CommonLabels      map[string]mapping.Text `json:"commonLabels"`
	CommonAnnotations map[string]mapping.Text `json:"commonAnnotations"`
	ExternalURL       mapping.Text            `json:"externalURL"`
	TruncatedAlerts   int                     `json:"truncatedAlerts"`
	Alerts            []Alert                 `json:"alerts"`
}

// Alert is one alert of a Group.
type Alert struct {
	Status       mapping.Text            `json:"status"`
	Labels       map[string]mapping.Text `json:"labels"`
	Annotations  map[string]mapping.Text `json:"annotations"`
	StartsAt     mapping.Text            `json:"startsAt"`
	EndsAt       mapping.Text            `json:"endsAt"`
	GeneratorURL mapping.Text            `json:"generatorURL"`
	// Grafana only.
	SilenceURL   mapping.Text            `json:"silenceURL"`
	DashboardURL mapping.Text            `json:"dashboardURL"`
	PanelURL     mapping.Text            `json:"panelURL"`
	Values       map[string]mapping.Text `json:"values"`
}

// Map maps an event to a mapping.Summary.
func Map(ev schemas.Event) (mapping.Summary, error) {
	var g Group
	if err := mapping.Decode(ev, "alertmanager", &g); err != nil {
		return mapping.Summary{}, err
	}
	s := g.Summary("Alertmanager")
	var l mapping.Links
	l.Add("Runbook", g.Runbook())
	if ext := strings.TrimSuffix(g.ExternalURL.String(), "/"); ext != "" {
		filter := url.QueryEscape(matchers(g.GroupLabels))
		l.Add("Open in Alertmanager", ext+"/#/alerts?receiver="+url.QueryEscape(g.Receiver.String())+"&filter="+filter)
		if g.Status == "firing" {
			l.Add("Silence", ext+"/#/silences/new?filter="+filter)
		}
	}
	if len(g.Alerts) > 0 {
		l.Add("Open query", g.Alerts[0].GeneratorURL.String())
	}
	s.Links = l
	return s, nil
}

// Summary is what Alertmanager and Grafana cards share: the title counts the
// alerts and names them, the facts are the labels they share, the text lists
// each alert by what sets it apart.
func (g Group) Summary(vendor string) mapping.Summary {
	firing, resolved := 0, 0
	var names []string
	for _, a := range g.Alerts {
		if a.Status == "resolved" {
			resolved++
		} else {
			firing++
		}
		if n := a.Labels["alertname"].String(); n != "" && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		if n := mapping.FirstText(g.GroupLabels["alertname"], g.CommonLabels["alertname"]); n != "" {
			names = append(names, n)
		}
	}
	title := strings.Join(names, ", ")
	if len(names) > 3 {
		title = strings.Join(names[:3], ", ") + fmt.Sprintf(" and %d more", len(names)-3)
	}
	if title == "" {
		title = "alerts for " + g.Receiver.String()
	}
	status := strings.ToUpper(g.Status.String())
	if status == "FIRING" {
		status = fmt.Sprintf("FIRING:%d", firing+g.TruncatedAlerts)
	}
	s := mapping.Summary{
		Title:    "[" + status + "] " + title,
		Subtitle: mapping.Subtitle(vendor, "receiver "+g.Receiver.String()),
		Severity: alertSeverity(g.Status.String(), mapping.FirstText(g.CommonLabels["severity"])),
	}

	var intro []string
	for _, k := range []string{"summary", "description"} {
		if v := g.CommonAnnotations[k].String(); v != "" {
			intro = append(intro, v)
		}
	}
	var lines []string
	for i, a := range g.Alerts {
		if i == mapping.MaxListed {
			break
		}
		lines = append(lines, a.line(g.CommonLabels, g.CommonAnnotations))
	}
	lines = mapping.Listed(lines, len(g.Alerts)+g.TruncatedAlerts)
	s.Text = strings.TrimSpace(strings.Join(intro, "\n") + "\n" + mapping.Bullets(lines))

	var f mapping.Facts
	counts := fmt.Sprintf("%d firing", firing+g.TruncatedAlerts)
	if resolved > 0 {
		counts += fmt.Sprintf(", %d resolved", resolved)
	}
	f.Add("Alerts", counts)
	for _, k := range slices.Sorted(maps.Keys(g.CommonLabels)) {
		if k != "alertname" {
			f.Add(k, g.CommonLabels[k].String())
		}
	}
	s.Facts = f
	return s
}

// line describes one alert: its status, the labels that set it apart from
// the group, its own summary, and since when it fires.
func (a Alert) line(common, commonAnn map[string]mapping.Text) string {
	var own []string
	for _, k := range slices.Sorted(maps.Keys(a.Labels)) {
		if _, shared := common[k]; !shared && k != "alertname" {
			own = append(own, k+"="+a.Labels[k].String())
		}
	}
	if len(own) == 0 {
		own = append(own, a.Labels["alertname"].String())
	}
	l := "[" + a.Status.String() + "] " + strings.Join(own, ", ")
	for _, k := range []string{"summary", "description", "message"} {
		if v := a.Annotations[k]; v != "" && v != commonAnn[k] {
			l += " — " + mapping.FirstLine(v.String())
			break
		}
	}
	if len(a.Values) > 0 {
		var vs []string
		for _, k := range slices.Sorted(maps.Keys(a.Values)) {
			vs = append(vs, k+"="+a.Values[k].String())
		}
		l += " (" + strings.Join(vs, ", ") + ")"
	}
	if a.Status == "resolved" {
		if t := mapping.When(a.EndsAt.String()); t != "" {
			l += " · resolved " + t
		}
	} else if t := mapping.When(a.StartsAt.String()); t != "" {
		l += " · since " + t
	}
	return l
}

// Runbook finds a runbook link in the common annotations or the first alert's.
func (g Group) Runbook() string {
	sets := []map[string]mapping.Text{g.CommonAnnotations}
	if len(g.Alerts) > 0 {
		sets = append(sets, g.Alerts[0].Annotations)
	}
	for _, set := range sets {
		for _, k := range []string{"runbook_url", "runbook"} {
			if u := set[k].String(); mapping.SafeURL(u) {
				return u
			}
		}
	}
	return ""
}

// matchers spells labels as an Alertmanager filter: {a="1",b="2"}.
func matchers(labels map[string]mapping.Text) string {
	var ms []string
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		ms = append(ms, fmt.Sprintf("%s=%q", k, labels[k]))
	}
	return "{" + strings.Join(ms, ",") + "}"
}

// alertSeverity colours a group: resolved is good; firing goes by the
// severity label, and is critical without one.
func alertSeverity(status, label string) mapping.Severity {
	if status == "resolved" {
		return mapping.SeverityGood
	}
	switch strings.ToLower(label) {
	case "warning", "warn", "minor", "medium", "low":
		return mapping.SeverityWarning
	case "info", "informational", "none", "notice":
		return mapping.SeverityInfo
	}
	return mapping.SeverityCritical
}
