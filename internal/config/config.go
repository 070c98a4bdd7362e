// Package config loads and validates hookrelay's YAML configuration file.
package config

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/itchyny/gojq"
	"gopkg.in/yaml.v3"

	"github.com/hookrelay/hookrelay/internal/vendors"
	"github.com/hookrelay/hookrelay/internal/vendors/verify"
	"github.com/hookrelay/hookrelay/schemas"
)

// Config is the whole configuration file.
type Config struct {
	// Listen is the ingest listener (default 127.0.0.1:8080).
	Listen string `yaml:"listen"`
	// AdminListen is the admin API listener (default 127.0.0.1:8081); not for the internet.
	AdminListen string `yaml:"admin_listen"`
	// DataDir holds the embedded JetStream's files (default ./data).
	DataDir string `yaml:"data_dir"`
	// MaxBody caps a request body in bytes (default 1 MiB).
	MaxBody int64 `yaml:"max_body"`
	// PublishTimeout bounds how long ingest waits for the queue (default 5s).
	PublishTimeout time.Duration `yaml:"publish_timeout"`
	// MaxConnections caps ingest's open connections (default 1024); more
	// wait in the kernel's backlog until one closes.
	MaxConnections int `yaml:"max_connections"`
	// MaxBodyMemory caps the bytes of request bodies ingest holds in memory
	// at once, across every request (default 64 MiB); a request that would
	// exceed it is answered 503 with Retry-After.
	MaxBodyMemory int64 `yaml:"max_body_memory"`
	// ReadTimeout bounds how long a sender may take to send one request,
	// headers and body (default 30s).
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// Queue selects JetStream (default) or Kafka.
	Queue Queue `yaml:"queue"`
	// NATS configures the JetStream queue.
	NATS         NATS          `yaml:"nats"`
	Sources      []Source      `yaml:"sources"`
	Destinations []Destination `yaml:"destinations"`
	Routes       []Route       `yaml:"routes"`

	// AdminToken is the bearer token the admin API requires (usually
	// ${HOOKRELAY_ADMIN_TOKEN}). Empty is allowed only while admin_listen is
	// a loopback address; hookrelay serve refuses to start otherwise.
	AdminToken string    `yaml:"admin_token"`
	Retention  Retention `yaml:"retention"`

	// InsecureShortSecrets allows verification secrets shorter than
	// MinSecretBytes, for tests and demos only (default false: refused).
	InsecureShortSecrets bool `yaml:"insecure_short_secrets"`

	// Dir is the configuration file's directory, against which relative
	// mapping paths are resolved; Load sets it ("" means the working directory).
	Dir string `yaml:"-"`
	// Unset names the environment variables the file references that were
	// unset, with AllowUnset (otherwise they are an error).
	Unset []string `yaml:"-"`
}

// Retention says how long stored data is kept.
type Retention struct {
	// Events is how long RELAY_IN keeps events for replay from source, and
	// RELAY_HISTORY their history (default 168h, 7 days).
	Events time.Duration `yaml:"events"`
}

// NATS selects the JetStream server.
type NATS struct {
	// URL of an external NATS cluster; empty runs the embedded server.
	URL string `yaml:"url"`
	// Replicas of each stream (default 1; 3 on a 3-node cluster).
	Replicas int `yaml:"replicas"`
	// SyncAlways makes the embedded server fsync every write.
	SyncAlways bool `yaml:"sync_always"`
}

