package ingest

import (
	"bufio"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/internal/config"
	"github.com/hookrelay/hookrelay/internal/vendors/verify"
)

// payloadsDir holds the vendors' published samples and signature vectors; they
// are read in place, never copied into the repository.
func payloadsDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("HOOKRELAY_PAYLOADS")
	if dir == "" {
		dir = filepath.Join("..", "..", "shared", "payloads")
	}
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("SKIPPED: vendor test vectors not found at %s (set HOOKRELAY_PAYLOADS): %v", dir, err)
	}
	return dir
}

// vector reads a "name: value" test vector file; names are lower-cased and
// lines starting with # are comments.
func vector(t *testing.T, name string) map[string]string {
	t.Helper()
	f, err := os.Open(filepath.Join(payloadsDir(t), name))
	if err != nil {
		t.Skipf("SKIPPED: vendor test vector: %v", err)
	}
	defer f.Close()
	v := map[string]string{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		if k, val, ok := strings.Cut(line, ": "); ok {
			v[strings.ToLower(k)] = val
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return v
}

// field returns the vector's value whose name starts with prefix.
func field(t *testing.T, v map[string]string, prefix string) string {
	t.Helper()
	for k, val := range v {
		if strings.HasPrefix(k, prefix) {
			return val
		}
	}
	t.Fatalf("test vector has no %q line", prefix)
	return ""
}

func payload(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(payloadsDir(t), name))
	if err != nil {
		t.Skipf("SKIPPED: vendor payload: %v", err)
	}
	return b
}

func hmacSHA256(key, msg []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(msg)
	return m.Sum(nil)
}

// signedCase is a correctly signed request for one scheme, from which the
// test derives the refusals every scheme must produce.
type signedCase struct {
	name   string
	scheme string
	verify config.Verify // Secret is the vendor's; the test adds rotations
	header map[string]string
	body   []byte
	// now is the clock the request was signed at.
	now time.Time
	// required are the headers without which the request must be refused.
	required []string
	// stamped is the timestamp header, for schemes that refuse replays.
	stamped string
	// bodyUnsigned is set for schemes that send a static token: they
	// cannot notice a changed body.
	bodyUnsigned bool
}

func signedCases(t *testing.T) []signedCase {
	t.Helper()
	var cases []signedCase

	gh := vector(t, "github_signature_test_vector.txt")
	cases = append(cases, signedCase{
		name:     "github vendor vector",
		scheme:   "github",
		verify:   config.Verify{Scheme: "github", Secret: gh["secret"]},
		header:   map[string]string{"X-Hub-Signature-256": gh["x-hub-signature-256"]},
		body:     []byte(field(t, gh, "body")),
		required: []string{"X-Hub-Signature-256"},
	})
	// The generic scheme, set up as GitHub, accepts GitHub's vector.
	cases = append(cases, signedCase{
		name:   "hmac set up as github, github vector",
		scheme: "hmac",
		verify: config.Verify{Scheme: "hmac", Secret: gh["secret"],
			Header: "X-Hub-Signature-256", Prefix: "sha256=", Algorithm: "sha256", Encoding: "hex"},
		header:   map[string]string{"X-Hub-Signature-256": gh["x-hub-signature-256"]},
		body:     []byte(field(t, gh, "body")),
		required: []string{"X-Hub-Signature-256"},
	})

	pdHeaders := vector(t, "pagerduty_v3_signed_body_go-pagerduty.headers.txt")
	pdSecret := strings.TrimSpace(strings.TrimPrefix(mustLine(t, "pagerduty_v3_signed_body_go-pagerduty.headers.txt", "# secret"), "# secret (used as raw ASCII key bytes):"))
	cases = append(cases, signedCase{
		name:     "hmac set up as pagerduty, pagerduty vector",
		scheme:   "hmac",
		verify:   config.Verify{Scheme: "hmac", Secret: pdSecret, Header: "X-PagerDuty-Signature", Prefix: "v1="},
		header:   map[string]string{"X-PagerDuty-Signature": pdHeaders["x-pagerduty-signature"]},
		body:     payload(t, "pagerduty_v3_signed_body_go-pagerduty.json"),
		required: []string{"X-PagerDuty-Signature"},
	})

	sl := vector(t, "slack_signature_test_vector.txt")
	slackTS, err := strconv.ParseInt(sl["x-slack-request-timestamp"], 10, 64)
	if err != nil {
		t.Fatalf("slack vector timestamp: %v", err)
	}
	cases = append(cases, signedCase{
		name:   "slack vendor vector",
		scheme: "slack",
		verify: config.Verify{Scheme: "slack", Secret: sl["signing_secret"]},
		header: map[string]string{
			"X-Slack-Request-Timestamp": sl["x-slack-request-timestamp"],
			"X-Slack-Signature":         sl["x-slack-signature"],
		},
		body:     []byte(field(t, sl, "body")),
		now:      time.Unix(slackTS, 0),
		required: []string{"X-Slack-Request-Timestamp", "X-Slack-Signature"},
		stamped:  "X-Slack-Request-Timestamp",
	})

	sw := vector(t, "standard_webhooks_test_vector.txt")
	swTS, err := strconv.ParseInt(sw["webhook-timestamp"], 10, 64)
	if err != nil {
		t.Fatalf("standard webhooks vector timestamp: %v", err)
	}
	cases = append(cases, signedCase{
		name:   "standard-webhooks vendor vector",
		scheme: "standard-webhooks",
		verify: config.Verify{Scheme: "standard-webhooks", Secret: strings.Fields(sw["secret"])[0]},
		header: map[string]string{
			"webhook-id":        sw["webhook-id"],
			"webhook-timestamp": sw["webhook-timestamp"],
			"webhook-signature": sw["webhook-signature"],
		},
		body:     []byte(field(t, sw, "body")),
		now:      time.Unix(swTS, 0),
		required: []string{"webhook-id", "webhook-timestamp", "webhook-signature"},
		stamped:  "webhook-timestamp",
	})
	// Svix signs per Standard Webhooks but names the headers svix-* unless
	// white-labelled: the same published vector, in each header family,
	// for the svix preset and for standard-webhooks.
	for _, scheme := range []string{"svix", "standard-webhooks"} {
		for _, family := range []string{"svix", "webhook"} {
			if scheme == "standard-webhooks" && family == "webhook" {
				continue // the case above
			}
			cases = append(cases, signedCase{
				name:   scheme + " vendor vector in " + family + "-* headers",
				scheme: scheme,
				verify: config.Verify{Scheme: scheme, Secret: strings.Fields(sw["secret"])[0]},
				header: map[string]string{
					family + "-id":        sw["webhook-id"],
					family + "-timestamp": sw["webhook-timestamp"],
					family + "-signature": sw["webhook-signature"],
				},
				body:     []byte(field(t, sw, "body")),
				now:      time.Unix(swTS, 0),
				required: []string{family + "-id", family + "-timestamp", family + "-signature"},
				stamped:  family + "-timestamp",
			})
		}
	}

	// Zendesk publishes the formula, not a vector:
	// base64(HMACSHA256(TIMESTAMP + BODY)), over a sample event body.
	zdBody := payload(t, "zendesk_event_ticket.created.json")
	zdTime := time.Date(2025, 1, 8, 10, 12, 8, 0, time.UTC)
	zdStamp := zdTime.Format(time.RFC3339)
	cases = append(cases, signedCase{
		name:   "zendesk documented formula",
		scheme: "zendesk",
		verify: config.Verify{Scheme: "zendesk", Secret: "dGhpcyBpcyBhIHNhbXBsZSBzZWNyZXQ="},
		header: map[string]string{
			"X-Zendesk-Webhook-Signature-Timestamp": zdStamp,
			"X-Zendesk-Webhook-Signature": base64.StdEncoding.EncodeToString(
				hmacSHA256([]byte("dGhpcyBpcyBhIHNhbXBsZSBzZWNyZXQ="), append([]byte(zdStamp), zdBody...))),
		},
		body:     zdBody,
		now:      zdTime,
		required: []string{"X-Zendesk-Webhook-Signature", "X-Zendesk-Webhook-Signature-Timestamp"},
		stamped:  "X-Zendesk-Webhook-Signature-Timestamp",
	})

	cases = append(cases, signedCase{
		name:         "gitlab token",
		scheme:       "gitlab",
		verify:       config.Verify{Scheme: "gitlab", Secret: "glpat-like-secret-token"},
		header:       map[string]string{"X-Gitlab-Token": "glpat-like-secret-token"},
		body:         payload(t, "gitlab_push_event.json"),
		required:     []string{"X-Gitlab-Token"},
		bodyUnsigned: true,
	})

	pdBody := payload(t, "pagerduty_v3_signed_body_go-pagerduty.json")
	cases = append(cases, signedCase{
		name:     "pagerduty vendor vector",
		scheme:   "pagerduty",
		verify:   config.Verify{Scheme: "pagerduty", Secret: pdSecret},
		header:   map[string]string{"X-PagerDuty-Signature": pdHeaders["x-pagerduty-signature"]},
		body:     pdBody,
		required: []string{"X-PagerDuty-Signature"},
	}, signedCase{
		name: "pagerduty two v1 entries while rotating",
		// While PagerDuty rotates a secret it sends one entry per secret.
		scheme:   "pagerduty",
		verify:   config.Verify{Scheme: "pagerduty", Secret: pdSecret},
		header:   map[string]string{"X-PagerDuty-Signature": "v1=" + strings.Repeat("ab", 32) + "," + pdHeaders["x-pagerduty-signature"]},
		body:     pdBody,
		required: []string{"X-PagerDuty-Signature"},
	})

	const teamsFile = "teams_outgoing_webhook_inbound_message.headers.txt"
	_, teamsKey, _ := strings.Cut(mustLine(t, teamsFile, "# Shared secret"), "): ")
	cases = append(cases, signedCase{
		name:     "teams-outgoing vendor vector",
		scheme:   "teams-outgoing",
		verify:   config.Verify{Scheme: "teams-outgoing", Secret: strings.TrimSpace(teamsKey)},
		header:   map[string]string{"Authorization": vector(t, teamsFile)["authorization"]},
		body:     payload(t, "teams_outgoing_webhook_inbound_message.json"),
		required: []string{"Authorization"},
	})

	// Sentry and Grafana document the formula; signatures computed from it.
	sentryBody := payload(t, "sentry_issue_alert_event_alert.json")
	cases = append(cases, signedCase{
		name:     "sentry documented formula",
		scheme:   "sentry",
		verify:   config.Verify{Scheme: "sentry", Secret: "sentry-client-secret"},
		header:   map[string]string{"Sentry-Hook-Signature": hex.EncodeToString(hmacSHA256([]byte("sentry-client-secret"), sentryBody))},
		body:     sentryBody,
		required: []string{"Sentry-Hook-Signature"},
	})
	grafanaBody := payload(t, "grafana_alerting_webhook_firing.json")
	cases = append(cases, signedCase{
		name:     "grafana body only",
		scheme:   "grafana",
		verify:   config.Verify{Scheme: "grafana", Secret: "grafana-secret"},
		header:   map[string]string{"X-Grafana-Alerting-Signature": hex.EncodeToString(hmacSHA256([]byte("grafana-secret"), grafanaBody))},
		body:     grafanaBody,
		required: []string{"X-Grafana-Alerting-Signature"},
	}, signedCase{
		name:   "grafana with timestamp header",
		scheme: "grafana",
		verify: config.Verify{Scheme: "grafana", Secret: "grafana-secret", TimestampHeader: "X-Grafana-Alerting-Signature-Timestamp"},
		header: map[string]string{
			"X-Grafana-Alerting-Signature-Timestamp": "1700000000",
			"X-Grafana-Alerting-Signature": hex.EncodeToString(hmacSHA256([]byte("grafana-secret"),
				append([]byte("1700000000:"), grafanaBody...))),
		},
		body:     grafanaBody,
		now:      time.Unix(1700000000, 0),
		required: []string{"X-Grafana-Alerting-Signature-Timestamp", "X-Grafana-Alerting-Signature"},
		stamped:  "X-Grafana-Alerting-Signature-Timestamp",
	})

	cases = append(cases, signedCase{
		name:         "basic auth",
		scheme:       "basic",
		verify:       config.Verify{Scheme: "basic", Secret: "alertmanager:s3cret"},
		header:       map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("alertmanager:s3cret"))},
		body:         payload(t, "alertmanager_v4_firing_prometheus-msteams.json"),
		required:     []string{"Authorization"},
		bodyUnsigned: true,
	})

	// The generic scheme with a signed timestamp: hex HMAC-SHA256 of
	// "timestamp.body".
	genTime := time.Unix(1700000000, 0)
	cases = append(cases, signedCase{
		name:   "hmac with timestamp",
		scheme: "hmac",
		verify: config.Verify{Scheme: "hmac", Secret: "generic-secret", Header: "X-Signature", Prefix: "sha256=",
			TimestampHeader: "X-Timestamp"},
		header: map[string]string{
			"X-Timestamp": "1700000000",
			"X-Signature": "sha256=" + hex.EncodeToString(hmacSHA256([]byte("generic-secret"), []byte(`1700000000.{"a":1}`))),
		},
		body:     []byte(`{"a":1}`),
		now:      genTime,
		required: []string{"X-Signature", "X-Timestamp"},
		stamped:  "X-Timestamp",
	})
	return cases
}

