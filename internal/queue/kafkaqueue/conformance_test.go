package kafkaqueue

import (
	"context"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/internal/queue"
	"github.com/hookrelay/hookrelay/internal/queue/queuetest"
)

// consumersPending are the suite's consumer tests, skipped until kq-consume
// lands Consume (consume.go is a placeholder until then). kq-consume: drop
// them from here as your consumers pass them.
var consumersPending = map[string]string{
	"AckedNotHandedOutAgain": "Consume lands with kq-consume",
	"NakDelay":               "Consume lands with kq-consume",
	"Term":                   "Consume lands with kq-consume",
	"AckWaitRedelivers":      "Consume lands with kq-consume",
	"InProgressHolds":        "Consume lands with kq-consume",
	"NextEndsWithContext":    "Consume lands with kq-consume",
	"MembersShare":           "Consume lands with kq-consume",
	"StopHandsBack":          "Consume lands with kq-consume",
	"ExclusiveTakeOver":      "Consume lands with kq-consume",
	"Backlog":                "Consume lands with kq-consume",
}

func TestConformance(t *testing.T) {
	queuetest.Run(t, queuetest.Backend{
		Skip: consumersPending,
		Start: func(t *testing.T) func(t *testing.T) queue.Queue {
			c := newCluster(t)
			return func(t *testing.T) queue.Queue {
				t.Helper()
				ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
				defer cancel()
				q, err := New(ctx, Options{Brokers: c.ListenAddrs(), Partitions: 3})
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				t.Cleanup(func() {
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					defer cancel()
					_ = q.Close(ctx) // the suite may have closed it already
				})
				return q
			}
		},
	})
}
