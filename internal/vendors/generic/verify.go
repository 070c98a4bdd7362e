package generic

import (
	"github.com/hookrelay/hookrelay/internal/vendors/verify"
)

// The schemes for senders without a preset of their own.
const (
	// SchemeToken: the secret at the end of the URL path or as a bearer token.
	SchemeToken = "token"
	// SchemeBasic: HTTP Basic authentication, the secret as user:password.
	SchemeBasic = "basic"
	// SchemeHMAC: an HMAC of the body in a header the source names.
	SchemeHMAC = "hmac"
)

// NewToken builds the token scheme.
func NewToken(s verify.Settings) (verify.Verifier, error) { return verify.NewToken(s.Secrets), nil }

// NewBasic builds the basic scheme.
func NewBasic(s verify.Settings) (verify.Verifier, error) { return verify.NewBasic(s.Secrets) }

// NewHMAC builds the hmac scheme.
func NewHMAC(s verify.Settings) (verify.Verifier, error) { return verify.NewHMAC(s) }
