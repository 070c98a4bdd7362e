package kafkaqueue

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/internal/queue"
)

func TestWorkAckedNotRedeliveredAfterRestart(t *testing.T) {
	c := newCluster(t)
	q1 := newQueue(t, c, Options{})
	for i := range 3 {
		publish(t, q1, queue.InSubject("github"), fmt.Sprint("ev", i))
	}
	cons := consume(t, q1, transformCfg)
	for i := range 3 {
		d, data := nextData(t, cons)
		if want := fmt.Sprint("ev", i); data != want || d.Attempt() != 1 {
			t.Fatalf("got %q delivered %d, want %q once", data, d.Attempt(), want)
		}
		ack(t, d)
	}
	cons.Stop()
	closeQueue(t, q1)

	q2 := newQueue(t, c, Options{})
	publish(t, q2, queue.InSubject("github"), "after restart")
	cons2 := consume(t, q2, transformCfg)
	// in has one partition, handed out in order: the first record the new
	// member sees is the first not acked.
	d, data := nextData(t, cons2)
	if data != "after restart" {
		t.Fatalf("after restart got %q first, want the new event (acked ones redelivered)", data)
	}
	ack(t, d)
}

func TestWorkUnackedRedeliveredAfterCrash(t *testing.T) {
	c := newCluster(t)
	q1 := newQueue(t, c, Options{})
	for i := range 3 {
		publish(t, q1, queue.InSubject("github"), fmt.Sprint("ev", i))
	}
	cons := consume(t, q1, transformCfg)
	d0, _ := nextData(t, cons)
	ack(t, d0)
	nextData(t, cons)
	nextData(t, cons)
	// The ack of ev0 reaches the broker with the periodic commit.
	group := q1.opts.TopicPrefix + transformCfg.name
	eventually(t, "ev0's commit", func() bool { return committed(t, q1, group, q1.topic(queue.StreamIn), 0) == 1 })
	crash(t, cons)

	q2 := newQueue(t, c, Options{})
	cons2 := consume(t, q2, transformCfg)
	for _, want := range []string{"ev1", "ev2"} {
		d, data := nextData(t, cons2)
		if data != want {
			t.Fatalf("new member got %q, want %q", data, want)
		}
		ack(t, d)
	}
}

// committed is the offset group committed on partition p of topic, -1 for
// none.
func committed(t *testing.T, q *Queue, group, topic string, p int32) int64 {
	t.Helper()
	offs, err := q.adm.FetchOffsets(testCtx(t), group)
	if err != nil {
		return -1
	}
	o, ok := offs.Lookup(topic, p)
	if !ok || o.Err != nil {
		return -1
	}
	return o.At
}

func TestWorkNakRedeliversAfterDelay(t *testing.T) {
	c := newCluster(t)
	q := newQueue(t, c, Options{})
	publish(t, q, queue.InSubject("github"), "ev")
	cons := consume(t, q, transformCfg)
	d := next(t, cons)
	const delay = 300 * time.Millisecond
	naked := time.Now()
	if err := d.Retry(delay); err != nil {
		t.Fatalf("Nak: %v", err)
	}
	if err := d.Ack(testCtx(t)); err == nil {
		t.Fatalf("Ack after Nak succeeded, want an error")
	}
	again := next(t, cons)
	if waited := time.Since(naked); waited < delay {
		t.Errorf("handed out again after %v, want at least %v", waited, delay)
	}
	if again.Msg().Seq != d.Msg().Seq || again.Attempt() != 2 {
		t.Fatalf("got seq %d delivered %d, want seq %d delivered 2", again.Msg().Seq, again.Attempt(), d.Msg().Seq)
	}
	ack(t, again)
}

func TestWorkMaxAckPendingBoundsHandedOut(t *testing.T) {
	c := newCluster(t)
	q := newQueue(t, c, Options{})
	for i := range 4 {
		publish(t, q, queue.InSubject("github"), fmt.Sprint("ev", i))
	}
	cfg := transformCfg
	cfg.inFlight = 2
	cons := consume(t, q, cfg)
	d0, _ := nextData(t, cons)
	d1, _ := nextData(t, cons)
	nothing(t, cons, 300*time.Millisecond)
	ack(t, d0)
	d2, data := nextData(t, cons)
	if data != "ev2" {
		t.Fatalf("after an ack got %q, want ev2", data)
	}
	ack(t, d1)
	ack(t, d2)
}

func TestWorkSkipsSecondCopyOfAnID(t *testing.T) {
	c := newCluster(t)
	q := newQueue(t, c, Options{})
	// Another instance's publish of the same ID is not in this index:
	// produce both copies beside Publish.
	topic := q.topic(queue.StreamIn)
	for _, m := range []queue.Msg{
		{Subject: queue.InSubject("github"), ID: "delivery-1", Data: []byte("first")},
		{Subject: queue.InSubject("github"), ID: "delivery-1", Data: []byte("second copy")},
		{Subject: queue.InSubject("github"), ID: "delivery-2", Data: []byte("other")},
	} {
		if err := q.cl.ProduceSync(testCtx(t), recordOf(topic, m)).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
	cons := consume(t, q, transformCfg)
	for _, want := range []string{"first", "other"} {
		d, data := nextData(t, cons)
		if data != want {
			t.Fatalf("got %q, want %q", data, want)
		}
		ack(t, d)
	}
}

func TestStoppedConsumerNext(t *testing.T) {
	c := newCluster(t)
	q := newQueue(t, c, Options{})
	cons := consume(t, q, transformCfg)
	cons.Stop()
	if _, err := cons.Next(testCtx(t)); err == nil {
		t.Fatal("Next after Stop succeeded")
	}
}

// closeQueue closes q now (its cleanup closes it again, harmlessly).
func closeQueue(t *testing.T, q *Queue) {
	t.Helper()
	if err := q.Close(testCtx(t)); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// While its partition is being revoked, the feed hands out nothing more of
// it: what it handed out then would not be settled by the end of the
// grace, and the next owner would hand it out too while it is held.
func TestFeedHandsOutNothingOfARevokingPartition(t *testing.T) {
	c := newCluster(t)
	q := newQueue(t, c, Options{})
	for i := range 3 {
		publish(t, q, queue.InSubject("github"), fmt.Sprint("ev", i))
	}
	cons := consume(t, q, transformCfg)
	nextData(t, cons) // ev0, held through the revoke
	wc := cons.(*workConsumer)
	eventually(t, "ev1 and ev2 fetched", func() bool {
		wc.g.mu.Lock()
		defer wc.g.mu.Unlock()
		return len(wc.w.ready) == 2
	})
	revoked := make(chan struct{})
	go func() {
		defer close(revoked)
		wc.g.revoked(context.Background(), nil, map[string][]int32{wc.g.topic: {0}})
	}()
	eventually(t, "the partition revoking", func() bool {
		wc.g.mu.Lock()
		defer wc.g.mu.Unlock()
		return wc.g.parts[0] != nil && wc.g.parts[0].revoking
	})
	ds, err := cons.More(testCtx(t), 1, 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) > 0 {
		t.Errorf("handed out %q of a partition being revoked", ds[0].Msg().Data)
	}
	<-revoked
}
