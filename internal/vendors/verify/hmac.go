package verify

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
	"sync"
	"time"
)

// MaxSkew is how far a signed timestamp may be from the local clock: a
// request signed longer ago is refused as a replay.
const MaxSkew = 5 * time.Minute

// MaxSignatures bounds how many signatures one request may offer, so a
// header full of them cannot make ingest compute HMACs for long.
const MaxSignatures = 8

// HMAC accepts a request carrying an HMAC, made with one of the keys,
// of content built from the request. The vendor presets differ only in where
// the signature is, how it is encoded and what is signed.
type HMAC struct {
	Keys [][]byte
	Hash func() hash.Hash
	// Signatures returns the decoded signatures the request offers.
	Signatures func(h http.Header) ([][]byte, error)
	// Signed returns the signed content in parts, checking any timestamp
	// among them.
	Signed func(h http.Header, body []byte) ([][]byte, error)

	// macs keeps keyed HMACs for reuse, one pool per key: a reset HMAC
	// starts from its key's precomputed state, where a new one hashes the
	// key again and allocates.
	macsOnce sync.Once
	macs     []sync.Pool
}

// mac returns an HMAC keyed with Keys[i], reset, to give back with putMAC.
func (v *HMAC) mac(i int) hash.Hash {
	v.macsOnce.Do(func() {
		v.macs = make([]sync.Pool, len(v.Keys))
		for i, key := range v.Keys {
			v.macs[i].New = func() any { return hmac.New(v.Hash, key) }
		}
	})
	return v.macs[i].Get().(hash.Hash)
}

func (v *HMAC) putMAC(i int, mac hash.Hash) {
	mac.Reset()
	v.macs[i].Put(mac)
}

// Verify implements Verifier.
func (v *HMAC) Verify(r *http.Request, body []byte) error {
	sigs, err := v.Signatures(r.Header)
	if err != nil {
		return err
	}
	parts, err := v.Signed(r.Header, body)
	if err != nil {
		return err
	}
	// Every key against every signature, so the time taken does not tell
	// which key matched.
	ok := false
	var buf [64]byte // the largest sum, SHA-512's
	for i := range v.Keys {
		mac := v.mac(i)
		for _, p := range parts {
			mac.Write(p)
		}
		sum := mac.Sum(buf[:0])
		v.putMAC(i, mac)
		for _, sig := range sigs {
			ok = hmac.Equal(sum, sig) || ok
		}
	}
	if !ok {
		return fmt.Errorf("signature: %w", ErrMismatch)
	}
	return nil
}

// VerifyHeaders implements HeaderVerifier: a request without a readable
// signature, or whose signed timestamp is stale, is refused before its body
// is read.
func (v *HMAC) VerifyHeaders(r *http.Request) error {
	if _, err := v.Signatures(r.Header); err != nil {
		return err
	}
	_, err := v.Signed(r.Header, nil)
	return err
}

// RawKeys uses each secret's bytes as an HMAC key.
func RawKeys(secrets []string) [][]byte {
	keys := make([][]byte, len(secrets))
	for i, s := range secrets {
		keys[i] = []byte(s)
	}
	return keys
}

// SignedBody signs the body alone.
func SignedBody(_ http.Header, body []byte) ([][]byte, error) { return [][]byte{body}, nil }

// Timestamped signs prefix, the value of the timestamp header (which must be
// recent), sep, and the body.
func Timestamped(header, prefix, sep string, now func() time.Time) func(http.Header, []byte) ([][]byte, error) {
	return func(h http.Header, body []byte) ([][]byte, error) {
		ts, err := Timestamp(h, header, now)
		if err != nil {
			return nil, err
		}
		return [][]byte{[]byte(prefix + ts + sep), body}, nil
	}
}

// Encoding is how a signature's bytes are written in a header.
type Encoding string

// The encodings of signatures.
const (
	Hex    Encoding = "hex"
	Base64 Encoding = "base64" // standard alphabet, padded
)

