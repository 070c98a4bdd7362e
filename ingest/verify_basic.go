package ingest

import (
	"fmt"
	"net/http"
	"strings"
)

// basicVerifier accepts HTTP Basic authentication whose "user:password" is
// one of the secrets, for senders (Alertmanager, Grafana, Jenkins) that can
// only be given a username and password.
type basicVerifier struct {
	secrets secretSet
}

func newBasic(secrets []string) (*basicVerifier, error) {
	for i, s := range secrets {
		if !strings.Contains(s, ":") {
			return nil, fmt.Errorf("secret %d must be user:password", i+1)
		}
	}
	return &basicVerifier{secrets: newSecretSet(secrets)}, nil
}

// Verify implements Verifier.
func (v *basicVerifier) Verify(r *http.Request, _ []byte) error {
	user, password, ok := r.BasicAuth()
	if !ok {
		if r.Header.Get("Authorization") == "" {
			return fmt.Errorf("%w: send HTTP Basic authentication", errNoCredential)
		}
		return fmt.Errorf("%w: Authorization is not Basic", errMalformed)
	}
	if !v.secrets.match([]byte(user + ":" + password)) {
		return fmt.Errorf("basic auth: %w", errMismatch)
	}
	return nil
}

// VerifyHeaders implements HeaderVerifier: the credential is in the request
// line or headers, so this is the whole verification.
func (v *basicVerifier) VerifyHeaders(r *http.Request) error { return v.Verify(r, nil) }
