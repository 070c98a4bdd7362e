package ingest_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hookrelay/hookrelay/ingest"
	"github.com/hookrelay/hookrelay/internal/config"
	"github.com/hookrelay/hookrelay/internal/queue"
)

// Reconfigure applies to the next request: a source added is accepted, one
// removed answers 404, a rotated secret is checked against the new one only;
// a source whose limits stay keeps its allowance.
func TestReconfigure(t *testing.T) {
	_, q := startQueue(t)
	parse := func(yaml string) *config.Config {
		t.Helper()
		cfg, err := config.Parse([]byte(yaml))
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	h, err := ingest.New(parse(`sources:
  - {name: app, verify: {scheme: token, secret: app-secret-one}, rate_limit: 1, burst: 1}
  - {name: old, verify: {scheme: token, secret: old-secret-one}}
`), queue.Over(q), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	post := func(path string) int {
		t.Helper()
		return do(t, http.MethodPost, srv.URL+path, map[string]string{"Content-Type": "application/json"},
			strings.NewReader(`{"a":1}`)).status
	}
	if got := post("/hooks/app/app-secret-one"); got != http.StatusAccepted {
		t.Fatalf("before: %d", got)
	}
	if err := h.Reconfigure(parse(`sources:
  - {name: app, verify: {scheme: token, secret: app-secret-two}, rate_limit: 1, burst: 1}
  - {name: added, verify: {scheme: token, secret: added-secret-1}}
`)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path string
		want int
	}{
		{"/hooks/old/old-secret-one", http.StatusNotFound},
		{"/hooks/added/added-secret-1", http.StatusAccepted},
		{"/hooks/app/app-secret-one", http.StatusUnauthorized},
		// The same limits: the allowance spent before the reload is spent.
		{"/hooks/app/app-secret-two", http.StatusTooManyRequests},
	} {
		if got := post(tc.path); got != tc.want {
			t.Errorf("POST %s: %d, want %d", tc.path, got, tc.want)
		}
	}
	// A configuration that skipped config's checks: ingest still refuses it.
	bad := &config.Config{Sources: []config.Source{{Name: "x", Verify: config.Verify{Scheme: "standard-webhooks", Secret: "not base64 !"}}}}
	if err := h.Reconfigure(bad); err == nil {
		t.Error("Reconfigure accepted a source it cannot verify")
	}
	if got := post("/hooks/added/added-secret-1"); got != http.StatusAccepted {
		t.Errorf("after a refused Reconfigure: %d, want the sources kept", got)
	}
}
