package slack

import (
	"io"
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

// TestSSLCheck: an unsigned ssl_check is answered; any other request keeps
// its whole body for verification.
func TestSSLCheck(t *testing.T) {
	long := "command=%2Fdeploy&text=" + strings.Repeat("x", sslCheckMax)
	for _, tc := range []struct {
		name, contentType, body string
		signed, handshake       bool
	}{
		{"unsigned ssl_check", "application/x-www-form-urlencoded", "ssl_check=1&token=t", false, true},
		{"signed ssl_check, verified first", "application/x-www-form-urlencoded", "ssl_check=1&token=t", true, false},
		{"ssl_check not exactly 1", "application/x-www-form-urlencoded", "ssl_check=true&token=t", false, false},
		{"slash command", "application/x-www-form-urlencoded", "command=%2Fdeploy&token=t", false, false},
		{"longer than an ssl_check", "application/x-www-form-urlencoded", long, false, false},
		{"JSON", "application/json", `{"ssl_check":"1"}`, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/hooks/slack", strings.NewReader(tc.body))
			r.Header.Set("Content-Type", tc.contentType)
			if tc.signed {
				r.Header.Set("X-Slack-Signature", "v0=00")
			}
			reply, ok := SSLCheck(r)
			if ok != tc.handshake {
				t.Fatalf("handshake %v, want %v", ok, tc.handshake)
			}
			if ok {
				if reply.Status != http.StatusOK || len(reply.Body) != 0 {
					t.Errorf("answered %d %q, want 200 and no body", reply.Status, reply.Body)
				}
				return
			}
			if body, err := io.ReadAll(r.Body); err != nil || string(body) != tc.body {
				t.Errorf("body left for verification: %d bytes (%v), want the %d sent", len(body), err, len(tc.body))
			}
		})
	}
}
