package queue_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/hookrelay/hookrelay/internal/queue"
)

func TestStreamOf(t *testing.T) {
	for subject, want := range map[string]string{
		queue.InSubject("github"):  queue.StreamIn,
		queue.OutSubject("ops"):    queue.StreamOut,
		queue.DeadSubject("ops"):   queue.StreamDead,
		queue.HistorySubject("e1"): queue.StreamHistory,
		queue.SentSubject("ops"):   queue.StreamSent,
		"relay.in.":                "", // no token after the prefix
		"relay.other.x":            "",
		"":                         "",
	} {
		if got := queue.StreamOf(subject); got != want {
			t.Errorf("StreamOf(%q) = %q, want %q", subject, got, want)
		}
	}
}

func TestIsUnavailable(t *testing.T) {
	for err, want := range map[error]bool{
		fmt.Errorf("publish: %w", queue.ErrUnavailable):     true,
		fmt.Errorf("publish: %w", context.DeadlineExceeded): true,
		fmt.Errorf("publish: %w", queue.ErrTooLarge):        false,
		fmt.Errorf("get: %w", queue.ErrNotFound):            false,
	} {
		if got := queue.IsUnavailable(err); got != want {
			t.Errorf("IsUnavailable(%v) = %v, want %v", err, got, want)
		}
	}
}
