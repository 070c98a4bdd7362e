// Package sentry is Sentry's integration webhooks: Sentry-Hook-Signature and the
// cards of event alerts, issues and metric alerts.
package sentry

import (
	"crypto/sha256"

	"github.com/hookrelay/hookrelay/internal/vendors/verify"
)

// Scheme is Sentry's verification scheme.
const Scheme = "sentry"

// NewVerifier verifies Sentry integration webhooks: Sentry-Hook-Signature is
// the hex HMAC-SHA256 of the body, keyed with the integration's client secret.
func NewVerifier(s verify.Settings) (verify.Verifier, error) {
	return &verify.HMAC{
		Keys:       verify.RawKeys(s.Secrets),
		Hash:       sha256.New,
		Signatures: verify.HeaderSignature("Sentry-Hook-Signature", "", verify.Hex),
		Signed:     verify.SignedBody,
	}, nil
}
