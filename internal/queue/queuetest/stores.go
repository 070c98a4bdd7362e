package queuetest

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/internal/queue"
)

// testStoresKeepKeys: each store files a message under its key and reads
// it back with the key set, apart from the other keys, through the stores
// the stages use.
func testStoresKeepKeys(t *testing.T, _ Backend, open func(t *testing.T) queue.Queue) {
	s := queue.Over(open(t))
	ctx := ctxFor(t, wait)

	for _, src := range []string{"github", "zendesk", "github"} {
		if _, err := s.AppendEvent(ctx, queue.Msg{Key: src, Header: queue.Header{}, Data: []byte("event of " + src)}); err != nil {
			t.Fatalf("append event of %s: %v", src, err)
		}
	}
	f := feed(t, s.Backend(), time.Minute)
	if d := next(t, f); d.Msg().Key != "github" && d.Msg().Key != "zendesk" {
		t.Errorf("the feed handed out an event keyed %q, want its source", d.Msg().Key)
	}
	var events []string
	if err := s.ScanEvents(ctx, "github", time.Time{}, func(m queue.Stored) (bool, error) {
		events = append(events, m.Key+"="+string(m.Data))
		return true, nil
	}); err != nil {
		t.Fatalf("scan events of github: %v", err)
	}
	if want := []string{"github=event of github", "github=event of github"}; !slices.Equal(events, want) {
		t.Errorf("events of github: %q, want %q", events, want)
	}

	acks, err := s.PutDeadLetters(ctx, []queue.Msg{{Key: "ops", Data: []byte("dead 1"), ID: "e1:ops:0"}, {Key: "dev", Data: []byte("dead 2"), ID: "e1:dev:0"}})
	if err != nil {
		t.Fatalf("put dead letters: %v", err)
	}
	got, err := s.DeadLetter(ctx, acks[1].Ref)
	if err != nil || got.Key != "dev" || string(got.Data) != "dead 2" {
		t.Fatalf("dead letter %s: %q %q %v, want dev's", acks[1].Ref, got.Key, got.Data, err)
	}
	var keys []string
	if err := s.ScanDeadLetters(ctx, "", time.Time{}, func(m queue.Stored) (bool, error) {
		keys = append(keys, m.Key)
		return true, nil
	}); err != nil {
		t.Fatalf("scan dead letters: %v", err)
	}
	if !slices.Equal(keys, []string{"ops", "dev"}) {
		t.Errorf("dead letters filed under %q, want ops, dev", keys)
	}
	if err := s.DeleteDeadLetter(ctx, acks[0].Ref); err != nil {
		t.Fatalf("delete dead letter: %v", err)
	}
	if _, err := s.DeadLetter(ctx, acks[0].Ref); err == nil {
		t.Error("a deleted dead letter is read back")
	}

	if _, err := s.Enqueue(ctx, []queue.Msg{{Key: "ops", Data: []byte("card 1")}, {Key: "ops", Data: []byte("card 2")}}); err != nil {
		t.Fatalf("enqueue: %v", err)
	}
	c := openLane(t, s, "ops")
	for _, want := range []string{"card 1", "card 2"} {
		d := next(t, c)
		if m := d.Msg(); string(m.Data) != want || m.Key != "ops" {
			t.Errorf("lane of ops handed %q keyed %q, want %q keyed ops", m.Data, m.Key, want)
		}
		ack(t, d)
	}
}

