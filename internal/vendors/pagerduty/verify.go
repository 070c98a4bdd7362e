// Package pagerduty is PagerDuty's v3 webhooks: X-PagerDuty-Signature and the
// cards of incidents and other resources.
package pagerduty

import (
	"crypto/sha256"
	"iter"
	"strings"

	"github.com/hookrelay/hookrelay/internal/vendors/verify"
)

// Scheme is PagerDuty's verification scheme.
const Scheme = "pagerduty"

// NewVerifier verifies PagerDuty's V3 webhook signatures:
// X-PagerDuty-Signature holds comma-separated "v1=" entries (one per active
// secret while PagerDuty rotates), each the hex HMAC-SHA256 of the body.
func NewVerifier(s verify.Settings) (verify.Verifier, error) {
	return &verify.HMAC{
		Keys:       verify.RawKeys(s.Secrets),
		Hash:       sha256.New,
		Signatures: verify.ListedSignatures("X-PagerDuty-Signature", commaSeparated, "v1", "=", verify.Hex),
		Signed:     verify.SignedBody,
	}, nil
}

// commaSeparated yields the entries of a comma-separated list.
func commaSeparated(s string) iter.Seq[string] { return strings.SplitSeq(s, ",") }
