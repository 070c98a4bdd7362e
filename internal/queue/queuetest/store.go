package queuetest

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/internal/queue"
)

func testPublishGetRoundTrip(t *testing.T, _ Backend, open func(t *testing.T) queue.Queue) {
	q := open(t)
	before := time.Now()
	m := queue.Msg{
		Subject: queue.InSubject("github"),
		Header:  queue.Header{queue.HeaderEventID: {"ev-1"}, "Multi": {"a", "b"}, "traceparent": {"00-x-y-01"}},
		Data:    []byte(`{"n":1}`),
		ID:      "vendor-1",
	}
	ack := publish(t, q, m)
	after := time.Now()
	if ack.Stream != queue.StreamIn || ack.Seq == 0 || ack.Duplicate {
		t.Fatalf("ack = %+v, want a first store on %s", ack, queue.StreamIn)
	}
	got := get(t, q, queue.StreamIn, ack.Seq)
	if got.Subject != m.Subject || !bytes.Equal(got.Data, m.Data) || got.ID != m.ID {
		t.Errorf("got %s %q id %q, want %s %q id %q", got.Subject, got.Data, got.ID, m.Subject, m.Data, m.ID)
	}
	if !reflect.DeepEqual(got.Header, m.Header) {
		t.Errorf("header = %v, want %v", got.Header, m.Header)
	}
	if got.Stream != queue.StreamIn || got.Seq != ack.Seq {
		t.Errorf("position = %s #%d, want %s #%d", got.Stream, got.Seq, queue.StreamIn, ack.Seq)
	}
	// The store's clock is this machine's; a margin covers its rounding.
	if got.Time.Before(before.Add(-time.Second)) || got.Time.After(after.Add(time.Second)) {
		t.Errorf("time = %v, want between %v and %v", got.Time, before, after)
	}

	// Another instance reads what the first stored; a message without
	// header or ID comes back without.
	plain := publish(t, q, queue.Msg{Subject: queue.DeadLetterSubject("d", "plain"), Data: []byte("x")})
	got = get(t, open(t), queue.StreamDead, plain.Seq)
	if len(got.Header) != 0 || got.ID != "" || string(got.Data) != "x" {
		t.Errorf("plain message read back as header %v id %q data %q", got.Header, got.ID, got.Data)
	}
}

func testDuplicateID(t *testing.T, _ Backend, open func(t *testing.T) queue.Queue) {
	q, other := open(t), open(t)
	first := publish(t, q, queue.Msg{Subject: queue.InSubject("s"), Data: []byte("first"), ID: "same"})
	publish(t, q, queue.Msg{Subject: queue.InSubject("s"), Data: []byte("between"), ID: "another"})
	for _, via := range []queue.Queue{q, other} {
		dup := publish(t, via, queue.Msg{Subject: queue.InSubject("s"), Data: []byte("second"), ID: "same"})
		if !dup.Duplicate || dup.Seq != first.Seq || dup.Stream != queue.StreamIn {
			t.Errorf("republished id: ack %+v, want Duplicate at %s #%d", dup, queue.StreamIn, first.Seq)
		}
	}
	if got := data(scanAll(t, q, queue.StreamIn, queue.InAll, time.Time{})); !slices.Equal(got, []string{"first", "between"}) {
		t.Errorf("stored %q, want the first and the other only", got)
	}
	// The window is per stream.
	if ack := publish(t, q, queue.Msg{Subject: queue.DeadSubject("d"), Data: []byte("dead"), ID: "same"}); ack.Duplicate {
		t.Errorf("same id on another stream: ack %+v, want stored", ack)
	}
}

func testPublishAllOrder(t *testing.T, _ Backend, open func(t *testing.T) queue.Queue) {
	q := open(t)
	var ms []queue.Msg
	for i := range 20 {
		subject := queue.OutSubject("a")
		if i%3 == 0 {
			subject = queue.DeadLetterSubject("a", fmt.Sprint("dead-", i))
		}
		ms = append(ms, queue.Msg{Subject: subject, Data: fmt.Appendf(nil, "%d", i), ID: fmt.Sprintf("id-%d", i)})
	}
	acks, err := q.PublishAll(ctxFor(t, wait), ms)
	if err != nil {
		t.Fatal(err)
	}
	if len(acks) != len(ms) {
		t.Fatalf("%d acks for %d messages", len(acks), len(ms))
	}
	last := map[string]uint64{}
	for i, ack := range acks {
		if want := queue.StreamOf(ms[i].Subject); ack.Stream != want || ack.Duplicate {
			t.Errorf("ack %d = %+v, want stored on %s", i, ack, want)
		}
		if ack.Seq <= last[ack.Stream] {
			t.Errorf("ack %d: seq %d after %d on %s: not in order", i, ack.Seq, last[ack.Stream], ack.Stream)
		}
		last[ack.Stream] = ack.Seq
		if got := get(t, q, ack.Stream, ack.Seq); string(got.Data) != string(ms[i].Data) {
			t.Errorf("ack %d names %q, want %q", i, got.Data, ms[i].Data)
		}
	}
	if acks, err := q.PublishAll(ctxFor(t, wait), nil); err != nil || len(acks) != 0 {
		t.Errorf("publish nothing: %v, %v", acks, err)
	}
}

