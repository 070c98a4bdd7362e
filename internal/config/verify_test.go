package config

import (
	"strings"
	"testing"
)

// TestVerifySettingsCheckedAtLoad: a scheme's settings are built when the
// file is loaded, by the vendor's own constructor, so a bad secret is an
// error naming its line, and unknown schemes list the registry's.
func TestVerifySettingsCheckedAtLoad(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		want       []string
	}{
		{"svix secret not whsec_", "sources:\n  - name: a\n    verify: {scheme: svix, secret: plain-text}\n",
			[]string{"line 3", "sources[0].verify", "whsec_"}},
		{"basic without a colon", "sources:\n  - name: a\n    verify: {scheme: basic, secret: only-password}\n",
			[]string{"line 3", "user:password"}},
		{"unknown scheme", "sources:\n  - name: a\n    verify: {scheme: svx, secret: s}\n",
			[]string{"unknown scheme \"svx\"", "svix", "standard-webhooks", "slack"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml))
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
	if _, err := Parse([]byte("sources:\n  - name: a\n    verify: {scheme: svix, secret: whsec_c2VjcmV0}\n    relay_handshakes: true\n")); err != nil {
		t.Errorf("a good svix source: %v", err)
	}
}
