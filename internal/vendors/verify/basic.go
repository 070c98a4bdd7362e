package verify

import (
	"fmt"
	"net/http"
	"strings"
)

// basicVerifier accepts HTTP Basic authentication whose "user:password" is
// one of the secrets, for senders (Alertmanager, Grafana, Jenkins) that can
// only be given a username and password.
type basicVerifier struct {
	secrets SecretSet
}

// NewBasic is the generic "basic" scheme; every secret must be user:password.
func NewBasic(secrets []string) (Verifier, error) {
	for i, s := range secrets {
		if !strings.Contains(s, ":") {
			return nil, fmt.Errorf("secret %d must be user:password", i+1)
		}
	}
	return &basicVerifier{secrets: NewSecretSet(secrets)}, nil
}

// Verify implements Verifier.
func (v *basicVerifier) Verify(r *http.Request, _ []byte) error {
	user, password, ok := r.BasicAuth()
	if !ok {
		if r.Header.Get("Authorization") == "" {
			return fmt.Errorf("%w: send HTTP Basic authentication", ErrNoCredential)
		}
		return fmt.Errorf("%w: Authorization is not Basic", ErrMalformed)
	}
	if !v.secrets.Match([]byte(user + ":" + password)) {
		return fmt.Errorf("basic auth: %w", ErrMismatch)
	}
	return nil
}

// VerifyHeaders implements HeaderVerifier: the credential is in the request
// line or headers, so this is the whole verification.
func (v *basicVerifier) VerifyHeaders(r *http.Request) error { return v.Verify(r, nil) }
