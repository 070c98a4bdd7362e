package transform

import (
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"

	"github.com/hookrelay/hookrelay/schemas"
)

// Prometheus Alertmanager's webhook (version "4") posts a group of alerts
// that share the group labels; Grafana alerting posts the same shape with
// more links per alert (grafana.go).

func isAlertmanager(p probe) bool {
	return p.str("version") == "4" && p.has("alerts", "groupKey")
}

// alertGroup is Alertmanager's webhook payload, and the base of Grafana's.
type alertGroup struct {
	Receiver          text            `json:"receiver"`
	Status            text            `json:"status"`
	GroupLabels       map[string]text `json:"groupLabels"`
	CommonLabels      map[string]text `json:"commonLabels"`
	CommonAnnotations map[string]text `json:"commonAnnotations"`
	ExternalURL       text            `json:"externalURL"`
	TruncatedAlerts   int             `json:"truncatedAlerts"`
	Alerts            []alert         `json:"alerts"`
}

type alert struct {
	Status       text            `json:"status"`
	Labels       map[string]text `json:"labels"`
	Annotations  map[string]text `json:"annotations"`
	StartsAt     text            `json:"startsAt"`
	EndsAt       text            `json:"endsAt"`
	GeneratorURL text            `json:"generatorURL"`
	// Grafana only.
	SilenceURL   text            `json:"silenceURL"`
	DashboardURL text            `json:"dashboardURL"`
	PanelURL     text            `json:"panelURL"`
	Values       map[string]text `json:"values"`
}

func mapAlertmanager(ev schemas.Event) (Summary, error) {
	var g alertGroup
	if err := decode(ev, "alertmanager", &g); err != nil {
		return Summary{}, err
	}
	s := g.summary("Alertmanager")
	var l links
	l.add("Runbook", g.runbook())
	if ext := strings.TrimSuffix(g.ExternalURL.String(), "/"); ext != "" {
		filter := url.QueryEscape(matchers(g.GroupLabels))
		l.add("Open in Alertmanager", ext+"/#/alerts?receiver="+url.QueryEscape(g.Receiver.String())+"&filter="+filter)
		if g.Status == "firing" {
			l.add("Silence", ext+"/#/silences/new?filter="+filter)
		}
	}
	if len(g.Alerts) > 0 {
		l.add("Open query", g.Alerts[0].GeneratorURL.String())
	}
	s.Links = l
	return s, nil
}

// summary is what Alertmanager and Grafana cards share: the title counts the
// alerts and names them, the facts are the labels they share, the text lists
// each alert by what sets it apart.
func (g alertGroup) summary(vendor string) Summary {
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
		if n := firstText(g.GroupLabels["alertname"], g.CommonLabels["alertname"]); n != "" {
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
	s := Summary{
		Title:    "[" + status + "] " + title,
		Subtitle: subtitle(vendor, "receiver "+g.Receiver.String()),
		Severity: alertSeverity(g.Status.String(), firstText(g.CommonLabels["severity"])),
	}

	var intro []string
	for _, k := range []string{"summary", "description"} {
		if v := g.CommonAnnotations[k].String(); v != "" {
			intro = append(intro, v)
		}
	}
	var lines []string
	for i, a := range g.Alerts {
		if i == maxListed {
			break
		}
		lines = append(lines, a.line(g.CommonLabels, g.CommonAnnotations))
	}
	lines = listed(lines, len(g.Alerts)+g.TruncatedAlerts)
	s.Text = strings.TrimSpace(strings.Join(intro, "\n") + "\n" + bullets(lines))

	var f facts
	counts := fmt.Sprintf("%d firing", firing+g.TruncatedAlerts)
	if resolved > 0 {
		counts += fmt.Sprintf(", %d resolved", resolved)
	}
	f.add("Alerts", counts)
	for _, k := range slices.Sorted(maps.Keys(g.CommonLabels)) {
		if k != "alertname" {
			f.add(k, g.CommonLabels[k].String())
		}
	}
	s.Facts = f
	return s
}

// line describes one alert: its status, the labels that set it apart from
// the group, its own summary, and since when it fires.
func (a alert) line(common, commonAnn map[string]text) string {
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
			l += " — " + firstLine(v.String())
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
		if t := when(a.EndsAt.String()); t != "" {
			l += " · resolved " + t
		}
	} else if t := when(a.StartsAt.String()); t != "" {
		l += " · since " + t
	}
	return l
}

// runbook finds a runbook link in the common annotations or the first alert's.
func (g alertGroup) runbook() string {
	sets := []map[string]text{g.CommonAnnotations}
	if len(g.Alerts) > 0 {
		sets = append(sets, g.Alerts[0].Annotations)
	}
	for _, set := range sets {
		for _, k := range []string{"runbook_url", "runbook"} {
			if u := set[k].String(); safeURL(u) {
				return u
			}
		}
	}
	return ""
}

// matchers spells labels as an Alertmanager filter: {a="1",b="2"}.
func matchers(labels map[string]text) string {
	var ms []string
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		ms = append(ms, fmt.Sprintf("%s=%q", k, labels[k]))
	}
	return "{" + strings.Join(ms, ",") + "}"
}

// alertSeverity colours a group: resolved is good; firing goes by the
// severity label, and is critical without one.
func alertSeverity(status, label string) Severity {
	if status == "resolved" {
		return SeverityGood
	}
	switch strings.ToLower(label) {
	case "warning", "warn", "minor", "medium", "low":
		return SeverityWarning
	case "info", "informational", "none", "notice":
		return SeverityInfo
	}
	return SeverityCritical
}