func testSendVisibleToScan(t *testing.T, _ Backend, open func(t *testing.T) queue.Queue) {
	q, reader := open(t), open(t)
	want := []string{"received", "transformed", "delivered"}
	for _, step := range want {
		if err := q.Send(queue.Msg{Subject: queue.HistorySubject("ev-1"), Data: []byte(step)}); err != nil {
			t.Fatalf("send: %v", err)
		}
	}
	// Send confirms nothing, so the reader polls, within a bound.
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(wait)
	for {
		got := data(scanAll(t, reader, queue.StreamHistory, queue.HistorySubject("ev-1"), time.Time{}))
		if slices.Equal(got, want) {
			break
		}
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("sent records visible: %q, want %q", got, want)
		}
	}
	if err := q.Close(ctxFor(t, wait)); err != nil {
		t.Errorf("close after send: %v", err)
	}
}

func testScan(t *testing.T, _ Backend, open func(t *testing.T) queue.Queue) {
	q := open(t)
	if got := scanAll(t, q, queue.StreamIn, queue.InAll, time.Time{}); len(got) != 0 {
		t.Errorf("empty stream scanned %q", data(got))
	}
	var acks []queue.PubAck
	for i, src := range []string{"a", "b", "a", "b", "a"} {
		acks = append(acks, publish(t, q, queue.Msg{Subject: queue.InSubject(src), Data: fmt.Appendf(nil, "%s%d", src, i)}))
	}
	publish(t, q, queue.Msg{Subject: queue.DeadSubject("a"), Data: []byte("other stream")})

	cases := []struct {
		name    string
		subject string
		start   time.Time
		want    []string
	}{
		{"all", queue.InAll, time.Time{}, []string{"a0", "b1", "a2", "b3", "a4"}},
		{"one subject", queue.InSubject("a"), time.Time{}, []string{"a0", "a2", "a4"}},
		{"from the third on", queue.InAll, get(t, q, queue.StreamIn, acks[2].Seq).Time, []string{"a2", "b3", "a4"}},
		{"one subject from the third on", queue.InSubject("b"), get(t, q, queue.StreamIn, acks[2].Seq).Time, []string{"b3"}},
		{"no such subject", queue.InSubject("c"), time.Time{}, nil},
		{"after the last", queue.InAll, time.Now().Add(time.Hour), nil},
	}
	for _, tc := range cases {
		got := scanAll(t, q, queue.StreamIn, tc.subject, tc.start)
		if !slices.Equal(data(got), tc.want) {
			t.Errorf("%s: scanned %q, want %q", tc.name, data(got), tc.want)
		}
		for i := 1; i < len(got); i++ {
			if got[i].Seq <= got[i-1].Seq {
				t.Errorf("%s: #%d after #%d: not oldest first", tc.name, got[i].Seq, got[i-1].Seq)
			}
		}
		for _, s := range got {
			if s.Stream != queue.StreamIn || s.Seq == 0 {
				t.Errorf("%s: %q at %s #%d", tc.name, s.Data, s.Stream, s.Seq)
			}
		}
	}

	calls := 0
	err := q.Scan(ctxFor(t, wait), queue.StreamIn, queue.InAll, time.Time{}, func(queue.Stored) (bool, error) {
		calls++
		return calls < 2, nil
	})
	if err != nil || calls != 2 {
		t.Errorf("fn said stop at the second: %d calls, %v", calls, err)
	}
	stop := errors.New("stop here")
	calls = 0
	err = q.Scan(ctxFor(t, wait), queue.StreamIn, queue.InAll, time.Time{}, func(queue.Stored) (bool, error) {
		calls++
		return true, stop
	})
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("fn failed at the first: %d calls, %v, want 1 and its error", calls, err)
	}
}

