// Package grafana is Grafana Alerting's webhook contact point: its HMAC
// signature and its card.
package grafana

import (
	"crypto/sha256"

	"github.com/hookrelay/hookrelay/internal/vendors/verify"
)

// Scheme is Grafana Alerting's verification scheme.
const Scheme = "grafana"

// NewVerifier verifies Grafana Alerting's webhook HMAC: the signature header
// (X-Grafana-Alerting-Signature unless the contact point names another) is
// the hex HMAC-SHA256 of the body, or of "timestamp:body" when the contact
// point sets a timestamp header — configure the same name as
// timestamp_header.
func NewVerifier(s verify.Settings) (verify.Verifier, error) {
	header := s.Header
	if header == "" {
		header = "X-Grafana-Alerting-Signature"
	}
	signed := verify.SignedBody
	if s.TimestampHeader != "" {
		signed = verify.Timestamped(s.TimestampHeader, "", ":", s.Clock())
	}
	return &verify.HMAC{
		Keys:       verify.RawKeys(s.Secrets),
		Hash:       sha256.New,
		Signatures: verify.HeaderSignature(header, "", verify.Hex),
		Signed:     signed,
	}, nil
}