// testDeadLettersByID: a dead letter is named by its id. Put twice, it is
// stored once; it is read and deleted by the id alone, whatever its
// destination; it is not read by its sequence.
func testDeadLettersByID(t *testing.T, _ Backend, open func(t *testing.T) queue.Queue) {
	q := open(t)
	s := queue.Over(q)
	ctx := ctxFor(t, wait)
	first := putDeadLetter(t, s, "ops", "e1:ops:0", "one")
	if again := putDeadLetter(t, s, "ops", "e1:ops:0", "one again"); !again.Duplicate {
		t.Error("a dead letter put twice is not acked as a duplicate")
	}
	putDeadLetter(t, s, "dev", "e1:dev:0", "dev's")
	putDeadLetter(t, s, "ops", "e2:ops:0", "two")

	// Put again past the deduplication window (here: without the ID that
	// deduplicates), it is still one dead letter.
	if _, err := q.Publish(ctx, queue.Msg{Subject: queue.DeadLetterSubject("ops", "e2:ops:0"), Data: []byte("two")}); err != nil {
		t.Fatalf("put e2:ops:0 again: %v", err)
	}
	if got, want := deadLetterIDs(t, s, "ops"), []string{"e1:ops:0", "e2:ops:0"}; !slices.Equal(got, want) {
		t.Errorf("dead letters of ops: %q, want %q", got, want)
	}
	if got, want := deadLetterIDs(t, s, ""), []string{"e1:ops:0", "e1:dev:0", "e2:ops:0"}; !slices.Equal(got, want) {
		t.Errorf("every dead letter: %q, want %q", got, want)
	}
	if m := mustDeadLetter(t, s, "e1:ops:0", "one"); m.Key != "ops" || m.Seq != first.Seq {
		t.Errorf("dead letter e1:ops:0 read as %s #%d, want ops #%d", m.Key, m.Seq, first.Seq)
	}
	mustDeadLetter(t, s, "e1:dev:0", "dev's")
	if _, err := s.DeadLetter(ctx, strconv.FormatUint(first.Seq, 10)); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("a named dead letter read by its sequence: %v, want ErrNotFound", err)
	}
	for _, id := range []string{"", "0", "e1.ops.0", "ops.*", "e1 ops"} {
		if _, err := s.DeadLetter(ctx, id); !errors.Is(err, queue.ErrBadDeadLetterID) {
			t.Errorf("dead letter %q: %v, want ErrBadDeadLetterID", id, err)
		}
	}
	if _, err := s.PutDeadLetters(ctx, []queue.Msg{{Key: "ops", ID: "42", Data: []byte("x")}}); !errors.Is(err, queue.ErrBadDeadLetterID) {
		t.Errorf("put a dead letter named by a number: %v, want ErrBadDeadLetterID", err)
	}
	mustDelete(t, s, "e1:ops:0")
	if got, want := deadLetterIDs(t, s, "ops"), []string{"e2:ops:0"}; !slices.Equal(got, want) {
		t.Errorf("dead letters of ops once one is deleted: %q, want %q", got, want)
	}
	if _, err := s.DeadLetter(ctx, "e9:ops:0"); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("a dead letter never put: %v, want ErrNotFound", err)
	}
}

// testEarlierDeadLetters: a dead letter an earlier release stored (on the
// destination's subject, named by its sequence) is listed among the new
// ones in the order stored, and read and deleted by its sequence in
// decimal.
func testEarlierDeadLetters(t *testing.T, _ Backend, open func(t *testing.T) queue.Queue) {
	q := open(t)
	s := queue.Over(q)
	// One of the earlier release, new ones, another of the earlier release
	// (a rolling upgrade).
	old1 := publish(t, q, queue.Msg{Subject: queue.DeadSubject("ops"), Data: []byte("old 1"), ID: "dead.e0.ops.0"})
	putDeadLetter(t, s, "ops", "e1:ops:0", "one")
	putDeadLetter(t, s, "dev", "e1:dev:0", "dev's")
	old2 := publish(t, q, queue.Msg{Subject: queue.DeadSubject("ops"), Data: []byte("old 2")})
	oldID := func(a queue.PubAck) string { return strconv.FormatUint(a.Seq, 10) }

	if got, want := deadLetterIDs(t, s, "ops"), []string{oldID(old1), "e1:ops:0", oldID(old2)}; !slices.Equal(got, want) {
		t.Errorf("dead letters of ops: %q, want %q", got, want)
	}
	if got, want := deadLetterIDs(t, s, ""), []string{oldID(old1), "e1:ops:0", "e1:dev:0", oldID(old2)}; !slices.Equal(got, want) {
		t.Errorf("every dead letter: %q, want %q", got, want)
	}
	if got, want := deadLetterIDs(t, s, "dev"), []string{"e1:dev:0"}; !slices.Equal(got, want) {
		t.Errorf("dead letters of dev: %q, want %q", got, want)
	}
	if m := mustDeadLetter(t, s, oldID(old1), "old 1"); m.Key != "ops" {
		t.Errorf("dead letter %s read keyed %q, want ops", oldID(old1), m.Key)
	}
	mustDelete(t, s, oldID(old1))
	mustDelete(t, s, "e1:ops:0")
	if got, want := deadLetterIDs(t, s, "ops"), []string{oldID(old2)}; !slices.Equal(got, want) {
		t.Errorf("dead letters of ops once two are deleted: %q, want %q", got, want)
	}
}

// putDeadLetter puts a dead letter of dest named id.
func putDeadLetter(t *testing.T, s *queue.Stores, dest, id, data string) queue.PubAck {
	t.Helper()
	acks, err := s.PutDeadLetters(ctxFor(t, wait), []queue.Msg{{Key: dest, ID: id, Data: []byte(data)}})
	if err != nil {
		t.Fatalf("put dead letter %s: %v", id, err)
	}
	if acks[0].Ref != id {
		t.Fatalf("put dead letter %s: acked as %q", id, acks[0].Ref)
	}
	return acks[0]
}

