package jsqueue_test

import (
	"bytes"
	"context"
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/hookrelay/hookrelay/internal/natstest"
	"github.com/hookrelay/hookrelay/internal/queue"
	"github.com/hookrelay/hookrelay/internal/queue/jsqueue"
)

// slowPullConn is a connection whose writes of a pull request return only
// pullDelay after the bytes went out: the goroutine of nats.go's iterator that
// sends a pull is still sending it when the server's answer has arrived.
type slowPullConn struct {
	net.Conn
	pullDelay time.Duration
}

func (c slowPullConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	if bytes.Contains(b, []byte("CONSUMER.MSG.NEXT")) {
		time.Sleep(c.pullDelay)
	}
	return n, err
}

type slowPullDialer struct{ pullDelay time.Duration }

func (d slowPullDialer) Dial(network, address string) (net.Conn, error) {
	c, err := net.Dial(network, address)
	if err != nil {
		return nil, err
	}
	return slowPullConn{Conn: c, pullDelay: d.pullDelay}, nil
}

// A shared consumer whose reader takes a whole batch while the pull that
// asked for it is still being sent goes on without a pause. nats.go's
// iterator makes its next pull only at the start of a wait, and not while a
// pull is being sent: its reader then waited on a pull never made until it
// missed the pulls' heartbeats, 10 s (seen as transform pausing 10 s in one
// benchmark run in 15 on a busy machine, thousands of events waiting).
func TestSharedConsumerGoesOnWhenItsPullIsSlowToSend(t *testing.T) {
	env := natstest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const events = 40 // more than a batch of the iterator (16)
	pub := env.Queue(t)
	for range events {
		if _, err := pub.Publish(ctx, queue.Msg{Subject: queue.InSubject("s"), Data: []byte("{}")}); err != nil {
			t.Fatal(err)
		}
	}

	// A write buffer of one byte has every publish written by the goroutine
	// that publishes, the iterator's pull included.
	nc, err := nats.Connect(env.Server.ClientURL(), nats.WriteBufferSize(1),
		nats.SetCustomDialer(slowPullDialer{pullDelay: 300 * time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	q, err := jsqueue.New(ctx, nc, queue.StreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = q.Close(context.Background()) }()
	cons, err := q.FeedEvents(ctx, "slowpull", queue.FeedOptions{Redeliver: time.Minute, InFlight: 1000})
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Stop()

	// The messages are acked once all are read: an ack would wait for the
	// slow pull's write and let it end before the batch is taken.
	start := time.Now()
	var got []queue.Delivery
	for len(got) < events {
		nctx, ncancel := context.WithTimeout(ctx, 5*time.Second)
		d, err := cons.Next(nctx)
		ncancel()
		if err != nil {
			t.Fatalf("message %d of %d: %v after %v (a pause of the pull)", len(got)+1, events, err, time.Since(start).Round(time.Millisecond))
		}
		got = append(got, d)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("%d messages took %v", events, took)
	}
	for _, d := range got {
		if err := d.Ack(ctx); err != nil {
			t.Fatal(err)
		}
	}
}
