package ingest_test

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/ingest"
	"github.com/hookrelay/hookrelay/internal/config"
	"github.com/hookrelay/hookrelay/internal/nodetest"
	"github.com/hookrelay/hookrelay/schemas"
)

// signRequest is one request for tools/vendorjs/sign.mjs to sign with a
// vendor's own library.
type signRequest struct {
	Vendor    string `json:"vendor"`
	Secret    string `json:"secret"`
	ID        string `json:"id,omitempty"`
	Event     string `json:"event,omitempty"`
	Timestamp int64  `json:"timestamp"`
	Body      string `json:"body"`
}

// sign has the vendors' own libraries sign reqs, returning each one's headers.
func sign(t *testing.T, reqs ...signRequest) []map[string]string {
	t.Helper()
	var headers []map[string]string
	nodetest.Run(t, "sign.mjs", reqs, &headers)
	if len(headers) != len(reqs) {
		t.Fatalf("sign.mjs signed %d of %d requests", len(headers), len(reqs))
	}
	return headers
}

// postRaw sends body with header and returns the status and the raw answer.
func postRaw(t *testing.T, url, contentType string, header map[string]string, body string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(raw)
}

// TestSvixAsItShips signs with Svix's and Standard Webhooks' own libraries,
// in Svix's default header names (svix-*) and its white-label ones
// (webhook-*), and posts to a "svix" and a "standard-webhooks" source: each
// is accepted, stored once with the vendor's message id as its delivery
// id, and a forgery in either family is refused.
func TestSvixAsItShips(t *testing.T) {
	t.Parallel()
	secret := "whsec_" + base64.StdEncoding.EncodeToString([]byte("svix signing key for the test!!"))
	f := startConfig(t, `
sources:
  - name: svix
    verify: {scheme: svix, secret: "`+secret+`"}
  - name: stdwh
    verify: {scheme: standard-webhooks, secret: "`+secret+`"}
`)
	now := time.Now().Unix()
	body := `{"type":"invoice.paid","data":{"id":"in_1"}}`
	families := []struct{ vendor, idHeader string }{
		{"svix", "Svix-Id"},
		{"svix-whitelabel", "Webhook-Id"},
		{"standardwebhooks", "Webhook-Id"},
	}
	var reqs []signRequest
	for i, fam := range families {
		reqs = append(reqs, signRequest{Vendor: fam.vendor, Secret: secret, ID: "msg_" + strconv.Itoa(i), Timestamp: now, Body: body})
	}
	headers := sign(t, reqs...)
	for _, source := range []string{"svix", "stdwh"} {
		for i, fam := range families {
			t.Run(source+"/"+fam.vendor, func(t *testing.T) {
				status, _, answer := postRaw(t, f.url+"/hooks/"+source, "application/json", headers[i], body)
				if status != http.StatusAccepted {
					t.Fatalf("answered %d %s, want 202", status, answer)
				}
				m := last(t, f.q, source)
				ev, err := schemas.DecodeEvent(m.Header, m.Data)
				if err != nil {
					t.Fatal(err)
				}
				if ev.DeliveryID != reqs[i].ID || ev.Headers[fam.idHeader] != reqs[i].ID {
					t.Errorf("delivery id %q, headers %v: want %s from %s", ev.DeliveryID, ev.Headers, reqs[i].ID, fam.idHeader)
				}
				for k := range ev.Headers {
					if strings.HasSuffix(k, "-Signature") {
						t.Errorf("the signature header %s was stored", k)
					}
				}
				// The vendor's retry is stored once.
				status, _, answer = postRaw(t, f.url+"/hooks/"+source, "application/json", headers[i], body)
				if status != http.StatusAccepted || !strings.Contains(answer, `"duplicate":true`) {
					t.Errorf("retry answered %d %s, want 202 duplicate", status, answer)
				}
				forged := map[string]string{}
				for k, v := range headers[i] {
					forged[k] = v
				}
				for k := range forged {
					if strings.HasSuffix(k, "-signature") {
						forged[k] = "v1," + base64.StdEncoding.EncodeToString([]byte("thirty-two bytes of a forgery!!!"))
					}
				}
				if status, _, _ := postRaw(t, f.url+"/hooks/"+source, "application/json", forged, body); status != http.StatusUnauthorized {
					t.Errorf("forgery answered %d, want 401", status)
				}
				// A replay with the other family's id header added, which
				// the signature does not cover, is refused rather than
				// taken for another delivery.
				other := "Webhook-Id"
				if fam.idHeader == other {
					other = "Svix-Id"
				}
				replay := map[string]string{other: "msg_replayed"}
				for k, v := range headers[i] {
					replay[k] = v
				}
				if status, _, answer := postRaw(t, f.url+"/hooks/"+source, "application/json", replay, body); status != http.StatusUnauthorized {
					t.Errorf("a replay with an unsigned %s answered %d %s, want 401", other, status, answer)
				}
			})
		}
	}
}

