package queuetest

import (
	"context"
	"slices"
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

	acks, err := s.PutDeadLetters(ctx, []queue.Msg{{Key: "ops", Data: []byte("dead 1")}, {Key: "dev", Data: []byte("dead 2")}})
	if err != nil {
		t.Fatalf("put dead letters: %v", err)
	}
	got, err := s.DeadLetter(ctx, acks[1].Seq)
	if err != nil || got.Key != "dev" || string(got.Data) != "dead 2" {
		t.Fatalf("dead letter %d: %q %q %v, want dev's", acks[1].Seq, got.Key, got.Data, err)
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
	if err := s.DeleteDeadLetter(ctx, acks[0].Seq); err != nil {
		t.Fatalf("delete dead letter: %v", err)
	}
	if _, err := s.DeadLetter(ctx, acks[0].Seq); err == nil {
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
