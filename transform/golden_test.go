package transform

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hookrelay/hookrelay/internal/config"
	"github.com/hookrelay/hookrelay/internal/vendors"
)

var update = flag.Bool("update", false, "rewrite the golden cards in testdata/golden from the fixtures")

// goldenCases are hookrelay's own fixtures, written after each vendor's
// documentation and kept in the vendor's folder
// (internal/vendors/NAME/testdata), with the headers ingest would have
// stored and the mapping auto must pick for them.
var goldenCases = []struct {
	fixture string
	mapping string
	headers map[string]string
}{
	{"zendesk_ticket_created", "zendesk", map[string]string{"X-Zendesk-Webhook-Id": "01HZX"}},
	{"zendesk_ticket_status_changed", "zendesk", nil},
	{"zendesk_trigger", "zendesk", map[string]string{"X-Zendesk-Webhook-Id": "01HZY"}},
	// A trigger body of the admin's own design, with "event" a string.
	{"zendesk_custom_trigger", "zendesk", nil},
	{"jenkins_notification_failure", "jenkins", nil},
	{"jenkins_o365_messagecard", "jenkins", nil},
	{"github_push", "github", map[string]string{"X-Github-Event": "push"}},
	{"github_pull_request", "github", map[string]string{"X-Github-Event": "pull_request"}},
	{"github_issues", "github", map[string]string{"X-Github-Event": "issues"}},
	{"github_workflow_run", "github", map[string]string{"X-Github-Event": "workflow_run"}},
	{"github_release", "github", map[string]string{"X-Github-Event": "release"}},
	{"github_check_run", "github", map[string]string{"X-Github-Event": "check_run"}},
	{"gitlab_push", "gitlab", map[string]string{"X-Gitlab-Event": "Push Hook"}},
	{"gitlab_merge_request", "gitlab", map[string]string{"X-Gitlab-Event": "Merge Request Hook"}},
	{"gitlab_pipeline", "gitlab", map[string]string{"X-Gitlab-Event": "Pipeline Hook"}},
	{"alertmanager_firing", "alertmanager", nil},
	{"alertmanager_resolved", "alertmanager", nil},
	{"grafana_firing", "grafana", nil},
	{"sentry_issue", "sentry", map[string]string{"Sentry-Hook-Resource": "issue"}},
	{"sentry_metric_alert", "sentry", map[string]string{"Sentry-Hook-Resource": "metric_alert"}},
	{"pagerduty_incident_triggered", "pagerduty", nil},
	{"pagerduty_incident_resolved", "pagerduty", nil},
	{"azure_monitor_log_alert", "azure-monitor", nil},
	{"teams_messagecard", "teams", nil},
	// Adaptive Card 1.5: a heading, a Table and an Action.Execute.
	{"teams_adaptive_table", "teams", nil},
	{"generic", "generic", nil},
}

// TestGolden renders every fixture with the mapping auto picks, in both
// formats, and compares the cards with testdata/golden (go test -update
// rewrites them). Every card is schema-valid and within Teams' size limit.
func TestGolden(t *testing.T) {
	v := newValidator(t)
	for _, tc := range goldenCases {
		t.Run(tc.fixture, func(t *testing.T) {
			body := fixture(t, tc.mapping, tc.fixture)
			ev := testEvent("src", body)
			ev.Headers = tc.headers
			if got := Detect(ev); got != tc.mapping {
				t.Fatalf("auto picked %q, want %q", got, tc.mapping)
			}
			m, _ := Builtin(tc.mapping)
			s, err := m(ev)
			if err != nil {
				t.Fatalf("%s mapping: %v", tc.mapping, err)
			}
			for _, format := range formats {
				card := renderSummary(t, v, s, format)
				compareGolden(t, filepath.Join(vendorDir(tc.mapping), "testdata", "golden", tc.fixture+"."+format+".json"), card)
			}
		})
	}
}

// vendorDir is the folder of the vendor whose mapping is called name.
func vendorDir(name string) string {
	return filepath.Join("..", "internal", "vendors", strings.ReplaceAll(name, "-", ""))
}

// fixture reads one of a vendor's fixtures.
func fixture(t testing.TB, mapping, name string) []byte {
	t.Helper()
	body, err := os.ReadFile(filepath.Join(vendorDir(mapping), "testdata", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// compareGolden compares a card with its golden file, indented for review.
func compareGolden(t *testing.T, path string, card []byte) {
	t.Helper()
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, card, "", "  "); err != nil {
		t.Fatalf("card is not JSON: %v", err)
	}
	pretty.WriteByte('\n')
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, pretty.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./transform -run TestGolden -update to create it)", err)
	}
	if !bytes.Equal(pretty.Bytes(), want) {
		t.Errorf("%s differs from the rendered card (review, then -update):\n%s", path, pretty.Bytes())
	}
}

// TestEveryMappingHasGoldens keeps the built-in table, config's list of names
// and the golden cases in step.
func TestEveryMappingHasGoldens(t *testing.T) {
	names := []string{config.MappingAuto}
	for _, m := range vendors.Mappings() {
		names = append(names, m.Name)
	}
	slices.Sort(names)
	want := slices.Sorted(slices.Values(config.BuiltinMappings()))
	if !slices.Equal(names, want) {
		t.Errorf("transform has mappings %v, config.BuiltinMappings %v", names, want)
	}
	covered := map[string]bool{}
	for _, tc := range goldenCases {
		covered[tc.mapping] = true
	}
	for _, b := range vendors.Mappings() {
		if !covered[b.Name] {
			t.Errorf("mapping %s has no golden case", b.Name)
		}
		if m, ok := Builtin(b.Name); !ok || m == nil {
			t.Errorf("Builtin(%q) not found", b.Name)
		}
	}
	if _, ok := Builtin("nope"); ok {
		t.Error("Builtin found an unknown name")
	}
}

// TestMappingsKeepPayloadTextInert checks the hostile fixtures: a title with
// a markdown link and a mention stays inert text in every string of both
// formats (but a MessageCard's summary, which Teams never renders as markup).
func TestMappingsKeepPayloadTextInert(t *testing.T) {
	for _, tc := range []struct{ mapping, fixture, link string }{
		{"github", "github_issues", "[click me]"},
		{"zendesk", "zendesk_trigger", "[PAID]"},
	} {
		body := fixture(t, tc.mapping, tc.fixture)
		s, err := Auto(testEvent("src", body))
		if err != nil {
			t.Fatal(err)
		}
		for _, format := range formats {
			card, err := RenderSummary(s, format)
			if err != nil {
				t.Fatal(err)
			}
			var doc map[string]any
			if err := json.Unmarshal(card, &doc); err != nil {
				t.Fatal(err)
			}
			delete(doc, "summary")
			rest, _ := json.Marshal(doc)
			for _, str := range texts(t, rest) {
				for _, bad := range []string{tc.link, "<at>", "**"} {
					if strings.Contains(str, bad) {
						t.Errorf("%s %s card text %q carries %q unescaped", tc.fixture, format, str, bad)
					}
				}
			}
		}
	}
}
