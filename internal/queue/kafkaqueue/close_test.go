package kafkaqueue

import (
	"bytes"
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/internal/queue"
)

// clientGoroutines returns the stacks of the goroutines that run our code or
// a kgo client (kfake's own, the broker side, are left out: the cluster
// outlives the Queue).
func clientGoroutines() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []string
	for g := range bytes.SplitSeq(buf, []byte("\n\n")) {
		s := string(g)
		if strings.Contains(s, "franz-go/pkg/kfake") || strings.Contains(s, "testing.tRunner") ||
			strings.Contains(s, "testing.(*T).Run") || strings.Contains(s, "runtime.Stack") {
			continue
		}
		if strings.Contains(s, "franz-go/pkg/kgo") || strings.Contains(s, "internal/queue/kafkaqueue") {
			out = append(out, s)
		}
	}
	return out
}

// TestCloseLeavesNoGoroutines runs both kinds of consumer, with a caller
// blocked in Next of each, and checks that Close ends every goroutine the
// Queue started and returns the blocked callers.
func TestCloseLeavesNoGoroutines(t *testing.T) {
	c := newCluster(t)
	q, err := New(testCtx(t), Options{Brokers: c.ListenAddrs(), Partitions: 3})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	publish(t, q, queue.InSubject("src"), "event")
	publish(t, q, queue.OutSubject("a"), "card")
	work, err := q.FeedEvents(testCtx(t), "transform", queue.FeedOptions{InFlight: 10})
	if err != nil {
		t.Fatalf("feed of events: %v", err)
	}
	excl, err := q.OpenLane(testCtx(t), "a", queue.LaneOptions{Hold: 1})
	if err != nil {
		t.Fatalf("lane of a: %v", err)
	}
	for _, cons := range []queue.Consumer{work, excl} {
		ack(t, next(t, cons))
	}
	blocked := make(chan error, 2)
	for _, cons := range []queue.Consumer{work, excl} {
		go func() {
			_, err := cons.Next(context.Background())
			blocked <- err
		}()
	}

	ctx, cancel := context.WithTimeout(testCtx(t), 10*time.Second)
	defer cancel()
	if err := q.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for range 2 {
		select {
		case err := <-blocked:
			if !errors.Is(err, errStopped) {
				t.Errorf("Next after Close: %v, want errStopped", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Next still blocked 5 s after Close")
		}
	}
	// Stop after Close is harmless.
	work.Stop()
	excl.Stop()

	deadline := time.Now().Add(5 * time.Second)
	for {
		left := clientGoroutines()
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines left 5 s after Close:\n%s", len(left), strings.Join(left, "\n\n"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
