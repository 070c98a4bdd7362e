// Package azuremonitor is Azure Monitor's common alert schema: how auto
// recognises it and its card.
package azuremonitor

import (
	"net/url"
	"strings"

	"github.com/hookrelay/hookrelay/internal/vendors/mapping"
	"github.com/hookrelay/hookrelay/schemas"
)

// Azure Monitor's common alert schema: {schemaId:
// "azureMonitorCommonAlertSchema", data: {essentials, alertContext}}.

const azureSchemaID = "azureMonitorCommonAlertSchema"

// Detect reports whether an event is this vendor's, for mapping auto.
func Detect(p mapping.Probe) bool {
	return p.Str("schemaId") == azureSchemaID
}

type azurePayload struct {
	Data struct {
		Essentials struct {
			AlertID            mapping.Text   `json:"alertId"`
			AlertRule          mapping.Text   `json:"alertRule"`
			Severity           mapping.Text   `json:"severity"` // Sev0 … Sev4
			SignalType         mapping.Text   `json:"signalType"`
			MonitorCondition   mapping.Text   `json:"monitorCondition"` // Fired, Resolved
			MonitoringService  mapping.Text   `json:"monitoringService"`
			ConfigurationItems []mapping.Text `json:"configurationItems"`
			FiredDateTime      mapping.Text   `json:"firedDateTime"`
			ResolvedDateTime   mapping.Text   `json:"resolvedDateTime"`
			Description        mapping.Text   `json:"description"`
		} `json:"essentials"`
		AlertContext struct {
			Condition struct {
				AllOf []struct {
					MetricName      mapping.Text `json:"metricName"`
					SearchQuery     mapping.Text `json:"searchQuery"`
					Operator        mapping.Text `json:"operator"`
					Threshold       mapping.Text `json:"threshold"`
					TimeAggregation mapping.Text `json:"timeAggregation"`
					MetricValue     mapping.Text `json:"metricValue"`
					LinkToSearch    mapping.Text `json:"linkToSearchResultsUI"`
				} `json:"allOf"`
			} `json:"condition"`
		} `json:"alertContext"`
	} `json:"data"`
}

// azurePortalAlert opens an alert in the Azure portal by its id.
const azurePortalAlert = "https://portal.azure.com/#blade/Microsoft_Azure_Monitoring/AlertDetailsTemplateBlade/alertId/"

// Map maps an event to a mapping.Summary.
func Map(ev schemas.Event) (mapping.Summary, error) {
	var a azurePayload
	if err := mapping.Decode(ev, "azure-monitor", &a); err != nil {
		return mapping.Summary{}, err
	}
	e := a.Data.Essentials
	targets := mapping.JoinTexts(e.ConfigurationItems)
	s := mapping.Summary{
		Title:    "[" + e.MonitorCondition.String() + "] " + e.Severity.String() + " " + e.AlertRule.String(),
		Subtitle: mapping.Subtitle("Azure Monitor", e.SignalType.String()+" alert", e.MonitoringService.String()),
		Text:     e.Description.String(),
		Severity: azureSeverity(string(e.MonitorCondition), string(e.Severity)),
	}
	if targets != "" {
		s.Title += " on " + targets
	}
	var f mapping.Facts
	var l mapping.Links
	f.Add("Severity", e.Severity.String())
	f.Add("Condition", e.MonitorCondition.String())
	f.Add("Resources", targets)
	f.Add("Fired", mapping.When(e.FiredDateTime.String()))
	f.Add("Resolved", mapping.When(e.ResolvedDateTime.String()))
	for _, c := range a.Data.AlertContext.Condition.AllOf {
		what := mapping.FirstText(c.MetricName, c.SearchQuery)
		crit := strings.Join(strings.Fields(c.TimeAggregation.String()+" "+what+" "+c.Operator.String()+" "+c.Threshold.String()), " ")
		if c.MetricValue != "" {
			crit += " (value " + c.MetricValue.String() + ")"
		}
		f.Add("Criterion", crit)
		l.Add("Open search results", c.LinkToSearch.String())
	}
	if id := e.AlertID.String(); strings.HasPrefix(id, "/subscriptions/") {
		l.Add("Open in Azure portal", azurePortalAlert+url.PathEscape(id))
	}
	s.Facts, s.Links = f, l
	return s, nil
}

// azureSeverity: Sev0-1 critical, Sev2 warning, Sev3-4 informational;
// resolved is good.
func azureSeverity(condition, sev string) mapping.Severity {
	if strings.EqualFold(condition, "Resolved") {
		return mapping.SeverityGood
	}
	switch strings.ToLower(sev) {
	case "sev0", "sev1":
		return mapping.SeverityCritical
	case "sev2":
		return mapping.SeverityWarning
	}
	return mapping.SeverityInfo
}
