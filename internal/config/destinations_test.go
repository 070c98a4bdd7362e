package config

import (
	"strings"
	"testing"
)

// A destination URL naming a non-public address, or localhost, needs
// allow_private, as serve requires: check refuses it too. A name is left
// to serve, which resolves it.
func TestDestinationAddressNeedsAllowPrivate(t *testing.T) {
	doc := func(url, extra string) string {
		return "destinations:\n  - name: ops\n    url: " + url + "\n" + extra
	}
	for _, url := range []string{"https://10.255.0.1/hook", "https://127.0.0.1/x", "https://[::1]/x", "https://localhost/x", "https://100.64.0.9/x"} {
		_, err := Parse([]byte(doc(url, "")))
		if want := "line 3: destinations[0].url: names the non-public address"; err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want it to contain %q", url, err, want)
		}
		if _, err := Parse([]byte(doc(url, "    allow_private: true\n"))); err != nil {
			t.Errorf("%s with allow_private: %v", url, err)
		}
	}
	for _, url := range []string{"https://93.184.215.14/hook", "https://example.com/hook"} {
		if _, err := Parse([]byte(doc(url, ""))); err != nil {
			t.Errorf("%s: %v", url, err)
		}
	}
}
