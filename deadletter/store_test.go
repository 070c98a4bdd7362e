package deadletter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/internal/config"
	"github.com/hookrelay/hookrelay/internal/history"
	"github.com/hookrelay/hookrelay/internal/natstest"
	"github.com/hookrelay/hookrelay/internal/queue"
	"github.com/hookrelay/hookrelay/schemas"
)

// now is the fixed clock of the tests; dead letters are stamped relative to it.
var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// fixture describes one dead letter the tests store.
type fixture struct {
	dest, source, reason string
	status               int
	age                  time.Duration // DeadAt = testNow - age
	noCard               bool
}

// fixtures are stored in this order, so entry i has id i+1.
var fixtures = []fixture{
	{dest: "ops", source: "github", reason: schemas.ReasonRejected, status: 400, age: 3 * time.Hour},
	{dest: "ops", source: "stripe", reason: schemas.ReasonExhausted, status: 503, age: 90 * time.Minute},
	{dest: "sales", source: "github", reason: schemas.ReasonExpired, age: 30 * time.Minute},
	{dest: "sales", source: "github", reason: schemas.ReasonTransform, age: 10 * time.Minute, noCard: true},
	{dest: "ops", source: "github", reason: schemas.ReasonGone, status: 410, age: time.Minute},
}

func deadLetter(i int, fx fixture) schemas.DeadLetter {
	created := testNow.Add(-fx.age - time.Hour)
	d := schemas.Delivery{
		ID: fmt.Sprintf("dlv-%d", i), EventID: fmt.Sprintf("evt-%d", i), Source: fx.source,
		Route: fx.source + "-1", Destination: fx.dest, Format: schemas.FormatAdaptive,
		Card:      []byte(fmt.Sprintf(`{"type":"message","n":%d}`, i)),
		CreatedAt: created, NotAfter: created.Add(24 * time.Hour),
	}
	if fx.noCard {
		d.Card = nil
	}
	return schemas.DeadLetter{
		Delivery: d, Reason: fx.reason, Attempts: 3, LastStatus: fx.status,
		LastError: "destination said no", FirstAttempt: created, LastAttempt: testNow.Add(-fx.age),
		DeadAt: testNow.Add(-fx.age),
	}
}

// publishDead stores a dead letter as the stages do and returns its id.
func publishDead(t *testing.T, q queue.Queue, dl schemas.DeadLetter) string {
	t.Helper()
	msg, err := Msg(dl)
	if err != nil {
		t.Fatal(err)
	}
	acks, err := queue.Over(q).PutDeadLetters(context.Background(), []queue.Msg{msg})
	if err != nil {
		t.Fatalf("put dead letter: %v", err)
	}
	return strconv.FormatUint(acks[0].Seq, 10)
}

// startQueue starts a JetStream with hookrelay's streams and opens a queue on
// it, both stopped when the test ends.
func startQueue(t testing.TB) (*natstest.Env, queue.Queue) {
	t.Helper()
	env := natstest.Start(t)
	return env, env.Queue(t)
}

// setup starts a queue, stores the fixtures and returns a Store on a fixed clock.
func setup(t *testing.T) (*Store, queue.Queue) {
	t.Helper()
	_, q := startQueue(t)
	for i, fx := range fixtures {
		if id := publishDead(t, q, deadLetter(i+1, fx)); id != strconv.Itoa(i+1) {
			t.Fatalf("fixture %d stored as %s", i+1, id)
		}
	}
	s := NewStore(queue.Over(q), queue.Over(q))
	s.now = func() time.Time { return testNow }
	return s, q
}

func ids(entries []Entry) []string {
	out := []string{}
	for _, e := range entries {
		out = append(out, e.ID)
	}
	return out
}

