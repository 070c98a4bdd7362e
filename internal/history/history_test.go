package history

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/hookrelay/hookrelay/internal/config"
	"github.com/hookrelay/hookrelay/internal/queue"
	"github.com/hookrelay/hookrelay/internal/storetest"
	"github.com/hookrelay/hookrelay/schemas"
)

func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// waitHistory polls until the event has at least n records: the recorder
// does not wait for the store, so there is no acknowledgement to wait on.
func waitHistory(t *testing.T, s *Store, id string, n int) []Record {
	t.Helper()
	ctx := ctxT(t)
	for {
		recs, err := s.History(ctx, id)
		if err != nil {
			t.Fatalf("history %s: %v", id, err)
		}
		if len(recs) >= n {
			return recs
		}
		select {
		case <-ctx.Done():
			t.Fatalf("history %s: %d records, want %d: %+v", id, len(recs), n, recs)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func kinds(recs []Record) []Kind {
	out := []Kind{}
	for _, r := range recs {
		out = append(out, r.Kind)
	}
	return out
}

func TestRecorderAndHistory(t *testing.T) { storetest.Each(t, testRecorderAndHistory) }

func testRecorderAndHistory(t *testing.T, open storetest.Opener) {
	q := open(t)
	r := NewRecorder(q, nil)
	s := NewStore(q, q)
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	id, other := uuid.Must(uuid.NewV7()).String(), uuid.Must(uuid.NewV7()).String()

	// Published out of order, as stages in different processes would.
	r.Record(Record{EventID: id, At: base.Add(3 * time.Second), Stage: StageDispatch, Kind: KindAttempt, Destination: "ops", Attempt: 1, Status: 503})
	r.Record(Record{EventID: id, At: base, Stage: StageIngest, Kind: KindReceived, Source: "github", Detail: "verified by github, 10 bytes"})
	r.Record(Record{EventID: other, At: base, Stage: StageIngest, Kind: KindReceived})
	r.Record(Record{EventID: id, At: base.Add(time.Second), Stage: StageTransform, Kind: KindRouted, Destination: "ops"})
	r.Record(Record{EventID: id, Stage: StageDispatch, Kind: KindDelivered, Destination: "ops", Detail: strings.Repeat("é", MaxDetail)})

	recs := waitHistory(t, s, id, 4)
	if got, want := kinds(recs), []Kind{KindReceived, KindRouted, KindAttempt, KindDelivered}; !slices.Equal(got, want) {
		t.Fatalf("kinds %v, want %v", got, want)
	}
	if recs[3].At.IsZero() {
		t.Error("At not stamped")
	}
	if d := recs[3].Detail; len(d) > MaxDetail || !strings.HasSuffix(d, "…") || !json.Valid([]byte(fmt.Sprintf("%q", d))) {
		t.Errorf("detail not cut to %d bytes: %d bytes", MaxDetail, len(d))
	}
	if recs[2].Status != 503 || recs[2].Attempt != 1 || recs[0].Source != "github" {
		t.Errorf("fields lost: %+v", recs)
	}
	if got := waitHistory(t, s, other, 1); len(got) != 1 {
		t.Errorf("other event has %d records, want 1", len(got))
	}
	if recs, err := s.History(ctxT(t), "unknown"); err != nil || len(recs) != 0 {
		t.Errorf("unknown event: %v, %v; want none, nil", recs, err)
	}
	if _, err := s.History(ctxT(t), "a.b"); !errors.Is(err, ErrInvalid) {
		t.Errorf("id with a dot: %v, want ErrInvalid", err)
	}
}

func TestRecorderNeverFailsTheCaller(t *testing.T) {
	var nilRec *Recorder
	nilRec.Record(Record{EventID: "x", Kind: KindReceived}) // must not panic
	if nilRec.Dropped() != 0 {
		t.Error("nil recorder counted a drop")
	}
	storetest.Each(t, testRecorderOnAClosedStore)
}

func testRecorderOnAClosedStore(t *testing.T, open storetest.Opener) {
	q := open(t)
	r := NewRecorder(q, nil)
	r.Record(Record{EventID: "bad.id", Kind: KindReceived})
	if err := q.Backend().Close(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for range 1000 {
		r.Record(Record{EventID: "e1", Kind: KindAttempt})
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("1000 records on a closed connection took %v", d)
	}
	if got := r.Dropped(); got != 1001 {
		t.Errorf("dropped %d, want 1001", got)
	}
}

// storeEvent stores an event the way ingest does and returns its sequence.
func storeEvent(t *testing.T, q queue.Events, source string, at time.Time, body string) (schemas.Event, uint64) {
	t.Helper()
	return storeEventAs(t, q, false, source, at, body)
}

// storeEarlierEvent stores an event the way releases before the raw format
// did, spelled out here: a JSON envelope with the body in base64, and the
// event id and source as headers.
func storeEarlierEvent(t *testing.T, q queue.Events, source string, at time.Time, body string) (schemas.Event, uint64) {
	t.Helper()
	return storeEventAs(t, q, true, source, at, body)
}

func storeEventAs(t *testing.T, q queue.Events, earlier bool, source string, at time.Time, body string) (schemas.Event, uint64) {
	t.Helper()
	ev := schemas.Event{ID: uuid.Must(uuid.NewV7()).String(), Source: source, ReceivedAt: at, Body: []byte(body), Verified: "token"}
	m := queue.Msg{Key: source, Header: queue.Header{}, ID: ev.ID}
	if earlier {
		data, err := json.Marshal(map[string]any{"id": ev.ID, "source": source, "received_at": at, "verified": "token", "body": ev.Body})
		if err != nil {
			t.Fatal(err)
		}
		m.Data = data
		m.Header.Set(queue.HeaderEventID, ev.ID)
		m.Header.Set(queue.HeaderSource, source)
	} else {
		m.Data = schemas.EncodeEvent(&ev, m.Header)
	}
	m.Header.Set("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	ack, err := q.AppendEvent(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	return ev, ack.Seq
}

func TestGet(t *testing.T) { storetest.Each(t, testGet) }

func testGet(t *testing.T, open storetest.Opener) {
	q := open(t)
	r := NewRecorder(q, nil)
	s := NewStore(q, q)
	ctx := ctxT(t)
	now := time.Now().UTC()

	withHistory, seq := storeEvent(t, q, "github", now, `{"action":"opened"}`)
	r.Record(Record{EventID: withHistory.ID, Stage: StageIngest, Kind: KindReceived, Seq: seq})
	waitHistory(t, s, withHistory.ID, 1)
	noHistory, seq2 := storeEvent(t, q, "stripe", now, "plain text")
	// Stored by a release before the raw format.
	earlier, seq3 := storeEarlierEvent(t, q, "github", now, `{"action":"closed"}`)
	r.Record(Record{EventID: earlier.ID, Stage: StageIngest, Kind: KindReceived, Seq: seq3})
	waitHistory(t, s, earlier.ID, 1)
	earlierNoHistory, seq4 := storeEarlierEvent(t, q, "stripe", now, "old text")

	tests := []struct {
		name, id string
		seq      uint64
		body     string
		records  int
	}{
		{"by the received record's sequence", withHistory.ID, seq, `{"action":"opened"}`, 1},
		// The received step is read from the stored event itself.
		{"by the time in its id", noHistory.ID, seq2, `"plain text"`, 1},
		{"earlier format, by sequence", earlier.ID, seq3, `{"action":"closed"}`, 1},
		{"earlier format, by the time in its id", earlierNoHistory.ID, seq4, `"old text"`, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := s.Get(ctx, tt.id)
			if err != nil {
				t.Fatal(err)
			}
			if v.Event == nil || v.Event.ID != tt.id || v.Event.Seq != tt.seq || string(v.Event.Body) != tt.body {
				t.Fatalf("event %+v, want id %s seq %d body %s", v.Event, tt.id, tt.seq, tt.body)
			}
			if len(v.History) != tt.records || v.History[0].Kind != KindReceived || v.History[0].Seq != tt.seq {
				t.Errorf("history %+v, want %d records starting with received at seq %d", v.History, tt.records, tt.seq)
			}
		})
	}
	if _, err := s.Get(ctx, uuid.Must(uuid.NewV7()).String()); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown event: %v, want ErrNotFound", err)
	}
}

// replays returns the stored events of source that are replays, in the
// order they were stored.
func replays(t *testing.T, q queue.Events, source string) []queue.Stored {
	t.Helper()
	var out []queue.Stored
	err := q.ScanEvents(ctxT(t), source, time.Time{}, func(m queue.Stored) (bool, error) {
		if m.Header.Get(queue.HeaderReplay) != "" {
			out = append(out, m)
		}
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestReplay(t *testing.T) { storetest.Each(t, testReplay) }

func testReplay(t *testing.T, open storetest.Opener) {
	q := open(t)
	cfg := &config.Config{
		Sources: []config.Source{{Name: "github"}, {Name: "stripe"}, {Name: "idle"}},
		Routes: []config.Route{
			{Name: "gh-ops", Source: "github"}, {Name: "gh-sales", Source: "github"}, {Name: "st", Source: "stripe"},
		},
	}
	rec := NewRecorder(q, nil)
	s := NewStore(q, q, WithConfig(cfg), WithRecorder(rec))
	ctx := ctxT(t)
	now := time.Now().UTC()
	var evs []schemas.Event
	var stored []queue.Stored
	for i, age := range []time.Duration{3 * time.Hour, 90 * time.Minute, 30 * time.Minute, time.Minute} {
		// One in the format of releases before the raw one: replayed alike.
		ev, seq := storeEventAs(t, q, i == 1, "github", now.Add(-age), `{"n":1}`)
		evs = append(evs, ev)
		m, err := q.Event(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, m)
	}
	storeEvent(t, q, "stripe", now.Add(-time.Minute), `{}`)
	ids := func(res ReplayResult) []string {
		out := []string{}
		for _, e := range res.Events {
			out = append(out, e.ID)
		}
		return out
	}

	t.Run("dry run lists and publishes nothing", func(t *testing.T) {
		res, err := s.Replay(ctx, ReplayRequest{Source: "github", Since: now.Add(-2 * time.Hour), Until: now.Add(-10 * time.Minute), DryRun: true})
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{evs[1].ID, evs[2].ID}; !res.DryRun || res.Count != 2 || !slices.Equal(ids(res), want) {
			t.Fatalf("dry run %+v, want events %v", res, want)
		}
		if stored := replays(t, q, "github"); len(stored) != 0 {
			t.Fatalf("dry run stored %d events", len(stored))
		}
	})

	t.Run("replay re-publishes marked copies", func(t *testing.T) {
		res, err := s.Replay(ctx, ReplayRequest{Source: "github", Since: now.Add(-2 * time.Hour), Routes: []string{"gh-ops"}, ID: "fix1"})
		if err != nil {
			t.Fatal(err)
		}
		want := []string{evs[1].ID, evs[2].ID, evs[3].ID}
		if res.Count != 3 || !slices.Equal(ids(res), want) || res.ID != "fix1" {
			t.Fatalf("replay %+v, want %v", res, want)
		}
		got := replays(t, q, "github")
		if len(got) != 3 {
			t.Fatalf("%d messages stored, want 3", len(got))
		}
		for i, m := range got {
			ev, err := schemas.DecodeEvent(m.Header, m.Data)
			if err != nil || ev.ID != want[i] || string(ev.Body) != `{"n":1}` {
				t.Errorf("message %d holds %+v (%v), want event %s", i, ev, err, want[i])
			}
			// A copy as it was stored: data, format and envelope.
			orig := stored[i+1]
			if string(m.Data) != string(orig.Data) {
				t.Errorf("message %d: data %q, want the original's %q", i, m.Data, orig.Data)
			}
			for k := range orig.Header {
				if !slices.Equal(m.Header[k], orig.Header[k]) {
					t.Errorf("message %d: header %s = %q, want the original's %q", i, k, m.Header[k], orig.Header[k])
				}
			}
			h := m.Header
			if m.Key != "github" || h.Get(queue.HeaderReplay) != "fix1" ||
				h.Get(queue.HeaderReplayRoutes) != "gh-ops" || h.Get(queue.HeaderEventID) != want[i] ||
				h.Get("traceparent") == "" || m.ID != "resend."+want[i]+".fix1" {
				t.Errorf("message %d: source %s id %s headers %v", i, m.Key, m.ID, h)
			}
		}
		recs := waitHistory(t, s, evs[3].ID, 1)
		if recs[0].Kind != KindReplayed || !strings.Contains(recs[0].Detail, "fix1") {
			t.Errorf("history %+v, want a replayed record naming fix1", recs)
		}
	})

	t.Run("same replay id twice stores once", func(t *testing.T) {
		stored := len(replays(t, q, "github"))
		if _, err := s.Replay(ctx, ReplayRequest{Source: "github", Since: now.Add(-2 * time.Hour), ID: "fix1"}); err != nil {
			t.Fatal(err)
		}
		if got := replays(t, q, "github"); len(got) != stored {
			t.Errorf("%d more events stored, want 0", len(got)-stored)
		}
	})

	t.Run("replays are not replayed again", func(t *testing.T) {
		res, err := s.Replay(ctx, ReplayRequest{Source: "github", Since: now.Add(-2 * time.Hour), DryRun: true})
		if err != nil {
			t.Fatal(err)
		}
		if res.Count != 3 {
			t.Errorf("count %d, want the 3 originals only", res.Count)
		}
	})

	invalid := []struct {
		name string
		req  ReplayRequest
		want string
	}{
		{"no source", ReplayRequest{Since: now}, "source"},
		{"wildcard source", ReplayRequest{Source: "*", Since: now}, "source"},
		{"no since", ReplayRequest{Source: "github"}, "since"},
		{"until before since", ReplayRequest{Source: "github", Since: now, Until: now.Add(-time.Hour)}, "until"},
		{"unknown source", ReplayRequest{Source: "gitlab", Since: now}, "not configured"},
		{"source without routes", ReplayRequest{Source: "idle", Since: now}, "no route"},
		{"route of another source", ReplayRequest{Source: "github", Since: now, Routes: []string{"st"}}, "gh-ops, gh-sales"},
		{"bad replay id", ReplayRequest{Source: "github", Since: now, ID: "a.b"}, "replay id"},
	}
	for _, tt := range invalid {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Replay(ctx, tt.req)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want ErrInvalid mentioning %q", err, tt.want)
			}
		})
	}
}

// BenchmarkRecord measures what recording costs the stage that records.
func BenchmarkRecord(b *testing.B) {
	// Recording costs the caller a hand-over to the client either way;
	// JetStream's is the default.
	r := NewRecorder(storetest.JetStream(b), nil)
	id := uuid.Must(uuid.NewV7()).String()
	rec := Record{EventID: id, Stage: StageDispatch, Kind: KindAttempt, Destination: "ops", DeliveryID: id + ".ops",
		Attempt: 1, Status: 200, Detail: "delivered: 1"}
	b.ReportAllocs()
	for b.Loop() {
		r.Record(rec)
	}
	b.StopTimer()
	if r.Dropped() != 0 {
		b.Fatalf("%d records dropped", r.Dropped())
	}
}
