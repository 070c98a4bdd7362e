package main

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/internal/config"
	"github.com/hookrelay/hookrelay/internal/telemetry"
)

// Durations in logs read as people write them, never as raw nanoseconds.
func TestLogDurations(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{637201933 * time.Nanosecond, `"retry_in":"637ms"`},
		{1500 * time.Millisecond, `"retry_in":"1.5s"`},
		{12345 * time.Nanosecond, `"retry_in":"12µs"`},
		{5*time.Minute + 3*time.Second + 400*time.Millisecond, `"retry_in":"5m3s"`},
	} {
		var buf bytes.Buffer
		newLogger(&buf, slog.LevelInfo).Info("x", "retry_in", tc.d)
		if !strings.Contains(buf.String(), tc.want) {
			t.Errorf("%v logged as %s, want %s", tc.d, strings.TrimSpace(buf.String()), tc.want)
		}
	}
}

// A reload is judged against the admin listener that keeps running: one
// that drops the token while it moves admin_listen to loopback is refused
// when the running listener is on every interface (a new admin_listen
// applies only at the next start), and taken when it runs on loopback.
func TestReloadKeepsTheAdminTokenOfARunningPublicListener(t *testing.T) {
	next := &config.Config{AdminListen: "127.0.0.1:8081"} // no admin_token
	for _, tc := range []struct {
		running string
		refused bool
	}{{"0.0.0.0:8081", true}, {"[::]:8081", true}, {"127.0.0.1:8081", false}} {
		r := &relayer{logger: slog.New(slog.DiscardHandler), adminListen: tc.running, role: "dispatch",
			secrets: telemetry.NewSecrets(nil), load: func() (*config.Config, error) { return next, nil }}
		r.cfg.Store(&config.Config{AdminListen: tc.running, AdminToken: "a-token-long-enough-0123456789"})
		err := r.reload(context.Background(), "test")
		if refused := err != nil; refused != tc.refused {
			t.Errorf("admin listening on %s, a reload without a token: err %v, want refused %v", tc.running, err, tc.refused)
		}
	}
}
