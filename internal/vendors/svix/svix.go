// Package svix is Svix, which sends webhooks for many SaaS vendors. It signs
// per Standard Webhooks, but under its own header names by default
// (svix-id, svix-timestamp, svix-signature); the webhook-* names are its
// white-label option. Both are accepted, by the "svix" preset and by
// "standard-webhooks".
package svix

import (
	"github.com/hookrelay/hookrelay/internal/vendors/standardwebhooks"
	"github.com/hookrelay/hookrelay/internal/vendors/verify"
)

// Scheme is the Svix preset.
const Scheme = "svix"

// DefaultHeaders are the headers Svix sends unless white-labelled.
func DefaultHeaders() standardwebhooks.Headers {
	return standardwebhooks.Headers{ID: "Svix-Id", Timestamp: "Svix-Timestamp", Signature: "Svix-Signature"}
}

// NewVerifier verifies Svix's signatures, in its default headers or the
// white-labelled webhook-* ones.
func NewVerifier(s verify.Settings) (verify.Verifier, error) {
	return standardwebhooks.NewVerifier(s, DefaultHeaders(), standardwebhooks.StandardHeaders())
}
