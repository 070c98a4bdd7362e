package ingest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
)

// newPagerDuty verifies PagerDuty's V3 webhook signatures: X-PagerDuty-Signature
// holds comma-separated "v1=" entries (one per active secret while PagerDuty
// rotates), each the hex HMAC-SHA256 of the body.
func newPagerDuty(secrets []string) *hmacVerifier {
	return &hmacVerifier{
		keys:       rawKeys(secrets),
		hash:       sha256.New,
		signatures: pagerDutySignatures,
		signed:     signedBody,
	}
}

func pagerDutySignatures(h http.Header) ([][]byte, error) {
	value := h.Get("X-PagerDuty-Signature")
	if value == "" {
		return nil, fmt.Errorf("%w: header X-PagerDuty-Signature is missing", errNoCredential)
	}
	var sigs [][]byte
	for entry := range strings.SplitSeq(value, ",") {
		text, ok := strings.CutPrefix(strings.TrimSpace(entry), "v1=")
		if !ok {
			continue
		}
		sig, err := hex.DecodeString(text)
		if err != nil {
			return nil, fmt.Errorf("%w: a v1 entry of X-PagerDuty-Signature is not hex", errMalformed)
		}
		if sigs = append(sigs, sig); len(sigs) > maxSignatures {
			return nil, fmt.Errorf("%w: X-PagerDuty-Signature has more than %d entries", errMalformed, maxSignatures)
		}
	}
	if len(sigs) == 0 {
		return nil, fmt.Errorf("%w: X-PagerDuty-Signature has no v1 entry", errMalformed)
	}
	return sigs, nil
}
