// Package zendesk is Zendesk's webhooks: X-Zendesk-Webhook-Signature, the
// delivery id in X-Zendesk-Webhook-Invocation-Id, and the cards of event-based
// and trigger webhooks.
package zendesk

import (
	"crypto/sha256"

	"github.com/hookrelay/hookrelay/internal/vendors/verify"
)

// Scheme is Zendesk's verification scheme.
const Scheme = "zendesk"

// DeliveryIDHeader carries the id of one webhook invocation, kept when
// Zendesk retries it.
const DeliveryIDHeader = "X-Zendesk-Webhook-Invocation-Id"

// NewVerifier verifies Zendesk's X-Zendesk-Webhook-Signature: the base64
// HMAC-SHA256 of the X-Zendesk-Webhook-Signature-Timestamp value followed
// directly by the body, keyed with the webhook's signing secret.
func NewVerifier(s verify.Settings) (verify.Verifier, error) {
	return &verify.HMAC{
		Keys:       verify.RawKeys(s.Secrets),
		Hash:       sha256.New,
		Signatures: verify.HeaderSignature("X-Zendesk-Webhook-Signature", "", verify.Base64),
		Signed:     verify.Timestamped("X-Zendesk-Webhook-Signature-Timestamp", "", "", s.Clock()),
	}, nil
}
