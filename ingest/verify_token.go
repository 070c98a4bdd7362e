package ingest

import (
	"fmt"
	"net/http"
	"strings"
)

// tokenVerifier accepts a request carrying one of the source's secrets as the
// last path segment (/hooks/{source}/{token}) or as a bearer token, for
// vendors that can only be given a URL or a static header.
type tokenVerifier struct {
	secrets secretSet
}

func newTokenVerifier(secrets []string) *tokenVerifier {
	return &tokenVerifier{secrets: newSecretSet(secrets)}
}

// Verify implements Verifier.
func (v *tokenVerifier) Verify(r *http.Request, _ []byte) error {
	token := r.PathValue("token")
	if token == "" {
		token = bearer(r.Header.Get("Authorization"))
	}
	if token == "" {
		return fmt.Errorf("%w: put the secret at the end of the URL path or in an Authorization: Bearer header", errNoCredential)
	}
	if !v.secrets.match([]byte(token)) {
		return fmt.Errorf("token: %w", errMismatch)
	}
	return nil
}

// bearer returns the token of an "Authorization: Bearer <token>" header value
// (the scheme name is case-insensitive), or "".
func bearer(header string) string {
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}

// VerifyHeaders implements HeaderVerifier: the credential is in the request
// line or headers, so this is the whole verification.
func (v *tokenVerifier) VerifyHeaders(r *http.Request) error { return v.Verify(r, nil) }
