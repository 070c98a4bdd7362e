package kafkaqueue

import (
	"context"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/internal/queue"
)

// publish stores data on subject and returns its seq.
func publish(t *testing.T, q *Queue, subject, data string) uint64 {
	t.Helper()
	ack, err := q.Publish(testCtx(t), queue.Msg{Subject: subject, Data: []byte(data)})
	if err != nil {
		t.Fatalf("publish %s %q: %v", subject, data, err)
	}
	return ack.Seq
}

// consumerCfg is what a test consumes: the feed of events named name, or
// the lane of dest.
type consumerCfg struct {
	name     string
	inFlight int
	dest     string
}

// transformCfg is the feed of events as transform runs it.
var transformCfg = consumerCfg{name: "transform", inFlight: 100}

// destCfg is the lane of destination dest.
func destCfg(dest string) consumerCfg { return consumerCfg{dest: dest} }

// consume starts a feed or a lane, stopped with the test.
func consume(t *testing.T, q *Queue, cfg consumerCfg) queue.Consumer {
	t.Helper()
	var c queue.Consumer
	var err error
	if cfg.dest != "" {
		c, err = q.OpenLane(testCtx(t), cfg.dest, queue.LaneOptions{Hold: 1})
	} else {
		c, err = q.FeedEvents(testCtx(t), cfg.name, queue.FeedOptions{InFlight: cfg.inFlight})
	}
	if err != nil {
		t.Fatalf("consume %+v: %v", cfg, err)
	}
	t.Cleanup(c.Stop)
	return c
}

// next waits for c's next delivery, failing the test after a while.
func next(t *testing.T, c queue.Consumer) queue.Delivery {
	t.Helper()
	ctx, cancel := context.WithTimeout(testCtx(t), 15*time.Second)
	defer cancel()
	d, err := c.Next(ctx)
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	return d
}

// nextData is next's data.
func nextData(t *testing.T, c queue.Consumer) (queue.Delivery, string) {
	t.Helper()
	d := next(t, c)
	return d, string(d.Msg().Data)
}

// ack acks d.
func ack(t *testing.T, d queue.Delivery) {
	t.Helper()
	if err := d.Ack(testCtx(t)); err != nil {
		t.Fatalf("Ack seq %d: %v", d.Msg().Seq, err)
	}
}

// nothing checks that c hands out nothing within wait.
func nothing(t *testing.T, c queue.Consumer, wait time.Duration) {
	t.Helper()
	ds, err := c.More(testCtx(t), 1, wait)
	if err != nil {
		t.Fatalf("More: %v", err)
	}
	if len(ds) > 0 {
		t.Fatalf("handed out %q, want nothing", ds[0].Msg().Data)
	}
}

// crash stops the group member behind c as a killed process would: without
// waiting for what it handed out, without a final commit.
func crash(t *testing.T, c queue.Consumer) {
	t.Helper()
	var g *groupReader
	switch c := c.(type) {
	case *workConsumer:
		g = c.g
	case *destConsumer:
		g = c.d.g
	default:
		t.Fatalf("crash: unknown consumer %T", c)
	}
	g.mu.Lock()
	g.crash = true
	g.mu.Unlock()
	if err := g.stop(testCtx(t)); err != nil {
		t.Fatalf("crash: %v", err)
	}
}

// eventually waits until cond holds, polling: for states the API offers no
// signal for (group assignment, commits).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
