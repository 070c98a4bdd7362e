package ingest

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/internal/config"
)

// fuzzSchemes are every scheme, each with a secret drawn at random when the
// fuzz target starts: the fuzzer cannot know it, so any request a verifier
// accepts is a forgery.
func fuzzSchemes(t testing.TB) map[string]Verifier {
	t.Helper()
	key := rand.Text()
	b64 := base64.StdEncoding.EncodeToString([]byte(key))
	configs := []config.Verify{
		{Scheme: "token", Secret: key},
		{Scheme: "basic", Secret: "user:" + key},
		{Scheme: "hmac", Secret: key, Header: "X-Signature", Prefix: "sha256=", TimestampHeader: "X-Timestamp"},
		{Scheme: "hmac", Secret: key, Header: "X-Signature", Algorithm: "sha1", Encoding: "base64"},
		{Scheme: "github", Secret: key},
		{Scheme: "gitlab", Secret: key},
		{Scheme: "zendesk", Secret: key},
		{Scheme: "standard-webhooks", Secret: "whsec_" + b64},
		{Scheme: "slack", Secret: key},
		{Scheme: "pagerduty", Secret: key},
		{Scheme: "teams-outgoing", Secret: b64},
		{Scheme: "sentry", Secret: key},
		{Scheme: "grafana", Secret: key, TimestampHeader: "X-Timestamp"},
	}
	now := func() time.Time { return time.Unix(1700000000, 0) }
	out := map[string]Verifier{}
	for _, c := range configs {
		v, err := newVerifier(c, now)
		if err != nil {
			t.Fatalf("newVerifier(%s): %v", c.Scheme, err)
		}
		out[c.Scheme+"/"+c.Header+c.Algorithm] = v
	}
	return out
}

// FuzzVerifiers: no input makes a verifier panic or accept a request signed
// without the secret.
//
//	go test -fuzz FuzzVerifiers -fuzztime 30s ./ingest/
func FuzzVerifiers(f *testing.F) {
	seeds := []struct{ path, sig, ts, body string }{
		{"", "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17", "1700000000", "Hello, World!"},
		{"", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE= v1a,AAAA", "1700000000", `{"test": 2432232314}`},
		{"", "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503", "1699999999", "token=x&team_id=T1"},
		{"", "v1=0c0b9495b893a39e70d1fea2fe11fbe0a825f88b9f67846f6cc07dd2bc5476cd,v1=00", "2023-11-14T22:13:20Z", "{}"},
		{"tok", "HMAC 03TCao0i55H1eVKUusZOTZRjtvYTs+mO41mPL+R1e1U=", "", "{}"},
		{"", "Basic dXNlcjpwYXNz", "", ""},
		{"", "Bearer ", "-1", "\x00"},
	}
	for _, s := range seeds {
		f.Add(s.path, s.sig, s.ts, []byte(s.body))
	}
	verifiers := fuzzSchemes(f)
	// Every header a verifier reads a credential from, and every header it
	// reads a timestamp or id from.
	signatureHeaders := []string{
		"Authorization", "X-Signature", "X-Hub-Signature-256", "X-Gitlab-Token", "X-Zendesk-Webhook-Signature",
		"Webhook-Signature", "X-Slack-Signature", "X-PagerDuty-Signature", "Sentry-Hook-Signature",
		"X-Grafana-Alerting-Signature",
	}
	timestampHeaders := []string{
		"X-Timestamp", "X-Zendesk-Webhook-Signature-Timestamp", "Webhook-Timestamp", "X-Slack-Request-Timestamp", "Webhook-Id",
	}
	f.Fuzz(func(t *testing.T, pathToken, sig, ts string, body []byte) {
		r := httptest.NewRequest(http.MethodPost, "/hooks/src", strings.NewReader(string(body)))
		r.SetPathValue("token", pathToken)
		for _, h := range signatureHeaders {
			r.Header[h] = []string{sig}
		}
		for _, h := range timestampHeaders {
			r.Header[h] = []string{ts}
		}
		for name, v := range verifiers {
			if err := v.Verify(r, body); err == nil {
				t.Fatalf("%s accepted a request made without its secret: sig %q ts %q token %q", name, sig, ts, pathToken)
			}
		}
	})
}