// deadLetterIDs are the ids of dest's dead letters ("" for every
// destination's), in the order scanned.
func deadLetterIDs(t *testing.T, s *queue.Stores, dest string) []string {
	t.Helper()
	var out []string
	if err := s.ScanDeadLetters(ctxFor(t, wait), dest, time.Time{}, func(m queue.Stored) (bool, error) {
		if m.Key == "" || (dest != "" && m.Key != dest) {
			t.Errorf("scan of %q read a dead letter keyed %q", dest, m.Key)
		}
		out = append(out, m.Ref)
		return true, nil
	}); err != nil {
		t.Fatalf("scan dead letters of %q: %v", dest, err)
	}
	return out
}

// mustDeadLetter reads the dead letter named id, which holds want.
func mustDeadLetter(t *testing.T, s *queue.Stores, id, want string) queue.Stored {
	t.Helper()
	m, err := s.DeadLetter(ctxFor(t, wait), id)
	if err != nil || string(m.Data) != want || m.Ref != id {
		t.Fatalf("dead letter %s: %q named %q, %v; want %q", id, m.Data, m.Ref, err, want)
	}
	return m
}

// mustDelete deletes the dead letter named id, and checks that it is gone.
func mustDelete(t *testing.T, s *queue.Stores, id string) {
	t.Helper()
	ctx := ctxFor(t, wait)
	if err := s.DeleteDeadLetter(ctx, id); err != nil {
		t.Fatalf("delete dead letter %s: %v", id, err)
	}
	if _, err := s.DeadLetter(ctx, id); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("dead letter %s read once deleted: %v", id, err)
	}
	if err := s.DeleteDeadLetter(ctx, id); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("dead letter %s deleted twice: %v, want ErrNotFound", id, err)
	}
}

// openLane opens a destination's lane once this instance claims it.
func openLane(t *testing.T, s *queue.Stores, destination string) queue.Consumer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	cl := claim(t, ctx, s.Backend())
	eventually(t, "the instance owns "+destination, func() bool { return cl.Owns(destination) })
	return laneOf(t, s.Backend(), destination)
}

// testSendLog: a send is read back with its destination and time, to the
// nanosecond, from one destination's log or from all of them, whether it
// was logged alone or with others in one record.
func testSendLog(t *testing.T, _ Backend, open func(t *testing.T) queue.Queue) {
	s := queue.Over(open(t))
	ctx := ctxFor(t, wait)
	at := time.Now().Add(-time.Minute).Truncate(time.Nanosecond)
	sent := map[string][]time.Time{"ops": {at, at.Add(time.Millisecond)}, "dev": {at.Add(time.Second)}}
	for dest, when := range sent {
		if err := s.RecordSends(dest, when); err != nil {
			t.Fatalf("record sends to %s: %v", dest, err)
		}
	}
	eventually(t, "every send logged", func() bool {
		n := 0
		_ = s.Sends(ctx, "", time.Time{}, func(string, time.Time) (bool, error) { n++; return true, nil })
		return n == 3
	})
	got := map[string][]time.Time{}
	if err := s.Sends(ctx, "", at.Add(-time.Hour), func(dest string, when time.Time) (bool, error) {
		got[dest] = append(got[dest], when)
		return true, nil
	}); err != nil {
		t.Fatalf("sends: %v", err)
	}
	for dest, when := range sent {
		if !slices.EqualFunc(got[dest], when, time.Time.Equal) {
			t.Errorf("sends to %s read back at %v, want %v", dest, got[dest], when)
		}
	}
	var ops []string
	if err := s.Sends(ctx, "ops", time.Time{}, func(dest string, _ time.Time) (bool, error) {
		ops = append(ops, dest)
		return true, nil
	}); err != nil {
		t.Fatalf("sends to ops: %v", err)
	}
	if !slices.Equal(ops, []string{"ops", "ops"}) {
		t.Errorf("sends to ops: %q", ops)
	}

	if err := s.RecordHistory("ev1", []byte("received")); err != nil {
		t.Fatalf("record history: %v", err)
	}
	eventually(t, "the history record kept", func() bool {
		var recs []string
		_ = s.ScanHistory(ctx, "ev1", time.Time{}, func(m queue.Stored) (bool, error) {
			recs = append(recs, m.Key+":"+string(m.Data))
			return true, nil
		})
		return slices.Equal(recs, []string{"ev1:received"})
	})
}
