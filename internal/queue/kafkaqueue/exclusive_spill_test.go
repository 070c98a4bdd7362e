package kafkaqueue

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookrelay/hookrelay/internal/queue"
)

// inMemory counts the records of dest the dispatcher behind c keeps in
// memory: parked, handed out, or waiting for the acks markers.
func inMemory(c queue.Consumer, dest string) int {
	d := c.(*destConsumer).d
	subject := queue.OutSubject(dest)
	d.g.mu.Lock()
	defer d.g.mu.Unlock()
	n := 0
	if dq := d.dests[subject]; dq != nil {
		n += len(dq.entries)
	}
	for _, p := range d.g.parts {
		for _, e := range p.waiting {
			if e.msg.Subject == subject {
				n++
			}
		}
	}
	return n
}

// A destination whose lane takes nothing, with a backlog far past the
// bound, keeps only the bound in memory and leaves the rest in Kafka; a
// destination on the same partition still gets every record at once; and
// once the first drains it gets each of its records once, in order.
func TestExclusiveSpilledDestinationDoesNotHoldBackItsPartition(t *testing.T) {
	const bound, backlog, neighbour = 10, 200, 30
	c := newCluster(t)
	q := newQueue(t, c, Options{MaxParked: bound})
	names, _ := samePartition(t, q, 2)
	stuck, live := names[0], names[1]
	stuckCons := consume(t, q, destCfg(stuck))
	liveCons := consume(t, q, destCfg(live))

	for i := range backlog {
		publish(t, q, queue.OutSubject(stuck), fmt.Sprint("s", i))
	}
	eventually(t, "the stuck destination's records fetched", func() bool {
		return inMemory(stuckCons, stuck) >= bound
	})

	start := time.Now()
	for i := range neighbour {
		publish(t, q, queue.OutSubject(live), fmt.Sprint("l", i))
	}
	ctx, cancel := context.WithTimeout(testCtx(t), 5*time.Second)
	defer cancel()
	for i := range neighbour {
		d, err := liveCons.Next(ctx)
		if err != nil {
			t.Fatalf("the neighbour got %d of its %d records, then: %v (held back by the stuck destination?)", i, neighbour, err)
		}
		if got, want := string(d.Msg().Data), fmt.Sprint("l", i); got != want {
			t.Fatalf("neighbour got %q, want %q", got, want)
		}
		ack(t, d)
	}
	t.Logf("the neighbour's %d records arrived within %v while %d of the stuck destination's %d waited in memory",
		neighbour, time.Since(start).Round(time.Millisecond), inMemory(stuckCons, stuck), backlog)
	if n := inMemory(stuckCons, stuck); n > bound {
		t.Fatalf("%d records of the stuck destination in memory, want at most %d", n, bound)
	}
	w, err := q.Backlog(testCtx(t), []string{stuck})
	if err != nil {
		t.Fatalf("Backlog: %v", err)
	}
	if w[stuck].Count != backlog {
		t.Errorf("Backlog counts %d for the stuck destination, want %d (in memory and in Kafka)", w[stuck].Count, backlog)
	}

	// The destination recovers: every record once, in order, the memory
	// bounded all along.
	most := 0
	for i := range backlog {
		d, data := nextData(t, stuckCons)
		if want := fmt.Sprint("s", i); data != want {
			t.Fatalf("stuck destination got %q, want %q", data, want)
		}
		if i < backlog-1 && d.Behind() == 0 {
			t.Fatalf("record %d says nothing is behind it; %d are", i, backlog-1-i)
		}
		most = max(most, inMemory(stuckCons, stuck))
		ack(t, d)
	}
	if most > bound {
		t.Fatalf("%d records of the draining destination in memory at once, want at most %d", most, bound)
	}
	nothing(t, stuckCons, 200*time.Millisecond)

	// Read live again: a new record comes straight through.
	publish(t, q, queue.OutSubject(stuck), "after")
	d, data := nextData(t, stuckCons)
	if data != "after" {
		t.Fatalf("got %q, want after", data)
	}
	ack(t, d)
}