func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestList(t *testing.T) {
	s, _ := setup(t)
	ctx := ctxT(t)
	tests := []struct {
		name string
		f    Filter
		want []string
	}{
		{"all", Filter{}, []string{"1", "2", "3", "4", "5"}},
		{"destination", Filter{Destination: "ops"}, []string{"1", "2", "5"}},
		{"unknown destination", Filter{Destination: "nobody"}, []string{}},
		{"source", Filter{Source: "stripe"}, []string{"2"}},
		{"reason", Filter{Reason: schemas.ReasonTransform}, []string{"4"}},
		{"reason gone", Filter{Reason: schemas.ReasonGone}, []string{"5"}},
		{"reason and status", Filter{Reason: schemas.ReasonExhausted, Status: 503}, []string{"2"}},
		{"reason with no entry", Filter{Reason: ReasonUndecodable}, []string{}},
		{"status", Filter{Status: 410}, []string{"5"}},
		{"since", Filter{Since: testNow.Add(-time.Hour)}, []string{"3", "4", "5"}},
		{"until", Filter{Until: testNow.Add(-time.Hour)}, []string{"1", "2"}},
		{"since and until", Filter{Since: testNow.Add(-2 * time.Hour), Until: testNow.Add(-5 * time.Minute)}, []string{"2", "3", "4"}},
		{"destination and source", Filter{Destination: "sales", Source: "github", Reason: schemas.ReasonExpired}, []string{"3"}},
		{"ids in any order, repeated, missing", Filter{IDs: []string{"5", "2", "5", "99"}}, []string{"2", "5"}},
		{"ids and destination", Filter{IDs: []string{"1", "3"}, Destination: "ops"}, []string{"1"}},
		{"limit keeps the oldest", Filter{Destination: "ops", Limit: 2}, []string{"1", "2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.List(ctx, tt.f)
			if err != nil {
				t.Fatalf("List: %v", err)
			}
			if !slices.Equal(ids(got), tt.want) {
				t.Errorf("List(%+v) = %v, want %v", tt.f, ids(got), tt.want)
			}
		})
	}
}

func TestListInvalidFilter(t *testing.T) {
	s, _ := setup(t)
	for _, f := range []Filter{
		{Destination: "ops.x"}, {Destination: "*"}, {Destination: ">"},
		{IDs: []string{"abc"}}, {IDs: []string{"0"}}, {Limit: -1},
		{Reason: "gnoe"}, {Reason: "Gone"},
		{Since: testNow, Until: testNow}, {Since: testNow, Until: testNow.Add(-time.Hour)},
	} {
		if _, err := s.List(ctxT(t), f); !errors.Is(err, ErrInvalidFilter) {
			t.Errorf("List(%+v) error = %v, want ErrInvalidFilter", f, err)
		}
	}
}

