package queuetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/internal/queue"
)

func publishIn(t *testing.T, q queue.Queue, n int) []queue.PubAck {
	t.Helper()
	var ms []queue.Msg
	for i := range n {
		ms = append(ms, queue.Msg{Subject: queue.InSubject("s"), Data: fmt.Appendf(nil, "%d", i)})
	}
	acks, err := q.PublishAll(ctxFor(t, wait), ms)
	if err != nil {
		t.Fatal(err)
	}
	return acks
}

func ack(t *testing.T, d queue.Delivery) {
	t.Helper()
	if err := d.Ack(ctxFor(t, wait)); err != nil {
		t.Fatalf("ack #%d: %v", d.Msg().Seq, err)
	}
}

func testAcked(t *testing.T, _ Backend, open func(t *testing.T) queue.Queue) {
	q := open(t)
	const ackWait = time.Second
	// Stored before the consumer starts, so the count behind each one is known
	// when it is handed out: a consumer already pulling could fetch the first
	// before the others are stored and rightly see nothing behind it.
	acks := publishIn(t, q, 3)
	c := feed(t, q, ackWait)
	for i := range acks {
		d := next(t, c)
		if d.Msg().Seq != acks[i].Seq || d.Attempt() != 1 {
			t.Errorf("handed out #%d delivered %d, want #%d the first time", d.Msg().Seq, d.Attempt(), acks[i].Seq)
		}
		if want := uint64(len(acks) - 1 - i); d.Behind() != want {
			t.Errorf("#%d: %d pending behind it, want %d", d.Msg().Seq, d.Behind(), want)
		}
		ack(t, d)
	}
	none(t, c, 2*ackWait, "acked")
}

func testNakDelay(t *testing.T, _ Backend, open func(t *testing.T) queue.Queue) {
	q := open(t)
	c := feed(t, q, time.Minute)
	seq := publishIn(t, q, 1)[0].Seq
	d := next(t, c)
	const delay = 700 * time.Millisecond
	naked := time.Now()
	if err := d.Retry(delay); err != nil {
		t.Fatal(err)
	}
	d = next(t, c)
	if since := time.Since(naked); since < delay {
		t.Errorf("handed out again %v after a nak of %v", since, delay)
	}
	if d.Msg().Seq != seq || d.Attempt() != 2 {
		t.Errorf("after nak: #%d delivered %d, want #%d delivered 2", d.Msg().Seq, d.Attempt(), seq)
	}
	// Without a delay it comes back at once, long before the ack wait.
	if err := d.Retry(0); err != nil {
		t.Fatal(err)
	}
	d = next(t, c)
	if d.Msg().Seq != seq || d.Attempt() != 3 {
		t.Errorf("after nak(0): #%d delivered %d, want #%d delivered 3", d.Msg().Seq, d.Attempt(), seq)
	}
	ack(t, d)
}

func testTerm(t *testing.T, _ Backend, open func(t *testing.T) queue.Queue) {
	q := open(t)
	const ackWait = time.Second
	c := feed(t, q, ackWait)
	acks := publishIn(t, q, 2)
	if err := next(t, c).Drop(); err != nil {
		t.Fatal(err)
	}
	if d := next(t, c); d.Msg().Seq != acks[1].Seq {
		t.Errorf("after term: #%d, want the next, #%d", d.Msg().Seq, acks[1].Seq)
	} else {
		ack(t, d)
	}
	none(t, c, 2*ackWait, "terminated")
}

func testAckWaitRedelivers(t *testing.T, _ Backend, open func(t *testing.T) queue.Queue) {
	q := open(t)
	const ackWait = time.Second
	c := feed(t, q, ackWait)
	seq := publishIn(t, q, 1)[0].Seq
	next(t, c) // and left unsettled
	got := time.Now()
	d := next(t, c)
	// The store counts the ack wait from when it sent the message, a little
	// before it arrived here.
	if since := time.Since(got); since < ackWait/2 {
		t.Errorf("unsettled message handed out again after %v, before the ack wait of %v", since, ackWait)
	}
	if d.Msg().Seq != seq || d.Attempt() != 2 {
		t.Errorf("after the ack wait: #%d delivered %d, want #%d delivered 2", d.Msg().Seq, d.Attempt(), seq)
	}
	ack(t, d)
}

func testNextEndsWithContext(t *testing.T, _ Backend, open func(t *testing.T) queue.Queue) {
	c := feed(t, open(t), time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if d, err := c.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("next on nothing: %v, %v; want the context's error", d, err)
	}
	if ds, err := c.More(ctxFor(t, wait), 5, 200*time.Millisecond); err != nil || len(ds) != 0 {
		t.Errorf("more of nothing: %d, %v; want none and no error", len(ds), err)
	}
}

// received is one message a member got.
type received struct {
	member    int
	seq       uint64
	delivered int
}

// receive acks everything c hands out until ctx ends or c stops, and
// reports it.
func receive(ctx context.Context, t *testing.T, member int, c queue.Consumer, out chan<- received) {
	for {
		d, err := c.Next(ctx)
		if err != nil {
			return // ctx ended, or the consumer stopped
		}
		if err := d.Ack(ctx); err != nil && ctx.Err() == nil {
			t.Errorf("member %d: ack #%d: %v", member, d.Msg().Seq, err)
		}
		select {
		case out <- received{member, d.Msg().Seq, d.Attempt()}:
		case <-ctx.Done():
			return
		}
	}
}

// collect waits for n messages from in.
func collect(t *testing.T, in <-chan received, n int) []received {
	t.Helper()
	var got []received
	timeout := time.After(wait)
	for len(got) < n {
		select {
		case r := <-in:
			got = append(got, r)
		case <-timeout:
			t.Fatalf("received %d of %d: %v", len(got), n, got)
		}
	}
	return got
}

func testMembersShare(t *testing.T, _ Backend, open func(t *testing.T) queue.Queue) {
	a, b := open(t), open(t)
	members := []queue.Consumer{feed(t, a, 5*time.Second), feed(t, b, 5*time.Second)}
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan received)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	for i, c := range members {
		wg.Go(func() { receive(ctx, t, i, c, got) })
	}
	acks := publishIn(t, a, 30)
	seen := map[uint64]int{}
	for _, r := range collect(t, got, len(acks)) {
		seen[r.seq]++
		if r.delivered != 1 {
			t.Errorf("#%d delivered %d times", r.seq, r.delivered)
		}
	}
	for _, a := range acks {
		if seen[a.Seq] != 1 {
			t.Errorf("#%d received %d times, want once", a.Seq, seen[a.Seq])
		}
	}
}

func testStopHandsBack(t *testing.T, _ Backend, open func(t *testing.T) queue.Queue) {
	a := open(t)
	// Longer than the test waits: what comes back comes from Stop.
	first := feed(t, a, time.Minute)
	acks := publishIn(t, a, 5)
	ack(t, next(t, first))
	first.Stop()
	ctx := ctxFor(t, wait)
	if d, err := first.Next(ctx); err == nil || ctx.Err() != nil {
		t.Errorf("next after stop: %v, %v; want an error at once", d, err)
	}

	second := feed(t, open(t), time.Minute)
	seen := map[uint64]bool{}
	for range acks[1:] {
		d := next(t, second)
		if seen[d.Msg().Seq] || d.Msg().Seq == acks[0].Seq {
			t.Errorf("#%d handed out again", d.Msg().Seq)
		}
		seen[d.Msg().Seq] = true
		ack(t, d)
	}
}
