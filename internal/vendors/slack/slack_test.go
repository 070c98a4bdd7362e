package slack

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestAnswer: which verified requests are Slack handshakes, and what each
// is answered; anything else is an event.
func TestAnswer(t *testing.T) {
	for _, tc := range []struct {
		name, contentType, body string
		handshake               bool
		status                  int
		answer                  string
	}{
		{"url_verification", "application/json", `{"type":"url_verification","challenge":"c-1","token":"t"}`, true, 200, `{"challenge":"c-1"}`},
		{"url_verification without challenge", "application/json", `{"type":"url_verification"}`, true, 400, `{"error":"url_verification without a challenge"}` + "\n"},
		{"ssl_check", "application/x-www-form-urlencoded", "ssl_check=1&token=t", true, 200, ""},
		{"event callback", "application/json", `{"type":"event_callback","event":{"type":"app_mention"}}`, false, 0, ""},
		{"slash command", "application/x-www-form-urlencoded", "command=%2Fdeploy&token=t", false, 0, ""},
		{"form with a url_verification payload is not JSON", "application/x-www-form-urlencoded", `type=url_verification`, false, 0, ""},
		{"not JSON", "application/json", `challenge`, false, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/hooks/slack", strings.NewReader(tc.body))
			r.Header.Set("Content-Type", tc.contentType)
			reply, ok := Answer(r, []byte(tc.body))
			if ok != tc.handshake {
				t.Fatalf("handshake %v, want %v", ok, tc.handshake)
			}
			if ok && (reply.Status != tc.status || string(reply.Body) != tc.answer) {
				t.Errorf("answered %d %q, want %d %q", reply.Status, reply.Body, tc.status, tc.answer)
			}
		})
	}
}