// Source is a vendor that posts webhooks to /hooks/{name}.
type Source struct {
	Name   string `yaml:"name"`
	Verify Verify `yaml:"verify"`
	// DeliveryIDHeader names the header carrying the vendor's delivery id,
	// used to drop the vendor's retries (default X-Request-Id).
	DeliveryIDHeader string `yaml:"delivery_id_header"`
	// Mapping turns the source's events into cards: auto (default) recognises
	// the vendor, a built-in name picks one (see BuiltinMappings), and a path
	// ending in .jq, relative to the configuration file, is a jq mapping.
	Mapping string `yaml:"mapping"`
	// RateLimit caps the verified requests per second ingest accepts from the
	// source (0: no limit); Burst is how many may arrive at once (default:
	// RateLimit rounded up). Above it, ingest answers 429 with Retry-After.
	RateLimit float64 `yaml:"rate_limit"`
	Burst     int     `yaml:"burst"`
	// MaxInFlight caps the source's requests being handled at once, each
	// holding up to max_body bytes (0: no limit); above it, 429.
	MaxInFlight int `yaml:"max_in_flight"`
	// RelayHandshakes sends a vendor's handshake notices (GitHub's ping when
	// a hook is created) to the source's routes like any event (default
	// false: they are answered and stored, and their history says they were
	// not sent).
	RelayHandshakes bool `yaml:"relay_handshakes"`
}

// Verify says how a source proves who it is.
type Verify struct {
	// Scheme is the verification scheme: token, basic, hmac, or a vendor
	// preset (github, gitlab, zendesk, standard-webhooks, svix, slack,
	// pagerduty, teams-outgoing, sentry, grafana, graph); the vendor
	// registry (internal/vendors) lists them.
	Scheme string `yaml:"scheme"`
	// Secret is the shared secret.
	Secret string `yaml:"secret"`
	// Secrets are further accepted secrets, for rotation without downtime.
	Secrets []string `yaml:"secrets"`
	// Header carries the signature (scheme hmac; grafana if not the default).
	Header string `yaml:"header"`
	// Algorithm of the HMAC: sha1, sha256 (default) or sha512 (scheme hmac).
	Algorithm string `yaml:"algorithm"`
	// Encoding of the signature: hex (default) or base64 (scheme hmac).
	Encoding string `yaml:"encoding"`
	// Prefix precedes the signature in the header, e.g. "sha256=" (scheme hmac).
	Prefix string `yaml:"prefix"`
	// TimestampHeader, if set, carries a Unix or RFC 3339 timestamp that is
	// signed with the body and must be within 5 minutes (schemes hmac, as
	// "timestamp.body", and grafana, as "timestamp:body").
	TimestampHeader string `yaml:"timestamp_header"`
}

// Settings are v as a scheme's constructor takes them (internal/vendors).
func (v Verify) Settings() verify.Settings {
	return verify.Settings{Secrets: v.AllSecrets(), Header: v.Header, Algorithm: v.Algorithm, Encoding: v.Encoding,
		Prefix: v.Prefix, TimestampHeader: v.TimestampHeader}
}

