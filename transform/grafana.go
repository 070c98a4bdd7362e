package transform

import (
	"github.com/hookrelay/hookrelay/schemas"
)

// Grafana alerting's webhook contact point posts Alertmanager's shape
// (version "1") with an orgId and, per alert, links to the dashboard, the
// panel, the rule and a prefilled silence.

func isGrafana(p probe) bool {
	return p.has("alerts") && (p.has("orgId") || (p.str("version") == "1" && p.has("state")))
}

func mapGrafana(ev schemas.Event) (Summary, error) {
	var g alertGroup
	if err := decode(ev, "grafana", &g); err != nil {
		return Summary{}, err
	}
	s := g.summary("Grafana")
	var l links
	l.add("Runbook", g.runbook())
	if len(g.Alerts) > 0 {
		a := g.Alerts[0]
		l.add("Open dashboard", a.DashboardURL.String())
		l.add("Open panel", a.PanelURL.String())
		l.add("Open alert rule", a.GeneratorURL.String())
		if a.Status != "resolved" {
			l.add("Silence", a.SilenceURL.String())
		}
	}
	l.add("Open Grafana", g.ExternalURL.String())
	s.Links = l
	return s, nil
}
