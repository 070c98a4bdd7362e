package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hookrelay/hookrelay/schemas"
)

const renderConfig = `
sources:
  - {name: gh, verify: {scheme: token, secret: s}}
  - {name: desk, verify: {scheme: token, secret: s}, mapping: mappings/desk.jq}
  - {name: broken, verify: {scheme: token, secret: s}, mapping: generic}
destinations:
  - {name: workflows, url: "https://prod-1.westeurope.logic.azure.com/workflows/x"}
  - {name: legacy, url: "https://acme.webhook.office.com/webhookb2/x"}
routes:
  - {source: gh, to: [workflows]}
  - {name: desk-legacy, source: desk, to: [legacy]}
  - {source: broken, to: [legacy]}
`

// renderDir writes a configuration, a jq mapping and payloads into a
// temporary directory and returns it.
func renderDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range map[string]string{
		"hookrelay.yaml":   renderConfig,
		"mappings/desk.jq": "{title: \"Ticket \\(.id): \\(.subject)\", facts: {Status: .status}, severity: .status}\n",
		"broken.jq":        "{title: (.id | tonumber)}\n",
		"desk.json":        `{"id":"T-9","subject":"Printer on fire","status":"urgent"}`,
		"push.json":        `{"ref":"refs/heads/main","commits":[],"created":true,"repository":{"full_name":"acme/widgets"},"sender":{"login":"ada"},"pusher":{"name":"ada"}}`,
	} {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestRender(t *testing.T) {
	dir := renderDir(t)
	cfg := filepath.Join(dir, "hookrelay.yaml")
	for _, tc := range []struct {
		name       string
		args       []string
		format     string
		wantCard   []string
		wantStderr string
	}{
		{"github push by header, format of the first destination",
			[]string{"--source", "gh", "--file", filepath.Join(dir, "push.json"), "--header", "X-GitHub-Event: push"},
			schemas.FormatAdaptive, []string{"acme/widgets", "created main"}, "mapping auto → github · adaptive"},
		{"jq mapping of the source, messagecard destination",
			[]string{"--source", "desk", "--file", filepath.Join(dir, "desk.json")},
			schemas.FormatMessageCard, []string{"Ticket T-9: Printer on fire", `"themeColor": "D00000"`}, "mapping " + filepath.Join(dir, "mappings/desk.jq")},
		{"format flag",
			[]string{"--source", "desk", "--file", filepath.Join(dir, "desk.json"), "--format", "adaptive"},
			schemas.FormatAdaptive, []string{"Ticket T-9: Printer on fire", `"style": "attention"`}, "· adaptive ·"},
		{"mapping flag",
			[]string{"--source", "desk", "--file", filepath.Join(dir, "desk.json"), "--mapping", "generic"},
			schemas.FormatMessageCard, []string{"desk: Printer on fire"}, "mapping generic"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if err := runRender(context.Background(), append([]string{"--config", cfg}, tc.args...), &stdout, &stderr); err != nil {
				t.Fatalf("render: %v\n%s", err, stderr.String())
			}
			var compact bytes.Buffer
			if err := json.Compact(&compact, stdout.Bytes()); err != nil {
				t.Fatalf("stdout is not JSON: %v\n%s", err, stdout.String())
			}
			if err := schemas.Validate(tc.format, compact.Bytes()); err != nil {
				t.Errorf("not a valid %s: %v", tc.format, err)
			}
			for _, w := range tc.wantCard {
				if !strings.Contains(stdout.String(), w) {
					t.Errorf("card lacks %q:\n%s", w, stdout.String())
				}
			}
			if !strings.Contains(stderr.String(), tc.wantStderr) {
				t.Errorf("stderr %q lacks %q", stderr.String(), tc.wantStderr)
			}
		})
	}
}

func TestRenderErrors(t *testing.T) {
	dir := renderDir(t)
	cfg := filepath.Join(dir, "hookrelay.yaml")
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"no source", []string{"--file", "x.json"}, []string{"--source and --file are required"}},
		{"unknown source", []string{"--source", "nope", "--file", "x.json"}, []string{`no source "nope"`}},
		{"unknown route", []string{"--source", "gh", "--route", "nope", "--file", "x.json"}, []string{`no route "nope"`}},
		{"missing payload", []string{"--source", "gh", "--file", filepath.Join(dir, "none.json")}, []string{"none.json"}},
		{"bad header", []string{"--source", "gh", "--file", "x.json", "--header", "nocolon"}, []string{"want 'Name: value'"}},
		{"bad format", []string{"--source", "gh", "--file", filepath.Join(dir, "push.json"), "--format", "slack"}, []string{`unknown card format "slack"`}},
		{"broken jq mapping", []string{"--source", "broken", "--file", filepath.Join(dir, "desk.json"), "--mapping", filepath.Join(dir, "broken.jq")},
			[]string{filepath.Join(dir, "broken.jq"), "event dry-run", "tonumber"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := runRender(context.Background(), append([]string{"--config", cfg}, tc.args...), &stdout, &stderr)
			if err == nil {
				t.Fatalf("render succeeded:\n%s", stdout.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if stdout.Len() != 0 {
				t.Errorf("printed a card on failure:\n%s", stdout.String())
			}
		})
	}
}

