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

	"go.opentelemetry.io/otel/trace"

	"github.com/hookrelay/hookrelay/internal/config"
)

// Redacted replaces a secret in logs.
const Redacted = "[REDACTED]"

// Redact wraps h so that none of secrets appears in a record's message or in
// any attribute (nested groups, errors and other values included): each is
// replaced with "[REDACTED]". It also adds trace_id and span_id when the
// record's context carries a span.
func Redact(h slog.Handler, secrets []string) slog.Handler {
	var uniq []string
	for _, s := range secrets {
		if s != "" && !slices.Contains(uniq, s) {
			uniq = append(uniq, s)
		}
	}
	// Longest first, so a URL is replaced whole before a secret inside it.
	slices.SortFunc(uniq, func(a, b string) int { return cmp.Compare(len(b), len(a)) })
	pairs := make([]string, 0, 2*len(uniq))
	for _, s := range uniq {
		pairs = append(pairs, s, Redacted)
	}
	return &redactHandler{next: h, replacer: strings.NewReplacer(pairs...), none: len(uniq) == 0}
}

type redactHandler struct {
	next     slog.Handler
	replacer *strings.Replacer
	none     bool
}

// Enabled implements slog.Handler.
func (h *redactHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l)
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
	return h.next.Handle(ctx, out)
}

// WithAttrs implements slog.Handler.
func (h *redactHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	clean := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		clean[i] = h.attr(a)
	}
	return &redactHandler{next: h.next.WithAttrs(clean), replacer: h.replacer, none: h.none}
}

// WithGroup implements slog.Handler.
func (h *redactHandler) WithGroup(name string) slog.Handler {
	return &redactHandler{next: h.next.WithGroup(h.str(name)), replacer: h.replacer, none: h.none}
}

func (h *redactHandler) str(s string) string {
	if h.none {
		return s
	}
	return h.replacer.Replace(s)
}

func (h *redactHandler) attr(a slog.Attr) slog.Attr {
	if h.none {
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
