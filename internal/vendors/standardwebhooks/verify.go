// Package standardwebhooks is the Standard Webhooks signature scheme
// (https://www.standardwebhooks.com), which Svix and the vendors that send
// through it use.
package standardwebhooks

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"

	"github.com/hookrelay/hookrelay/internal/vendors/verify"
)

// Scheme is the Standard Webhooks scheme.
const Scheme = "standard-webhooks"

// Headers names one family of the scheme's three headers.
type Headers struct {
	ID, Timestamp, Signature string
}

// StandardHeaders are the headers of the specification: webhook-id,
// webhook-timestamp, webhook-signature (Svix's white-label option).
func StandardHeaders() Headers {
	return Headers{ID: "Webhook-Id", Timestamp: "Webhook-Timestamp", Signature: "Webhook-Signature"}
}

// verifier accepts a request signed in any of its header families; the
// family whose signature header the request carries is the one checked.
type verifier struct {
	families []Headers
	hmacs    []*verify.HMAC
}

// NewVerifier verifies the Standard Webhooks scheme in the header families
// given (StandardHeaders when none): the signature header holds space-separated
// "v1,<base64>" entries, each an HMAC-SHA256 of "<id>.<timestamp>.<body>"
// keyed with the base64-decoded secret (after its "whsec_" prefix).
func NewVerifier(s verify.Settings, families ...Headers) (verify.Verifier, error) {
	if len(families) == 0 {
		families = []Headers{StandardHeaders()}
	}
	keys := make([][]byte, len(s.Secrets))
	for i, secret := range s.Secrets {
		key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
		if err != nil {
			return nil, fmt.Errorf("secret %d is not whsec_ followed by base64", i+1)
		}
		if len(key) == 0 {
			return nil, fmt.Errorf("secret %d decodes to no key at all (an empty key would verify anyone): copy the whole whsec_ secret the sender shows", i+1)
		}
		keys[i] = key
	}
	v := &verifier{families: families}
	now := s.Clock()
	for _, f := range families {
		v.hmacs = append(v.hmacs, &verify.HMAC{
			Keys:       keys,
			Hash:       sha256.New,
			Signatures: verify.ListedSignatures(f.Signature, strings.FieldsSeq, "v1", ",", verify.Base64),
			Signed: func(h http.Header, body []byte) ([][]byte, error) {
				id := h.Get(f.ID)
				if id == "" {
					return nil, fmt.Errorf("%w: header %s is missing", verify.ErrNoCredential, strings.ToLower(f.ID))
				}
				ts, err := verify.Timestamp(h, f.Timestamp, now)
				if err != nil {
					return nil, err
				}
				return [][]byte{[]byte(id + "." + ts + "."), body}, nil
			},
		})
	}
	return v, nil
}

// Verify implements verify.Verifier. A request carrying the id headers of
// two families with different ids is refused: only the signed family's id
// is vouched for, and the other would be taken for the delivery id,
// letting a replay through deduplication.
func (v *verifier) Verify(r *http.Request, body []byte) error {
	id := ""
	for _, f := range v.families {
		if got := r.Header.Get(f.ID); got != "" && id != "" && got != id {
			return fmt.Errorf("%w: the id headers %s disagree", verify.ErrMismatch, idNames(v.families))
		} else if got != "" {
			id = got
		}
	}
	for i, f := range v.families {
		if r.Header.Get(f.Signature) != "" {
			return v.hmacs[i].Verify(r, body)
		}
	}
	names := make([]string, len(v.families))
	for i, f := range v.families {
		names[i] = strings.ToLower(f.Signature)
	}
	return fmt.Errorf("%w: header %s is missing", verify.ErrNoCredential, strings.Join(names, " or "))
}

// DeliveryIDHeaders are the families' id headers, the same on every retry.
func DeliveryIDHeaders(families ...Headers) []string {
	out := make([]string, len(families))
	for i, f := range families {
		out[i] = f.ID
	}
	return out
}

// VerifyHeaders implements verify.HeaderVerifier: a request without a
// signature in any family, or whose family's id or timestamp is missing or
// stale, is refused before its body is read.
func (v *verifier) VerifyHeaders(r *http.Request) error {
	for i, f := range v.families {
		if r.Header.Get(f.Signature) != "" {
			return v.hmacs[i].VerifyHeaders(r)
		}
	}
	return v.Verify(r, nil)
}

func idNames(families []Headers) string {
	names := make([]string, len(families))
	for i, f := range families {
		names[i] = strings.ToLower(f.ID)
	}
	return strings.Join(names, " and ")
}
