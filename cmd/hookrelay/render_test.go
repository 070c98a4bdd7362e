package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
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
