package kafkaqueue

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/hookrelay/hookrelay/internal/queue"
)

// destPartition is the partition of out that dest's records go to.
func destPartition(q *Queue, dest string) int32 {
	return partitionFor(keyOf(queue.OutSubject(dest)), q.partitions[q.topic(queue.StreamOut)])
}

// samePartition returns n destination names whose records share a
// partition of q's out, and that partition.
func samePartition(t *testing.T, q *Queue, n int) ([]string, int32) {
	t.Helper()
	by := map[int32][]string{}
	for i := range 1000 {
		name := fmt.Sprint("dest-", i)
		p := destPartition(q, name)
		by[p] = append(by[p], name)
		if len(by[p]) == n {
			return by[p], p
		}
	}
	t.Fatalf("no %d destinations on one partition", n)
	return nil, 0
}

func TestExclusiveParkedDestinationDoesNotDelayAnother(t *testing.T) {
	c := newCluster(t)
	q := newQueue(t, c, Options{})
	names, _ := samePartition(t, q, 2)
	down, up := names[0], names[1]
	for i := range 3 {
		publish(t, q, queue.OutSubject(down), fmt.Sprint(down, i))
		publish(t, q, queue.OutSubject(up), fmt.Sprint(up, i))
	}
	downCons := consume(t, q, destCfg(down))
	upCons := consume(t, q, destCfg(up))

	first, data := nextData(t, downCons)
	if data != down+"0" {
		t.Fatalf("down destination got %q first, want %s0", data, down)
	}
	// The destination is down: its delivery waits, and so do the ones behind.
	if err := first.Retry(time.Hour); err != nil {
		t.Fatalf("Nak: %v", err)
	}
	for i := range 3 {
		d, data := nextData(t, upCons)
		if want := fmt.Sprint(up, i); data != want {
			t.Fatalf("healthy destination got %q, want %q", data, want)
		}
		ack(t, d)
	}
	// Per-destination order: nothing of the down destination overtakes its
	// parked first delivery.
	nothing(t, downCons, 200*time.Millisecond)

	w, err := q.Backlog(testCtx(t), []string{down, up})
	if err != nil {
		t.Fatalf("Backlog: %v", err)
	}
	if w[down].Count != 3 || w[down].Oldest.IsZero() || w[up].Count != 0 {
		t.Fatalf("backlog %+v, want 3 parked for %s and none for %s", w, down, up)
	}
	if !downCons.Owned() || !upCons.Owned() {
		t.Fatal("the only member does not own its destinations")
	}
}

func TestExclusiveNakOrderAndRedelivery(t *testing.T) {
	c := newCluster(t)
	q := newQueue(t, c, Options{})
	publish(t, q, queue.OutSubject("a"), "a0")
	publish(t, q, queue.OutSubject("a"), "a1")
	cons := consume(t, q, destCfg("a"))
	d, _ := nextData(t, cons)
	if err := d.Retry(100 * time.Millisecond); err != nil {
		t.Fatalf("Nak: %v", err)
	}
	again, data := nextData(t, cons)
	if data != "a0" || again.Attempt() != 2 {
		t.Fatalf("after Nak got %q delivered %d, want a0 delivered 2", data, again.Attempt())
	}
	if again.Behind() != 1 {
		t.Errorf("Behind %d, want 1 (a1 behind it)", again.Behind())
	}
	ack(t, again)
	last, data := nextData(t, cons)
	if data != "a1" {
		t.Fatalf("got %q, want a1", data)
	}
	ack(t, last)
}