// TestRenderEveryVendor renders the vendors' fixtures (internal/vendors/*/testdata) through
// examples/vendors.yaml, one source per built-in mapping, in both formats.
func TestRenderEveryVendor(t *testing.T) {
	cfg := filepath.Join("..", "..", "examples", "vendors.yaml")
	raw, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`\$\{([A-Z_]+)\}`).FindAllStringSubmatch(string(raw), -1) {
		t.Setenv(m[1], "https://prod-1.westeurope.logic.azure.com/workflows/"+strings.ToLower(m[1]))
	}
	fixture := func(name string) string {
		dir, _, _ := strings.Cut(name, "_")
		if strings.HasPrefix(name, "azure_monitor") {
			dir = "azuremonitor"
		}
		return filepath.Join("..", "..", "internal", "vendors", dir, "testdata", name+".json")
	}
	for _, tc := range []struct {
		source, fixture, header, title string
	}{
		{"zendesk", "zendesk_ticket_created", "", "Ticket #4242 created"},
		{"jenkins", "jenkins_notification_failure", "", "Jenkins payments-service #311 failed"},
		{"jenkins", "jenkins_o365_messagecard", "", "Jenkins nightly-e2e #88 is unstable"},
		{"github", "github_pull_request", "X-GitHub-Event: pull_request", "Pull request #512 merged"},
		{"gitlab", "gitlab_pipeline", "X-Gitlab-Event: Pipeline Hook", "Pipeline #77001 failed"},
		{"alertmanager", "alertmanager_firing", "", "[FIRING:2] DiskWillFillIn4Hours"},
		{"grafana", "grafana_firing", "", "[FIRING:1] HighLatencyP99"},
		{"sentry", "sentry_issue", "Sentry-Hook-Resource: issue", "Sentry issue CHECKOUT-3F created"},
		{"pagerduty", "pagerduty_incident_triggered", "", "Incident #1893 triggered"},
		{"azure", "azure_monitor_log_alert", "", "[Fired] Sev1 api-5xx-spike"},
		{"legacy-cards", "teams_messagecard", "", "Deployment of shop-web to production"},
		{"anything", "generic", "", "anything: Backup finished"},
	} {
		for _, format := range []string{schemas.FormatMessageCard, schemas.FormatAdaptive} {
			t.Run(tc.fixture+"/"+format, func(t *testing.T) {
				args := []string{"--config", cfg, "--source", tc.source, "--file", fixture(tc.fixture), "--format", format}
				if tc.header != "" {
					args = append(args, "--header", tc.header)
				}
				var stdout, stderr bytes.Buffer
				if err := runRender(context.Background(), args, &stdout, &stderr); err != nil {
					t.Fatalf("render: %v", err)
				}
				var card map[string]any
				if err := json.Unmarshal(stdout.Bytes(), &card); err != nil {
					t.Fatal(err)
				}
				title := cardTitle(card)
				if !strings.Contains(title, strings.NewReplacer("[", "", "]", "", "*", "").Replace(tc.title)) {
					t.Errorf("title %q does not name %q", title, tc.title)
				}
			})
		}
	}
}

// cardTitle returns a card's title as a reader sees it, markup escapes undone.
func cardTitle(card map[string]any) string {
	title, _ := card["summary"].(string)
	if atts, ok := card["attachments"].([]any); ok {
		content := atts[0].(map[string]any)["content"].(map[string]any)
		first := content["body"].([]any)[0].(map[string]any)
		if items, ok := first["items"].([]any); ok { // hookrelay's coloured header
			first = items[0].(map[string]any)
		}
		title, _ = first["text"].(string)
	}
	return strings.NewReplacer(`\`, "", "[", "", "]", "", "*", "").Replace(title)
}

// A destination whose format goes by its URL (auto), with the URL an unset
// variable: render says so and renders an Adaptive Card, as for a Workflows
// URL, not the MessageCard a "${VAR}" host would have picked; --format
// chooses.
func TestRenderOfAnUnsetURLSaysWhichFormat(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(cfg, []byte(`sources:
  - name: desk
    verify: {scheme: token, secret: "${HR_TEST_DESK_TOKEN}"}
destinations:
  - name: oncall
    url: ${HR_TEST_ONCALL_URL}
routes:
  - {source: desk, to: [oncall]}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	payload := filepath.Join(dir, "p.json")
	if err := os.WriteFile(payload, []byte(`{"title":"disk full"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	err := runRender(context.Background(), []string{"--config", cfg, "--source", "desk", "--file", payload}, &stdout, &stderr)
	if err != nil || !strings.Contains(stdout.String(), "AdaptiveCard") || !strings.Contains(stderr.String(), "${HR_TEST_ONCALL_URL}, unset here") {
		t.Errorf("render with the URL unset: %v\nstdout %s\nstderr %s\nwant an Adaptive Card and a note", err, stdout.String(), stderr.String())
	}
	stdout.Reset()
	if err := runRender(context.Background(), []string{"--config", cfg, "--source", "desk", "--file", payload, "--format", "messagecard"}, &stdout, &stderr); err != nil || !strings.Contains(stdout.String(), "MessageCard") {
		t.Errorf("render --format messagecard: %v\n%s", err, stdout.String())
	}
	// Only the path unset: the host says which format, as serve would read it.
	doc, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	connector := strings.Replace(string(doc), "url: ${HR_TEST_ONCALL_URL}", "url: https://contoso.webhook.office.com/webhookb2/${HR_TEST_ONCALL_ID}", 1)
	if err := os.WriteFile(cfg, []byte(connector), 0o600); err != nil {
		t.Fatal(err)
	}
	stdout.Reset()
	stderr.Reset()
	if err := runRender(context.Background(), []string{"--config", cfg, "--source", "desk", "--file", payload}, &stdout, &stderr); err != nil ||
		!strings.Contains(stdout.String(), "MessageCard") || strings.Contains(stderr.String(), "unset here") {
		t.Errorf("render to a connector URL with its path unset: %v\nstdout %s\nstderr %s\nwant a MessageCard, no note", err, stdout.String(), stderr.String())
	}
}
