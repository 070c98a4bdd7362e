package main

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
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