// AllSecrets returns Secret and Secrets, without empty ones.
func (v Verify) AllSecrets() []string {
	var out []string
	for _, s := range append([]string{v.Secret}, v.Secrets...) {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Destination is a Teams channel (or any JSON webhook receiver).
type Destination struct {
	Name string `yaml:"name"`
	// URL is a secret: logs, metrics and traces name the destination instead.
	URL string `yaml:"url"`
	// Format is messagecard, adaptive, or auto (default), which picks by the
	// URL's host (see FormatForURL); after Parse it is never auto.
	Format string `yaml:"format"`
	// Rate is the sustained requests per second (default 4).
	Rate float64 `yaml:"rate"`
	// Burst is how many requests may go back to back (default 1).
	Burst int `yaml:"burst"`
	// Timeout of one HTTP request (default 10s).
	Timeout time.Duration `yaml:"timeout"`
	// MaxAttempts before a delivery is dead-lettered (default 10).
	MaxAttempts int `yaml:"max_attempts"`
	// MaxAge of a delivery before it is dead-lettered as expired (default 24h).
	MaxAge time.Duration `yaml:"max_age"`
	// Backoff is the first retry delay (default 1s); it doubles per attempt
	// with jitter up to MaxBackoff (default 5m), never below Retry-After.
	Backoff    time.Duration `yaml:"backoff"`
	MaxBackoff time.Duration `yaml:"max_backoff"`
	// Breaker opens after BreakerFailures consecutive transient failures
	// (default 5) and stays open for BreakerOpenFor (default 30s) before a
	// half-open probe; while open, deliveries wait without using attempts.
	BreakerFailures int           `yaml:"breaker_failures"`
	BreakerOpenFor  time.Duration `yaml:"breaker_open_for"`
	// Digest coalesces a backlog that cannot drain within DigestAfter
	// (default 30s) at the current budget into digest cards, so the channel
	// gets every event with fewer requests (default: on with the teams limits).
	Digest      *bool         `yaml:"digest"`
	DigestAfter time.Duration `yaml:"digest_after"`
	// Limits is the receiver's rate ladder, enforced on top of rate/burst
	// (default: the "teams" preset for Teams URLs, none otherwise).
	Limits Limits `yaml:"limits"`
	// AllowPrivate allows http URLs and private addresses (simulator, internal receivers).
	AllowPrivate bool `yaml:"allow_private"`
}

// Route sends a source's events to destinations.
type Route struct {
	// Name identifies the route (default "SOURCE-N").
	Name   string `yaml:"name"`
	Source string `yaml:"source"`
	// Filter is a jq expression; the route applies when it yields true.
	Filter string   `yaml:"filter"`
	To     []string `yaml:"to"`
	// Mapping overrides the source's mapping for this route's destinations.
	Mapping string `yaml:"mapping"`
}

// Defaults.
const (
	DefaultListen           = "127.0.0.1:8080"
	DefaultAdminListen      = "127.0.0.1:8081"
	DefaultDataDir          = "data"
	DefaultMaxBody          = 1 << 20
	DefaultPublishTimeout   = 5 * time.Second
	DefaultMaxConnections   = 1024
	DefaultMaxBodyMemory    = 64 << 20
	DefaultReadTimeout      = 30 * time.Second
	DefaultEventRetention   = 7 * 24 * time.Hour
	DefaultDeliveryIDHeader = "X-Request-Id"
	DefaultRate             = 4
	DefaultBurst            = 1
	DefaultTimeout          = 10 * time.Second
	DefaultMaxAttempts      = 10
	DefaultMaxAge           = 24 * time.Hour
	DefaultBackoff          = time.Second
	DefaultMaxBackoff       = 5 * time.Minute
	DefaultBreakerFailures  = 5
	DefaultBreakerOpenFor   = 30 * time.Second
	DefaultDigestAfter      = 30 * time.Second
)

// KafkaMaxAge is the longest max_age with queue.kind kafka. A partition's
// committed offset stays at the first delivery still waiting on it, and what
// was delivered after that one is known by its ack marker, kept 7 days: a
// delivery that waited longer would have the partition's owner, after a
// restart, send again what was delivered after it. A day less leaves the
// last sweep of an expired delivery its time.
const KafkaMaxAge = 6 * 24 * time.Hour

// The windows of a destination's limits must fit in the send log, which the
// instance taking a destination over reads to inherit its budget: a window
// it cannot read whole would start afresh there and be exceeded.
const (
	// MaxWindow is the longest per: the send log reaches back 25 h.
	MaxWindow = 24 * time.Hour
	// JetStreamMaxWindowSends is the largest max with queue.kind
	// jetstream: RELAY_SENT keeps a destination's last 2048 records
	// (internal/queue/jsqueue), and while a budget binds each send is a
	// record of its own. Kafka keeps every record of the 25 h.
	JetStreamMaxWindowSends = 2000
)

// Option changes how Load and Parse read a file.
type Option func(*options)

type options struct {
	allowUnset    bool
	strongSecrets bool
}

// MinSecretBytes is the shortest verification secret StrongSecrets accepts:
// a shorter one is guessable, and redacting it from logs would rewrite
// ordinary words.
const MinSecretBytes = 16

// StrongSecrets refuses a verification secret shorter than MinSecretBytes
// (unless the file sets insecure_short_secrets: true) and one equal to a
// source, destination or route name, which redaction would erase from every
// log line. serve and check use it; default off, so that tests may parse
// files with short secrets.
func StrongSecrets() Option { return func(o *options) { o.strongSecrets = true } }

// AllowUnset lets a ${NAME} whose variable is unset stand as written
// instead of failing, and lists it in Config.Unset: for the commands that
// need no secrets (check, render). Checks of the values it stands in for
// (a URL, a broker) are skipped. Default: an unset variable is an error.
func AllowUnset() Option { return func(o *options) { o.allowUnset = true } }

// Load reads, expands, parses and validates a configuration file. Its error
// is an *Error listing every problem found, each with its line and field.
func Load(path string, opts ...Option) (*Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return load(raw, path, filepath.Dir(path), opts...)
}

// LoadBytes is Load for a file already read (from stdin, say): name is what
// errors call it, and relative mapping paths are resolved against dir.
func LoadBytes(raw []byte, name, dir string, opts ...Option) (*Config, error) {
	return load(raw, name, dir, opts...)
}

func load(raw []byte, name, dir string, opts ...Option) (*Config, error) {
	cfg, err := parse(raw, dir, opts...)
	if err != nil {
		return nil, &Error{File: name, Problems: flatten(err)}
	}
	return cfg, nil
}

// Error is a configuration that cannot be used: every problem found, each
// starting "line N: field: …" when it has a place in the file.
type Error struct {
	File     string
	Problems []error
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "config %s: ", e.File)
	if len(e.Problems) == 1 {
		b.WriteString(e.Problems[0].Error())
		return b.String()
	}
	fmt.Fprintf(&b, "%d problems:", len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.Error())
	}
	return b.String()
}