func TestListMany(t *testing.T) {
	// More entries than one pull batch, to prove the scan reads to the end.
	_, q := startQueue(t)
	const n = 1234
	for i := range n {
		dest := "a"
		if i%2 == 1 {
			dest = "b"
		}
		publishDead(t, q, deadLetter(i, fixture{dest: dest, reason: schemas.ReasonExhausted}))
	}
	s := NewStore(queue.Over(q), queue.Over(q))
	all, err := s.List(ctxT(t), Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != n {
		t.Fatalf("listed %d, want %d", len(all), n)
	}
	for i, e := range all {
		if e.Seq != uint64(i+1) || e.ID != strconv.Itoa(i+1) {
			t.Fatalf("entry %d has seq %d id %s: not oldest first", i, e.Seq, e.ID)
		}
	}
	b, err := s.List(ctxT(t), Filter{Destination: "b"})
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != n/2 {
		t.Fatalf("listed %d for b, want %d", len(b), n/2)
	}
}

func TestGet(t *testing.T) {
	s, _ := setup(t)
	e, err := s.Get(ctxT(t), "2")
	if err != nil {
		t.Fatal(err)
	}
	want := deadLetter(2, fixtures[1])
	if e.ID != "2" || e.Seq != 2 || e.Delivery.ID != want.Delivery.ID || e.Reason != want.Reason ||
		e.LastStatus != 503 || !e.DeadAt.Equal(want.DeadAt) || string(e.Delivery.Card) != string(want.Delivery.Card) {
		t.Errorf("Get(2) = %+v, want %+v", e, want)
	}
	if _, err := s.Get(ctxT(t), "42"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get(42) error = %v, want ErrNotFound", err)
	}
	if _, err := s.Get(ctxT(t), "x"); !errors.Is(err, ErrInvalidFilter) {
		t.Errorf("Get(x) error = %v, want ErrInvalidFilter", err)
	}
}

// outMsgs returns every message on RELAY_OUT, oldest first. It reads by
// sequence from 1 to the first missing one: nothing consumes RELAY_OUT in
// these tests, so there are no gaps, and a scan cannot read RELAY_OUT, a
// JetStream work queue.
func outMsgs(t *testing.T, q queue.Queue) []queue.Stored {
	t.Helper()
	var out []queue.Stored
	for seq := uint64(1); ; seq++ {
		m, err := q.Get(context.Background(), queue.StreamOut, seq)
		if errors.Is(err, queue.ErrNotFound) {
			return out
		}
		if err != nil {
			t.Fatalf("read RELAY_OUT: %v", err)
		}
		out = append(out, m)
	}
}

func TestReplay(t *testing.T) {
	tests := []struct {
		name        string
		f           Filter
		replayed    []string
		skipped     []string
		left        []string // ids still dead afterwards
		outSubjects []string
	}{
		{
			name: "by ids", f: Filter{IDs: []string{"5", "1"}},
			replayed: []string{"1", "5"}, left: []string{"2", "3", "4"},
			outSubjects: []string{"relay.out.ops", "relay.out.ops"},
		},
		{
			name: "by destination skips a transform failure without card", f: Filter{Destination: "sales"},
			replayed: []string{"3"}, skipped: []string{"4"}, left: []string{"1", "2", "4", "5"},
			outSubjects: []string{"relay.out.sales"},
		},
		{
			name: "by reason and since", f: Filter{Reason: schemas.ReasonExhausted, Since: testNow.Add(-2 * time.Hour)},
			replayed: []string{"2"}, left: []string{"1", "3", "4", "5"},
			outSubjects: []string{"relay.out.ops"},
		},
		{
			name: "all", f: Filter{All: true},
			replayed: []string{"1", "2", "3", "5"}, skipped: []string{"4"}, left: []string{"4"},
			outSubjects: []string{"relay.out.ops", "relay.out.ops", "relay.out.sales", "relay.out.ops"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, q := setup(t)
			ctx := ctxT(t)
			res, err := s.Replay(ctx, tt.f, false)
			if err != nil {
				t.Fatalf("Replay: %v", err)
			}
			if !slices.Equal(res.Replayed, tt.replayed) {
				t.Errorf("replayed %v, want %v", res.Replayed, tt.replayed)
			}
			var skipped []string
			for _, sk := range res.Skipped {
				skipped = append(skipped, sk.ID)
				if sk.Reason == "" {
					t.Errorf("skipped %s without a reason", sk.ID)
				}
			}
			if !slices.Equal(skipped, tt.skipped) {
				t.Errorf("skipped %v, want %v", skipped, tt.skipped)
			}
			left, err := s.List(ctx, Filter{})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ids(left), tt.left) {
				t.Errorf("left dead %v, want %v", ids(left), tt.left)
			}
			out := outMsgs(t, q)
			var subjects []string
			for i, m := range out {
				subjects = append(subjects, m.Subject)
				checkReplayed(t, m, tt.replayed[i])
			}
			if !slices.Equal(subjects, tt.outSubjects) {
				t.Errorf("RELAY_OUT subjects %v, want %v", subjects, tt.outSubjects)
			}
		})
	}
}

// checkReplayed checks a RELAY_OUT message is the replay of fixture id.
func checkReplayed(t *testing.T, m queue.Stored, id string) {
	t.Helper()
	n, _ := strconv.Atoi(id)
	orig := deadLetter(n, fixtures[n-1]).Delivery
	var d schemas.Delivery
	if err := json.Unmarshal(m.Data, &d); err != nil {
		t.Fatalf("replayed delivery: %v", err)
	}
	if m.ID != "replay."+id {
		t.Errorf("id = %q, want replay.%s", m.ID, id)
	}
	if got := m.Header.Get(queue.HeaderDeliveryID); got != orig.ID {
		t.Errorf("delivery id header = %q, want %q", got, orig.ID)
	}
	if d.ID != orig.ID || d.Destination != orig.Destination || string(d.Card) != string(orig.Card) {
		t.Errorf("replayed delivery %+v does not carry the original %+v", d, orig)
	}
	if d.Replays != orig.Replays+1 {
		t.Errorf("replays = %d, want %d", d.Replays, orig.Replays+1)
	}
	if !d.CreatedAt.Equal(testNow) {
		t.Errorf("created_at = %v, want now %v", d.CreatedAt, testNow)
	}
	if want := testNow.Add(orig.NotAfter.Sub(orig.CreatedAt)); !d.NotAfter.Equal(want) {
		t.Errorf("not_after = %v, want a fresh lifetime ending %v", d.NotAfter, want)
	}
}

