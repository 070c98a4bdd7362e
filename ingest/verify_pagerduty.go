package ingest

import (
	"crypto/sha256"
	"iter"
	"strings"
)

// newPagerDuty verifies PagerDuty's V3 webhook signatures: X-PagerDuty-Signature
// holds comma-separated "v1=" entries (one per active secret while PagerDuty
// rotates), each the hex HMAC-SHA256 of the body.
func newPagerDuty(secrets []string) *hmacVerifier {
	return &hmacVerifier{
		keys:       rawKeys(secrets),
		hash:       sha256.New,
		signatures: listedSignatures("X-PagerDuty-Signature", commaSeparated, "v1", "=", hexSig),
		signed:     signedBody,
	}
}

// commaSeparated yields the entries of a comma-separated list.
func commaSeparated(s string) iter.Seq[string] { return strings.SplitSeq(s, ",") }
