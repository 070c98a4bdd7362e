package telemetry_test

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/hookrelay/hookrelay/internal/telemetry"
)

// A secret that spells part of an ordinary word leaves the word alone: the
// issue's "admin API wi[REDACTED]hou[REDACTED] a [REDACTED]oken" both ruined
// the line and revealed the secret.
func TestRedactLeavesOrdinaryWordsAlone(t *testing.T) {
	for _, tc := range []struct {
		secret, msg, want string
	}{
		{"t", "admin API without a token", "admin API without a token"},
		{"t", "secret is t, then", "secret is [REDACTED], then"},
		{"zendesk", "source zendesk-eu verified", "source zendesk-eu verified"},
		{"zendesk", "token=zendesk&x=1", "token=[REDACTED]&x=1"},
		{"s3cretvalue0123456", "Bearer s3cretvalue0123456", "Bearer [REDACTED]"},
		{"s3cretvalue0123456", "xs3cretvalue0123456", "xs3cretvalue0123456"},
		{"/workflows/abc/invoke", "POST https://h.example/workflows/abc/invoke?x", "POST https://h.example[REDACTED]?x"},
	} {
		var buf bytes.Buffer
		log := slog.New(telemetry.Redact(slog.NewJSONHandler(&buf, nil), []string{tc.secret}))
		log.Info(tc.msg)
		if !strings.Contains(buf.String(), `"msg":"`+tc.want+`"`) {
			t.Errorf("secret %q, message %q: logged %s, want msg %q", tc.secret, tc.msg, buf.String(), tc.want)
		}
	}
}
