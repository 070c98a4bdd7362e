package ingest

import "crypto/sha256"

// newSentry verifies Sentry integration webhooks: Sentry-Hook-Signature is the
// hex HMAC-SHA256 of the body, keyed with the integration's client secret.
func newSentry(secrets []string) *hmacVerifier {
	return &hmacVerifier{
		keys:       rawKeys(secrets),
		hash:       sha256.New,
		signatures: headerSignature("Sentry-Hook-Signature", "", hexSig),
		signed:     signedBody,
	}
}