// mustLine returns the first line of a payload file starting with prefix.
func mustLine(t *testing.T, name, prefix string) string {
	t.Helper()
	for line := range strings.Lines(string(payload(t, name))) {
		if strings.HasPrefix(line, prefix) {
			return strings.TrimRight(line, "\r\n")
		}
	}
	t.Fatalf("%s has no line starting %q", name, prefix)
	return ""
}

func (c signedCase) request(t *testing.T, header map[string]string, body []byte) *http.Request {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/hooks/src", strings.NewReader(string(body)))
	for k, v := range header {
		r.Header.Set(k, v)
	}
	return r
}

func TestPresets(t *testing.T) {
	for _, c := range signedCases(t) {
		t.Run(c.name, func(t *testing.T) {
			clock := func(d time.Duration) func() time.Time {
				return func() time.Time {
					if c.now.IsZero() {
						return time.Now().Add(d)
					}
					return c.now.Add(d)
				}
			}
			withSecrets := func(secrets ...string) config.Verify {
				v := c.verify
				v.Secret, v.Secrets = "", secrets
				return v
			}
			without := func(name string) map[string]string {
				h := map[string]string{}
				for k, v := range c.header {
					if !strings.EqualFold(k, name) {
						h[k] = v
					}
				}
				return h
			}
			changed := append([]byte{}, c.body...)
			changed[len(changed)/2] ^= 1

			type tc struct {
				name   string
				verify config.Verify
				header map[string]string
				body   []byte
				skew   time.Duration
				want   error // nil: accepted
			}
			tests := []tc{
				{"vendor vector", c.verify, c.header, c.body, 0, nil},
				{"rotated: vendor secret second", withSecrets(wrongSecret(c.scheme), c.verify.Secret), c.header, c.body, 0, nil},
				{"wrong secret", withSecrets(wrongSecret(c.scheme)), c.header, c.body, 0, verify.ErrMismatch},
			}
			if !c.bodyUnsigned {
				tests = append(tests,
					tc{"body changed", c.verify, c.header, changed, 0, verify.ErrMismatch},
					tc{"body with a trailing newline", c.verify, c.header, append(append([]byte{}, c.body...), '\n'), 0, verify.ErrMismatch},
				)
			}
			for _, h := range c.required {
				tests = append(tests, tc{"missing " + h, c.verify, without(h), c.body, 0, verify.ErrNoCredential})
			}
			if c.stamped != "" {
				tests = append(tests,
					tc{"stale timestamp", c.verify, c.header, c.body, verify.MaxSkew + time.Second, verify.ErrStale},
					tc{"timestamp in the future", c.verify, c.header, c.body, -verify.MaxSkew - time.Second, verify.ErrStale},
					tc{"timestamp just inside the window", c.verify, c.header, c.body, verify.MaxSkew - 2*time.Minute, nil},
				)
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					v, err := newVerifier(tt.verify, clock(tt.skew))
					if err != nil {
						t.Fatalf("newVerifier: %v", err)
					}
					err = v.Verify(c.request(t, tt.header, tt.body), tt.body)
					switch {
					case tt.want == nil && err != nil:
						t.Fatalf("refused a correctly signed request: %v", err)
					case tt.want != nil && !errors.Is(err, tt.want):
						t.Fatalf("got %v, want %v", err, tt.want)
					}
					for _, s := range append(tt.verify.Secrets, tt.verify.Secret) {
						if s != "" && err != nil && strings.Contains(err.Error(), s) {
							t.Errorf("error %q reveals the secret", err)
						}
					}
				})
			}
		})
	}
}

