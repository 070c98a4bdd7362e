// Package slack is Slack's request signing (version v0) and its handshakes:
// the Events API's url_verification challenge, answered after the signature
// is verified, and the slash commands' ssl_check, which Slack sends
// unsigned; neither is relayed.
package slack

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"io"
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

// EventID is the event_id of an Events API callback, which Slack repeats
// when it retries (X-Slack-Retry-Num, a new timestamp and signature): its
// delivery id. "" for a body without one (a slash command's form).
func EventID(body []byte) string {
	if len(body) == 0 || body[0] != '{' {
		return ""
	}
	var v struct {
		EventID string `json:"event_id"`
	}
	if json.Unmarshal(body, &v) != nil {
		return ""
	}
	return v.EventID
}

// sslCheckMax bounds the unsigned body SSLCheck reads: Slack's ssl_check is
// "ssl_check=1&token=…", some 50 bytes.
const sslCheckMax = 1 << 10

// SSLCheck answers Slack's ssl_check as Slack sends it, without a signature
// (Slack's SDKs answer it before they verify, when ssl_check is exactly
// "1"): a form of at most sslCheckMax bytes, without X-Slack-Signature,
// with ssl_check=1, is answered 200 with an empty body and not stored. Any
// other request keeps its body, to be verified as usual (and, unsigned,
// refused).
func SSLCheck(r *http.Request) (handshake.Reply, bool) {
	if r.Header.Get("X-Slack-Signature") != "" || r.ContentLength < 0 || r.ContentLength > sslCheckMax {
		return handshake.Reply{}, false
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/x-www-form-urlencoded" {
		return handshake.Reply{}, false
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, sslCheckMax+1))
	r.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(body), r.Body), r.Body}
	if err != nil {
		return handshake.Reply{}, false
	}
	if form, err := url.ParseQuery(string(bytes.TrimSpace(body))); err == nil && form.Get("ssl_check") == "1" {
		return handshake.Empty("slack ssl_check"), true
	}
	return handshake.Reply{}, false
}

// Answer answers Slack's handshakes, once the request is verified:
//
//   - url_verification, sent when a Request URL is entered for the Events
//     API: {"type":"url_verification","challenge":"…"} is answered with the
//     challenge, as {"challenge":"…"};
//   - ssl_check, sent for slash commands' URLs: a form with ssl_check=1 is
//     answered 200 with an empty body, signed as here or not (SSLCheck).
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