func TestExclusiveOwnershipSplitsAndMovesOnClose(t *testing.T) {
	c := newCluster(t)
	q1 := newQueue(t, c, Options{Partitions: 4})
	q2 := newQueue(t, c, Options{Partitions: 4})
	var dests []string
	for i := range 16 {
		dests = append(dests, fmt.Sprint("d", i))
	}
	cons1 := map[string]queue.Consumer{}
	cons2 := map[string]queue.Consumer{}
	for _, d := range dests {
		cons1[d] = consume(t, q1, destCfg(d))
		cons2[d] = consume(t, q2, destCfg(d))
	}
	eventually(t, "the partitions split between both queues", func() bool {
		n1, n2 := 0, 0
		for _, d := range dests {
			o1, o2 := cons1[d].Owned(), cons2[d].Owned()
			if o1 && o2 {
				t.Fatalf("destination %s owned by both queues", d)
			}
			if o1 {
				n1++
			}
			if o2 {
				n2++
			}
		}
		return n1 > 0 && n2 > 0 && n1+n2 == len(dests)
	})

	// On a partition q1 owns: one destination parks, another is delivered
	// and acked out of the partition's order, so its acks are beyond the
	// committed offset.
	var parked, acked string
	for _, a := range dests {
		for _, b := range dests {
			if a != b && cons1[a].Owned() && destPartition(q1, a) == destPartition(q1, b) {
				parked, acked = a, b
			}
		}
	}
	if parked == "" {
		t.Fatal("q1 owns no partition with two of the destinations")
	}
	publish(t, q1, queue.OutSubject(parked), "parked0")
	for i := range 3 {
		publish(t, q1, queue.OutSubject(acked), fmt.Sprint("acked", i))
	}
	p, _ := nextData(t, cons1[parked])
	if err := p.Retry(time.Hour); err != nil {
		t.Fatalf("Nak: %v", err)
	}
	for range 2 {
		d, _ := nextData(t, cons1[acked])
		ack(t, d)
	}
	// The third is handed out and never settled: q1 dies holding it.
	nextData(t, cons1[acked])
	crash(t, cons1[acked])

	eventually(t, "q2 owning every destination", func() bool {
		for _, d := range dests {
			if !cons2[d].Owned() {
				return false
			}
		}
		return true
	})
	d, data := nextData(t, cons2[acked])
	if data != "acked2" {
		t.Fatalf("takeover handed out %q first, want acked2 (acked0 and 1 carry acks markers)", data)
	}
	ack(t, d)
	d, data = nextData(t, cons2[parked])
	if data != "parked0" || d.Attempt() != 1 {
		t.Fatalf("takeover: parked destination got %q delivered %d, want parked0 delivered 1", data, d.Attempt())
	}
	ack(t, d)
}

func TestExclusiveAckedNotRedeliveredAfterRestart(t *testing.T) {
	c := newCluster(t)
	q1 := newQueue(t, c, Options{})
	names, _ := samePartition(t, q1, 2)
	parked, acked := names[0], names[1]
	publish(t, q1, queue.OutSubject(parked), "parked0")
	publish(t, q1, queue.OutSubject(acked), "acked0")
	publish(t, q1, queue.OutSubject(acked), "acked1")
	pc := consume(t, q1, destCfg(parked))
	ac := consume(t, q1, destCfg(acked))
	p, _ := nextData(t, pc)
	if err := p.Retry(time.Hour); err != nil {
		t.Fatalf("Nak: %v", err)
	}
	d, _ := nextData(t, ac)
	ack(t, d)
	closeQueue(t, q1)

	q2 := newQueue(t, c, Options{})
	ac2 := consume(t, q2, destCfg(acked))
	d, data := nextData(t, ac2)
	if data != "acked1" {
		t.Fatalf("after restart got %q, want acked1 (acked0 was acked)", data)
	}
	ack(t, d)
}

func TestLaneRefusesWildcard(t *testing.T) {
	c := newCluster(t)
	q := newQueue(t, c, Options{})
	if _, err := q.OpenLane(testCtx(t), ">", queue.LaneOptions{Hold: 1}); err == nil {
		t.Fatal("a lane of a wildcard opened")
	}
}

