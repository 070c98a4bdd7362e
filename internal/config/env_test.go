package config

import (
	"strings"
	"testing"
)

func TestEnvReferencesInCommentsAreIgnored(t *testing.T) {
	t.Setenv("HR_TEST_SECRET", "s3cret # not a comment")
	raw := []byte(`# a secret could be "${UNSET_IN_COMMENT}"
sources:
  - name: a   # like ${ALSO_UNSET}
    verify: {scheme: token, secret: "${HR_TEST_SECRET}"}
`)
	cfg, err := Parse(raw)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if got := cfg.Sources[0].Verify.Secret; got != "s3cret # not a comment" {
		t.Errorf("secret = %q", got)
	}
	if _, err := Parse([]byte("sources:\n  - name: a\n    verify: {scheme: token, secret: \"${HR_UNSET_VAR}\"}\n")); err == nil ||
		!strings.Contains(err.Error(), "line 3: environment variable HR_UNSET_VAR is not set") {
		t.Errorf("unset variable: err = %v, want it named with its line", err)
	}
}
