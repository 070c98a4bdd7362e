package ingest

import (
	"fmt"
	"time"

	"github.com/hookrelay/hookrelay/internal/config"
	"github.com/hookrelay/hookrelay/internal/vendors"
	"github.com/hookrelay/hookrelay/internal/vendors/verify"
)

// Verifier decides whether a request comes from the source it claims. Each
// verification scheme is built by its vendor's folder (internal/vendors).
type Verifier = verify.Verifier

// HeaderVerifier is a Verifier that can refuse a request from its URL and
// headers alone, before its body is read (see verify.HeaderVerifier).
type HeaderVerifier = verify.HeaderVerifier

// NewVerifier builds the Verifier for a source's verification config. An
// unknown scheme, a missing secret or an unusable setting is an error, never a
// Verifier that accepts everything.
func NewVerifier(v config.Verify) (Verifier, error) {
	return newVerifier(v, time.Now)
}

// newVerifier is NewVerifier with the clock that timestamped schemes check
// against.
func newVerifier(v config.Verify, now func() time.Time) (Verifier, error) {
	scheme, ok := vendors.LookupScheme(v.Scheme)
	if !ok {
		return nil, fmt.Errorf("unknown verification scheme %q", v.Scheme)
	}
	settings := v.Settings()
	if len(settings.Secrets) == 0 {
		return nil, fmt.Errorf("scheme %q: no secret configured", v.Scheme)
	}
	settings.Now = now
	verifier, err := scheme.New(settings)
	if err != nil {
		return nil, fmt.Errorf("scheme %q: %w", v.Scheme, err)
	}
	return verifier, nil
}
