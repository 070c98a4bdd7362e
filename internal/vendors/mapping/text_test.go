package mapping

import "testing"

func TestCut(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"exactly", 7, "exactly"},
		{"abcdefghijklmnopqrstuvwxyz", 20, "abcdef " + Truncated},
		{"日本語日本語日本語日本語日本語日本語", 16, "日本 " + Truncated},
		{"abc", 0, Truncated},
		{"", 0, ""},
	} {
		if got := Cut(tc.in, tc.n); got != tc.want {
			t.Errorf("Cut(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}

func TestSecretName(t *testing.T) {
	for name, want := range map[string]bool{
		"token": true, "X-Auth-Token": true, "client_secret": true, "PASSWORD": true, "api_key": true, "apiKey": true,
		"API-KEY": true, "authorization": true, "signature": true, "passwd": true,
		"title": false, "user_name": false, "keyboard": false, "status": false, "api": false,
	} {
		if got := SecretName(name); got != want {
			t.Errorf("SecretName(%q) = %v, want %v", name, got, want)
		}
	}
}
