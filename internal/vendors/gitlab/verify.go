// Package gitlab is GitLab's webhooks: X-Gitlab-Token, the delivery id in
// Idempotency-Key, and the cards of push, merge_request and pipeline.
package gitlab

import (
	"fmt"
	"net/http"

	"github.com/hookrelay/hookrelay/internal/vendors/verify"
)

// Scheme is GitLab's verification scheme.
const Scheme = "gitlab"

// DeliveryIDHeader carries the id GitLab keeps across retries of one webhook
// request (GitLab 17.4 and later).
const DeliveryIDHeader = "Idempotency-Key"

// verifier checks GitLab's X-Gitlab-Token: the secret token itself, as
// configured on the webhook. GitLab does not sign the body.
type verifier struct {
	secrets verify.SecretSet
}

// NewVerifier builds GitLab's scheme.
func NewVerifier(s verify.Settings) (verify.Verifier, error) {
	return &verifier{secrets: verify.NewSecretSet(s.Secrets)}, nil
}

// Verify implements verify.Verifier.
func (v *verifier) Verify(r *http.Request, _ []byte) error {
	token := r.Header.Get("X-Gitlab-Token")
	if token == "" {
		return fmt.Errorf("%w: header X-Gitlab-Token is missing; set the webhook's secret token in GitLab", verify.ErrNoCredential)
	}
	if !v.secrets.Match([]byte(token)) {
		return fmt.Errorf("X-Gitlab-Token: %w", verify.ErrMismatch)
	}
	return nil
}

// VerifyHeaders implements verify.HeaderVerifier: the credential is in the
// request's headers, so this is the whole verification.
func (v *verifier) VerifyHeaders(r *http.Request) error { return v.Verify(r, nil) }