// A secret that decodes to no key at all is refused when the source is
// configured: an empty HMAC key would verify a request anyone signs.
func TestSecretThatDecodesToNoKeyIsRefused(t *testing.T) {
	for _, tc := range []struct{ scheme, secret string }{
		{"standard-webhooks", `whsec_\n\n\n\n\n\n\n\n\n\n`},
		{"svix", "whsec_"},
		{"teams-outgoing", `\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n`},
	} {
		cfg, err := config.Parse([]byte("insecure_short_secrets: true\nsources:\n  - name: s\n    verify: {scheme: " + tc.scheme + ", secret: \"" + tc.secret + "\"}\n"))
		if err == nil {
			_, err = ingest.NewVerifier(cfg.Sources[0].Verify)
		}
		if err == nil || !strings.Contains(err.Error(), "no key") {
			t.Errorf("%s with secret %q: verifier made (%v), want it refused", tc.scheme, tc.secret, err)
		}
	}
}

// slackSecret signs the slack source of slackSource, as a Slack app's
// signing secret does.
const slackSecret = "8f742231b10e8888abcd99yyyzzz85a5"

const slackSource = `
sources:
  - name: slack
    verify: {scheme: slack, secret: ` + slackSecret + `}
`

// TestSlackHandshakes signs Slack's handshakes as Slack does (checked by
// @slack/bolt's own verifier): the url_verification challenge is echoed only
// once the signature is verified, ssl_check answered signed or not (Slack
// sends it unsigned), and neither is stored.
func TestSlackHandshakes(t *testing.T) {
	t.Parallel()
	f := startConfig(t, slackSource)
	now := time.Now().Unix()
	challenge := `{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}`
	sslCheck := "ssl_check=1&token=Jhj5dZrVaK7ZwHHjRyZWjbDl"
	headers := sign(t,
		signRequest{Vendor: "slack", Secret: slackSecret, Timestamp: now, Body: challenge},
		signRequest{Vendor: "slack", Secret: slackSecret, Timestamp: now, Body: sslCheck})

	status, header, answer := postRaw(t, f.url+"/hooks/slack", "application/json", headers[0], challenge)
	var got struct{ Challenge string }
	if status != http.StatusOK || json.Unmarshal([]byte(answer), &got) != nil ||
		got.Challenge != "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" || header.Get("Content-Type") != "application/json" {
		t.Errorf("url_verification answered %d %q (%s), want 200 and the challenge", status, answer, header.Get("Content-Type"))
	}
	status, _, answer = postRaw(t, f.url+"/hooks/slack", "application/x-www-form-urlencoded", headers[1], sslCheck)
	if status != http.StatusOK || answer != "" {
		t.Errorf("ssl_check answered %d %q, want 200 and no body", status, answer)
	}
	// Unsigned, the challenge is refused: it is only echoed to Slack.
	if status, _, answer := postRaw(t, f.url+"/hooks/slack", "application/json", nil, challenge); status != http.StatusUnauthorized {
		t.Errorf("an unsigned url_verification answered %d %q, want 401", status, answer)
	}
	// ssl_check as Slack sends it, unsigned (bolt-js's issue 1397 shows one):
	// answered as Slack's SDKs answer it, when ssl_check is exactly 1.
	// Anything else unsigned is refused, its body read for the check or not.
	if status, _, answer := postRaw(t, f.url+"/hooks/slack", "application/x-www-form-urlencoded", nil, sslCheck); status != http.StatusOK || answer != "" {
		t.Errorf("an unsigned ssl_check answered %d %q, want 200 and no body", status, answer)
	}
	for _, body := range []string{"ssl_check=true&token=x", "ssl_check=0&command=%2Fdeploy", "command=%2Fdeploy&text=prod"} {
		if status, _, answer := postRaw(t, f.url+"/hooks/slack", "application/x-www-form-urlencoded", nil, body); status != http.StatusUnauthorized {
			t.Errorf("unsigned %q answered %d %q, want 401", body, status, answer)
		}
	}
	// A signed slash command is verified and stored as it came.
	command := "command=%2Fdeploy&text=prod&token=Jhj5dZrVaK7ZwHHjRyZWjbDl"
	signed := sign(t, signRequest{Vendor: "slack", Secret: slackSecret, Timestamp: now, Body: command})
	if status, _, answer := postRaw(t, f.url+"/hooks/slack", "application/x-www-form-urlencoded", signed[0], command); status != http.StatusAccepted {
		t.Errorf("a signed slash command answered %d %q, want 202", status, answer)
	}
	if n := stored(t, f.q); n != 1 {
		t.Fatalf("%d events stored, want only the slash command", n)
	}
}

