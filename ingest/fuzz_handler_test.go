package ingest_test

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hookrelay/hookrelay/ingest"
	"github.com/hookrelay/hookrelay/internal/config"
	"github.com/hookrelay/hookrelay/internal/queue"
)

// FuzzHandler: whatever the method, path, headers and body, a request made
// without the secret gets a 4xx JSON refusal and nothing is stored.
//
//	go test -fuzz FuzzHandler -fuzztime 30s ./ingest/
func FuzzHandler(f *testing.F) {
	f.Add("POST", "/hooks/tok/guess", "Bearer guess", "X-Request-Id", "application/json", []byte(`{"a":1}`))
	f.Add("POST", "/hooks/gh", "", "X-Hub-Signature-256", "sha256=00", []byte("payload=%7B%7D"))
	f.Add("GET", "/hooks/%2e%2e/x", "Basic Og==", "Content-Length", "-1", []byte{})
	f.Add("POST", "/hooks/sw//", "", "Webhook-Signature", "v1,AAAA v1,", []byte{0xff})

	_, q := startQueue(f)
	secret := rand.Text()
	cfg := &config.Config{Sources: []config.Source{
		{Name: "tok", Verify: config.Verify{Scheme: "token", Secret: secret}},
		{Name: "gh", Verify: config.Verify{Scheme: "github", Secret: secret}},
		{Name: "sw", Verify: config.Verify{Scheme: "standard-webhooks", Secret: "whsec_" + base64.StdEncoding.EncodeToString([]byte(secret))}},
	}, MaxBody: 4096}
	h, err := ingest.New(cfg, queue.Over(q), nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, method, path, auth, headerName, headerValue string, body []byte) {
		if !strings.HasPrefix(path, "/") || strings.ContainsAny(path, " \r\n\t") || strings.ContainsAny(method, " \r\n\t/") {
			t.Skip("not a request line net/http would accept")
		}
		req, err := http.NewRequest(method, "http://relay"+path, strings.NewReader(string(body)))
		if err != nil {
			t.Skip("not a valid request")
		}
		req.Header.Set("Authorization", auth)
		req.Header.Set(headerName, headerValue)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code < 400 || rec.Code >= 500 {
			t.Fatalf("%s %s answered %d, want a 4xx refusal: %s", method, path, rec.Code, rec.Body)
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
			t.Fatalf("refusal with Content-Type %q", ct)
		}
		if n := stored(t, queue.Over(q)); n != 0 {
			t.Fatalf("%d messages stored without the secret", n)
		}
	})
}