func TestReplayDryRunChangesNothing(t *testing.T) {
	s, q := setup(t)
	ctx := ctxT(t)
	res, err := s.Replay(ctx, Filter{Destination: "sales"}, true)
	if err != nil {
		t.Fatal(err)
	}
	if !res.DryRun || !slices.Equal(res.Replayed, []string{"3"}) || len(res.Skipped) != 1 {
		t.Errorf("dry run result %+v, want 3 replayable and 4 skipped", res)
	}
	left, err := s.List(ctx, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != len(fixtures) {
		t.Errorf("dry run left %d dead letters, want %d", len(left), len(fixtures))
	}
	if out := outMsgs(t, q); len(out) != 0 {
		t.Errorf("dry run published %d deliveries", len(out))
	}
}

func TestReplayConcurrentStoresOnce(t *testing.T) {
	_, q := startQueue(t)
	const n = 20
	var all []string
	for i := range n {
		all = append(all, publishDead(t, q, deadLetter(i, fixture{dest: "ops", reason: schemas.ReasonExhausted})))
	}
	s := NewStore(queue.Over(q), queue.Over(q))
	ctx := ctxT(t)
	start := make(chan struct{})
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for g := range errs {
		wg.Go(func() {
			<-start
			// One goroutine by ids, the other by destination: both see every entry.
			f := Filter{IDs: all}
			if g == 1 {
				f = Filter{Destination: "ops"}
			}
			_, errs[g] = s.Replay(ctx, f, false)
		})
	}
	close(start)
	wg.Wait()
	for g, err := range errs {
		if err != nil {
			t.Errorf("replay %d: %v", g, err)
		}
	}
	out := outMsgs(t, q)
	if len(out) != n {
		t.Fatalf("RELAY_OUT holds %d deliveries, want %d (one per dead letter)", len(out), n)
	}
	seen := map[string]bool{}
	for _, m := range out {
		id := m.ID
		if seen[id] {
			t.Errorf("%s stored twice", id)
		}
		seen[id] = true
	}
	left, err := s.List(ctx, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 0 {
		t.Errorf("%d dead letters left after replay", len(left))
	}
}

func TestReplayAgainAfterReplayIsNoop(t *testing.T) {
	s, q := setup(t)
	ctx := ctxT(t)
	for range 2 {
		if _, err := s.Replay(ctx, Filter{IDs: []string{"1"}}, false); err != nil {
			t.Fatal(err)
		}
	}
	if out := outMsgs(t, q); len(out) != 1 {
		t.Errorf("RELAY_OUT holds %d deliveries, want 1", len(out))
	}
}

func TestEmptyFilterRefused(t *testing.T) {
	s, q := setup(t)
	ctx := ctxT(t)
	if _, err := s.Replay(ctx, Filter{}, false); !errors.Is(err, ErrEmptyFilter) {
		t.Errorf("Replay(empty) error = %v, want ErrEmptyFilter", err)
	}
	if _, err := s.Replay(ctx, Filter{Limit: 3}, true); !errors.Is(err, ErrEmptyFilter) {
		t.Errorf("Replay(limit only) error = %v, want ErrEmptyFilter", err)
	}
	if _, err := s.Purge(ctx, Filter{}); !errors.Is(err, ErrEmptyFilter) {
		t.Errorf("Purge(empty) error = %v, want ErrEmptyFilter", err)
	}
	left, err := s.List(ctx, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != len(fixtures) || len(outMsgs(t, q)) != 0 {
		t.Errorf("a refused empty filter changed something")
	}
}

func TestPurge(t *testing.T) {
	tests := []struct {
		name   string
		f      Filter
		purged int
		left   []string
	}{
		{"by reason", Filter{Reason: schemas.ReasonGone}, 1, []string{"1", "2", "3", "4"}},
		{"by destination", Filter{Destination: "ops"}, 3, []string{"3", "4"}},
		{"by ids", Filter{IDs: []string{"2", "4", "77"}}, 2, []string{"1", "3", "5"}},
		{"by until with limit", Filter{Until: testNow, Limit: 2}, 2, []string{"3", "4", "5"}},
		{"all", Filter{All: true}, 5, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, q := setup(t)
			ctx := ctxT(t)
			n, err := s.Purge(ctx, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			if n != tt.purged {
				t.Errorf("purged %d, want %d", n, tt.purged)
			}
			left, err := s.List(ctx, Filter{})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ids(left), tt.left) {
				t.Errorf("left %v, want %v", ids(left), tt.left)
			}
			if len(outMsgs(t, q)) != 0 {
				t.Errorf("purge published deliveries")
			}
		})
	}
}

func TestReplayGivesAnExpiredDeliveryALifetime(t *testing.T) {
	_, q := startQueue(t)
	tests := []struct {
		name     string
		created  time.Time
		notAfter time.Time
		want     time.Duration
	}{
		{"created after its deadline", testNow.Add(-time.Hour), testNow.Add(-2 * time.Hour), config.DefaultMaxAge},
		{"no deadline", testNow.Add(-time.Hour), time.Time{}, config.DefaultMaxAge},
		{"ordinary", testNow.Add(-time.Hour), testNow.Add(-time.Hour + 90*time.Minute), 90 * time.Minute},
	}
	s := NewStore(queue.Over(q), queue.Over(q))
	s.now = func() time.Time { return testNow }
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dl := deadLetter(100+i, fixture{dest: "ops", reason: schemas.ReasonExpired})
			dl.Delivery.CreatedAt, dl.Delivery.NotAfter = tt.created, tt.notAfter
			id := publishDead(t, q, dl)
			if _, err := s.Replay(ctxT(t), Filter{IDs: []string{id}}, false); err != nil {
				t.Fatal(err)
			}
			out := outMsgs(t, q)
			var d schemas.Delivery
			if err := json.Unmarshal(out[len(out)-1].Data, &d); err != nil {
				t.Fatal(err)
			}
			if got := d.NotAfter.Sub(testNow); got != tt.want {
				t.Errorf("replayed lifetime %v, want %v", got, tt.want)
			}
		})
	}
}

