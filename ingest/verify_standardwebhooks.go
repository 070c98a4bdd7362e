package ingest

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// standardWebhooksIDHeader carries the message id, the same on every retry.
const standardWebhooksIDHeader = "Webhook-Id"

// newStandardWebhooks verifies the Standard Webhooks scheme: webhook-signature
// holds space-separated "v1,<base64>" entries, each an HMAC-SHA256 of
// "<webhook-id>.<webhook-timestamp>.<body>" keyed with the base64-decoded
// secret (after its "whsec_" prefix).
func newStandardWebhooks(secrets []string, now func() time.Time) (*hmacVerifier, error) {
	keys := make([][]byte, len(secrets))
	for i, s := range secrets {
		key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, "whsec_"))
		if err != nil {
			return nil, fmt.Errorf("secret %d is not whsec_ followed by base64", i+1)
		}
		keys[i] = key
	}
	return &hmacVerifier{
		keys:       keys,
		hash:       sha256.New,
		signatures: listedSignatures("webhook-signature", strings.FieldsSeq, "v1", ",", base64Sig),
		signed: func(h http.Header, body []byte) ([][]byte, error) {
			id := h.Get(standardWebhooksIDHeader)
			if id == "" {
				return nil, fmt.Errorf("%w: header webhook-id is missing", errNoCredential)
			}
			ts, err := timestamp(h, "Webhook-Timestamp", now)
			if err != nil {
				return nil, err
			}
			return [][]byte{[]byte(id + "." + ts + "."), body}, nil
		},
	}, nil
}
