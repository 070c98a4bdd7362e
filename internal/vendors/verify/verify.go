// Package verify holds what every vendor's verification is built from: the
// Verifier a source uses, the settings a scheme is built with, the ways a
// verification fails, and the HMAC, token and constant-time comparisons the
// vendor presets share. Each vendor's own scheme lives in its folder under
// internal/vendors.
package verify

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"time"
)

// Verifier decides whether a request comes from the source it claims.
type Verifier interface {
	// Verify returns nil if r, whose raw body is body, proves to come from
	// the source, or an error saying why not. The error is logged and
	// returned to the caller, so it must never contain a secret.
	Verify(r *http.Request, body []byte) error
}

// Settings are a source's verification settings, as a scheme's constructor
// takes them. Which fields a scheme reads is said by the scheme.
type Settings struct {
	// Secrets are the accepted secrets, at least one, for rotation.
	Secrets []string
	// Header carries the signature (scheme hmac; grafana if not the default).
	Header string
	// Algorithm of the HMAC: sha1, sha256 (default) or sha512 (scheme hmac).
	Algorithm string
	// Encoding of the signature: hex (default) or base64 (scheme hmac).
	Encoding string
	// Prefix precedes the signature in the header (scheme hmac).
	Prefix string
	// TimestampHeader carries a signed timestamp (schemes hmac and grafana).
	TimestampHeader string
	// Now is the clock timestamps are checked against (default time.Now).
	Now func() time.Time
}

// Clock returns s.Now, or time.Now when it is unset.
func (s Settings) Clock() func() time.Time {
	if s.Now == nil {
		return time.Now
	}
	return s.Now
}

// The ways a verification fails. Each is answered 401.
var (
	ErrNoCredential = errors.New("no credential")
	ErrMismatch     = errors.New("credential does not match")
	ErrMalformed    = errors.New("malformed credential")
	ErrStale        = errors.New("timestamp outside the accepted window")
)

// SecretSet holds SHA-256 digests of accepted secrets, so a comparison takes
// the same time whatever the length of the candidate or of the secrets.
type SecretSet [][sha256.Size]byte

// NewSecretSet digests secrets.
func NewSecretSet(secrets []string) SecretSet {
	set := make(SecretSet, len(secrets))
	for i, s := range secrets {
		set[i] = sha256.Sum256([]byte(s))
	}
	return set
}

// Match reports whether candidate is one of the secrets. It compares against
// every secret, so the time taken does not tell which one matched.
func (s SecretSet) Match(candidate []byte) bool {
	d := sha256.Sum256(candidate)
	ok := 0
	for i := range s {
		ok |= subtle.ConstantTimeCompare(d[:], s[i][:])
	}
	return ok == 1
}

// HeaderVerifier is a Verifier that can refuse a request from its URL and
// headers alone. Ingest asks it before reading the body, so that a sender
// without credentials is refused before it holds any memory; the body's
// verification follows as usual.
type HeaderVerifier interface {
	Verifier
	// VerifyHeaders returns an error when r can be seen not to come from
	// the source without its body; nil says only "maybe".
	VerifyHeaders(r *http.Request) error
}
