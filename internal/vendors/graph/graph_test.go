package graph

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestValidate: Graph's and SharePoint's validation tokens are echoed as
// text; an empty or oversized one is refused; other requests are events.
func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name, query string
		handshake   bool
		status      int
		body        string
	}{
		{"graph", "?validationToken=Validation%3A%20abc", true, 200, "Validation: abc"},
		{"sharepoint", "?validationtoken=sp-1", true, 200, "sp-1"},
		{"empty", "?validationToken=", true, 400, ""},
		{"too long", "?validationToken=" + strings.Repeat("a", maxValidationToken+1), true, 400, ""},
		{"notification", "", false, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reply, ok := Validate(httptest.NewRequest(http.MethodPost, "/hooks/graph"+tc.query, nil))
			if ok != tc.handshake {
				t.Fatalf("handshake %v, want %v", ok, tc.handshake)
			}
			if ok && (reply.Status != tc.status || (tc.status == 200 && string(reply.Body) != tc.body)) {
				t.Errorf("answered %d %q, want %d %q", reply.Status, reply.Body, tc.status, tc.body)
			}
			if ok && tc.status == 200 && !strings.HasPrefix(reply.ContentType, "text/plain") {
				t.Errorf("content type %q, want text/plain", reply.ContentType)
			}
		})
	}
}