// Slack retries an Events API callback it got no 2xx for within 3 s,
// signed anew with X-Slack-Retry-Num and the same event_id in the body: the
// retry is stored once, by that id. (Signed with @slack/bolt's verifier's
// scheme, as TestSlackHandshakes.)
func TestSlackRetryIsStoredOnce(t *testing.T) {
	t.Parallel()
	f := startConfig(t, slackSource)
	body := `{"token":"x","team_id":"T1","api_app_id":"A1","event":{"type":"app_mention","text":"hi"},"type":"event_callback","event_id":"Ev0PV52K21","event_time":1700000000}`
	now := time.Now().Unix()
	h := sign(t,
		signRequest{Vendor: "slack", Secret: slackSecret, Timestamp: now - 4, Body: body},
		signRequest{Vendor: "slack", Secret: slackSecret, Timestamp: now, Body: body})
	h[1]["X-Slack-Retry-Num"] = "1"
	h[1]["X-Slack-Retry-Reason"] = "http_timeout"
	for i := range h {
		if status, _, answer := postRaw(t, f.url+"/hooks/slack", "application/json", h[i], body); status != http.StatusAccepted {
			t.Fatalf("attempt %d answered %d %s, want 202", i+1, status, answer)
		}
	}
	if n := stored(t, f.q); n != 1 {
		t.Errorf("Slack's retry of event Ev0PV52K21 stored %d times, want once", n)
	}
	m := last(t, f.q, "slack")
	if ev, err := schemas.DecodeEvent(m.Header, m.Data); err != nil || ev.DeliveryID != "Ev0PV52K21" {
		t.Errorf("delivery id %q (%v), want the event_id", ev.DeliveryID, err)
	}
}

// TestGitHubPing signs a ping with @octokit/webhooks-methods: it is answered
// 202 and stored (so it shows in the event's history), marked as a
// handshake for transform not to send it to a channel.
func TestGitHubPing(t *testing.T) {
	t.Parallel()
	f := startConfig(t, `
sources:
  - name: gh
    verify: {scheme: github, secret: gh-secret}
`)
	ping := `{"zen":"Keep it logically awesome.","hook_id":30,"hook":{"type":"Repository","id":30,"events":["push"]}}`
	push := `{"ref":"refs/heads/main","commits":[]}`
	headers := sign(t,
		signRequest{Vendor: "github", Secret: "gh-secret", ID: "ping-delivery", Event: "ping", Body: ping},
		signRequest{Vendor: "github", Secret: "gh-secret", ID: "push-delivery", Event: "push", Body: push})
	for i, tc := range []struct{ body, handshake string }{{ping, "github ping"}, {push, ""}} {
		status, _, answer := postRaw(t, f.url+"/hooks/gh", "application/json", headers[i], tc.body)
		if status != http.StatusAccepted {
			t.Fatalf("answered %d %s, want 202", status, answer)
		}
		m := last(t, f.q, "gh")
		ev, err := schemas.DecodeEvent(m.Header, m.Data)
		if err != nil {
			t.Fatal(err)
		}
		if ev.Handshake != tc.handshake || (tc.handshake != "") != strings.Contains(answer, `"handshake":"github ping"`) {
			t.Errorf("stored handshake %q, answer %s; want %q", ev.Handshake, answer, tc.handshake)
		}
	}
}
