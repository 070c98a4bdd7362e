package kafkaqueue

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/internal/queue"
)

func TestGetNotFound(t *testing.T) {
	q := newQueue(t, newCluster(t), Options{Partitions: 2})
	ctx := testCtx(t)
	ack, err := q.Publish(ctx, queue.Msg{Subject: queue.InSubject("s"), Data: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		stream string
		seq    uint64
	}{
		{"zero", queue.StreamIn, 0},
		{"past the end", queue.StreamIn, ack.Seq + 1},
		{"partition past the topic's", queue.StreamIn, seqOf(1, 0)},
		{"out partition past the topic's", queue.StreamOut, seqOf(2, 0)},
		{"empty stream", queue.StreamDead, seqOf(0, 0)},
	} {
		if _, err := q.Get(ctx, tc.stream, tc.seq); !errors.Is(err, queue.ErrNotFound) {
			t.Errorf("%s: %v, want ErrNotFound", tc.name, err)
		}
	}
	if _, err := q.Get(ctx, "RELAY_NOPE", ack.Seq); err == nil || errors.Is(err, queue.ErrNotFound) {
		t.Errorf("unknown stream: %v, want an error other than not found", err)
	}
}

func TestDelete(t *testing.T) {
	c := newCluster(t)
	q := newQueue(t, c, Options{})
	ctx := testCtx(t)
	var seqs []uint64
	var dead []queue.Stored
	for i := range 3 {
		m := queue.Msg{Subject: queue.DeadLetterSubject("d", fmt.Sprint("n", i)), Data: fmt.Appendf(nil, "%d", i)}
		ack, err := q.Publish(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, ack.Seq)
		dead = append(dead, queue.Stored{Msg: m, Stream: ack.Stream, Seq: ack.Seq})
	}
	if err := q.Delete(ctx, dead[1]); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := q.Get(ctx, queue.StreamDead, seqs[1]); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("get deleted: %v, want ErrNotFound", err)
	}
	if err := q.Delete(ctx, dead[1]); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("delete deleted: %v, want ErrNotFound", err)
	}
	never := dead[2]
	never.Seq += 10
	if err := q.Delete(ctx, never); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("delete never stored: %v, want ErrNotFound", err)
	}
	if _, err := q.Get(ctx, queue.StreamDead, seqs[2]); err != nil {
		t.Errorf("get the next record: %v", err)
	}
	// Another instance learns of the delete from the tombstone.
	q2 := newQueue(t, c, Options{})
	if _, err := q2.Get(ctx, queue.StreamDead, seqs[1]); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("other instance gets deleted: %v, want ErrNotFound", err)
	}
	if got := scanData(t, q2, queue.StreamDead, queue.DeadAll, time.Time{}); fmt.Sprint(got) != "[0 2]" {
		t.Errorf("other instance scans %v, want [0 2]", got)
	}
	// The same seq on another stream is another record.
	ack, err := q2.Publish(ctx, queue.Msg{Subject: queue.InSubject("s"), Data: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	if ack.Seq == seqs[1] {
		if _, err := q2.Get(ctx, queue.StreamIn, ack.Seq); err != nil {
			t.Errorf("get in at a seq deleted on dead: %v", err)
		}
	}
}

func TestScanOrderFilterStart(t *testing.T) {
	q := newQueue(t, newCluster(t), Options{})
	ctx := testCtx(t)
	publish := func(source string, i int) queue.PubAck {
		t.Helper()
		ack, err := q.Publish(ctx, queue.Msg{Subject: queue.InSubject(source), Data: fmt.Appendf(nil, "%s%d", source, i)})
		if err != nil {
			t.Fatal(err)
		}
		return ack
	}
	for i := range 3 {
		publish("a", i)
		publish("b", i)
	}
	last, err := q.Get(ctx, queue.StreamIn, publish("a", 3).Seq)
	if err != nil {
		t.Fatal(err)
	}
	// Record times are milliseconds: let the clock pass the last one so the
	// next records are strictly later.
	start := last.Time.Add(time.Millisecond)
	for time.Now().Before(start.Add(time.Millisecond)) {
		time.Sleep(time.Millisecond)
	}
	publish("b", 4)
	publish("a", 5)

	for _, tc := range []struct {
		subject string
		start   time.Time
		want    string
	}{
		{queue.InAll, time.Time{}, "[a0 b0 a1 b1 a2 b2 a3 b4 a5]"},
		{queue.InSubject("a"), time.Time{}, "[a0 a1 a2 a3 a5]"},
		{queue.InSubject("b"), start, "[b4]"},
		{queue.InAll, start, "[b4 a5]"},
		{"relay.in.*", start, "[b4 a5]"},
		{queue.InSubject("c"), time.Time{}, "[]"},
		{queue.InAll, time.Now().Add(time.Hour), "[]"},
	} {
		if got := fmt.Sprint(scanData(t, q, queue.StreamIn, tc.subject, tc.start)); got != tc.want {
			t.Errorf("scan %s from %v: %s, want %s", tc.subject, tc.start, got, tc.want)
		}
	}
}

func TestScanStopsAndEndsAtItsStart(t *testing.T) {
	q := newQueue(t, newCluster(t), Options{})
	ctx := testCtx(t)
	for i := range 5 {
		if _, err := q.Publish(ctx, queue.Msg{Subject: queue.InSubject("s"), Data: fmt.Appendf(nil, "%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	// Records stored while the scan runs are not part of it.
	n := 0
	err := q.Scan(ctx, queue.StreamIn, queue.InAll, time.Time{}, func(queue.Stored) (bool, error) {
		n++
		_, err := q.Publish(ctx, queue.Msg{Subject: queue.InSubject("s"), Data: []byte("later")})
		return true, err
	})
	if err != nil || n != 5 {
		t.Errorf("scan while publishing: %d messages, %v; want the 5 there at its start", n, err)
	}
	n = 0
	err = q.Scan(ctx, queue.StreamIn, queue.InAll, time.Time{}, func(queue.Stored) (bool, error) { n++; return n < 2, nil })
	if err != nil || n != 2 {
		t.Errorf("scan told to stop at 2: %d, %v", n, err)
	}
	boom := errors.New("boom")
	err = q.Scan(ctx, queue.StreamIn, queue.InAll, time.Time{}, func(queue.Stored) (bool, error) { return true, boom })
	if !errors.Is(err, boom) {
		t.Errorf("scan whose fn fails: %v, want boom", err)
	}
}

func TestScanMergesPartitionsByTime(t *testing.T) {
	q := newQueue(t, newCluster(t), Options{Partitions: 4})
	ctx := testCtx(t)
	dests := []string{"a", "b", "c", "d", "e", "f"}
	const rounds = 30
	for i := range rounds {
		for _, d := range dests {
			if _, err := q.Publish(ctx, queue.Msg{Subject: queue.OutSubject(d), Data: fmt.Appendf(nil, "%d", i)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	var prev time.Time
	perDest := map[string]int{}
	err := q.Scan(ctx, queue.StreamOut, queue.OutAll, time.Time{}, func(m queue.Stored) (bool, error) {
		if m.Time.Before(prev) {
			t.Errorf("%s at %v after one at %v", m.Subject, m.Time, prev)
		}
		prev = m.Time
		d := m.Subject[len(queue.OutSubject("")):]
		if got := string(m.Data); got != fmt.Sprint(perDest[d]) {
			t.Errorf("%s: %s out of order, want %d", m.Subject, got, perDest[d])
		}
		perDest[d]++
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dests {
		if perDest[d] != rounds {
			t.Errorf("destination %s: %d scanned, want %d", d, perDest[d], rounds)
		}
	}
	if got := scanData(t, q, queue.StreamOut, queue.OutSubject("c"), time.Time{}); len(got) != rounds {
		t.Errorf("scan of one destination: %d, want %d", len(got), rounds)
	}
}

func TestUnreachableBrokerIsUnavailable(t *testing.T) {
	// A port nobody listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	began := time.Now()
	_, err = New(ctx, Options{Brokers: []string{addr}})
	if !errors.Is(err, queue.ErrUnavailable) {
		t.Errorf("New on a dead address: %v, want ErrUnavailable", err)
	}
	if took := time.Since(began); took > 3*time.Second {
		t.Errorf("New took %v past its 2 s deadline", took)
	}
}

func TestBrokerGoneIsUnavailable(t *testing.T) {
	c := newCluster(t)
	ctx := testCtx(t)
	q, err := New(ctx, Options{Brokers: c.ListenAddrs(), Partitions: 2})
	if err != nil {
		t.Fatal(err)
	}
	ack, err := q.Publish(ctx, queue.Msg{Subject: queue.InSubject("s"), Data: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	for name, call := range map[string]func(context.Context) error{
		"publish": func(ctx context.Context) error {
			_, err := q.Publish(ctx, queue.Msg{Subject: queue.InSubject("s"), Data: []byte("y"), ID: "gone"})
			return err
		},
		"get": func(ctx context.Context) error { _, err := q.Get(ctx, queue.StreamIn, ack.Seq); return err },
		"scan": func(ctx context.Context) error {
			return q.Scan(ctx, queue.StreamIn, queue.InAll, time.Time{}, func(queue.Stored) (bool, error) { return true, nil })
		},
		"ready": q.Ready,
	} {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		began := time.Now()
		err := call(ctx)
		cancel()
		if !errors.Is(err, queue.ErrUnavailable) {
			t.Errorf("%s with the broker gone: %v, want ErrUnavailable", name, err)
		}
		if took := time.Since(began); took > 2*time.Second {
			t.Errorf("%s took %v past its 1 s deadline", name, took)
		}
	}
	cctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	_ = q.Close(cctx) // the unsent publish cannot flush: Close gives up with ctx
}

func TestBacklogReportsEveryDestination(t *testing.T) {
	q := newQueue(t, newCluster(t), Options{})
	got, err := q.Backlog(testCtx(t), []string{"a", "b"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["a"].Count != 0 || got["b"].Count != 0 {
		t.Errorf("backlog without consumers: %v, want a and b at zero", got)
	}
}

// scanData returns the data of what Scan returns, as strings.
func scanData(t *testing.T, q *Queue, stream, subject string, start time.Time) []string {
	t.Helper()
	var out []string
	err := q.Scan(testCtx(t), stream, subject, start, func(m queue.Stored) (bool, error) {
		out = append(out, string(m.Data))
		return true, nil
	})
	if err != nil {
		t.Fatalf("scan %s: %v", subject, err)
	}
	return out
}

// A dead letter put again after the dedup window is stored again under its
// id, and the compacted topic keeps it once: the second replaces the first
// for every reader, before compaction too; its delete deletes it.
func TestDeadLetterPutTwiceIsOne(t *testing.T) {
	q := newQueue(t, newCluster(t), Options{Streams: queue.StreamOptions{DedupWindow: time.Nanosecond}})
	s := queue.Over(q)
	ctx := testCtx(t)
	var acks []queue.PubAck
	for _, data := range []string{"first", "second"} {
		a, err := s.PutDeadLetters(ctx, []queue.Msg{{Key: "ops", ID: "ev:ops:0", Data: []byte(data)}})
		if err != nil {
			t.Fatal(err)
		}
		if a[0].Duplicate {
			t.Fatalf("put %s: a duplicate within a window of a nanosecond", data)
		}
		acks = append(acks, a[0])
	}
	var listed []string
	if err := s.ScanDeadLetters(ctx, "", time.Time{}, func(m queue.Stored) (bool, error) {
		listed = append(listed, string(m.Data))
		return true, nil
	}); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(listed) != "[second]" {
		t.Errorf("listed %q, want the second only", listed)
	}
	if m, err := s.DeadLetter(ctx, "ev:ops:0"); err != nil || string(m.Data) != "second" {
		t.Errorf("read %q, %v; want the second", m.Data, err)
	}
	if _, err := q.Get(ctx, queue.StreamDead, acks[0].Seq); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("the replaced record read by its seq: %v, want ErrNotFound", err)
	}
	if err := s.DeleteDeadLetter(ctx, "ev:ops:0"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeadLetter(ctx, "ev:ops:0"); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("read once deleted: %v, want ErrNotFound", err)
	}
}

// The dead letters' index drops the keys of records the retention removed
// (which leaves no tombstone) at a catch-up, and keeps the others: it does
// not grow with every dead letter stored while the process runs.
func TestDeadLetterIndexForgetsWhatRetentionRemoved(t *testing.T) {
	c := newCluster(t)
	q := newQueue(t, c, Options{})
	s := queue.Over(q)
	ctx := testCtx(t)
	var acks []queue.PubAck
	for _, id := range []string{"ev1:ops:0", "ev2:ops:0", "ev3:ops:0"} {
		a, err := s.PutDeadLetters(ctx, []queue.Msg{{Key: "ops", ID: id, Data: []byte(id)}})
		if err != nil {
			t.Fatal(err)
		}
		acks = append(acks, a[0])
	}
	if err := q.syncLive(ctx, 0); err != nil {
		t.Fatal(err)
	}
	// Retention removes the first two: the log starts at the third.
	third := acks[2].Seq
	if err := c.DeleteRecords(q.live.topic, partitionOf(third), offsetOf(third)); err != nil {
		t.Fatal(err)
	}
	q.live.mu.Lock()
	q.live.pruned = time.Time{} // due
	q.live.mu.Unlock()
	if err := q.syncLive(ctx, 0); err != nil {
		t.Fatal(err)
	}
	q.live.mu.Lock()
	keys := slices.Sorted(maps.Keys(q.live.latest))
	q.live.mu.Unlock()
	if fmt.Sprint(keys) != "[ev3:ops:0]" {
		t.Errorf("index keys %v after the retention removed ev1 and ev2, want [ev3:ops:0]", keys)
	}
	if m, err := s.DeadLetter(ctx, "ev3:ops:0"); err != nil || string(m.Data) != "ev3:ops:0" {
		t.Errorf("ev3 read %q, %v", m.Data, err)
	}
}
