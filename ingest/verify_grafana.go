package ingest

import (
	"crypto/sha256"
	"time"

	"github.com/hookrelay/hookrelay/internal/config"
)

// newGrafana verifies Grafana Alerting's webhook HMAC: the signature header
// (X-Grafana-Alerting-Signature unless the contact point names another) is the
// hex HMAC-SHA256 of the body, or of "timestamp:body" when the contact point
// sets a timestamp header — configure the same name as timestamp_header.
func newGrafana(v config.Verify, secrets []string, now func() time.Time) *hmacVerifier {
	header := v.Header
	if header == "" {
		header = "X-Grafana-Alerting-Signature"
	}
	signed := signedBody
	if v.TimestampHeader != "" {
		signed = timestamped(v.TimestampHeader, "", ":", now)
	}
	return &hmacVerifier{
		keys:       rawKeys(secrets),
		hash:       sha256.New,
		signatures: headerSignature(header, "", hexSig),
		signed:     signed,
	}
}
