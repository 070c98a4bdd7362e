package ingest

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"time"

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

// NewVerifier builds the Verifier for a source's verification config. An
// unknown scheme, a missing secret or an unusable setting is an error, never a
// Verifier that accepts everything.
func NewVerifier(v config.Verify) (Verifier, error) {
	return newVerifier(v, time.Now)
}

// newVerifier is NewVerifier with the clock that timestamped schemes check
// against.
func newVerifier(v config.Verify, now func() time.Time) (Verifier, error) {
	secrets := v.AllSecrets()
	if len(secrets) == 0 {
		return nil, fmt.Errorf("scheme %q: no secret configured", v.Scheme)
	}
	var (
		verifier Verifier
		err      error
	)
	switch v.Scheme {
	case "token":
		verifier = newTokenVerifier(secrets)
	case "hmac":
		verifier, err = newGenericHMAC(v, secrets, now)
	case "github":
		verifier = newGitHub(secrets)
	case "gitlab":
		verifier = newGitLab(secrets)
	case "zendesk":
		verifier = newZendesk(secrets, now)
	case "standard-webhooks":
		verifier, err = newStandardWebhooks(secrets, now)
	case "slack":
		verifier = newSlack(secrets, now)
	case "pagerduty":
		verifier = newPagerDuty(secrets)
	case "teams-outgoing":
		verifier, err = newTeamsOutgoing(secrets)
	case "sentry":
		verifier = newSentry(secrets)
	case "grafana":
		verifier = newGrafana(v, secrets, now)
	case "basic":
		verifier, err = newBasic(secrets)
	case "graph":
		verifier = newGraph(secrets)
	default:
		return nil, fmt.Errorf("unknown verification scheme %q", v.Scheme)
	}
	if err != nil {
		return nil, fmt.Errorf("scheme %q: %w", v.Scheme, err)
	}
	return verifier, nil
}

// vendorDeliveryIDHeader names the header in which a preset's vendor sends
// the id that stays the same across its retries, or "" if it sends none.
func vendorDeliveryIDHeader(scheme string) string {
	switch scheme {
	case "github":
		return githubDeliveryHeader
	case "gitlab":
		return gitlabDeliveryHeader
	case "zendesk":
		return zendeskDeliveryHeader
	case "standard-webhooks":
		return standardWebhooksIDHeader
	}
	return ""
}

// The ways a verification fails. Each is answered 401.
var (
	errNoCredential = errors.New("no credential")
	errMismatch     = errors.New("credential does not match")
	errMalformed    = errors.New("malformed credential")
	errStale        = errors.New("timestamp outside the accepted window")
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