// wrongSecret is a secret of the right shape for the scheme, but not the
// vendor's.
func wrongSecret(scheme string) string {
	switch scheme {
	case "standard-webhooks", "svix":
		return "whsec_" + base64.StdEncoding.EncodeToString([]byte("not the vendor's key at all"))
	case "teams-outgoing":
		return base64.StdEncoding.EncodeToString([]byte("not the vendor's key at all"))
	case "basic":
		return "someone:else"
	}
	return "not the vendor's secret"
}

func TestMalformedSignatures(t *testing.T) {
	now := func() time.Time { return time.Unix(1700000000, 0) }
	tests := []struct {
		name   string
		verify config.Verify
		header map[string]string
	}{
		{"github without sha256= prefix", config.Verify{Scheme: "github", Secret: "s"},
			map[string]string{"X-Hub-Signature-256": "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"}},
		{"github not hex", config.Verify{Scheme: "github", Secret: "s"},
			map[string]string{"X-Hub-Signature-256": "sha256=zz"}},
		{"slack timestamp not a number", config.Verify{Scheme: "slack", Secret: "s"},
			map[string]string{"X-Slack-Signature": "v0=00", "X-Slack-Request-Timestamp": "yesterday"}},
		{"standard-webhooks only v1a entries", config.Verify{Scheme: "standard-webhooks", Secret: "whsec_c2VjcmV0"},
			map[string]string{"webhook-id": "m", "webhook-timestamp": "1700000000", "webhook-signature": "v1a,AAAA"}},
		{"standard-webhooks too many entries", config.Verify{Scheme: "standard-webhooks", Secret: "whsec_c2VjcmV0"},
			map[string]string{"webhook-id": "m", "webhook-timestamp": "1700000000",
				"webhook-signature": strings.Repeat("v1,AAAA ", verify.MaxSignatures+1)}},
		{"pagerduty entry not hex", config.Verify{Scheme: "pagerduty", Secret: "s"},
			map[string]string{"X-PagerDuty-Signature": "v1=zz"}},
		{"pagerduty without v1 entry", config.Verify{Scheme: "pagerduty", Secret: "s"},
			map[string]string{"X-PagerDuty-Signature": "v2=00"}},
		{"teams-outgoing bearer instead of HMAC", config.Verify{Scheme: "teams-outgoing", Secret: "c2VjcmV0"},
			map[string]string{"Authorization": "Bearer abc"}},
		{"basic with a bearer", config.Verify{Scheme: "basic", Secret: "u:p"},
			map[string]string{"Authorization": "Bearer abc"}},
		{"zendesk not base64", config.Verify{Scheme: "zendesk", Secret: "s"},
			map[string]string{"X-Zendesk-Webhook-Signature": "!!", "X-Zendesk-Webhook-Signature-Timestamp": "1700000000"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := newVerifier(tt.verify, now)
			if err != nil {
				t.Fatalf("newVerifier: %v", err)
			}
			r := httptest.NewRequest(http.MethodPost, "/hooks/src", strings.NewReader("{}"))
			for k, val := range tt.header {
				r.Header.Set(k, val)
			}
			if err := v.Verify(r, []byte("{}")); !errors.Is(err, verify.ErrMalformed) {
				t.Fatalf("got %v, want %v", err, verify.ErrMalformed)
			}
		})
	}
}

