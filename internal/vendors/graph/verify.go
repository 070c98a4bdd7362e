// Package graph is Microsoft Graph's (and SharePoint's) change notifications:
// their clientState check and their subscription validation handshake.
package graph

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/hookrelay/hookrelay/internal/vendors/handshake"
	"github.com/hookrelay/hookrelay/internal/vendors/verify"
)

// Scheme is Graph's verification scheme.
const Scheme = "graph"

// maxValidationToken bounds the validation token ingest echoes back.
const maxValidationToken = 4096

// verifier checks Microsoft Graph (and SharePoint) change notifications: they
// are not signed, but every item carries the clientState given when the
// subscription was created, which must be one of the secrets.
type verifier struct {
	secrets verify.SecretSet
}

// NewVerifier builds Graph's scheme.
func NewVerifier(s verify.Settings) (verify.Verifier, error) {
	return &verifier{secrets: verify.NewSecretSet(s.Secrets)}, nil
}

// Verify implements verify.Verifier.
func (v *verifier) Verify(_ *http.Request, body []byte) error {
	var n struct {
		Value []struct {
			ClientState *string `json:"clientState"`
		} `json:"value"`
	}
	if err := json.Unmarshal(body, &n); err != nil || len(n.Value) == 0 {
		return fmt.Errorf("%w: not a change notification with a value array", verify.ErrMalformed)
	}
	for i, item := range n.Value {
		if item.ClientState == nil {
			return fmt.Errorf("%w: notification %d has no clientState; set clientState on the subscription", verify.ErrNoCredential, i)
		}
		if !v.secrets.Match([]byte(*item.ClientState)) {
			return fmt.Errorf("notification %d clientState: %w", i, verify.ErrMismatch)
		}
	}
	return nil
}

// Validate answers a subscription validation: Graph (?validationToken=) and
// SharePoint (?validationtoken=) check a URL before using it and expect the
// token echoed at once as text. The request carries no secret, so it is
// answered before anything is verified or read.
func Validate(r *http.Request) (handshake.Reply, bool) {
	q := r.URL.Query()
	for _, name := range []string{"validationToken", "validationtoken"} {
		if !q.Has(name) {
			continue
		}
		token := q.Get(name)
		if token == "" || len(token) > maxValidationToken {
			return handshake.Reply{Name: "graph validation", Status: http.StatusBadRequest,
				ContentType: "application/json",
				Body:        fmt.Appendf(nil, `{"error":"validation token must be 1 to %d bytes"}`+"\n", maxValidationToken)}, true
		}
		return handshake.Text("graph validation", token), true
	}
	return handshake.Reply{}, false
}
