package pause_test

import (
	"context"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/internal/pause"
)

func TestFor(t *testing.T) {
	if !pause.For(context.Background(), time.Millisecond) {
		t.Error("a pause with a live context reported it was cut short")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if pause.For(ctx, time.Hour) {
		t.Error("a pause with an ended context reported that the hour passed")
	}
}
