package ingest

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"iter"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hookrelay/hookrelay/internal/config"
)

// maxSkew is how far a signed timestamp may be from the local clock: a
// request signed longer ago is refused as a replay.
const maxSkew = 5 * time.Minute

// maxSignatures bounds how many signatures one request may offer, so a
// header full of them cannot make ingest compute HMACs for long.
const maxSignatures = 8

// hmacVerifier accepts a request carrying an HMAC, made with one of the keys,
// of content built from the request. The vendor presets differ only in where
// the signature is, how it is encoded and what is signed.
type hmacVerifier struct {
	keys [][]byte
	hash func() hash.Hash
	// signatures returns the decoded signatures the request offers.
	signatures func(h http.Header) ([][]byte, error)
	// signed returns the signed content in parts, checking any timestamp
	// among them.
	signed func(h http.Header, body []byte) ([][]byte, error)
}

// Verify implements Verifier.
func (v *hmacVerifier) Verify(r *http.Request, body []byte) error {
	sigs, err := v.signatures(r.Header)
	if err != nil {
		return err
	}
	parts, err := v.signed(r.Header, body)
	if err != nil {
		return err
	}
	// Every key against every signature, so the time taken does not tell
	// which key matched.
	ok := false
	for _, key := range v.keys {
		mac := hmac.New(v.hash, key)
		for _, p := range parts {
			mac.Write(p)
		}
		sum := mac.Sum(nil)
		for _, sig := range sigs {
			ok = hmac.Equal(sum, sig) || ok
		}
	}
	if !ok {
		return fmt.Errorf("signature: %w", errMismatch)
	}
	return nil
}

// VerifyHeaders implements HeaderVerifier: a request without a readable
// signature, or whose signed timestamp is stale, is refused before its body
// is read.
func (v *hmacVerifier) VerifyHeaders(r *http.Request) error {
	if _, err := v.signatures(r.Header); err != nil {
		return err
	}
	_, err := v.signed(r.Header, nil)
	return err
}

// rawKeys uses each secret's bytes as an HMAC key.
func rawKeys(secrets []string) [][]byte {
	keys := make([][]byte, len(secrets))
	for i, s := range secrets {
		keys[i] = []byte(s)
	}
	return keys
}

// signedBody signs the body alone.
func signedBody(_ http.Header, body []byte) ([][]byte, error) { return [][]byte{body}, nil }

// timestamped signs prefix, the value of the timestamp header (which must be
// recent), sep, and the body.
func timestamped(header, prefix, sep string, now func() time.Time) func(http.Header, []byte) ([][]byte, error) {
	return func(h http.Header, body []byte) ([][]byte, error) {
		ts, err := timestamp(h, header, now)
		if err != nil {
			return nil, err
		}
		return [][]byte{[]byte(prefix + ts + sep), body}, nil
	}
}

// encoding is how a signature's bytes are written in a header.
type encoding string

const (
	hexSig    encoding = "hex"
	base64Sig encoding = "base64" // standard alphabet, padded
)

func (e encoding) decode(text string) ([]byte, error) {
	if e == base64Sig {
		return base64.StdEncoding.DecodeString(text)
	}
	return hex.DecodeString(text)
}

// headerSignature reads one signature from header, after prefix.
func headerSignature(header, prefix string, enc encoding) func(http.Header) ([][]byte, error) {
	return func(h http.Header) ([][]byte, error) {
		value := h.Get(header)
		if value == "" {
			return nil, fmt.Errorf("%w: header %s is missing", errNoCredential, header)
		}
		text, ok := strings.CutPrefix(value, prefix)
		if !ok {
			return nil, fmt.Errorf("%w: header %s does not start with %q", errMalformed, header, prefix)
		}
		sig, err := enc.decode(text)
		if err != nil {
			return nil, fmt.Errorf("%w: header %s is not %s", errMalformed, header, enc)
		}
		return [][]byte{sig}, nil
	}
}

// listedSignatures reads the signatures of one version from header, a list
// of "<version><sep><signature>" entries that split yields; entries of other
// versions are skipped.
func listedSignatures(header string, split func(string) iter.Seq[string], version, sep string, enc encoding) func(http.Header) ([][]byte, error) {
	return func(h http.Header) ([][]byte, error) {
		value := h.Get(header)
		if value == "" {
			return nil, fmt.Errorf("%w: header %s is missing", errNoCredential, header)
		}
		var sigs [][]byte
		for entry := range split(value) {
			text, ok := strings.CutPrefix(strings.TrimSpace(entry), version+sep)
			if !ok {
				continue
			}
			sig, err := enc.decode(text)
			if err != nil {
				return nil, fmt.Errorf("%w: a %s entry of %s is not %s", errMalformed, version, header, enc)
			}
			if sigs = append(sigs, sig); len(sigs) > maxSignatures {
				return nil, fmt.Errorf("%w: %s has more than %d entries", errMalformed, header, maxSignatures)
			}
		}
		if len(sigs) == 0 {
			return nil, fmt.Errorf("%w: %s has no %s entry", errMalformed, header, version)
		}
		return sigs, nil
	}
}

// timestamp returns the value of a timestamp header, Unix seconds or RFC
// 3339, after checking it is within maxSkew of now.
func timestamp(h http.Header, header string, now func() time.Time) (string, error) {
	value := h.Get(header)
	if value == "" {
		return "", fmt.Errorf("%w: header %s is missing", errNoCredential, header)
	}
	var t time.Time
	if secs, err := strconv.ParseInt(value, 10, 64); err == nil {
		t = time.Unix(secs, 0)
	} else if t, err = time.Parse(time.RFC3339, value); err != nil {
		return "", fmt.Errorf("%w: header %s is neither Unix seconds nor RFC 3339", errMalformed, header)
	}
	if skew := now().Sub(t); skew > maxSkew || skew < -maxSkew {
		return "", fmt.Errorf("%w: header %s is %v from now (at most %v): a replay, or the sender's clock is wrong",
			errStale, header, skew.Round(time.Second), maxSkew)
	}
	return value, nil
}

// newGenericHMAC builds the "hmac" scheme from its settings: an HMAC of the
// body, or of "timestamp.body" when a timestamp header is set.
func newGenericHMAC(v config.Verify, secrets []string, now func() time.Time) (*hmacVerifier, error) {
	if v.Header == "" {
		return nil, errors.New("header is required: name the header that carries the signature")
	}
	var hashFn func() hash.Hash
	switch v.Algorithm {
	case "sha256", "":
		hashFn = sha256.New
	case "sha1":
		hashFn = sha1.New
	case "sha512":
		hashFn = sha512.New
	default:
		return nil, fmt.Errorf("unknown algorithm %q (sha1, sha256 or sha512)", v.Algorithm)
	}
	enc := encoding(v.Encoding)
	switch enc {
	case hexSig, base64Sig:
	case "":
		enc = hexSig
	default:
		return nil, fmt.Errorf("unknown encoding %q (hex or base64)", v.Encoding)
	}
	signed := signedBody
	if v.TimestampHeader != "" {
		signed = timestamped(v.TimestampHeader, "", ".", now)
	}
	return &hmacVerifier{
		keys:       rawKeys(secrets),
		hash:       hashFn,
		signatures: headerSignature(v.Header, v.Prefix, enc),
		signed:     signed,
	}, nil
}
