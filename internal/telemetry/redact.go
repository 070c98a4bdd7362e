package telemetry

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel/trace"

	"github.com/hookrelay/hookrelay/internal/config"
)

// Redacted replaces a secret in logs.
const Redacted = "[REDACTED]"

// Redact wraps h so that none of secrets appears in a record's message or in
// any attribute (nested groups, errors and other values included): each is
// replaced with "[REDACTED]". A secret is replaced only where it stands as a
// whole word or name (or wholly inside a URL): one that happens to spell part of an
// ordinary word ("t" in "token") leaves the word alone, so the logs stay
// readable and do not point at the secret. It also adds trace_id and span_id
// when the record's context carries a span.
func Redact(h slog.Handler, secrets []string) slog.Handler {
	return RedactSecrets(h, NewSecrets(secrets))
}

// RedactSecrets is Redact with a set of secrets that may grow while the
// handler is in use: a reloaded configuration adds its secrets.
func RedactSecrets(h slog.Handler, secrets *Secrets) slog.Handler {
	r := &redactHandler{secrets: secrets, root: h, next: h}
	r.once.Do(func() {}) // next is h itself
	return r
}

// Secrets is a set of secrets to redact, safe for concurrent use. It only
// grows: a secret rotated out may still be in a line about to be logged.
type Secrets struct {
	list atomic.Pointer[[]string] // longest first
}

// NewSecrets returns a set holding secrets.
func NewSecrets(secrets []string) *Secrets {
	s := &Secrets{}
	s.Add(secrets)
	return s
}

// Add puts more secrets in the set. Calls must not overlap.
func (s *Secrets) Add(more []string) {
	var uniq []string
	if cur := s.list.Load(); cur != nil {
		uniq = slices.Clone(*cur)
	}
	seen := make(map[string]bool, len(uniq)+len(more))
	for _, secret := range uniq {
		seen[secret] = true
	}
	for _, secret := range more {
		if secret != "" && !seen[secret] {
			seen[secret] = true
			uniq = append(uniq, secret)
		}
	}
	// Longest first, so a URL is replaced whole before a secret inside it.
	slices.SortFunc(uniq, func(a, b string) int { return cmp.Compare(len(b), len(a)) })
	s.list.Store(&uniq)
}

func (s *Secrets) all() []string {
	if l := s.list.Load(); l != nil {
		return *l
	}
	return nil
}

type redactHandler struct {
	secrets *Secrets
	root    slog.Handler // for Enabled: a level does not depend on attributes

	// The handler records go to, made at the first record: loggers made
	// With attributes per event or delivery mostly log nothing, and
	// redacting their attributes against every secret costs.
	once   sync.Once
	next   slog.Handler
	parent *redactHandler // with attrs or group: next is made from parent's
	attrs  []slog.Attr
	group  string
}

func (h *redactHandler) handler() slog.Handler {
	h.once.Do(func() {
		base := h.parent.handler()
		if h.attrs != nil {
			clean := make([]slog.Attr, len(h.attrs))
			for i, a := range h.attrs {
				clean[i] = h.attr(a)
			}
			h.next = base.WithAttrs(clean)
		} else {
			h.next = base.WithGroup(h.str(h.group))
		}
	})
	return h.next
}

// Enabled implements slog.Handler.
func (h *redactHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.root.Enabled(ctx, l)
}

// Handle implements slog.Handler.
func (h *redactHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, h.str(r.Message), r.PC)
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		out.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.attr(a))
		return true
	})
	return h.handler().Handle(ctx, out)
}

// WithAttrs implements slog.Handler. The attributes are redacted when the
// first record is logged through the new handler.
func (h *redactHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	return &redactHandler{secrets: h.secrets, root: h.root, parent: h, attrs: slices.Clone(attrs)}
}

// WithGroup implements slog.Handler.
func (h *redactHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return &redactHandler{secrets: h.secrets, root: h.root, parent: h, group: name}
}

func (h *redactHandler) str(s string) string {
	for _, secret := range h.secrets.all() {
		s = replaceWord(s, secret, Redacted)
	}
	return s
}

