package ingest

import (
	"crypto/sha256"
	"time"
)

// newSlack verifies Slack's request signing, version v0: X-Slack-Signature is
// "v0=" and the hex HMAC-SHA256 of "v0:" + X-Slack-Request-Timestamp + ":" +
// body, keyed with the app's signing secret.
func newSlack(secrets []string, now func() time.Time) *hmacVerifier {
	return &hmacVerifier{
		keys:       rawKeys(secrets),
		hash:       sha256.New,
		signatures: headerSignature("X-Slack-Signature", "v0=", hexSig),
		signed:     timestamped("X-Slack-Request-Timestamp", "v0:", ":", now),
	}
}
