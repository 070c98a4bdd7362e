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
	"github.com/hookrelay/hookrelay/internal/vendors"
)

// fuzzSchemes are every scheme, each with a secret drawn at random when the
// fuzz target starts: the fuzzer cannot know it, so any request a verifier
// accepts is a forgery.
func fuzzSchemes(t testing.TB) map[string]Verifier {
	t.Helper()
	key := rand.Text()
	b64 := base64.StdEncoding.EncodeToString([]byte(key))
	// Every scheme in the vendor registry, with the first secret of the
	// shapes schemes take that it accepts, so a new vendor is fuzzed too.
	var configs []config.Verify
	for _, name := range vendors.SchemeNames() {
		for _, secret := range []string{key, "user:" + key, "whsec_" + b64, b64} {
			c := config.Verify{Scheme: name, Secret: secret, Header: "X-Signature", Prefix: "sha256=", TimestampHeader: "X-Timestamp"}
			if _, err := NewVerifier(c); err == nil {
				configs = append(configs, c)
				break
			}
		}
	}
	configs = append(configs, config.Verify{Scheme: "hmac", Secret: key, Header: "X-Signature", Algorithm: "sha1", Encoding: "base64"})
	if len(configs) != len(vendors.SchemeNames())+1 {
		t.Fatalf("fuzzing %d schemes of %d: a scheme takes a secret of a shape the fuzzer does not try", len(configs)-1, len(vendors.SchemeNames()))
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
	signatureHeaders := append([]string{"X-Signature"}, vendors.Credentials()...)
	timestampHeaders := []string{
		"X-Timestamp", "X-Zendesk-Webhook-Signature-Timestamp", "Webhook-Timestamp", "X-Slack-Request-Timestamp", "Webhook-Id",
		"Svix-Timestamp", "Svix-Id",
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