func TestUndecodableIsListedSkippedAndPurgeable(t *testing.T) {
	s, q := setup(t)
	ctx := ctxT(t)
	ack, err := q.Publish(ctx, queue.Msg{Subject: queue.DeadSubject("ops"), Data: []byte("not json")})
	if err != nil {
		t.Fatal(err)
	}
	bad := strconv.FormatUint(ack.Seq, 10)
	got, err := s.List(ctx, Filter{Reason: ReasonUndecodable})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != bad || got[0].Delivery.Destination != "ops" || got[0].LastError == "" {
		t.Fatalf("undecodable entry listed as %+v", got)
	}
	res, err := s.Replay(ctx, Filter{Destination: "ops"}, false)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Replayed, []string{"1", "2", "5"}) || len(res.Skipped) != 1 || res.Skipped[0].ID != bad {
		t.Errorf("replay = %+v, want 1, 2, 5 replayed and %s skipped", res, bad)
	}
	if n, err := s.Purge(ctx, Filter{Reason: ReasonUndecodable}); err != nil || n != 1 {
		t.Errorf("purge undecodable = %d, %v", n, err)
	}
}

func TestReplayIsRecordedInHistory(t *testing.T) {
	s, q := setup(t)
	s.history = history.NewRecorder(queue.Over(q), nil)
	ctx := ctxT(t)
	for range 2 { // the second replay finds nothing and records nothing
		if _, err := s.Replay(ctx, Filter{IDs: []string{"1"}}, false); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Replay(ctx, Filter{IDs: []string{"2"}}, true); err != nil {
		t.Fatal(err)
	}
	hs := history.NewStore(queue.Over(q), queue.Over(q))
	// Replaying 3 afterwards and waiting for its record orders the wait:
	// one connection's records are stored in the order they were made.
	if _, err := s.Replay(ctx, Filter{IDs: []string{"3"}}, false); err != nil {
		t.Fatal(err)
	}
	for {
		recs, err := hs.History(ctx, "evt-3")
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) > 0 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("no history recorded for the replay of dead letter 3")
		case <-time.After(10 * time.Millisecond):
		}
	}
	recs, err := hs.History(ctx, "evt-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].Kind != history.KindReplayed || recs[0].Destination != "ops" ||
		recs[0].DeliveryID != "dlv-1" || !strings.Contains(recs[0].Detail, "dead letter 1") {
		t.Errorf("history of evt-1: %+v, want one replayed record", recs)
	}
	if recs, _ := hs.History(ctx, "evt-2"); len(recs) != 0 {
		t.Errorf("a dry run was recorded: %+v", recs)
	}
}
