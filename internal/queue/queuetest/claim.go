package queuetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/internal/queue"
)

// announceWithin bounds how late a Claim announces a delivery stored while
// it runs, its partitions settled.
const announceWithin = 5 * time.Second

func claim(t *testing.T, ctx context.Context, q queue.Queue) queue.Claim {
	t.Helper()
	cl, err := q.Claim(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// announced reads w until it names destination, within d; other names are
// passed over.
func announced(t *testing.T, w <-chan string, destination string, d time.Duration) {
	t.Helper()
	timeout := time.After(d)
	for {
		select {
		case name, ok := <-w:
			if !ok {
				t.Fatalf("waiting for %s: Waiting closed", destination)
			}
			if name == destination {
				return
			}
		case <-timeout:
			t.Fatalf("%s not announced within %v", destination, d)
		}
	}
}

// drain takes what w offers now, so that what comes next was sent later.
func drain(w <-chan string) {
	for {
		select {
		case <-w:
		default:
			return
		}
	}
}

// lane takes all of destination's deliveries, n of them, in order, acks
// them and stops, as dispatch's lane for it would.
func lane(t *testing.T, q queue.Queue, destination string, acks []queue.PubAck) {
	t.Helper()
	c := laneOf(t, q, destination)
	defer c.Stop()
	for _, a := range acks {
		d := next(t, c)
		if d.Msg().Seq != a.Seq {
			t.Errorf("%s's lane: #%d handed out, want #%d", destination, d.Msg().Seq, a.Seq)
		}
		ack(t, d)
	}
}

func testClaimAnnouncesWaiting(t *testing.T, _ Backend, open func(t *testing.T) queue.Queue) {
	q := open(t)
	early := publishOut(t, q, "early", 2)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cl := claim(t, ctx, q)
	w := cl.Waiting()

	announced(t, w, "early", wait)
	eventually(t, "the only instance owning early", func() bool { return cl.Owns("early") })
	late := publishOut(t, q, "late", 1)
	announced(t, w, "late", announceWithin)

	lane(t, q, "early", early)
	lane(t, q, "late", late)
	settles(t, q, w, time.Second)

	cancel()
	timeout := time.After(wait)
	for {
		select {
		case _, ok := <-w:
			if !ok {
				return
			}
		case <-timeout:
			t.Fatal("Waiting still open after the claim's context ended")
		}
	}
}

// settles acts for a second as dispatch would on what w announces, with
// nothing waiting any more: repeats may come, late, and for each a lane
// starts, finds nothing and stops; stopping it must not start an endless
// round of them.
func settles(t *testing.T, q queue.Queue, w <-chan string, d time.Duration) {
	t.Helper()
	quiet := time.After(d)
	for n := 1; ; n++ {
		select {
		case name := <-w:
			if n > 3 {
				t.Fatalf("%s announced again and again with nothing waiting", name)
			}
			c := laneOf(t, q, name)
			none(t, c, 100*time.Millisecond, "drained, and announced")
			c.Stop()
		case <-quiet:
			return
		}
	}
}

func testClaimAnnouncesLeftovers(t *testing.T, _ Backend, open func(t *testing.T) queue.Queue) {
	q := open(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cl := claim(t, ctx, q)
	acks := publishOut(t, q, "x", 3)
	announced(t, cl.Waiting(), "x", wait)

	c := laneOf(t, q, "x")
	ack(t, next(t, c))
	drain(cl.Waiting())
	c.Stop()
	announced(t, cl.Waiting(), "x", announceWithin)
	lane(t, q, "x", acks[1:])
}

// testClaimSplitsBetweenInstances: two instances share the destinations,
// each told of those it owns; when one closes, the other owns them all and
// is told of those that wait.
func testClaimSplitsBetweenInstances(t *testing.T, _ Backend, open func(t *testing.T) queue.Queue) {
	qs := []queue.Queue{open(t), open(t)}
	var dests []string
	for i := range 20 {
		dests = append(dests, fmt.Sprint("d", i))
		publishOut(t, qs[0], dests[i], 1)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	var mu sync.Mutex
	told := []map[string]bool{{}, {}}
	claims := make([]queue.Claim, len(qs))
	for i, q := range qs {
		claims[i] = claim(t, ctx, q)
		wg.Go(func() {
			for {
				select {
				case name, ok := <-claims[i].Waiting():
					if !ok {
						return
					}
					mu.Lock()
					told[i][name] = true
					mu.Unlock()
				case <-ctx.Done():
					return
				}
			}
		})
	}

	owners := map[string]int{}
	eventually(t, "every destination owned by one instance, each owning some", func() bool {
		n := []int{0, 0}
		for _, d := range dests {
			o0, o1 := claims[0].Owns(d), claims[1].Owns(d)
			if o0 == o1 {
				return false
			}
			owners[d] = 1
			if o0 {
				owners[d] = 0
			}
			n[owners[d]]++
		}
		return n[0] > 0 && n[1] > 0
	})
	eventually(t, "each instance told of the destinations it owns", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, d := range dests {
			if !told[owners[d]][d] {
				return false
			}
		}
		return true
	})

	mu.Lock()
	clear(told[1])
	mu.Unlock()
	if err := qs[0].Close(ctxFor(t, wait)); err != nil {
		t.Fatalf("close instance 0: %v", err)
	}
	eventually(t, "instance 1 owning every destination", func() bool {
		for _, d := range dests {
			if !claims[1].Owns(d) {
				return false
			}
		}
		return true
	})
	eventually(t, "instance 1 told of the destinations instance 0 owned", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, d := range dests {
			if owners[d] == 0 && !told[1][d] {
				return false
			}
		}
		return true
	})
	// OwnedSince: a time while owned (and the same time while it stays
	// owned), zero where not owned. Read once instance 0 is gone: while
	// the two split the partitions, one may still hand some over.
	since := map[string]time.Time{}
	for _, d := range dests {
		since[d] = claims[1].OwnedSince(d)
		if since[d].IsZero() || !claims[0].OwnedSince(d).IsZero() {
			t.Errorf("%s, owned by instance 1 alone: owned since %v there and %v by the closed instance, want a time and zero",
				d, since[d], claims[0].OwnedSince(d))
		}
	}
	for _, d := range dests {
		if got := claims[1].OwnedSince(d); !got.Equal(since[d]) {
			t.Errorf("%s, owned by instance 1 throughout: owned since %v, then %v", d, since[d], got)
		}
	}
}

// eventually polls cond (for states without a signal, such as ownership)
// until it holds, failing the test after the suite's wait.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	timeout := time.After(wait)
	for !cond() {
		select {
		case <-tick.C:
		case <-timeout:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
