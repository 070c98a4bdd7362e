package kafkaqueue

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/internal/queue"
)

func TestPublishThenGet(t *testing.T) {
	q := newQueue(t, newCluster(t), Options{})
	ctx := testCtx(t)
	before := time.Now().Add(-time.Second)
	for _, m := range []queue.Msg{
		{Subject: queue.InSubject("github"), Data: []byte(`{"a":1}`), ID: "gh-1",
			Header: queue.Header{queue.HeaderSource: {"github"}, "Multi": {"x", "y"}}},
		{Subject: queue.OutSubject("teams-a"), Data: []byte("card"), ID: "d-1"},
		{Subject: queue.DeadSubject("teams-a"), Data: []byte("dead"), Header: queue.Header{queue.HeaderReason: {"410"}}},
		{Subject: queue.HistorySubject("ev-1"), Data: []byte("step")},
	} {
		ack, err := q.Publish(ctx, m)
		if err != nil {
			t.Fatalf("publish %s: %v", m.Subject, err)
		}
		stream := queue.StreamOf(m.Subject)
		if ack.Stream != stream || ack.Seq == 0 || ack.Duplicate {
			t.Fatalf("publish %s: ack %+v", m.Subject, ack)
		}
		got, err := q.Get(ctx, stream, ack.Seq)
		if err != nil {
			t.Fatalf("get %s %d: %v", stream, ack.Seq, err)
		}
		if got.Subject != m.Subject || !bytes.Equal(got.Data, m.Data) || got.ID != m.ID ||
			got.Stream != stream || got.Seq != ack.Seq {
			t.Errorf("get %s: %+v, published %+v", m.Subject, got, m)
		}
		if fmt.Sprint(got.Header) != fmt.Sprint(m.Header) && !(len(got.Header) == 0 && len(m.Header) == 0) {
			t.Errorf("get %s: header %v, published %v", m.Subject, got.Header, m.Header)
		}
		if got.Time.Before(before) || got.Time.After(time.Now().Add(time.Second)) {
			t.Errorf("get %s: time %v, not about now", m.Subject, got.Time)
		}
	}
}

func TestPublishOutUsesOurPartitioner(t *testing.T) {
	q := newQueue(t, newCluster(t), Options{Partitions: 5})
	ctx := testCtx(t)
	for _, dest := range []string{"a", "b", "teams-a", "teams-b", "x"} {
		ack, err := q.Publish(ctx, queue.Msg{Subject: queue.OutSubject(dest), Data: []byte(dest)})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := partitionOf(ack.Seq), partitionFor([]byte(dest), 5); got != want {
			t.Errorf("destination %s stored on partition %d, partitionFor says %d", dest, got, want)
		}
	}
}

func TestPublishDuplicateID(t *testing.T) {
	q := newQueue(t, newCluster(t), Options{})
	ctx := testCtx(t)
	m := queue.Msg{Subject: queue.InSubject("github"), Data: []byte("x"), ID: "delivery-1"}
	first, err := q.Publish(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	second, err := q.Publish(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	if !second.Duplicate || second.Seq != first.Seq {
		t.Errorf("second publish of one ID: %+v, want duplicate of %d", second, first.Seq)
	}
	// The same ID on another stream is another message.
	other, err := q.Publish(ctx, queue.Msg{Subject: queue.DeadSubject("d"), Data: []byte("x"), ID: "delivery-1"})
	if err != nil || other.Duplicate {
		t.Errorf("same ID on dead: %+v, %v; want stored", other, err)
	}
	if n := countScan(t, q, queue.StreamIn, queue.InAll); n != 1 {
		t.Errorf("in holds %d messages, want 1", n)
	}
}

func TestPublishDuplicateIDConcurrently(t *testing.T) {
	q := newQueue(t, newCluster(t), Options{})
	ctx := testCtx(t)
	const n = 16
	acks := make([]queue.PubAck, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			acks[i], errs[i] = q.Publish(ctx, queue.Msg{Subject: queue.InSubject("s"), Data: []byte("x"), ID: "same"})
		})
	}
	wg.Wait()
	stored := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("publish %d: %v", i, errs[i])
		}
		if !acks[i].Duplicate {
			stored++
		}
		if acks[i].Seq != acks[0].Seq {
			t.Errorf("publish %d names seq %d, publish 0 seq %d", i, acks[i].Seq, acks[0].Seq)
		}
	}
	if stored != 1 {
		t.Errorf("%d publishes stored, want 1", stored)
	}
	if got := countScan(t, q, queue.StreamIn, queue.InAll); got != 1 {
		t.Errorf("in holds %d messages, want 1", got)
	}
}

