package transform

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// sharedPayloads is where the project keeps published vendor samples; they
// are read in place, never copied into the repository.
var sharedPayloads = filepath.Join("..", "..", "shared", "payloads")

// conformance says, per published sample, which mapping auto must pick and
// what the card's title must name (ticket id, job, repository, alert name).
// Samples that are not webhooks of a mapped vendor go to the generic mapping
// and must name their subject somewhere in the card.
var conformance = map[string]struct {
	mapping string
	title   []string // substrings of the card's title
	card    []string // substrings of the card anywhere, for generic samples
}{
	"alertmanager_v4_firing_multi_alertmonitor.json":         {"alertmanager", []string{"FIRING:3", "ICMP ping failed"}, nil},
	"alertmanager_v4_firing_prometheus-msteams.json":         {"alertmanager", []string{"FIRING:1", "high_memory_load"}, nil},
	"azure_monitor_common_alert_schema_metric_resolved.json": {"azure-monitor", []string{"Resolved", "WCUS-R2-Gen2"}, nil},
	"github_issues_opened.json":                              {"github", []string{"Codertocat/Hello-World", "Issue #1", "Spelling error"}, nil},
	"github_push.json":                                       {"github", []string{"Codertocat/Hello-World", "simple-tag"}, nil},
	"github_workflow_run_completed.json":                     {"github", []string{"octo-org/octo-repo", "#163", "success"}, nil},
	"gitlab_pipeline_event.json":                             {"gitlab", []string{"gitlab-org/gitlab-test", "Pipeline #31", "success"}, nil},
	"gitlab_push_event.json":                                 {"gitlab", []string{"mike/diaspora", "4 commits", "master"}, nil},
	"grafana_alerting_webhook_firing.json":                   {"grafana", []string{"FIRING:2", "High memory usage", "High CPU usage"}, nil},
	"jenkins_notification_plugin_completed.json":             {"jenkins", []string{"asgard", "#18", "succeeded"}, nil},
	"jenkins_office365connector_adaptivecard-success.json":   {"jenkins", []string{"myFirst_Job_", "#167", "succeeded"}, nil},
	"jenkins_office365connector_completed-failed.json":       {"jenkins", []string{"myFirst_Job_", "#167", "failed"}, nil},
	"jenkins_office365connector_completed-success.json":      {"jenkins", []string{"myFirst_Job_", "#167", "succeeded"}, nil},
	"jenkins_office365connector_started.json":                {"jenkins", []string{"myFirst_Job_", "#167", "started"}, nil},
	"pagerduty_v3_incident.priority_updated.json":            {"pagerduty", []string{"Incident #2", "A little bump in the road"}, nil},
	"pagerduty_v3_service.updated.json":                      {"pagerduty", []string{"service", "testing service updates"}, nil},
	"pagerduty_v3_signed_body_go-pagerduty.json":             {"pagerduty", []string{"Incident #2", "A little bump in the road"}, nil},
	"sentry_issue_alert_event_alert.json":                    {"sentry", []string{"ReferenceError: heck is not defined"}, nil},
	"teams_messagecard_example_msdocs.json":                  {"teams", []string{"Larry Bryant created a new task"}, nil},
	"teams_workflows_adaptivecard_envelope_msdocs.json":      {"teams", []string{"For Samples and Templates"}, nil},
	"zendesk_event_messaging_ticket.message_added.json":      {"zendesk", []string{"Ticket #141", "message added"}, nil},
	"zendesk_event_ticket.created.json":                      {"zendesk", []string{"Ticket #5158", "created", "ticketinfo_2294a6e9ece2"}, nil},
	"zendesk_event_user.active_changed.json":                 {"zendesk", []string{"User 6596848315901", "active changed"}, nil},
	"datadog_webhook_template_servicenow_sample.json":        {"generic", []string{"$EVENT_TITLE"}, nil},
	"msgraph_change_notification_message_created.json":       {"generic", nil, []string{"lsgTZMr9KwAAA", "created"}},
	"sharepoint_webhook_notification.json":                   {"generic", nil, []string{"91779246-afe9-4525-b122-6c199ae89211"}},
	"teams_outgoing_webhook_inbound_message.json":            {"generic", nil, []string{"Tim Jones", "Hello"}},
}

// TestConformance renders every published sample with mapping auto in both
// formats: each card is schema-valid, at most 28 KB, and names what the
// payload is about.
func TestConformance(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(sharedPayloads, "*.json"))
	if err != nil || len(files) == 0 {
		t.Skipf("SKIPPING CONFORMANCE: no vendor samples in %s (%v); the shared payloads folder is absent", sharedPayloads, err)
	}
	v := newValidator(t)
	seen := map[string]bool{}
	for _, file := range files {
		name := filepath.Base(file)
		seen[name] = true
		body, err := os.ReadFile(file)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		t.Run(name, func(t *testing.T) {
			ev := testEvent("vendor", body)
			want, known := conformance[name]
			if got := Detect(ev); known && got != want.mapping {
				t.Errorf("auto picked %q, want %q", got, want.mapping)
			}
			s, err := Auto(ev)
			if err != nil {
				t.Fatalf("Auto: %v", err)
			}
			for _, f := range s.Facts {
				if f.Name == "Mapping" {
					t.Errorf("auto fell back to generic: %s", f.Value)
				}
			}
			t.Logf("%s: %s", Detect(ev), s.Title)
			if !known {
				t.Logf("no expectations for %s (a new sample?): checking schema and size only; title %q", name, s.Title)
			}
			for _, w := range want.title {
				if !strings.Contains(s.Title, w) {
					t.Errorf("title %q does not name %q", s.Title, w)
				}
			}
			for _, format := range formats {
				card := renderSummary(t, v, s, format)
				for _, w := range want.card {
					if !strings.Contains(string(card), w) {
						t.Errorf("%s card does not mention %q", format, w)
					}
				}
			}
		})
	}
	for name := range conformance {
		if !seen[name] {
			t.Errorf("sample %s is expected but missing from %s", name, sharedPayloads)
		}
	}
}
