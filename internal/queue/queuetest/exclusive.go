package queuetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/internal/queue"
)

func publishOut(t *testing.T, q queue.Queue, destination string, n int) []queue.PubAck {
	t.Helper()
	var ms []queue.Msg
	for i := range n {
		ms = append(ms, queue.Msg{Subject: queue.OutSubject(destination), Data: fmt.Appendf(nil, "%d", i)})
	}
	acks, err := q.PublishAll(ctxFor(t, wait), ms)
	if err != nil {
		t.Fatal(err)
	}
	return acks
}

// waitOwner polls (ownership changes have no signal) until exactly one of
// cs owns, and returns it.
func waitOwner(t *testing.T, what string, cs ...queue.Consumer) int {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	timeout := time.After(wait)
	for {
		owner, owners := -1, 0
		for i, c := range cs {
			if c.Owned() {
				owner, owners = i, owners+1
			}
		}
		if owners == 1 {
			return owner
		}
		select {
		case <-tick.C:
		case <-timeout:
			t.Fatalf("%s: %d instances own the consumer, want one", what, owners)
		}
	}
}

func testExclusiveTakeOver(t *testing.T, _ Backend, open func(t *testing.T) queue.Queue) {
	qs := []queue.Queue{open(t), open(t)}
	cs := []queue.Consumer{laneOf(t, qs[0], "x"), laneOf(t, qs[1], "x")}
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan received)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	for i, c := range cs {
		wg.Go(func() { receive(ctx, t, i, c, got) })
	}

	owner := waitOwner(t, "two instances", cs...)
	other := 1 - owner
	for _, r := range collect(t, got, len(publishOut(t, qs[other], "x", 5))) {
		if r.member != owner {
			t.Errorf("#%d went to instance %d; instance %d owns the consumer", r.seq, r.member, owner)
		}
	}

	if err := qs[owner].Close(ctxFor(t, wait)); err != nil {
		t.Fatalf("close the owner: %v", err)
	}
	if waitOwner(t, "after the owner closed", cs...) != other {
		t.Fatalf("instance %d still owns the consumer after its queue closed", owner)
	}
	for _, r := range collect(t, got, len(publishOut(t, qs[other], "x", 5))) {
		if r.member != other {
			t.Errorf("#%d went to instance %d after it closed", r.seq, r.member)
		}
	}
}

func testBacklog(t *testing.T, _ Backend, open func(t *testing.T) queue.Queue) {
	q := open(t)
	// An implementation may see only the backlog of the consumers it runs.
	c := laneOf(t, q, "busy")
	acks := publishOut(t, q, "busy", 3)
	times := make([]time.Time, len(acks))
	for i, a := range acks {
		times[i] = get(t, q, queue.StreamOut, a.Seq).Time
	}
	waitBacklog(t, q, 3, times[0])
	ack(t, next(t, c))
	waitBacklog(t, q, 2, times[1])
}

// waitBacklog polls until busy's backlog is count messages, the oldest
// stored at oldest, while idle's is empty.
func waitBacklog(t *testing.T, q queue.Queue, count uint64, oldest time.Time) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	timeout := time.After(wait)
	for {
		b, err := q.Backlog(ctxFor(t, wait), []string{"busy", "idle"})
		if err != nil {
			t.Fatal(err)
		}
		if b["idle"] != (queue.Waiting{}) {
			t.Fatalf("idle destination's backlog: %+v", b["idle"])
		}
		busy := b["busy"]
		if busy.Count == count && busy.Oldest.Sub(oldest).Abs() <= time.Millisecond {
			return
		}
		select {
		case <-tick.C:
		case <-timeout:
			t.Fatalf("backlog %+v, want %d messages, the oldest stored at %v", busy, count, oldest)
		}
	}
}

// A destination's deliveries come in order however many wait (more than a
// lane reads at once), a delivery handed back comes again before the ones
// after it, and none is skipped or left behind.
func testLaneInOrder(t *testing.T, _ Backend, open func(t *testing.T) queue.Queue) {
	q := open(t)
	const n, handBackAt = 100, 45
	acks := publishOut(t, q, "ordered", n)
	c := laneOf(t, q, "ordered")
	var got []uint64
	for len(got) < n {
		d := next(t, c)
		// All were stored before the lane opened: what waits behind the
		// first is known exactly. Later a count may err low while a
		// settle is on its way to the store, never high.
		if want := uint64(n - 1 - len(got)); d.Behind() > want || (len(got) == 0 && d.Behind() != want) {
			t.Errorf("delivery %d: %d behind it, want %d", len(got), d.Behind(), want)
		}
		if len(got) == handBackAt && d.Attempt() == 1 {
			if err := d.Retry(0); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got = append(got, d.Msg().Seq)
		ack(t, d)
	}
	for i, a := range acks {
		if got[i] != a.Seq {
			t.Fatalf("delivery %d: #%d, want #%d (in order, none skipped)", i, got[i], a.Seq)
		}
	}
	none(t, c, 500*time.Millisecond, "every delivery acked")
	b, err := q.Backlog(ctxFor(t, wait), []string{"ordered"})
	if err != nil {
		t.Fatal(err)
	}
	if b["ordered"].Count != 0 {
		t.Errorf("backlog after every delivery was acked: %+v", b["ordered"])
	}
}

// testLaneSettlesOutOfOrder: a digest's worth handed out at once and settled
// out of order (the first handed back once the others are acked) loses
// none, and hands none of the acked out again, here or, after Close, in the
// next instance.
func testLaneSettlesOutOfOrder(t *testing.T, _ Backend, open func(t *testing.T) queue.Queue) {
	q := open(t)
	const n, hold = 40, 32
	acks := publishOut(t, q, "digest", n)
	c, err := q.OpenLane(ctxFor(t, wait), "digest", queue.LaneOptions{Hold: hold})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	ds := []queue.Delivery{next(t, c)} // once the lane is owned
	for len(ds) < hold {
		more, err := c.More(ctxFor(t, wait), hold-len(ds), wait)
		if err != nil || len(more) == 0 {
			t.Fatalf("more: %d deliveries, %v; want %d", len(more), err, hold-len(ds))
		}
		ds = append(ds, more...)
	}
	for _, d := range ds[1:] {
		ack(t, d)
	}
	if err := ds[0].Retry(0); err != nil {
		t.Fatal(err)
	}
	got := []uint64{}
	for len(got) < n-hold+1 {
		d := next(t, c)
		got = append(got, d.Msg().Seq)
		ack(t, d)
	}
	want := []uint64{acks[0].Seq}
	for _, a := range acks[hold:] {
		want = append(want, a.Seq)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after settling out of order: handed out #%v, want #%v", got, want)
	}
	none(t, c, 300*time.Millisecond, "every delivery acked")
	c.Stop()
	if err := q.Close(ctxFor(t, wait)); err != nil {
		t.Fatal(err)
	}
	next := open(t)
	none(t, laneOf(t, next, "digest"), 500*time.Millisecond, "every delivery acked before Close")
	if b, err := next.Backlog(ctxFor(t, wait), []string{"digest"}); err != nil || b["digest"].Count != 0 {
		t.Errorf("backlog after every delivery was acked: %+v, %v", b["digest"], err)
	}
}
