package ingest

import (
	"crypto/sha256"
	"time"
)

// zendeskDeliveryHeader carries the id of one webhook invocation, kept when
// Zendesk retries it.
const zendeskDeliveryHeader = "X-Zendesk-Webhook-Invocation-Id"

// newZendesk verifies Zendesk's X-Zendesk-Webhook-Signature: the base64
// HMAC-SHA256 of the X-Zendesk-Webhook-Signature-Timestamp value followed
// directly by the body, keyed with the webhook's signing secret.
func newZendesk(secrets []string, now func() time.Time) *hmacVerifier {
	return &hmacVerifier{
		keys:       rawKeys(secrets),
		hash:       sha256.New,
		signatures: headerSignature("X-Zendesk-Webhook-Signature", "", base64Sig),
		signed:     timestamped("X-Zendesk-Webhook-Signature-Timestamp", "", "", now),
	}
}