// A holder waiting to retry (dispatch's backoff) learns at once that its
// destination's partition is being taken away — not only after the grace —
// so it can let go before the next owner sends the same record, and what it
// lets go is handed out by the next owner, not by itself again.
func TestExclusiveRevokeTellsHolderDuringGrace(t *testing.T) {
	c := newCluster(t)
	q1 := newQueue(t, c, Options{Partitions: 4})
	dests, cons1, held := holdOneEach(t, q1, 16)

	joined := time.Now()
	_, cons2, moving := joinAndTakeOne(t, c, dests, cons1)
	if took := time.Since(joined); took >= revokeGrace {
		t.Fatalf("the holder learned of the move after %v, not within the %v grace", took, revokeGrace)
	}
	if err := held[moving].Retry(0); err != nil {
		t.Fatalf("Nak: %v", err)
	}
	d, data := nextData(t, cons2[moving])
	if data != moving {
		t.Fatalf("next owner got %q, want %q", data, moving)
	}
	ack(t, d)
	for _, dest := range dests {
		if cons1[dest].Owned() {
			ack(t, held[dest])
		}
	}
}

// A holder lets go with Retry(0) while its partition is being revoked (as
// dispatch does once Owned turns false), and the partition comes back: the
// record is handed out again, by the lane kept open, or announced by the
// Claim and handed out by a new lane. Before, the destination's counts
// said one held and none queued, and it got nothing more, silently.
func TestExclusiveRetryWhileRevokedThenBack(t *testing.T) {
	t.Run("lane kept open", func(t *testing.T) { retryWhileRevokedThenBack(t, false) })
	t.Run("lane stopped, claim, new lane", func(t *testing.T) { retryWhileRevokedThenBack(t, true) })
}

