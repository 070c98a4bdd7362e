// Package teams is Microsoft Teams as a sender: outgoing webhooks (an @mention,
// HMAC-signed, answered in the channel) and the cards other tools made for
// Teams, passed through or simplified.
package teams

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"

	"github.com/hookrelay/hookrelay/internal/vendors/handshake"
	"github.com/hookrelay/hookrelay/internal/vendors/verify"
)

// Scheme is the verification scheme of Teams outgoing webhooks.
const Scheme = "teams-outgoing"

// NewVerifier verifies a Microsoft Teams outgoing webhook (an @mention of the
// webhook in a channel): "Authorization: HMAC " and the base64 HMAC-SHA256 of
// the body, keyed with the base64-decoded security token Teams showed when
// the webhook was created.
func NewVerifier(s verify.Settings) (verify.Verifier, error) {
	keys := make([][]byte, len(s.Secrets))
	for i, secret := range s.Secrets {
		key, err := base64.StdEncoding.DecodeString(secret)
		if err != nil {
			return nil, fmt.Errorf("secret %d is not the base64 security token Teams shows", i+1)
		}
		if len(key) == 0 {
			return nil, fmt.Errorf("secret %d decodes to no key at all (an empty key would verify anyone): copy the whole security token Teams shows", i+1)
		}
		keys[i] = key
	}
	return &verify.HMAC{
		Keys:       keys,
		Hash:       sha256.New,
		Signatures: verify.HeaderSignature("Authorization", "HMAC ", verify.Base64),
		Signed:     verify.SignedBody,
	}, nil
}

// reply is the message a Teams outgoing webhook posts back to the channel.
type reply struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// Accepted answers a stored @mention: Teams shows the answer in the channel,
// within the 5 s it waits.
func Accepted(id string, duplicate bool) handshake.Reply {
	text := "Accepted as event " + id + "."
	if duplicate {
		text = "Already accepted as event " + id + "."
	}
	return handshake.JSON("teams outgoing reply", reply{Type: "message", Text: text})
}