// Unwrap returns the problems.
func (e *Error) Unwrap() []error { return e.Problems }

// flatten lists the errors errors.Join put together.
func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// expandEnv replaces ${NAME} with the environment variable. An unset
// variable is an error naming its line (once), so a missing secret never
// becomes "" — unless allowUnset, when the reference stays as written. It
// returns the names of the unset variables.
func expandEnv(raw []byte, allowUnset bool) ([]byte, []string, error) {
	var errs []error
	var unset []string
	lines := bytes.Split(raw, []byte("\n"))
	for i, line := range lines {
		// Comments are left alone: an example in a comment is not a reference.
		code, comment := splitComment(line)
		lines[i] = append(envRef.ReplaceAllFunc(code, func(m []byte) []byte {
			name := string(envRef.FindSubmatch(m)[1])
			v, ok := os.LookupEnv(name)
			if ok {
				return []byte(v)
			}
			if !slices.Contains(unset, name) {
				unset = append(unset, name)
				if !allowUnset {
					errs = append(errs, fmt.Errorf("line %d: environment variable %s is not set", i+1, name))
				}
			}
			return m
		}), comment...)
	}
	return bytes.Join(lines, []byte("\n")), unset, errors.Join(errs...)
}

// splitComment cuts a YAML line before its comment: a '#' at the start or
// after white space, outside quotes.
func splitComment(line []byte) (code, comment []byte) {
	var quote byte
	for i, c := range line {
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '#' && (i == 0 || line[i-1] == ' ' || line[i-1] == '\t'):
			return line[:i:i], line[i:]
		}
	}
	return line, nil
}

// Parse expands ${ENV} references, decodes the YAML strictly, applies
// defaults and validates. Errors name the line and field; every problem is
// reported, not only the first.
func Parse(raw []byte, opts ...Option) (*Config, error) {
	return parse(raw, "", opts...)
}