func TestDedupSurvivesRestart(t *testing.T) {
	c := newCluster(t)
	ctx := testCtx(t)
	q1 := newQueue(t, c, Options{})
	m := queue.Msg{Subject: queue.OutSubject("teams-a"), Data: []byte("x"), ID: "ev-1:route"}
	first, err := q1.Publish(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	if err := q1.Close(ctx); err != nil {
		t.Fatal(err)
	}
	q2 := newQueue(t, c, Options{})
	again, err := q2.Publish(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	if !again.Duplicate || again.Seq != first.Seq {
		t.Errorf("publish after restart: %+v, want duplicate of %d", again, first.Seq)
	}
}

func TestDuplicateIDAcrossInstances(t *testing.T) {
	c := newCluster(t)
	ctx := testCtx(t)
	// Both instances run before either publishes: the second learns of the
	// first's publish by reading the partition on before its own.
	q1, q2 := newQueue(t, c, Options{}), newQueue(t, c, Options{})
	for _, subject := range []string{queue.InSubject("github"), queue.OutSubject("teams-a"), queue.DeadSubject("teams-a")} {
		m := queue.Msg{Subject: subject, Data: []byte("x"), ID: "vendor-7"}
		first, err := q1.Publish(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		again, err := q2.Publish(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		if !again.Duplicate || again.Seq != first.Seq {
			t.Errorf("%s from the other instance: %+v, want duplicate of %d", subject, again, first.Seq)
		}
		acks, err := q2.PublishAll(ctx, []queue.Msg{m, {Subject: subject, Data: []byte("y"), ID: "vendor-8"}})
		if err != nil {
			t.Fatal(err)
		}
		if !acks[0].Duplicate || acks[0].Seq != first.Seq || acks[1].Duplicate {
			t.Errorf("%s publish all from the other instance: %+v", subject, acks)
		}
	}
}

func TestDedupWindowEnds(t *testing.T) {
	c := newCluster(t)
	ctx := testCtx(t)
	q := newQueue(t, c, Options{Streams: queue.StreamOptions{DedupWindow: 50 * time.Millisecond}})
	m := queue.Msg{Subject: queue.InSubject("s"), Data: []byte("x"), ID: "old"}
	first, err := q.Publish(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	// The window is a duration: only time passing ends it.
	time.Sleep(60 * time.Millisecond)
	again, err := q.Publish(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	if again.Duplicate || again.Seq == first.Seq {
		t.Errorf("publish after the window: %+v, want stored anew", again)
	}
}

func TestPublishAllKeepsOrder(t *testing.T) {
	q := newQueue(t, newCluster(t), Options{})
	ctx := testCtx(t)
	var ms []queue.Msg
	for i := range 20 {
		ms = append(ms, queue.Msg{Subject: queue.InSubject("s"), Data: fmt.Appendf(nil, "%d", i), ID: fmt.Sprint("id-", i%15)})
	}
	acks, err := q.PublishAll(ctx, ms)
	if err != nil {
		t.Fatal(err)
	}
	for i, ack := range acks {
		got, err := q.Get(ctx, queue.StreamIn, ack.Seq)
		if err != nil {
			t.Fatalf("ack %d: %v", i, err)
		}
		wantData := ms[i].Data
		if i >= 15 { // IDs repeat from 15 on: duplicates of 0…4
			wantData = ms[i-15].Data
			if !ack.Duplicate {
				t.Errorf("ack %d not a duplicate", i)
			}
		}
		if !bytes.Equal(got.Data, wantData) {
			t.Errorf("ack %d names %q, want %q", i, got.Data, wantData)
		}
	}
}

func TestSendIsStoredByClose(t *testing.T) {
	c := newCluster(t)
	ctx := testCtx(t)
	q1 := newQueue(t, c, Options{})
	for i := range 50 {
		if err := q1.Send(queue.Msg{Subject: queue.HistorySubject(fmt.Sprint("ev-", i)), Data: []byte("step")}); err != nil {
			t.Fatal(err)
		}
	}
	if err := q1.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if f := q1.SendFailures(); f != 0 {
		t.Errorf("%d sends failed", f)
	}
	q2 := newQueue(t, c, Options{})
	if n := countScan(t, q2, queue.StreamHistory, queue.HistoryAll); n != 50 {
		t.Errorf("history holds %d records, want the 50 sent", n)
	}
	if err := q2.Send(queue.Msg{Subject: "elsewhere.x"}); err == nil {
		t.Error("Send outside the streams: no error")
	}
}

func TestPublishTooLarge(t *testing.T) {
	q := newQueue(t, newCluster(t), Options{})
	_, err := q.Publish(testCtx(t), queue.Msg{Subject: queue.InSubject("s"), Data: make([]byte, 2<<20), ID: "big"})
	if !errors.Is(err, queue.ErrTooLarge) {
		t.Fatalf("publish of 2 MiB: %v, want ErrTooLarge", err)
	}
	// The refused ID is free again.
	ack, err := q.Publish(testCtx(t), queue.Msg{Subject: queue.InSubject("s"), Data: []byte("small"), ID: "big"})
	if err != nil || ack.Duplicate {
		t.Errorf("publish after a refused one with its ID: %+v, %v", ack, err)
	}
}

// countScan counts what Scan returns of subject on stream.
func countScan(t *testing.T, q *Queue, stream, subject string) int {
	t.Helper()
	n := 0
	err := q.Scan(testCtx(t), stream, subject, time.Time{}, func(queue.Stored) (bool, error) { n++; return true, nil })
	if err != nil {
		t.Fatalf("scan %s: %v", subject, err)
	}
	return n
}
