// Package pause waits for a while unless a context ends first: the backoff
// of every loop that asks the store again.
package pause

import (
	"context"
	"time"
)

// For waits d, or less when ctx ends first; it reports whether d passed.
func For(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
