package ingest

import "crypto/sha256"

// githubDeliveryHeader carries GitHub's delivery GUID, kept on redelivery.
const githubDeliveryHeader = "X-GitHub-Delivery"

// newGitHub verifies GitHub's X-Hub-Signature-256: "sha256=" and the hex
// HMAC-SHA256 of the body, keyed with the webhook secret.
func newGitHub(secrets []string) *hmacVerifier {
	return &hmacVerifier{
		keys:       rawKeys(secrets),
		hash:       sha256.New,
		signatures: headerSignature("X-Hub-Signature-256", "sha256=", hexSig),
		signed:     signedBody,
	}
}
