// Package slack is Slack's request signing (version v0) and its handshakes:
// the Events API's url_verification challenge and the slash commands'
// ssl_check, each answered after the signature is verified, never relayed.
package slack

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"mime"
	"net/http"
	"net/url"

	"github.com/hookrelay/hookrelay/internal/vendors/handshake"
	"github.com/hookrelay/hookrelay/internal/vendors/verify"
)

// Scheme is Slack's verification scheme.
const Scheme = "slack"

// NewVerifier verifies Slack's request signing, version v0: X-Slack-Signature
// is "v0=" and the hex HMAC-SHA256 of "v0:" + X-Slack-Request-Timestamp + ":"
// + body, keyed with the app's signing secret.
func NewVerifier(s verify.Settings) (verify.Verifier, error) {
	return &verify.HMAC{
		Keys:       verify.RawKeys(s.Secrets),
		Hash:       sha256.New,
		Signatures: verify.HeaderSignature("X-Slack-Signature", "v0=", verify.Hex),
		Signed:     verify.Timestamped("X-Slack-Request-Timestamp", "v0:", ":", s.Clock()),
	}, nil
}

// Answer answers Slack's handshakes, once the request is verified:
//
//   - url_verification, sent when a Request URL is entered for the Events
//     API: {"type":"url_verification","challenge":"…"} is answered with the
//     challenge, as {"challenge":"…"};
//   - ssl_check, sent for slash commands' URLs: a form with ssl_check=1 is
//     answered 200 with an empty body.
func Answer(r *http.Request, body []byte) (handshake.Reply, bool) {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "application/x-www-form-urlencoded" {
		form, err := url.ParseQuery(string(bytes.TrimSpace(body)))
		if err == nil && form.Get("ssl_check") == "1" {
			return handshake.Empty("slack ssl_check"), true
		}
		return handshake.Reply{}, false
	}
	var v struct {
		Type      string  `json:"type"`
		Challenge *string `json:"challenge"`
	}
	if json.Unmarshal(body, &v) != nil || v.Type != "url_verification" {
		return handshake.Reply{}, false
	}
	if v.Challenge == nil || *v.Challenge == "" {
		return handshake.Reply{Name: "slack url_verification", Status: http.StatusBadRequest, ContentType: "application/json",
			Body: []byte(`{"error":"url_verification without a challenge"}` + "\n")}, true
	}
	return handshake.JSON("slack url_verification", struct {
		Challenge string `json:"challenge"`
	}{*v.Challenge}), true
}
