package ingest

import (
	"fmt"
	"net/http"
)

// gitlabDeliveryHeader carries the id GitLab keeps across retries of one
// webhook request (GitLab 17.4 and later).
const gitlabDeliveryHeader = "Idempotency-Key"

// gitlabVerifier checks GitLab's X-Gitlab-Token: the secret token itself, as
// configured on the webhook. GitLab does not sign the body.
type gitlabVerifier struct {
	secrets secretSet
}

func newGitLab(secrets []string) *gitlabVerifier {
	return &gitlabVerifier{secrets: newSecretSet(secrets)}
}

// Verify implements Verifier.
func (v *gitlabVerifier) Verify(r *http.Request, _ []byte) error {
	token := r.Header.Get("X-Gitlab-Token")
	if token == "" {
		return fmt.Errorf("%w: header X-Gitlab-Token is missing; set the webhook's secret token in GitLab", errNoCredential)
	}
	if !v.secrets.match([]byte(token)) {
		return fmt.Errorf("X-Gitlab-Token: %w", errMismatch)
	}
	return nil
}

// VerifyHeaders implements HeaderVerifier: the credential is in the request
// line or headers, so this is the whole verification.
func (v *gitlabVerifier) VerifyHeaders(r *http.Request) error { return v.Verify(r, nil) }
