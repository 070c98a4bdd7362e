package ingest

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"

	"github.com/hookrelay/hookrelay/internal/config"
)

// Verifier decides whether a request comes from the source it claims.
// Each verification scheme is one small Verifier built from config.Verify.
type Verifier interface {
	// Verify returns nil if r, whose raw body is body, proves to come from
	// the source, or an error saying why not. The error is logged and
	// returned to the caller, so it must never contain a secret.
	Verify(r *http.Request, body []byte) error
}

// NewVerifier builds the Verifier for a source's verification config. An
// unknown scheme or a missing secret is an error, never a Verifier that
// accepts everything.
func NewVerifier(v config.Verify) (Verifier, error) {
	secrets := v.AllSecrets()
	if len(secrets) == 0 {
		return nil, fmt.Errorf("scheme %q: no secret configured", v.Scheme)
	}
	switch v.Scheme {
	case "token":
		return newTokenVerifier(secrets), nil
	default:
		return nil, fmt.Errorf("unknown verification scheme %q", v.Scheme)
	}
}

// errNoCredential and errMismatch are the two ways a verification fails.
var (
	errNoCredential = errors.New("no credential")
	errMismatch     = errors.New("credential does not match")
)

// secretSet holds SHA-256 digests of accepted secrets, so a comparison takes
// the same time whatever the length of the candidate or of the secrets.
type secretSet [][sha256.Size]byte

func newSecretSet(secrets []string) secretSet {
	set := make(secretSet, len(secrets))
	for i, s := range secrets {
		set[i] = sha256.Sum256([]byte(s))
	}
	return set
}

// match reports whether candidate is one of the secrets. It compares against
// every secret, so the time taken does not tell which one matched.
func (s secretSet) match(candidate []byte) bool {
	d := sha256.Sum256(candidate)
	ok := 0
	for i := range s {
		ok |= subtle.ConstantTimeCompare(d[:], s[i][:])
	}
	return ok == 1
}