func testScanSkipsDeletedAndStopsAtLast(t *testing.T, _ Backend, open func(t *testing.T) queue.Queue) {
	q := open(t)
	var dead []queue.Stored
	for i := range 4 {
		m := queue.Msg{Subject: queue.DeadLetterSubject("d", fmt.Sprint("n", i)), Data: fmt.Appendf(nil, "%d", i)}
		ack := publish(t, q, m)
		dead = append(dead, queue.Stored{Msg: m, Stream: ack.Stream, Seq: ack.Seq})
	}
	if err := q.Delete(ctxFor(t, wait), dead[1]); err != nil {
		t.Fatal(err)
	}
	var got []string
	err := q.Scan(ctxFor(t, wait), queue.StreamDead, queue.DeadAll, time.Time{}, func(s queue.Stored) (bool, error) {
		got = append(got, string(s.Data))
		if len(got) == 1 {
			// The last is deleted and another stored while the scan runs:
			// it neither waits for the one nor reaches the other.
			if err := q.Delete(ctxFor(t, wait), dead[3]); err != nil {
				return false, err
			}
			publish(t, q, queue.Msg{Subject: queue.DeadLetterSubject("d", "later"), Data: []byte("later")})
		}
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Whether the one deleted meanwhile still shows depends on how far the
	// implementation had read ahead.
	if !slices.Equal(got, []string{"0", "2"}) && !slices.Equal(got, []string{"0", "2", "3"}) {
		t.Errorf("scanned %q, want 0 and 2 (and perhaps 3): not the one deleted before, none stored after the scan began", got)
	}
}

// testScanReadsManyAndLarge: a scan reads past what one read of the store
// returns, by count (hundreds of messages) and by size (messages of
// hundreds of KiB), in order, none twice, none of another subject.
func testScanReadsManyAndLarge(t *testing.T, _ Backend, open func(t *testing.T) queue.Queue) {
	q := open(t)
	const many = 700
	ms := make([]queue.Msg, 0, 2*many)
	for i := range many {
		ms = append(ms, queue.Msg{Subject: queue.HistorySubject("many"), Data: fmt.Appendf(nil, "%d", i)},
			queue.Msg{Subject: queue.HistorySubject("other"), Data: []byte("x")})
	}
	if _, err := q.PublishAll(ctxFor(t, wait), ms); err != nil {
		t.Fatal(err)
	}
	got := data(scanAll(t, q, queue.StreamHistory, queue.HistorySubject("many"), time.Time{}))
	if len(got) != many {
		t.Fatalf("scanned %d messages, want %d", len(got), many)
	}
	for i, d := range got {
		if d != fmt.Sprint(i) {
			t.Fatalf("message %d is %q: not in order, or one skipped or read twice", i, d)
		}
	}

	const large = 6
	for i := range large {
		body := bytes.Repeat([]byte{byte('a' + i)}, 300<<10)
		publish(t, q, queue.Msg{Subject: queue.DeadLetterSubject("large", fmt.Sprint("n", i)), Data: body})
	}
	scanned := scanAll(t, q, queue.StreamDead, queue.DeadLetterSubject("large", "*"), time.Time{})
	if len(scanned) != large {
		t.Fatalf("scanned %d large messages, want %d", len(scanned), large)
	}
	for i, s := range scanned {
		if len(s.Data) != 300<<10 || s.Data[0] != byte('a'+i) {
			t.Errorf("large message %d: %d bytes starting %q", i, len(s.Data), s.Data[:1])
		}
	}
}

func testDelete(t *testing.T, _ Backend, open func(t *testing.T) queue.Queue) {
	q := open(t)
	ctx := ctxFor(t, wait)
	keep := publish(t, q, queue.Msg{Subject: queue.DeadLetterSubject("d", "keep"), Data: []byte("keep")})
	goneAck := publish(t, q, queue.Msg{Subject: queue.DeadLetterSubject("d", "gone"), Data: []byte("gone")})
	publish(t, q, queue.Msg{Subject: queue.DeadLetterSubject("d", "after"), Data: []byte("after")})
	gone := get(t, q, queue.StreamDead, goneAck.Seq)
	if err := q.Delete(ctx, gone); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := q.Get(ctx, queue.StreamDead, gone.Seq); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("get deleted: %v, want ErrNotFound", err)
	}
	if err := open(t).Delete(ctx, gone); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("delete twice: %v, want ErrNotFound", err)
	}
	if got := get(t, q, queue.StreamDead, keep.Seq); string(got.Data) != "keep" {
		t.Errorf("neighbour reads %q", got.Data)
	}
	for _, seq := range []uint64{gone.Seq + 1000, 1 << 30} {
		if _, err := q.Get(ctx, queue.StreamDead, seq); !errors.Is(err, queue.ErrNotFound) {
			t.Errorf("get never stored #%d: %v, want ErrNotFound", seq, err)
		}
		never := queue.Stored{Msg: queue.Msg{Subject: queue.DeadLetterSubject("d", "never")}, Stream: queue.StreamDead, Seq: seq}
		if err := q.Delete(ctx, never); !errors.Is(err, queue.ErrNotFound) {
			t.Errorf("delete never stored #%d: %v, want ErrNotFound", seq, err)
		}
	}
}

func testTooLarge(t *testing.T, b Backend, open func(t *testing.T) queue.Queue) {
	q := open(t)
	big := queue.Msg{Subject: queue.InSubject("s"), Data: bytes.Repeat([]byte("x"), b.TooLarge)}
	if _, err := q.Publish(ctxFor(t, wait), big); !errors.Is(err, queue.ErrTooLarge) {
		t.Errorf("publish %d bytes: %v, want ErrTooLarge", b.TooLarge, err)
	}
	small := queue.Msg{Subject: queue.InSubject("s"), Data: []byte("ok")}
	if _, err := q.PublishAll(ctxFor(t, wait), []queue.Msg{small, big}); !errors.Is(err, queue.ErrTooLarge) {
		t.Errorf("publish all with %d bytes: %v, want ErrTooLarge", b.TooLarge, err)
	}
	// Refusing one message leaves the queue usable.
	publish(t, q, small)
}