// replaceWord replaces old in s by new where old does not begin or end
// inside a word: a word character (isWordByte) at old's edge must
// not continue a word character of s.
func replaceWord(s, old, new string) string {
	if !strings.Contains(s, old) {
		return s
	}
	var b strings.Builder
	rest := s
	for {
		i := strings.Index(rest, old)
		if i < 0 {
			break
		}
		end := i + len(old)
		startsWord := isWordByte(old[0]) && i > 0 && isWordByte(rest[i-1])
		endsWord := isWordByte(old[len(old)-1]) && end < len(rest) && isWordByte(rest[end])
		if startsWord || endsWord {
			b.WriteString(rest[:i+1])
			rest = rest[i+1:]
			continue
		}
		b.WriteString(rest[:i])
		b.WriteString(new)
		rest = rest[end:]
	}
	b.WriteString(rest)
	return b.String()
}

// isWordByte reports whether c is part of a word or name: a letter, a
// digit, '_', '-', or a byte of a multi-byte UTF-8 character.
func isWordByte(c byte) bool {
	return c == '_' || c == '-' || c >= 0x80 || ('0' <= c && c <= '9') || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')
}

func (h *redactHandler) attr(a slog.Attr) slog.Attr {
	if len(h.secrets.all()) == 0 {
		return a
	}
	a.Key = h.str(a.Key)
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		a.Value = slog.StringValue(h.str(v.String()))
	case slog.KindGroup:
		group := v.Group()
		clean := make([]slog.Attr, len(group))
		for i, g := range group {
			clean[i] = h.attr(g)
		}
		a.Value = slog.GroupValue(clean...)
	case slog.KindAny:
		a.Value = h.anyValue(v)
	default:
		a.Value = v
	}
	return a
}

// anyValue redacts an arbitrary value. An error becomes its redacted text; any
// other value is kept as it is unless its text or JSON form holds a secret,
// in which case its redacted text replaces it.
func (h *redactHandler) anyValue(v slog.Value) slog.Value {
	x := v.Any()
	if err, ok := x.(error); ok {
		return slog.StringValue(h.str(err.Error()))
	}
	text := fmt.Sprintf("%+v", x)
	if clean := h.str(text); clean != text {
		return slog.StringValue(clean)
	}
	if js, err := json.Marshal(x); err == nil {
		if s := string(js); h.str(s) != s {
			return slog.StringValue(h.str(s))
		}
	}
	return v
}

// ConfigSecrets lists what must never appear in logs for cfg: the admin
// token, every source secret and every destination URL, with the parts of a
// URL that carry its credential on their own (path, query parameter values,
// user info) and its escaped form.
func ConfigSecrets(cfg *config.Config) []string {
	out := []string{cfg.AdminToken}
	for _, s := range cfg.Sources {
		out = append(out, s.Verify.AllSecrets()...)
	}
	for _, d := range cfg.Destinations {
		out = append(out, URLSecrets(d.URL)...)
	}
	return out
}

// URLSecrets returns raw and the parts of it that carry a credential.
func URLSecrets(raw string) []string {
	if raw == "" {
		return nil
	}
	out := []string{raw, url.QueryEscape(raw)}
	u, err := url.Parse(raw)
	if err != nil {
		return out
	}
	// The path identifies the webhook (Teams puts its ids there); "/" alone
	// or a short path would redact ordinary words.
	if len(u.Path) > 8 {
		out = append(out, u.Path)
		if u.EscapedPath() != u.Path {
			out = append(out, u.EscapedPath())
		}
	}
	if u.RawQuery != "" {
		out = append(out, u.RawQuery)
		for _, vs := range u.Query() {
			for _, v := range vs {
				if len(v) >= 6 {
					out = append(out, v, url.QueryEscape(v))
				}
			}
		}
	}
	if p, ok := u.User.Password(); ok && p != "" {
		out = append(out, p)
	}
	return out
}

// WithTraceID returns log with the trace_id of ctx's span, if it has one, for
// loggers that are not called with a context.
func WithTraceID(ctx context.Context, log *slog.Logger) *slog.Logger {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		return log.With("trace_id", sc.TraceID().String())
	}
	return log
}
