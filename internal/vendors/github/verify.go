// Package github is GitHub's webhooks: X-Hub-Signature-256, the delivery id in
// X-GitHub-Delivery, the ping handshake, and the cards of push, pull_request,
// issues, workflow_run, check_run and release.
package github

import (
	"crypto/sha256"
	"encoding/json"
	"net/http"

	"github.com/hookrelay/hookrelay/internal/vendors/verify"
)

// Scheme is GitHub's verification scheme.
const Scheme = "github"

// DeliveryIDHeader carries GitHub's delivery GUID, kept on redelivery.
const DeliveryIDHeader = "X-GitHub-Delivery"

// EventHeader names the event ("push", "ping", …).
const EventHeader = "X-GitHub-Event"

// NewVerifier verifies GitHub's X-Hub-Signature-256: "sha256=" and the hex
// HMAC-SHA256 of the body, keyed with the webhook secret.
func NewVerifier(s verify.Settings) (verify.Verifier, error) {
	return &verify.HMAC{
		Keys:       verify.RawKeys(s.Secrets),
		Hash:       sha256.New,
		Signatures: verify.HeaderSignature("X-Hub-Signature-256", "sha256=", verify.Hex),
		Signed:     verify.SignedBody,
	}, nil
}

// Notice names GitHub's ping, which it sends once when a hook is created or
// when someone presses "Redeliver" on it: a handshake that says the hook
// works, not news for a channel. A ping is recognised by its event header,
// or, when the source does not keep GitHub's headers, by its body's zen and
// hook_id.
func Notice(h http.Header, body []byte) string {
	if e := h.Get(EventHeader); e != "" {
		if e == "ping" {
			return "github ping"
		}
		return ""
	}
	var ping struct {
		Zen    *string          `json:"zen"`
		HookID *json.RawMessage `json:"hook_id"`
	}
	if json.Unmarshal(body, &ping) == nil && ping.Zen != nil && ping.HookID != nil {
		return "github ping"
	}
	return ""
}