func (e Encoding) decode(text string) ([]byte, error) {
	if e == Base64 {
		return base64.StdEncoding.DecodeString(text)
	}
	return hex.DecodeString(text)
}

// HeaderSignature reads one signature from header, after prefix.
func HeaderSignature(header, prefix string, enc Encoding) func(http.Header) ([][]byte, error) {
	return func(h http.Header) ([][]byte, error) {
		value := h.Get(header)
		if value == "" {
			return nil, fmt.Errorf("%w: header %s is missing", ErrNoCredential, header)
		}
		text, ok := strings.CutPrefix(value, prefix)
		if !ok {
			return nil, fmt.Errorf("%w: header %s does not start with %q", ErrMalformed, header, prefix)
		}
		sig, err := enc.decode(text)
		if err != nil {
			return nil, fmt.Errorf("%w: header %s is not %s", ErrMalformed, header, enc)
		}
		return [][]byte{sig}, nil
	}
}

// ListedSignatures reads the signatures of one version from header, a list
// of "<version><sep><signature>" entries that split yields; entries of other
// versions are skipped.
func ListedSignatures(header string, split func(string) iter.Seq[string], version, sep string, enc Encoding) func(http.Header) ([][]byte, error) {
	return func(h http.Header) ([][]byte, error) {
		value := h.Get(header)
		if value == "" {
			return nil, fmt.Errorf("%w: header %s is missing", ErrNoCredential, header)
		}
		var sigs [][]byte
		for entry := range split(value) {
			text, ok := strings.CutPrefix(strings.TrimSpace(entry), version+sep)
			if !ok {
				continue
			}
			sig, err := enc.decode(text)
			if err != nil {
				return nil, fmt.Errorf("%w: a %s entry of %s is not %s", ErrMalformed, version, header, enc)
			}
			if sigs = append(sigs, sig); len(sigs) > MaxSignatures {
				return nil, fmt.Errorf("%w: %s has more than %d entries", ErrMalformed, header, MaxSignatures)
			}
		}
		if len(sigs) == 0 {
			return nil, fmt.Errorf("%w: %s has no %s entry", ErrMalformed, header, version)
		}
		return sigs, nil
	}
}

// Timestamp returns the value of a timestamp header, Unix seconds or RFC
// 3339, after checking it is within MaxSkew of now.
func Timestamp(h http.Header, header string, now func() time.Time) (string, error) {
	value := h.Get(header)
	if value == "" {
		return "", fmt.Errorf("%w: header %s is missing", ErrNoCredential, header)
	}
	var t time.Time
	if secs, err := strconv.ParseInt(value, 10, 64); err == nil {
		t = time.Unix(secs, 0)
	} else if t, err = time.Parse(time.RFC3339, value); err != nil {
		return "", fmt.Errorf("%w: header %s is neither Unix seconds nor RFC 3339", ErrMalformed, header)
	}
	if skew := now().Sub(t); skew > MaxSkew || skew < -MaxSkew {
		return "", fmt.Errorf("%w: header %s is %v from now (at most %v): a replay, or the sender's clock is wrong",
			ErrStale, header, skew.Round(time.Second), MaxSkew)
	}
	return value, nil
}

// NewHMAC builds the generic "hmac" scheme from its settings: an HMAC of the
// body, or of "timestamp.body" when a timestamp header is set.
func NewHMAC(v Settings) (*HMAC, error) {
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
	enc := Encoding(v.Encoding)
	switch enc {
	case Hex, Base64:
	case "":
		enc = Hex
	default:
		return nil, fmt.Errorf("unknown encoding %q (hex or base64)", v.Encoding)
	}
	signed := SignedBody
	if v.TimestampHeader != "" {
		signed = Timestamped(v.TimestampHeader, "", ".", v.Clock())
	}
	return &HMAC{
		Keys:       RawKeys(v.Secrets),
		Hash:       hashFn,
		Signatures: HeaderSignature(v.Header, v.Prefix, enc),
		Signed:     signed,
	}, nil
}