// A destination read back from Kafka while its records keep arriving gets
// each once, in order, whether it is spilled or read live at the moment:
// records come in bursts past the bound, each asked for while the lane is
// halfway through the one before.
func TestExclusiveSpilledDestinationCatchesUpWhileRecordsArrive(t *testing.T) {
	const bound, burst, n = 5, 20, 300
	c := newCluster(t)
	q := newQueue(t, c, Options{MaxParked: bound})
	cons := consume(t, q, destCfg("busy"))
	more := make(chan struct{}, n/burst)
	failed := make(chan error, 1)
	more <- struct{}{}
	go func() {
		for i := range n {
			if i%burst == 0 {
				<-more
			}
			if _, err := q.Publish(testCtx(t), queue.Msg{Subject: queue.OutSubject("busy"), Data: []byte(fmt.Sprint("m", i))}); err != nil {
				failed <- fmt.Errorf("publish m%d: %w", i, err)
				return
			}
		}
	}()
	for i := range n {
		if i%burst == burst/2 {
			more <- struct{}{}
		}
		select {
		case err := <-failed:
			t.Fatal(err)
		default:
		}
		d, data := nextData(t, cons)
		if want := fmt.Sprint("m", i); data != want {
			t.Fatalf("got %q, want %q", data, want)
		}
		if m := inMemory(cons, "busy"); m > bound {
			t.Fatalf("%d records in memory, want at most %d", m, bound)
		}
		ack(t, d)
	}
	nothing(t, cons, 200*time.Millisecond)
}

// A destination's records left in Kafka are handed out again after a
// restart: the committed offset never passes the first of them, and what
// the acks markers name is not.
func TestExclusiveSpilledRecordsSurviveARestart(t *testing.T) {
	const bound, backlog = 10, 60
	c := newCluster(t)
	q1 := newQueue(t, c, Options{MaxParked: bound})
	names, _ := samePartition(t, q1, 2)
	stuck, live := names[0], names[1]
	stuckCons := consume(t, q1, destCfg(stuck))
	liveCons := consume(t, q1, destCfg(live))
	for i := range backlog {
		publish(t, q1, queue.OutSubject(stuck), fmt.Sprint("s", i))
	}
	for i := range 3 {
		publish(t, q1, queue.OutSubject(live), fmt.Sprint("l", i))
	}
	// The neighbour's records, after the spilled ones, are acked: only
	// their markers keep them from being handed out again.
	for range 3 {
		d, _ := nextData(t, liveCons)
		ack(t, d)
	}
	for i := range 3 {
		d, data := nextData(t, stuckCons)
		if want := fmt.Sprint("s", i); data != want {
			t.Fatalf("got %q, want %q", data, want)
		}
		ack(t, d)
	}
	if n := inMemory(stuckCons, stuck); n > bound {
		t.Fatalf("%d records in memory, want at most %d", n, bound)
	}
	closeQueue(t, q1)

	q2 := newQueue(t, c, Options{MaxParked: bound})
	stuck2 := consume(t, q2, destCfg(stuck))
	live2 := consume(t, q2, destCfg(live))
	for i := 3; i < backlog; i++ {
		d, data := nextData(t, stuck2)
		if want := fmt.Sprint("s", i); data != want {
			t.Fatalf("after the restart got %q, want %q", data, want)
		}
		ack(t, d)
	}
	nothing(t, stuck2, 200*time.Millisecond)
	nothing(t, live2, 200*time.Millisecond)
}

// The committed offset stops at the first record a destination left in
// Kafka, whatever was settled after it, so a restart reads it again.
func TestCommitPointStopsAtSpilledRecords(t *testing.T) {
	tests := []struct {
		name    string
		settled []bool // of the entries at offsets 0, 1, 2, …
		spilled []int64
		want    int64
	}{
		{name: "nothing spilled", settled: []bool{true, true, false}, want: 2},
		{name: "all settled", settled: []bool{true, true, true}, want: 3},
		{name: "spilled after the unsettled", settled: []bool{true, false, true}, spilled: []int64{2}, want: 1},
		{name: "spilled before the unsettled", settled: []bool{true, true, true, false}, spilled: []int64{2}, want: 2},
		{name: "the lowest of two spills", settled: []bool{true, true, true}, spilled: []int64{2, 1}, want: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPartState(0)
			for i, done := range tt.settled {
				e := &entry{part: p, offset: int64(i)}
				p.track(e)
				if done {
					p.settle(e)
				}
			}
			p.spilled = map[string]*spill{}
			for i, from := range tt.spilled {
				p.spilled[fmt.Sprint("dest-", i)] = &spill{from: from}
			}
			if got, _ := p.commitPoint(); got != tt.want {
				t.Fatalf("commit point %d, want %d", got, tt.want)
			}
		})
	}
}

