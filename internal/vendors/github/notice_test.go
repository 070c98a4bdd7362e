package github

import (
	"net/http"
	"testing"
)

// TestNotice: a ping is a handshake, by its header or, without GitHub's
// headers, by its body; any other event is news.
func TestNotice(t *testing.T) {
	ping := []byte(`{"zen":"Design for failure.","hook_id":30}`)
	for _, tc := range []struct {
		name  string
		event string
		body  []byte
		want  string
	}{
		{"ping header", "ping", ping, "github ping"},
		{"ping body without headers", "", ping, "github ping"},
		{"push with a zen-like body", "push", ping, ""},
		{"push", "push", []byte(`{"ref":"refs/heads/main"}`), ""},
		{"no header, other body", "", []byte(`{"zen":"only"}`), ""},
	} {
		h := http.Header{}
		if tc.event != "" {
			h.Set(EventHeader, tc.event)
		}
		if got := Notice(h, tc.body); got != tc.want {
			t.Errorf("%s: Notice = %q, want %q", tc.name, got, tc.want)
		}
	}
}
