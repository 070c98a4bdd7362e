package grafana

import (
	"github.com/hookrelay/hookrelay/internal/vendors/alertmanager"
	"github.com/hookrelay/hookrelay/internal/vendors/mapping"
	"github.com/hookrelay/hookrelay/schemas"
)

// Grafana alerting's webhook contact point posts Alertmanager's shape
// (version "1") with an orgId and, per alert, links to the dashboard, the
// panel, the rule and a prefilled silence.

// Detect reports whether an event is this vendor's, for mapping auto.
func Detect(p mapping.Probe) bool {
	return p.Has("alerts") && (p.Has("orgId") || (p.Str("version") == "1" && p.Has("state")))
}

// Map maps an event to a mapping.Summary.
func Map(ev schemas.Event) (mapping.Summary, error) {
	var g alertmanager.Group
	if err := mapping.Decode(ev, "grafana", &g); err != nil {
		return mapping.Summary{}, err
	}
	s := g.Summary("Grafana")
	var l mapping.Links
	l.Add("Runbook", g.Runbook())
	if len(g.Alerts) > 0 {
		a := g.Alerts[0]
		l.Add("Open dashboard", a.DashboardURL.String())
		l.Add("Open panel", a.PanelURL.String())
		l.Add("Open alert rule", a.GeneratorURL.String())
		if a.Status != "resolved" {
			l.Add("Silence", a.SilenceURL.String())
		}
	}
	l.Add("Open Grafana", g.ExternalURL.String())
	s.Links = l
	return s, nil
}
