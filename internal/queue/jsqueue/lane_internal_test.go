package jsqueue

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookrelay/hookrelay/internal/natsembed"
	"github.com/hookrelay/hookrelay/internal/queue"
)

// startQueue starts an embedded server and a Queue on it, both closed
// when the test ends.
func startQueue(t *testing.T) (*Queue, *nats.Conn) {
	t.Helper()
	srv, err := natsembed.Start(natsembed.Options{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatalf("start embedded nats: %v", err)
	}
	t.Cleanup(srv.Shutdown)
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(nc.Close)
	ctx := laneTestContext(t)
	q, err := New(ctx, nc, queue.StreamOptions{})
	if err != nil {
		t.Fatalf("open queue: %v", err)
	}
	t.Cleanup(func() { _ = q.Close(context.Background()) })
	return q, nc
}

// laneTestContext bounds a lane test.
func laneTestContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// publishOut stores one delivery of data for destination and returns its
// sequence.
func publishOut(ctx context.Context, t *testing.T, q *Queue, destination, data string) uint64 {
	t.Helper()
	acks, err := q.PublishAll(ctx, []queue.Msg{{Subject: queue.OutSubject(destination), Data: []byte(data)}})
	if err != nil {
		t.Fatal(err)
	}
	return acks[0].Seq
}

// openLane opens destination's lane, stopped when the test ends.
func openLane(ctx context.Context, t *testing.T, q *Queue, destination string) *lane {
	t.Helper()
	c, err := q.OpenLane(ctx, destination, queue.LaneOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	return c.(*lane)
}

// A lane deletes what was settled before its first delivery that may not
// be settled as one purge of its subject, and what was settled after it one
// by one: the unsettled delivery and the other destinations' stay.
func TestLaneDeletesSettledBeforeTheUnsettledAsOnePurge(t *testing.T) {
	t.Parallel()
	q, _ := startQueue(t)
	ctx := laneTestContext(t)

	var ms []queue.Msg
	for _, dest := range []string{"a", "b", "a", "a", "b", "a", "a"} {
		ms = append(ms, queue.Msg{Subject: queue.OutSubject(dest), Data: []byte(dest)})
	}
	acks, err := q.PublishAll(ctx, ms)
	if err != nil {
		t.Fatal(err)
	}
	seq := func(i int) uint64 { return acks[i].Seq }
	l := openLane(ctx, t, q, "a")
	// a's deliveries are 0, 2, 3, 5, 6: settled 0, 2, 3 and 6, not 5.
	left, err := l.delete(ctx, []uint64{seq(0), seq(2), seq(3), seq(6)}, seq(5))
	if err != nil || len(left) != 0 {
		t.Fatalf("delete: %v left, %v", left, err)
	}
	st, err := q.stream(queue.StreamOut)
	if err != nil {
		t.Fatal(err)
	}
	for i := range ms {
		_, err := st.GetMsg(ctx, seq(i))
		gone := err != nil
		if want := i == 0 || i == 2 || i == 3 || i == 6; gone != want {
			t.Errorf("delivery %d (#%d) of %s: deleted %v (%v), want %v", i, seq(i), ms[i].Subject, gone, err, want)
		}
		if gone && err != jetstream.ErrMsgNotFound {
			t.Errorf("delivery %d: %v", i, err)
		}
	}
}

// A delete the store made but did not confirm in time (a stalled server
// that caught up later) is made again: the delivery is not there, which is
// what the lane wanted, so it is not an error to retry for ever.
func TestLaneDeleteOfADeletedDeliveryIsDone(t *testing.T) {
	t.Parallel()
	q, _ := startQueue(t)
	ctx := laneTestContext(t)
	seq := publishOut(ctx, t, q, "a", "a")
	l := openLane(ctx, t, q, "a")
	for range 2 {
		if left, err := l.delete(ctx, []uint64{seq}, seq); err != nil || len(left) != 0 {
			t.Fatalf("delete: %v left, %v", left, err)
		}
	}
}

// A lane that read everything stored reads again only for a wake of a
// delivery it has not read past: deliveries arriving one at a time cost one
// read each, not a second that finds nothing.
func TestLaneReadsOncePerDeliveryArrivingAlone(t *testing.T) {
	t.Parallel()
	q, nc := startQueue(t)
	ctx := laneTestContext(t)
	var reads atomic.Int64
	// Direct gets name the stream only; what they read is in the request.
	sub, err := nc.Subscribe("$JS.API.DIRECT.GET."+queue.StreamOut, func(*nats.Msg) { reads.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()

	c := openLane(ctx, t, q, "a")
	const n = 30
	for i := range n {
		seq := publishOut(ctx, t, q, "a", "a")
		d, err := c.Next(ctx)
		if err != nil || d.Msg().Seq != seq {
			t.Fatalf("delivery %d: %v, %v; want #%d", i, d, err, seq)
		}
		if err := d.Ack(ctx); err != nil {
			t.Fatal(err)
		}
		// The holder asks for more before the next arrives, as dispatch's
		// worker does.
		if more, err := c.More(ctx, 1, 0); err != nil || len(more) != 0 {
			t.Fatalf("more after delivery %d: %d, %v; want none", i, len(more), err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	// Besides one read a delivery: the first read and its count, and one
	// after each recount or change of the partitions' owner (the claimer
	// takes them as the test begins) may find nothing. Reading again
	// after each delivery made 2n.
	if got := reads.Load(); got > n+10 {
		t.Errorf("%d reads for %d deliveries arriving one at a time, want at most %d", got, n, n+10)
	}
}

// A store that refuses purges (a NATS user allowed to delete and not to
// purge, as earlier releases needed) gets the deletes one by one.
func TestLaneDeletesOneByOneWhenThePurgeIsRefused(t *testing.T) {
	t.Parallel()
	q, _ := startQueue(t)
	ctx := laneTestContext(t)
	st := denyOnOut(ctx, t, q, false)
	ms := make([]queue.Msg, 4)
	for i := range ms {
		ms[i] = queue.Msg{Subject: queue.OutSubject("a"), Data: []byte("a")}
	}
	acks, err := q.PublishAll(ctx, ms)
	if err != nil {
		t.Fatal(err)
	}
	left, err := openLane(ctx, t, q, "a").delete(ctx, []uint64{acks[0].Seq, acks[1].Seq, acks[2].Seq}, acks[3].Seq)
	if err != nil || len(left) != 0 {
		t.Fatalf("delete with purges refused: %v left, %v", left, err)
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(queue.OutSubject("a")))
	if err != nil {
		t.Fatal(err)
	}
	if n := info.State.Subjects[queue.OutSubject("a")]; n != 1 {
		t.Errorf("%d deliveries stored after three of four were deleted, want 1", n)
	}
}

// A lane stopped while the store refuses its deletes does not hide its
// destination: the next delivery is announced, and the next lane opens
// after drainWait (a second send, not a stalled destination) and hands out
// what could not be deleted, then the rest.
func TestStoppedLaneThatCannotDeleteLetsItsDestinationBeAnnounced(t *testing.T) {
	t.Parallel()
	q, _ := startQueue(t)
	ctx := laneTestContext(t)
	denyOnOut(ctx, t, q, true)
	c, err := q.claimer()
	if err != nil {
		t.Fatal(err)
	}
	c.drainWait = 200 * time.Millisecond
	claim, err := q.Claim(ctx)
	if err != nil {
		t.Fatal(err)
	}
	announced := func(what string) {
		t.Helper()
		for {
			select {
			case name := <-claim.Waiting():
				if name == "a" {
					return
				}
			case <-ctx.Done():
				t.Fatalf("%s: a not announced", what)
			}
		}
	}
	first := publishOut(ctx, t, q, "a", "1")
	announced("the first delivery")
	l, err := q.OpenLane(ctx, "a", queue.LaneOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d, err := l.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	l.Stop() // the worker went idle; the delete is refused
	second := publishOut(ctx, t, q, "a", "2")
	announced("the second delivery, while the stopped lane cannot delete")
	next, err := q.OpenLane(ctx, "a", queue.LaneOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer next.Stop()
	for _, want := range []uint64{first, second} {
		d, err := next.Next(ctx)
		if err != nil || d.Msg().Seq != want {
			t.Fatalf("next lane: %v, %v; want #%d", d, err, want)
		}
		if err := d.Ack(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// denyOnOut makes RELAY_OUT refuse purges, and deletes too when deletes is
// set, and returns it.
func denyOnOut(ctx context.Context, t *testing.T, q *Queue, deletes bool) jetstream.Stream {
	t.Helper()
	st, err := q.stream(queue.StreamOut)
	if err != nil {
		t.Fatal(err)
	}
	cfg := st.CachedInfo().Config
	cfg.DenyDelete, cfg.DenyPurge = deletes, true
	if _, err := q.js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	return st
}

// Once Close waits for the Queue's goroutines, nothing starts another: an
// ack after it (or racing it) starts no deleter, which would add to the
// WaitGroup Close waits on, and a Claim is refused as unavailable.
func TestNothingStartsOnceCloseWaits(t *testing.T) {
	t.Parallel()
	q, _ := startQueue(t)
	ctx := laneTestContext(t)
	publishOut(ctx, t, q, "a", "a")
	l := openLane(ctx, t, q, "a")
	d, err := l.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := d.Ack(ctx); !errors.Is(err, queue.ErrUnavailable) {
		t.Errorf("ack after Close: %v, want ErrUnavailable", err)
	}
	l.mu.Lock()
	deleting := l.drained != nil
	l.mu.Unlock()
	if deleting {
		t.Error("a settle after Close started a deleter")
	}
	if q.spawn(func() {}) {
		t.Error("spawn after Close started a goroutine")
	}
	if _, err := q.Claim(ctx); !errors.Is(err, queue.ErrUnavailable) {
		t.Errorf("Claim after Close: %v, want ErrUnavailable", err)
	}
}

// A lane stopped after it read and settled everything it was woken for
// leaves nothing behind, so the claimer does not read its subject to see
// whether something waits: a quiet destination, whose lane opens and closes
// for each delivery, pays no extra request for it. One that leaves a
// delivery unsettled, or stored and not read, is read after.
func TestLaneKnowsWhenItLeftNothing(t *testing.T) {
	t.Parallel()
	q, _ := startQueue(t)
	ctx := laneTestContext(t)
	stop := func(l *lane) {
		l.Stop()
		<-Drained(l)
	}

	quiet := openLane(ctx, t, q, "quiet")
	// A change of the partitions' owner makes a lane read again: the
	// claimer takes them all first.
	for p := range quiet.c.partitions {
		for owned, changed := quiet.c.owns(p); !owned; owned, changed = quiet.c.owns(p) {
			select {
			case <-changed:
			case <-ctx.Done():
				t.Fatalf("partition %d never owned", p)
			}
		}
	}
	publishOut(ctx, t, q, "quiet", "quiet")
	d, err := quiet.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	if more, err := quiet.More(ctx, 1, 0); err != nil || len(more) != 0 {
		t.Fatalf("more: %d, %v; want none", len(more), err)
	}
	stop(quiet)
	if !quiet.leftNothing() {
		t.Error("a lane that read and settled its one delivery says it left something")
	}

	held := openLane(ctx, t, q, "held")
	publishOut(ctx, t, q, "held", "held")
	if _, err := held.Next(ctx); err != nil {
		t.Fatal(err)
	}
	stop(held)
	if held.leftNothing() {
		t.Error("a lane stopped holding a delivery says it left nothing")
	}

	unread := openLane(ctx, t, q, "unread")
	publishOut(ctx, t, q, "unread", "1")
	publishOut(ctx, t, q, "unread", "2")
	d, err = unread.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	stop(unread)
	if unread.leftNothing() {
		t.Error("a lane stopped with a delivery stored and not handed out says it left nothing")
	}
}

// A delivery handed back while later ones are held is handed out again
// alone: a read from the cursor it moved back leaves out what is held, and
// what was settled since.
func TestLaneHandsOutNothingHeldAgain(t *testing.T) {
	t.Parallel()
	q, _ := startQueue(t)
	ctx := laneTestContext(t)
	s1 := publishOut(ctx, t, q, "a", "1")
	s2 := publishOut(ctx, t, q, "a", "2")
	s3 := publishOut(ctx, t, q, "a", "3")
	l := openLane(ctx, t, q, "a")
	d1, err := l.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	more, err := l.More(ctx, 2, 0)
	if err != nil || len(more) != 2 {
		t.Fatalf("more: %d, %v", len(more), err)
	}
	d2 := more[0]
	if err := d1.Retry(0); err != nil {
		t.Fatal(err)
	}
	again, err := l.More(ctx, 3, 0)
	if err != nil || len(again) != 1 || again[0].Msg().Seq != s1 {
		t.Fatalf("after #%d was handed back: %v (%v), want it alone", s1, seqs(again), err)
	}
	if err := d2.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	<-Drained(l)
	if rest, err := l.More(ctx, 3, 0); err != nil || len(rest) != 0 {
		t.Errorf("after #%d was acked: %v (%v), want nothing (#%d acked, #%d held)", s2, seqs(rest), err, s2, s3)
	}
}

// More does not hand out a delivery handed back with a delay before the
// delay is over.
func TestLaneMoreWaitsForARetryDelay(t *testing.T) {
	t.Parallel()
	q, _ := startQueue(t)
	ctx := laneTestContext(t)
	publishOut(ctx, t, q, "a", "1")
	l := openLane(ctx, t, q, "a")
	d, err := l.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Retry(time.Minute); err != nil {
		t.Fatal(err)
	}
	if got, err := l.More(ctx, 1, 0); err != nil || len(got) != 0 {
		t.Errorf("More right after Retry(1m): %v (%v), want nothing", seqs(got), err)
	}
}

func seqs(ds []queue.Delivery) []uint64 {
	out := make([]uint64, 0, len(ds))
	for _, d := range ds {
		out = append(out, d.Msg().Seq)
	}
	return out
}
