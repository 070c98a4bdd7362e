package config

import (
	"errors"
	"strings"
	"testing"
)

// Every problem is reported at once, in the file's terms: a line, a field,
// what was expected, and never a Go type name.
func TestErrorsNameLineFieldAndWhatWasExpected(t *testing.T) {
	raw := []byte(`listen: 127.0.0.1:8080
sources:
  - name: app
    verify: {scheme: token, secret: "0123456789abcdef0123"}
    rate_limit: fast
destinations:
  - name: ops
    url: https://example.com/hook
    timeout: 10 seconds
    max_age: 2d
    backoff: 10
destinatons: []
routes:
  - source: app
    to: [ops]
    fliter: '.a'
`)
	_, err := Parse(raw)
	if err == nil {
		t.Fatal("Parse accepted a broken file")
	}
	for _, want := range []string{
		`line 5: sources[0].rate_limit: "fast" is not a number`,
		`line 9: destinations[0].timeout: "10 seconds" is not a duration: write 10s`,
		`line 10: destinations[0].max_age: "2d" is not a duration: write hours, e.g. 24h or 168h`,
		`line 11: destinations[0].backoff: "10" is not a duration: write 10s`,
		`line 12: unknown field "destinatons"; did you mean "destinations"?`,
		`line 16: unknown field "fliter" in routes[0]; did you mean "filter"?`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	for _, goName := range []string{"time.Duration", "config.Config", "!!str", "unmarshal"} {
		if strings.Contains(err.Error(), goName) {
			t.Errorf("error shows %q to a user:\n%v", goName, err)
		}
	}
}

func TestUnknownFieldFarFromAnyListsTheExpected(t *testing.T) {
	_, err := Parse([]byte("queue: {kind: jetstream, zzzzzz: 1}\n"))
	if err == nil || !strings.Contains(err.Error(), `unknown field "zzzzzz" in queue (expected one of: kind, brokers,`) {
		t.Errorf("err = %v", err)
	}
}

func TestAllowUnsetLetsSecretsAndURLsStand(t *testing.T) {
	raw := []byte(`sources:
  - name: app
    verify: {scheme: token, secret: "${HR_TEST_UNSET_SECRET}"}
destinations:
  - name: ops
    url: "${HR_TEST_UNSET_URL}"
routes:
  - {source: app, to: [ops]}
`)
	if _, err := Parse(raw); err == nil || strings.Count(err.Error(), "is not set") != 2 {
		t.Errorf("without AllowUnset: err = %v, want both variables named once", err)
	}
	cfg, err := Parse(raw, AllowUnset(), StrongSecrets())
	if err != nil {
		t.Fatalf("with AllowUnset: %v", err)
	}
	if strings.Join(cfg.Unset, ",") != "HR_TEST_UNSET_SECRET,HR_TEST_UNSET_URL" {
		t.Errorf("Unset = %v", cfg.Unset)
	}
}

func TestStrongSecrets(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"short", `sources: [{name: app, verify: {scheme: token, secret: t}}]`,
			"line 1: sources[0].verify.secret: is 1 bytes; at least 16 are required"},
		{"short rotation secret", `sources: [{name: app, verify: {scheme: token, secret: 0123456789abcdef0, secrets: [old]}}]`,
			"sources[0].verify.secrets[0]: is 3 bytes"},
		{"equals a name", `sources: [{name: zendesk-production, verify: {scheme: token, secret: zendesk-production}}]`,
			"equals the name of a source"},
		{"opt-out", "insecure_short_secrets: true\nsources: [{name: app, verify: {scheme: token, secret: t}}]", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml), StrongSecrets())
			if tc.want == "" {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if _, err := Parse([]byte(tc.yaml)); err != nil {
				t.Errorf("without StrongSecrets: %v", err)
			}
		})
	}
}

func TestLoadErrorListsEveryProblem(t *testing.T) {
	_, err := LoadBytes([]byte("sources: [{name: 'a b', verify: {scheme: nope, secret: 0123456789abcdef0}}]\n"), "x.yaml", "")
	cfgErr, ok := errors.AsType[*Error](err)
	if !ok || len(cfgErr.Problems) != 2 || !strings.HasPrefix(err.Error(), "config x.yaml: 2 problems:\n  line 1: sources[0].name") {
		t.Fatalf("err = %v", err)
	}
}
