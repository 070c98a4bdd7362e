package ingest

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
)

// newTeamsOutgoing verifies a Microsoft Teams outgoing webhook (an @mention of
// the webhook in a channel): "Authorization: HMAC " and the base64
// HMAC-SHA256 of the body, keyed with the base64-decoded security token Teams
// showed when the webhook was created.
func newTeamsOutgoing(secrets []string) (*hmacVerifier, error) {
	keys := make([][]byte, len(secrets))
	for i, s := range secrets {
		key, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("secret %d is not the base64 security token Teams shows", i+1)
		}
		keys[i] = key
	}
	return &hmacVerifier{
		keys:       keys,
		hash:       sha256.New,
		signatures: headerSignature("Authorization", "HMAC ", base64Sig),
		signed:     signedBody,
	}, nil
}