// Entries read back from Kafka take their place among the unsettled ones
// by offset, so the commit still stops at the first unsettled.
func TestInsertKeepsOffsetOrder(t *testing.T) {
	p := newPartState(0)
	for _, o := range []int64{0, 3, 6} {
		p.track(&entry{part: p, offset: o})
	}
	p.insert([]*entry{{part: p, offset: 1}, {part: p, offset: 2}, {part: p, offset: 4}, {part: p, offset: 5}})
	var got []int64
	for _, e := range p.unsettled {
		got = append(got, e.offset)
	}
	if fmt.Sprint(got) != "[0 1 2 3 4 5 6]" || p.held != 7 {
		t.Fatalf("unsettled %v held %d, want [0 1 2 3 4 5 6] held 7", got, p.held)
	}
}

// Settled entries behind one that stays unsettled (a spilled or down
// destination's oldest) do not pile up with its neighbours' traffic: the
// commit point keeps only the unsettled ones in memory, in order.
func TestCommitPointDropsSettledEntriesBehindAnUnsettledOne(t *testing.T) {
	p := newPartState(0)
	stuck := &entry{part: p, offset: 0}
	p.track(stuck)
	var open []int64
	for o := int64(1); o <= 10_000; o++ {
		e := &entry{part: p, offset: o}
		p.track(e)
		if o%1000 == 0 {
			open = append(open, o) // a few the neighbours still hold
			continue
		}
		p.settle(e)
		if o%100 == 0 {
			p.commitPoint()
		}
	}
	if got, _ := p.commitPoint(); got != 0 {
		t.Fatalf("commit point %d, want 0 (the stuck one)", got)
	}
	if len(p.unsettled) > 2*p.held+compactAbove {
		t.Fatalf("%d entries kept in memory for %d unsettled", len(p.unsettled), p.held)
	}
	p.settle(stuck)
	if got, _ := p.commitPoint(); got != open[0] {
		t.Fatalf("commit point %d after the stuck one settled, want %d (the first still held)", got, open[0])
	}
}

// A second copy of an ID (as another instance may store it) on a spilled
// destination is passed over when the reader meets it, and stays passed
// over when it is read back after the dedup window ended.
func TestExclusiveSpilledDestinationSkipsASecondCopyAfterTheWindow(t *testing.T) {
	c := newCluster(t)
	q := newQueue(t, c, Options{MaxParked: 2})
	var skew atomic.Int64
	q.dedup.mu.Lock()
	q.dedup.now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	q.dedup.mu.Unlock()
	cons := consume(t, q, destCfg("d"))
	for i := range 3 {
		publish(t, q, queue.OutSubject("d"), fmt.Sprint("s", i))
	}
	first, err := q.Publish(testCtx(t), queue.Msg{Subject: queue.OutSubject("d"), Data: []byte("once"), ID: "x"})
	if err != nil {
		t.Fatal(err)
	}
	f, err := q.fetch(testCtx(t), q.topic(queue.StreamOut), partitionOf(first.Seq), offsetOf(first.Seq))
	if err != nil {
		t.Fatal(err)
	}
	r := f.records[0]
	copied := &kgo.Record{Topic: r.Topic, Partition: r.Partition, Key: r.Key, Value: r.Value, Headers: r.Headers}
	if err := q.cl.ProduceSync(testCtx(t), copied).FirstErr(); err != nil {
		t.Fatal(err)
	}
	last := publish(t, q, queue.OutSubject("d"), "last")
	g := cons.(*destConsumer).d.g
	eventually(t, "the reader past the last record", func() bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		p := g.parts[partitionOf(last)]
		return p != nil && p.next > offsetOf(last)
	})
	skew.Store(int64(2 * time.Hour)) // the window is over when they are read back
	var got []string
	for range 5 {
		d, data := nextData(t, cons)
		got = append(got, data)
		ack(t, d)
	}
	if want := []string{"s0", "s1", "s2", "once", "last"}; !slices.Equal(got, want) {
		t.Fatalf("handed out %q, want %q", got, want)
	}
	nothing(t, cons, 300*time.Millisecond)
}