// parse is Parse with relative mapping paths resolved against dir.
func parse(raw []byte, dir string, opts ...Option) (*Config, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	expanded, unset, envErr := expandEnv(raw, o.allowUnset)
	var root yaml.Node
	if err := yaml.Unmarshal(expanded, &root); err != nil {
		return nil, errors.Join(envErr, fmt.Errorf("parse YAML: %s", strings.TrimPrefix(err.Error(), "yaml: ")))
	}
	errs := []error{envErr}
	fieldErrs := checkFields(&root)
	errs = append(errs, fieldErrs...)
	cfg := Config{Dir: dir}
	// Not strict: checkFields named the unknown fields and wrong values in
	// the file's terms; decoding the rest still lets validate find more.
	if len(root.Content) > 0 {
		if err := root.Decode(&cfg); err != nil && len(fieldErrs) == 0 {
			errs = append(errs, fmt.Errorf("parse YAML: %s", strings.TrimPrefix(err.Error(), "yaml: ")))
		}
	}
	cfg.Unset = unset
	cfg.applyDefaults()
	if err := cfg.validate(&root); err != nil {
		errs = append(errs, err)
	}
	if o.strongSecrets {
		errs = append(errs, cfg.checkSecrets(&root)...)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// IsUnset reports whether v holds a ${NAME} left as written because its
// variable is unset (AllowUnset): its value is unknown, so it is not checked.
func (c *Config) IsUnset(v string) bool {
	for _, name := range c.Unset {
		if strings.Contains(v, "${"+name+"}") {
			return true
		}
	}
	return false
}

func (c *Config) applyDefaults() {
	c.Listen = cmp.Or(c.Listen, DefaultListen)
	c.AdminListen = cmp.Or(c.AdminListen, DefaultAdminListen)
	c.DataDir = cmp.Or(c.DataDir, DefaultDataDir)
	c.MaxBody = cmp.Or(c.MaxBody, DefaultMaxBody)
	c.PublishTimeout = cmp.Or(c.PublishTimeout, DefaultPublishTimeout)
	c.MaxConnections = cmp.Or(c.MaxConnections, DefaultMaxConnections)
	c.MaxBodyMemory = cmp.Or(c.MaxBodyMemory, DefaultMaxBodyMemory)
	c.ReadTimeout = cmp.Or(c.ReadTimeout, DefaultReadTimeout)
	c.Retention.Events = cmp.Or(c.Retention.Events, DefaultEventRetention)
	c.Queue.applyDefaults()
	for i := range c.Sources {
		s := &c.Sources[i]
		s.DeliveryIDHeader = cmp.Or(s.DeliveryIDHeader, DefaultDeliveryIDHeader)
		s.Mapping = c.mappingPath(s.Mapping, MappingAuto)
	}
	for i := range c.Destinations {
		d := &c.Destinations[i]
		if d.Format == "" || d.Format == FormatAuto {
			d.Format = FormatForURL(d.URL)
			if u, err := url.Parse(d.URL); c.IsUnset(d.URL) && (err != nil || u.Hostname() == "" || strings.Contains(u.Hostname(), "${")) {
				// Auto goes by the URL's host, which is not set (check,
				// render without secrets): it stays auto, not a guess.
				d.Format = FormatAuto
			}
		}
		d.Rate = cmp.Or(d.Rate, DefaultRate)
		d.Burst = cmp.Or(d.Burst, DefaultBurst)
		d.Timeout = cmp.Or(d.Timeout, DefaultTimeout)
		d.MaxAttempts = cmp.Or(d.MaxAttempts, DefaultMaxAttempts)
		d.MaxAge = cmp.Or(d.MaxAge, DefaultMaxAge)
		d.Backoff = cmp.Or(d.Backoff, DefaultBackoff)
		d.MaxBackoff = cmp.Or(d.MaxBackoff, DefaultMaxBackoff)
		d.BreakerFailures = cmp.Or(d.BreakerFailures, DefaultBreakerFailures)
		d.BreakerOpenFor = cmp.Or(d.BreakerOpenFor, DefaultBreakerOpenFor)
		if d.Limits == nil && IsTeamsURL(d.URL) {
			d.Limits = TeamsLimits()
		}
		if d.Digest == nil {
			on := slices.Equal(d.Limits, TeamsLimits())
			d.Digest = &on
		}
		d.DigestAfter = cmp.Or(d.DigestAfter, DefaultDigestAfter)
	}
	for i := range c.Routes {
		if c.Routes[i].Name == "" {
			c.Routes[i].Name = fmt.Sprintf("%s-%d", c.Routes[i].Source, i+1)
		}
		c.Routes[i].Mapping = c.mappingPath(c.Routes[i].Mapping, "")
	}
}

// nameRE keeps names usable as NATS subject tokens and in URLs.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// schemeList names the known schemes for error messages.
func schemeList() string {
	return strings.Join(vendors.SchemeNames(), ", ")
}

// knownScheme reports whether a verification scheme is in the vendor registry.
func knownScheme(name string) bool {
	_, ok := vendors.LookupScheme(name)
	return ok
}

func (c *Config) validate(root *yaml.Node) error {
	var errs []error
	fail := func(path, format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		if line := lineOf(root, path); line > 0 {
			errs = append(errs, fmt.Errorf("line %d: %s: %s", line, path, msg))
		} else {
			errs = append(errs, fmt.Errorf("%s: %s", path, msg))
		}
	}
	if c.MaxBody < 0 {
		fail("max_body", "must be positive, got %d", c.MaxBody)
	}
	if c.MaxConnections < 0 {
		fail("max_connections", "must be positive, got %d", c.MaxConnections)
	}
	if c.MaxBodyMemory < c.MaxBody {
		fail("max_body_memory", "must be at least max_body (%d), got %d", c.MaxBody, c.MaxBodyMemory)
	}
	if c.ReadTimeout < 0 {
		fail("read_timeout", "must be positive, got %v", c.ReadTimeout)
	}
	if c.Retention.Events < time.Hour {
		fail("retention.events", "must be at least 1h, got %v", c.Retention.Events)
	}
	c.Queue.validate(c.NATS, fail, c.IsUnset)
	sources := map[string]bool{}
	for i, s := range c.Sources {
		p := fmt.Sprintf("sources[%d]", i)
		switch {
		case !nameRE.MatchString(s.Name):
			fail(p+".name", "%q must be 1-64 letters, digits, '-' or '_'", s.Name)
		case sources[s.Name]:
			fail(p+".name", "source %q is defined twice", s.Name)
		}
		sources[s.Name] = true
		switch {
		case s.Verify.Scheme == "":
			fail(p+".verify.scheme", "is required (one of: %s)", schemeList())
		case !knownScheme(s.Verify.Scheme):
			fail(p+".verify.scheme", "unknown scheme %q (one of: %s)", s.Verify.Scheme, schemeList())
		case len(s.Verify.AllSecrets()) == 0:
			fail(p+".verify.secret", "is required: a source without a secret would accept anyone")
		default:
			scheme, _ := vendors.LookupScheme(s.Verify.Scheme)
			if _, err := scheme.New(s.Verify.Settings()); err != nil {
				fail(p+".verify", "scheme %s: %v", s.Verify.Scheme, err)
			}
		}
		if err := checkMapping(s.Mapping); err != nil {
			fail(p+".mapping", "%v", err)
		}
		if s.RateLimit < 0 || s.Burst < 0 || s.MaxInFlight < 0 {
			fail(p+".rate_limit", "rate_limit, burst and max_in_flight must be positive")
		}
	}
	dests := map[string]bool{}
	for i, d := range c.Destinations {
		p := fmt.Sprintf("destinations[%d]", i)
		switch {
		case !nameRE.MatchString(d.Name):
			fail(p+".name", "%q must be 1-64 letters, digits, '-' or '_'", d.Name)
		case dests[d.Name]:
			fail(p+".name", "destination %q is defined twice", d.Name)
		}
		dests[d.Name] = true
		if err := checkURL(d.URL, d.AllowPrivate); err != nil && !c.IsUnset(d.URL) {
			fail(p+".url", "%v", err)
		}
		if d.Format != schemas.FormatMessageCard && d.Format != schemas.FormatAdaptive && (d.Format != FormatAuto || !c.IsUnset(d.URL)) {
			fail(p+".format", "unknown format %q (auto, messagecard or adaptive)", d.Format)
		}
		if d.Rate < 0 {
			fail(p+".rate", "must be positive, got %v", d.Rate)
		}
		if d.Burst < 0 {
			fail(p+".burst", "must be positive, got %d", d.Burst)
		}
		if d.Timeout < 0 {
			fail(p+".timeout", "must be positive, got %v", d.Timeout)
		}
		if d.MaxAttempts < 0 {
			fail(p+".max_attempts", "must be positive, got %d", d.MaxAttempts)
		}
		if d.MaxAge < 0 {
			fail(p+".max_age", "must be positive, got %v", d.MaxAge)
		}
		if c.Queue.Kind == QueueKafka && d.MaxAge > KafkaMaxAge {
			fail(p+".max_age", "%v is longer than the %v a delivery may wait with queue.kind kafka: "+
				"the markers of what was delivered after it are kept 7 days", d.MaxAge, KafkaMaxAge)
		}
		if d.Backoff < 0 || d.MaxBackoff < d.Backoff {
			fail(p+".backoff", "must be positive and at most max_backoff (%v), got %v", d.MaxBackoff, d.Backoff)
		}
		if d.BreakerFailures < 0 || d.BreakerOpenFor < 0 {
			fail(p+".breaker_failures", "breaker_failures and breaker_open_for must be positive")
		}
		for j, l := range d.Limits {
			lp := fmt.Sprintf("%s.limits[%d]", p, j)
			if l.Per <= 0 || l.Max <= 0 {
				fail(lp, "per and max must be positive, got per %v max %d", l.Per, l.Max)
			}
			if l.Per > MaxWindow {
				fail(lp+".per", "%v is longer than the %v a window may span: the send log, which an instance taking "+
					"the destination over reads, reaches back 25h", l.Per, MaxWindow)
			}
			if c.Queue.Kind != QueueKafka && l.Max > JetStreamMaxWindowSends {
				fail(lp+".max", "%d is more than the %d sends a window may hold with queue.kind jetstream: the send log "+
					"keeps a destination's last 2048 sends, and an instance taking the destination over must read a "+
					"whole window of them; use a shorter per with a smaller max", l.Max, JetStreamMaxWindowSends)
			}
		}
	}
	for i, r := range c.Routes {
		p := fmt.Sprintf("routes[%d]", i)
		if !sources[r.Source] {
			fail(p+".source", "unknown source %q", r.Source)
		}
		if len(r.To) == 0 {
			fail(p+".to", "names no destination")
		}
		for j, to := range r.To {
			if !dests[to] {
				fail(fmt.Sprintf("%s.to[%d]", p, j), "unknown destination %q", to)
			}
		}
		if r.Filter != "" {
			if _, err := CompileFilter(r.Filter); err != nil {
				fail(p+".filter", "%v", err)
			}
		}
		if r.Mapping != "" {
			if err := checkMapping(r.Mapping); err != nil {
				fail(p+".mapping", "%v", err)
			}
		}
	}
	return errors.Join(errs...)
}

// checkSecrets refuses secrets that are short or equal to a name: see
// StrongSecrets.
func (c *Config) checkSecrets(root *yaml.Node) []error {
	names := map[string]string{}
	for _, s := range c.Sources {
		names[s.Name] = "source"
	}
	for _, d := range c.Destinations {
		names[d.Name] = "destination"
	}
	for _, r := range c.Routes {
		names[r.Name] = "route"
	}
	var errs []error
	check := func(path, secret string) {
		if c.IsUnset(secret) || secret == "" {
			return
		}
		msg := ""
		switch kind, ok := names[secret]; {
		case ok:
			msg = fmt.Sprintf("equals the name of a %s: it would be redacted from every log line that names it; choose a random secret", kind)
		case len(secret) < MinSecretBytes && !c.InsecureShortSecrets:
			msg = fmt.Sprintf("is %d bytes; at least %d are required: a short secret is guessable and redacting it "+
				"would garble the logs (generate one with: openssl rand -hex 32; for tests only, set insecure_short_secrets: true)",
				len(secret), MinSecretBytes)
		default:
			return
		}
		if line := lineOf(root, path); line > 0 {
			errs = append(errs, fmt.Errorf("line %d: %s: %s", line, path, msg))
		} else {
			errs = append(errs, fmt.Errorf("%s: %s", path, msg))
		}
	}
	for i, s := range c.Sources {
		p := fmt.Sprintf("sources[%d].verify", i)
		check(p+".secret", s.Verify.Secret)
		for j, sec := range s.Verify.Secrets {
			check(fmt.Sprintf("%s.secrets[%d]", p, j), sec)
		}
	}
	return errs
}

// CompileFilter compiles a route's jq filter.
func CompileFilter(expr string) (*gojq.Code, error) {
	q, err := gojq.Parse(expr)
	if err != nil {
		return nil, fmt.Errorf("jq filter %q: %w", expr, err)
	}
	code, err := gojq.Compile(q)
	if err != nil {
		return nil, fmt.Errorf("jq filter %q: %w", expr, err)
	}
	return code, nil
}

// checkURL accepts https URLs, and http ones only with allowPrivate. Whether
// the host resolves to a public address is checked at connect time by dispatch.
func checkURL(raw string, allowPrivate bool) error {
	if raw == "" {
		return errors.New("is required")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("is not a valid URL")
	}
	if u.Host == "" {
		return errors.New("has no host")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !allowPrivate {
			return errors.New("must be https (set allow_private: true for an internal receiver)")
		}
	default:
		return fmt.Errorf("scheme %q is not https", u.Scheme)
	}
	// Names are resolved by serve, which refuses one that resolves to a
	// non-public address; an address, or localhost, is refused here.
	if a, err := netip.ParseAddr(u.Hostname()); !allowPrivate && (u.Hostname() == "localhost" || err == nil && !IsPublicAddress(a)) {
		return fmt.Errorf("names the non-public address %s (set allow_private: true for an internal receiver)", u.Hostname())
	}
	return nil
}

// IsPublicAddress reports whether a is an address on the public internet:
// not loopback, private, link-local, unspecified or carrier-grade NAT. A
// destination without allow_private may reach only those.
func IsPublicAddress(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsGlobalUnicast() && !a.IsPrivate() && !a.IsLoopback() && !a.IsLinkLocalUnicast() &&
		!cgnat.Contains(a) && !a.IsUnspecified()
}

// cgnat is the carrier-grade NAT range, private in practice.
var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// lineOf finds the line of a path like "destinations[1].url" in the YAML tree,
// falling back to the nearest existing parent.
func lineOf(root *yaml.Node, path string) int {
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := 0
	for _, part := range strings.Split(path, ".") {
		key, idx := part, -1
		if k, rest, ok := strings.Cut(part, "["); ok {
			key = k
			fmt.Sscanf(rest, "%d]", &idx)
		}
		next := mapValue(n, key)
		if next == nil {
			return line
		}
		n, line = next, next.Line
		if idx >= 0 {
			if n.Kind != yaml.SequenceNode || idx >= len(n.Content) {
				return line
			}
			n = n.Content[idx]
			line = n.Line
		}
	}
	return line
}

func mapValue(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// Destination returns the named destination.
func (c *Config) Destination(name string) (Destination, bool) {
	for _, d := range c.Destinations {
		if d.Name == name {
			return d, true
		}
	}
	return Destination{}, false
}

// Source returns the named source.
func (c *Config) Source(name string) (Source, bool) {
	for _, s := range c.Sources {
		if s.Name == name {
			return s, true
		}
	}
	return Source{}, false
}
