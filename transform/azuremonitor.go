package transform

import (
	"net/url"
	"strings"

	"github.com/hookrelay/hookrelay/schemas"
)

// Azure Monitor's common alert schema: {schemaId:
// "azureMonitorCommonAlertSchema", data: {essentials, alertContext}}.

const azureSchemaID = "azureMonitorCommonAlertSchema"

func isAzureMonitor(p probe) bool {
	return p.str("schemaId") == azureSchemaID
}

type azurePayload struct {
	Data struct {
		Essentials struct {
			AlertID            text   `json:"alertId"`
			AlertRule          text   `json:"alertRule"`
			Severity           text   `json:"severity"` // Sev0 … Sev4
			SignalType         text   `json:"signalType"`
			MonitorCondition   text   `json:"monitorCondition"` // Fired, Resolved
			MonitoringService  text   `json:"monitoringService"`
			ConfigurationItems []text `json:"configurationItems"`
			FiredDateTime      text   `json:"firedDateTime"`
			ResolvedDateTime   text   `json:"resolvedDateTime"`
			Description        text   `json:"description"`
		} `json:"essentials"`
		AlertContext struct {
			Condition struct {
				AllOf []struct {
					MetricName      text `json:"metricName"`
					SearchQuery     text `json:"searchQuery"`
					Operator        text `json:"operator"`
					Threshold       text `json:"threshold"`
					TimeAggregation text `json:"timeAggregation"`
					MetricValue     text `json:"metricValue"`
					LinkToSearch    text `json:"linkToSearchResultsUI"`
				} `json:"allOf"`
			} `json:"condition"`
		} `json:"alertContext"`
	} `json:"data"`
}

// azurePortalAlert opens an alert in the Azure portal by its id.
const azurePortalAlert = "https://portal.azure.com/#blade/Microsoft_Azure_Monitoring/AlertDetailsTemplateBlade/alertId/"

func mapAzureMonitor(ev schemas.Event) (Summary, error) {
	var a azurePayload
	if err := decode(ev, "azure-monitor", &a); err != nil {
		return Summary{}, err
	}
	e := a.Data.Essentials
	targets := joinTexts(e.ConfigurationItems)
	s := Summary{
		Title:    "[" + e.MonitorCondition.String() + "] " + e.Severity.String() + " " + e.AlertRule.String(),
		Subtitle: subtitle("Azure Monitor", e.SignalType.String()+" alert", e.MonitoringService.String()),
		Text:     e.Description.String(),
		Severity: azureSeverity(string(e.MonitorCondition), string(e.Severity)),
	}
	if targets != "" {
		s.Title += " on " + targets
	}
	var f facts
	var l links
	f.add("Severity", e.Severity.String())
	f.add("Condition", e.MonitorCondition.String())
	f.add("Resources", targets)
	f.add("Fired", when(e.FiredDateTime.String()))
	f.add("Resolved", when(e.ResolvedDateTime.String()))
	for _, c := range a.Data.AlertContext.Condition.AllOf {
		what := firstText(c.MetricName, c.SearchQuery)
		crit := strings.Join(strings.Fields(c.TimeAggregation.String()+" "+what+" "+c.Operator.String()+" "+c.Threshold.String()), " ")
		if c.MetricValue != "" {
			crit += " (value " + c.MetricValue.String() + ")"
		}
		f.add("Criterion", crit)
		l.add("Open search results", c.LinkToSearch.String())
	}
	if id := e.AlertID.String(); strings.HasPrefix(id, "/subscriptions/") {
		l.add("Open in Azure portal", azurePortalAlert+url.PathEscape(id))
	}
	s.Facts, s.Links = f, l
	return s, nil
}

// azureSeverity: Sev0-1 critical, Sev2 warning, Sev3-4 informational;
// resolved is good.
func azureSeverity(condition, sev string) Severity {
	if strings.EqualFold(condition, "Resolved") {
		return SeverityGood
	}
	switch strings.ToLower(sev) {
	case "sev0", "sev1":
		return SeverityCritical
	case "sev2":
		return SeverityWarning
	}
	return SeverityInfo
}