func retryWhileRevokedThenBack(t *testing.T, newLane bool) {
	c := newCluster(t)
	q1 := newQueue(t, c, Options{Partitions: 4})
	dests, cons1, held := holdOneEach(t, q1, 16)

	q2, cons2, moving := joinAndTakeOne(t, c, dests, cons1)
	// dispatch: "destination moved to another instance; releasing its held deliveries"
	if err := held[moving].Retry(0); err != nil {
		t.Fatalf("Retry: %v", err)
	}
	// The other destinations on revoked partitions let go as well; the ones kept get acked.
	for _, d := range dests {
		if d == moving {
			continue
		}
		if cons1[d].Owned() {
			ack(t, held[d])
		} else {
			_ = held[d].Retry(0)
		}
	}
	eventually(t, "q2 to own "+moving, func() bool { return cons2[moving].Owned() })
	// q2 never gets to it: it leaves (a rolling restart), so the partition
	// comes back to q1 and its still-open lane.
	for _, d := range dests {
		cons2[d].Stop()
	}
	closeQueue(t, q2)
	eventually(t, "q1 to own "+moving+" again", func() bool { return cons1[moving].Owned() })

	dc := cons1[moving].(*destConsumer)

	eventually(t, "the record back in memory", func() bool {
		dc.d.g.mu.Lock()
		defer dc.d.g.mu.Unlock()
		return len(dc.dq.entries) == 1
	})
	if newLane {
		// dispatch's worker idles out and stops its lane; the Claim should
		// then announce the parked record, and a new lane take it.
		cons1[moving].Stop()
		cl, err := q1.Claim(testCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		select {
		case <-cl.Waiting():
		case <-time.After(2 * time.Second):
			t.Errorf("claim never announced %s, whose record is parked with no lane", moving)
		}
		lane, err := q1.OpenLane(testCtx(t), moving, queue.LaneOptions{Hold: 1})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(lane.Stop)
		cons1[moving] = lane
	}
	ds, err := cons1[moving].More(testCtx(t), 1, 5*time.Second)
	if err != nil {
		t.Fatalf("More: %v", err)
	}
	if len(ds) == 0 {
		dc.d.g.mu.Lock()
		held, queued, n := dc.dq.held, dc.dq.queued, len(dc.dq.entries)
		dc.d.g.mu.Unlock()
		t.Fatalf("lane of %s stalled: its record is back in memory but never handed out (held=%d queued=%d entries=%d)",
			moving, held, queued, n)
	}
	ack(t, ds[0])
}

// The acks markers are read from the broker's time of the first record
// the new owner reads, not from the time its publisher stamped: a record
// published by an instance whose clock ran five minutes ahead did not hide
// the markers written after it, and what they name is not handed out again
// after a clean handover.
func TestExclusiveAckMarkersReadByTheBrokersClock(t *testing.T) {
	c := newCluster(t)
	q1 := newQueue(t, c, Options{})
	names, _ := samePartition(t, q1, 2)
	parked, acked := names[0], names[1]

	// parked0 comes from a transform instance whose clock is 5 min ahead.
	r := recordOf(q1.topic(queue.StreamOut), queue.Msg{Subject: queue.OutSubject(parked), Data: []byte("parked0")})
	for i := range r.Headers {
		if r.Headers[i].Key == headerTime {
			r.Headers[i].Value = strconv.AppendInt(nil, time.Now().Add(5*time.Minute).UnixNano(), 10)
		}
	}
	if err := q1.cl.ProduceSync(testCtx(t), r).FirstErr(); err != nil {
		t.Fatal(err)
	}
	publish(t, q1, queue.OutSubject(acked), "acked0")
	publish(t, q1, queue.OutSubject(acked), "acked1")

	pc := consume(t, q1, destCfg(parked))
	ac := consume(t, q1, destCfg(acked))
	p, _ := nextData(t, pc)
	if err := p.Retry(time.Hour); err != nil { // destination down: commit stays at parked0
		t.Fatal(err)
	}
	d, data := nextData(t, ac)
	if data != "acked0" {
		t.Fatalf("got %q", data)
	}
	ack(t, d) // marker stored on acks
	closeQueue(t, q1)

	q2 := newQueue(t, c, Options{})
	ac2 := consume(t, q2, destCfg(acked))
	d, data = nextData(t, ac2)
	if data != "acked1" {
		t.Fatalf("after a clean handover got %q, want acked1: acked0 was acked and its marker is on the acks topic", data)
	}
	ack(t, d)
}

// holdOneEach stores one delivery for each of n destinations d0…, opens
// their lanes on q and takes each one's delivery: q holds one of each.
func holdOneEach(t *testing.T, q *Queue, n int) (dests []string, lanes map[string]queue.Consumer, held map[string]queue.Delivery) {
	t.Helper()
	lanes, held = map[string]queue.Consumer{}, map[string]queue.Delivery{}
	for i := range n {
		d := fmt.Sprint("d", i)
		dests = append(dests, d)
		publish(t, q, queue.OutSubject(d), d)
		lanes[d] = consume(t, q, destCfg(d))
	}
	for _, d := range dests {
		held[d], _ = nextData(t, lanes[d])
	}
	return dests, lanes, held
}

// joinAndTakeOne opens a second instance on c with lanes of dests, and
// waits until the first (lanes) sees one of its destinations being taken
// away: the second instance, its lanes, and that destination.
func joinAndTakeOne(t *testing.T, c *kfake.Cluster, dests []string, lanes map[string]queue.Consumer) (*Queue, map[string]queue.Consumer, string) {
	t.Helper()
	q2 := newQueue(t, c, Options{Partitions: 4})
	lanes2 := map[string]queue.Consumer{}
	for _, d := range dests {
		lanes2[d] = consume(t, q2, destCfg(d))
	}
	var moving string
	eventually(t, "the first instance to see one of its destinations being taken away", func() bool {
		for _, d := range dests {
			if !lanes[d].Owned() {
				moving = d
				return true
			}
		}
		return false
	})
	return q2, lanes2, moving
}
