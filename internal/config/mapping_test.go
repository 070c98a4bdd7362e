package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookrelay/hookrelay/schemas"
)

func TestFormatForURL(t *testing.T) {
	for _, tc := range []struct{ url, want string }{
		{"https://acme.webhook.office.com/webhookb2/x/IncomingWebhook/y/z", schemas.FormatMessageCard},
		{"https://prod-27.westeurope.logic.azure.com:443/workflows/abc/triggers/manual/paths/invoke", schemas.FormatAdaptive},
		{"https://default1234.56.environment.api.powerplatform.com/powerautomate/automations/direct/workflows/x", schemas.FormatAdaptive},
		{"https://x.powerautomate.com/hook", schemas.FormatAdaptive},
		{"https://PROD-1.LOGIC.AZURE.COM/workflows/x", schemas.FormatAdaptive},
		{"https://logic.azure.com.evil.example/workflows/x", schemas.FormatMessageCard},
		{"https://receiver.example/hook", schemas.FormatMessageCard},
		{"::not a url", schemas.FormatMessageCard},
	} {
		if got := FormatForURL(tc.url); got != tc.want {
			t.Errorf("FormatForURL(%q) = %q, want %q", tc.url, got, tc.want)
		}
	}
}

const mappingConfig = `sources:
  - name: a
    verify: {scheme: token, secret: s}
    mapping: %s
destinations:
  - {name: teams, url: "https://prod-1.westeurope.logic.azure.com/workflows/x"}
  - {name: legacy, url: "https://acme.webhook.office.com/webhookb2/x", format: auto}
  - {name: pinned, url: "https://prod-1.westeurope.logic.azure.com/workflows/y", format: messagecard}
routes:
  - source: a
    to: [teams, legacy, pinned]
    mapping: %s
`

func writeFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestMappingsAndFormats(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "mappings/desk.jq", "{title: .subject}\n")
	cfgPath := writeFile(t, dir, "hookrelay.yaml", fmt.Sprintf(mappingConfig, "mappings/desk.jq", "mappings/desk.jq"))
	cfg, err := Load(cfgPath)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := filepath.Join(dir, "mappings", "desk.jq")
	if cfg.Sources[0].Mapping != want || cfg.Routes[0].Mapping != want {
		t.Errorf("mappings %q and %q, want both resolved against the config's directory: %q",
			cfg.Sources[0].Mapping, cfg.Routes[0].Mapping, want)
	}
	for name, format := range map[string]string{"teams": schemas.FormatAdaptive, "legacy": schemas.FormatMessageCard, "pinned": schemas.FormatMessageCard} {
		if d, _ := cfg.Destination(name); d.Format != format {
			t.Errorf("destination %s: format %q, want %q", name, d.Format, format)
		}
	}

	cfg, err = Parse([]byte(`sources: [{name: a, verify: {scheme: token, secret: s}}]`))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Sources[0].Mapping != MappingAuto {
		t.Errorf("default mapping %q, want auto", cfg.Sources[0].Mapping)
	}
}

func TestMappingErrorsNameTheLine(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "broken.jq", "{\n  title: .a |||\n}\n")
	writeFile(t, dir, "ok.jq", "{title: .a}\n")
	for _, tc := range []struct {
		name, source, route string
		want                []string
	}{
		{"unknown built-in", "zendsk", "generic", []string{"line 4: sources[0].mapping", `unknown mapping "zendsk"`, "zendesk"}},
		{"unknown route mapping", "auto", "nope", []string{"line 12: routes[0].mapping", `unknown mapping "nope"`}},
		{"missing file", "missing.jq", "ok.jq", []string{"line 4: sources[0].mapping", "missing.jq", "no such file"}},
		{"syntax error", "auto", "broken.jq", []string{"line 12: routes[0].mapping", "broken.jq:2:"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, dir, "c.yaml", fmt.Sprintf(mappingConfig, tc.source, tc.route))
			_, err := Load(path)
			if err == nil {
				t.Fatal("loaded a configuration with a bad mapping")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestFormatErrors(t *testing.T) {
	_, err := Parse([]byte(`destinations: [{name: d, url: "https://x.example/h", format: card}]`))
	if err == nil || !strings.Contains(err.Error(), "line 1: destinations[0].format") || !strings.Contains(err.Error(), "auto, messagecard or adaptive") {
		t.Errorf("error = %v", err)
	}
}
