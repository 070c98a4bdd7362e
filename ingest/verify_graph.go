package ingest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
)

// maxValidationToken bounds the validation token ingest echoes back.
const maxValidationToken = 4096

// graphVerifier checks Microsoft Graph (and SharePoint) change notifications:
// they are not signed, but every item carries the clientState given when the
// subscription was created, which must be one of the secrets.
type graphVerifier struct {
	secrets secretSet
}

func newGraph(secrets []string) *graphVerifier {
	return &graphVerifier{secrets: newSecretSet(secrets)}
}

// Verify implements Verifier.
func (v *graphVerifier) Verify(_ *http.Request, body []byte) error {
	var n struct {
		Value []struct {
			ClientState *string `json:"clientState"`
		} `json:"value"`
	}
	if err := json.Unmarshal(body, &n); err != nil || len(n.Value) == 0 {
		return fmt.Errorf("%w: not a change notification with a value array", errMalformed)
	}
	for i, item := range n.Value {
		if item.ClientState == nil {
			return fmt.Errorf("%w: notification %d has no clientState; set clientState on the subscription", errNoCredential, i)
		}
		if !v.secrets.match([]byte(*item.ClientState)) {
			return fmt.Errorf("notification %d clientState: %w", i, errMismatch)
		}
	}
	return nil
}

// validationToken returns the token of a Graph subscription validation
// request (?validationToken=, spelled validationtoken by SharePoint),
// already URL-decoded.
func validationToken(q url.Values) (string, bool) {
	for _, name := range []string{"validationToken", "validationtoken"} {
		if q.Has(name) {
			return q.Get(name), true
		}
	}
	return "", false
}