func TestVerifierConfigErrors(t *testing.T) {
	tests := []struct {
		name   string
		verify config.Verify
	}{
		{"unknown scheme", config.Verify{Scheme: "github2", Secret: "s"}},
		{"no secret", config.Verify{Scheme: "github"}},
		{"hmac without header", config.Verify{Scheme: "hmac", Secret: "s"}},
		{"hmac unknown algorithm", config.Verify{Scheme: "hmac", Secret: "s", Header: "X-Sig", Algorithm: "md5"}},
		{"hmac unknown encoding", config.Verify{Scheme: "hmac", Secret: "s", Header: "X-Sig", Encoding: "base32"}},
		{"standard-webhooks secret not base64", config.Verify{Scheme: "standard-webhooks", Secret: "whsec_!!!"}},
		{"teams-outgoing secret not base64", config.Verify{Scheme: "teams-outgoing", Secret: "!!!"}},
		{"basic secret without a colon", config.Verify{Scheme: "basic", Secret: "password-only"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if v, err := NewVerifier(tt.verify); err == nil {
				t.Fatalf("NewVerifier(%+v) = %v, want an error", tt.verify, v)
			}
		})
	}
}

// TestHeaderVerifiers: a scheme that verifies headers before the body is
// read never refuses the vendor's own request there, and refuses it when a
// credential header is missing.
func TestHeaderVerifiers(t *testing.T) {
	for _, c := range signedCases(t) {
		t.Run(c.name, func(t *testing.T) {
			now := func() time.Time {
				if c.now.IsZero() {
					return time.Now()
				}
				return c.now
			}
			v, err := newVerifier(c.verify, now)
			if err != nil {
				t.Fatal(err)
			}
			hv, ok := v.(HeaderVerifier)
			if !ok {
				t.Fatalf("%s carries its credential in headers but does not check them before the body", c.scheme)
			}
			if err := hv.VerifyHeaders(c.request(t, c.header, c.body)); err != nil {
				t.Fatalf("refused the vendor's request before its body: %v", err)
			}
			for _, h := range c.required {
				without := map[string]string{}
				for k, val := range c.header {
					if !strings.EqualFold(k, h) {
						without[k] = val
					}
				}
				if err := hv.VerifyHeaders(c.request(t, without, c.body)); !errors.Is(err, verify.ErrNoCredential) {
					t.Errorf("without %s: %v, want %v", h, err, verify.ErrNoCredential)
				}
			}
		})
	}
}
