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
	"github.com/hookrelay/hookrelay/internal/queue"
	"github.com/hookrelay/hookrelay/internal/storetest"
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

// fixtures are stored in this order: fixture n (from 1) is fixtures[n-1],
// of delivery dlv-n and event evt-n.
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

// putDead stores dead letters as the stages do and returns their ids, in
// order.
func putDead(t *testing.T, q queue.DeadLetters, dls ...schemas.DeadLetter) []string {
	t.Helper()
	ids := []string{}
	for _, a := range putDeadAcks(t, q, dls...) {
		ids = append(ids, a.Ref)
	}
	return ids
}

// putDeadAcks stores dead letters as the stages do and returns the acks.
func putDeadAcks(t *testing.T, q queue.DeadLetters, dls ...schemas.DeadLetter) []queue.PubAck {
	t.Helper()
	msgs := make([]queue.Msg, len(dls))
	for i, dl := range dls {
		m, err := Msg(dl)
		if err != nil {
			t.Fatal(err)
		}
		msgs[i] = m
	}
	acks, err := q.PutDeadLetters(context.Background(), msgs)
	if err != nil {
		t.Fatalf("put dead letters: %v", err)
	}
	return acks
}

// testStore is a Store on a fixed clock over a test's store, with the
// fixtures stored. Tests name the fixtures by number and ask for their ids
// and where the store put them (Seq).
type testStore struct {
	*Store
	q    *queue.Stores
	acks []queue.PubAck // fixture n's at n-1
	out  *storetest.Lanes
}

// setup opens a store, stores the fixtures and returns a Store over it.
func setup(t *testing.T, open storetest.Opener) *testStore {
	t.Helper()
	q := open(t)
	dls := make([]schemas.DeadLetter, len(fixtures))
	for i, fx := range fixtures {
		dls[i] = deadLetter(i+1, fx)
	}
	s := &testStore{Store: NewStore(q, q), q: q, acks: putDeadAcks(t, q, dls...), out: storetest.NewLanes(t, q)}
	s.now = func() time.Time { return testNow }
	return s
}

// id is fixture n's id.
func (s *testStore) id(n int) string { return s.acks[n-1].Ref }

// seq is where fixture n is stored.
func (s *testStore) seq(n int) uint64 { return s.acks[n-1].Seq }

// idsOf are the ids of fixtures ns, in that order.
func (s *testStore) idsOf(ns ...int) []string {
	out := []string{}
	for _, n := range ns {
		out = append(out, s.id(n))
	}
	return out
}

// missing is an id no test stores.
const missing = "evt-99:ops:0"

// missingEarlier is an id of a dead letter stored before ids were names
// that no test stores: far past the few dead letters a test keeps, on
// either backend.
const missingEarlier = "99"

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

func TestList(t *testing.T) { storetest.Each(t, testList) }

func testList(t *testing.T, open storetest.Opener) {
	s := setup(t, open)
	ctx := ctxT(t)
	tests := []struct {
		name string
		f    Filter
		want []int // fixtures, oldest first
	}{
		// Oldest first across destinations: each backend keeps the dead
		// letters in one stream, or one partition, in the order stored.
		{"all", Filter{}, []int{1, 2, 3, 4, 5}},
		{"destination", Filter{Destination: "ops"}, []int{1, 2, 5}},
		{"unknown destination", Filter{Destination: "nobody"}, nil},
		{"source", Filter{Source: "stripe"}, []int{2}},
		{"reason", Filter{Reason: schemas.ReasonTransform}, []int{4}},
		{"reason gone", Filter{Reason: schemas.ReasonGone}, []int{5}},
		{"reason and status", Filter{Reason: schemas.ReasonExhausted, Status: 503}, []int{2}},
		{"reason with no entry", Filter{Reason: ReasonUndecodable}, nil},
		{"status", Filter{Status: 410}, []int{5}},
		{"since", Filter{Since: testNow.Add(-time.Hour)}, []int{3, 4, 5}},
		{"until", Filter{Until: testNow.Add(-time.Hour)}, []int{1, 2}},
		{"since and until", Filter{Since: testNow.Add(-2 * time.Hour), Until: testNow.Add(-5 * time.Minute)}, []int{2, 3, 4}},
		{"destination and source", Filter{Destination: "sales", Source: "github", Reason: schemas.ReasonExpired}, []int{3}},
		{"ids in any order, repeated, missing", Filter{IDs: []string{s.id(5), s.id(2), s.id(5), missing}}, []int{2, 5}},
		{"ids and destination", Filter{IDs: s.idsOf(1, 3), Destination: "ops"}, []int{1}},
		{"limit keeps the oldest", Filter{Destination: "ops", Limit: 2}, []int{1, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.List(ctx, tt.f)
			if err != nil {
				t.Fatalf("List: %v", err)
			}
			if want := s.idsOf(tt.want...); !slices.Equal(ids(got), want) {
				t.Errorf("List(%+v) = %v, want %v (fixtures %v)", tt.f, ids(got), want, tt.want)
			}
		})
	}
}

// An invalid filter is refused before the store is read.
func TestListInvalidFilter(t *testing.T) {
	s := NewStore(nil, nil)
	for _, f := range []Filter{
		{Destination: "ops.x"}, {Destination: "*"}, {Destination: ">"},
		{IDs: []string{"ev1.ops.0"}}, {IDs: []string{"0"}}, {IDs: []string{"ev1 ops"}}, {IDs: []string{"*"}}, {IDs: []string{""}}, {Limit: -1},
		{Reason: "gnoe"}, {Reason: "Gone"},
		{Since: testNow, Until: testNow}, {Since: testNow, Until: testNow.Add(-time.Hour)},
	} {
		if _, err := s.List(ctxT(t), f); !errors.Is(err, ErrInvalidFilter) {
			t.Errorf("List(%+v) error = %v, want ErrInvalidFilter", f, err)
		}
	}
}

func TestListMany(t *testing.T) { storetest.Each(t, testListMany) }

func testListMany(t *testing.T, open storetest.Opener) {
	// More entries than one pull batch, to prove the scan reads to the end.
	q := open(t)
	const n = 1234
	dls := make([]schemas.DeadLetter, n)
	for i := range n {
		dest := "a"
		if i%2 == 1 {
			dest = "b"
		}
		dls[i] = deadLetter(i, fixture{dest: dest, reason: schemas.ReasonExhausted})
	}
	stored := putDeadAcks(t, q, dls...)
	s := NewStore(q, q)
	all, err := s.List(ctxT(t), Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != n {
		t.Fatalf("listed %d, want %d", len(all), n)
	}
	for i, e := range all {
		if e.ID != stored[i].Ref || e.Seq != stored[i].Seq {
			t.Fatalf("entry %d has seq %d id %s, want %d %s: not oldest first", i, e.Seq, e.ID, stored[i].Seq, stored[i].Ref)
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

func TestGet(t *testing.T) { storetest.Each(t, testGet) }

func testGet(t *testing.T, open storetest.Opener) {
	s := setup(t, open)
	e, err := s.Get(ctxT(t), s.id(2))
	if err != nil {
		t.Fatal(err)
	}
	want := deadLetter(2, fixtures[1])
	if e.ID != s.id(2) || e.Seq != s.seq(2) || e.Delivery.ID != want.Delivery.ID || e.Reason != want.Reason ||
		e.LastStatus != 503 || !e.DeadAt.Equal(want.DeadAt) || string(e.Delivery.Card) != string(want.Delivery.Card) {
		t.Errorf("Get(%s) = %+v, want %+v", s.id(2), e, want)
	}
	for _, id := range []string{missing, missingEarlier} {
		if _, err := s.Get(ctxT(t), id); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get(%s) error = %v, want ErrNotFound", id, err)
		}
	}
	for _, id := range []string{"evt-2.ops.0", "0", "a b", ""} {
		if _, err := s.Get(ctxT(t), id); !errors.Is(err, ErrInvalidFilter) {
			t.Errorf("Get(%q) error = %v, want ErrInvalidFilter", id, err)
		}
	}
}

// destinations are the fixtures' destinations.
var destinations = []string{"ops", "sales"}

// taken takes every destination's deliveries (see lanes.take).
func (s *testStore) taken(t *testing.T) map[string][]queue.Stored {
	t.Helper()
	out := map[string][]queue.Stored{}
	for _, dest := range destinations {
		if ms := s.out.Take(t, dest); len(ms) > 0 {
			out[dest] = ms
		}
	}
	return out
}

func TestReplay(t *testing.T) {
	tests := []struct {
		name     string
		f        func(s *testStore) Filter
		replayed []int
		skipped  []int
		left     []int // fixtures still dead afterwards
		// out are the fixtures whose delivery each destination's lane
		// hands out, in order. The order across destinations is not
		// kept: on Kafka each destination has a partition of its own.
		out map[string][]int
	}{
		{
			name: "by ids", f: func(s *testStore) Filter { return Filter{IDs: s.idsOf(5, 1)} },
			replayed: []int{1, 5}, left: []int{2, 3, 4},
			out: map[string][]int{"ops": {1, 5}},
		},
		{
			name: "by destination skips a transform failure without card", f: func(*testStore) Filter { return Filter{Destination: "sales"} },
			replayed: []int{3}, skipped: []int{4}, left: []int{1, 2, 4, 5},
			out: map[string][]int{"sales": {3}},
		},
		{
			name: "by reason and since", f: func(*testStore) Filter {
				return Filter{Reason: schemas.ReasonExhausted, Since: testNow.Add(-2 * time.Hour)}
			},
			replayed: []int{2}, left: []int{1, 3, 4, 5},
			out: map[string][]int{"ops": {2}},
		},
		{
			name: "all", f: func(*testStore) Filter { return Filter{All: true} },
			replayed: []int{1, 2, 3, 5}, skipped: []int{4}, left: []int{4},
			out: map[string][]int{"ops": {1, 2, 5}, "sales": {3}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, open storetest.Opener) {
				s := setup(t, open)
				ctx := ctxT(t)
				res, err := s.Replay(ctx, tt.f(s), false)
				if err != nil {
					t.Fatalf("Replay: %v", err)
				}
				if want := s.idsOf(tt.replayed...); !slices.Equal(res.Replayed, want) {
					t.Errorf("replayed %v, want %v", res.Replayed, want)
				}
				var skipped []string
				for _, sk := range res.Skipped {
					skipped = append(skipped, sk.ID)
					if sk.Reason == "" {
						t.Errorf("skipped %s without a reason", sk.ID)
					}
				}
				if want := s.idsOf(tt.skipped...); !slices.Equal(skipped, want) {
					t.Errorf("skipped %v, want %v", skipped, want)
				}
				left, err := s.List(ctx, Filter{})
				if err != nil {
					t.Fatal(err)
				}
				if want := s.idsOf(tt.left...); !slices.Equal(ids(left), want) {
					t.Errorf("left dead %v, want %v", ids(left), want)
				}
				out := s.taken(t)
				for _, dest := range destinations {
					if len(out[dest]) != len(tt.out[dest]) {
						t.Errorf("%d deliveries for %s, want %d (fixtures %v)", len(out[dest]), dest, len(tt.out[dest]), tt.out[dest])
						continue
					}
					for i, m := range out[dest] {
						s.checkReplayed(t, m, tt.out[dest][i])
					}
				}
			})
		})
	}
}

// checkReplayed checks a delivery is the replay of fixture n.
func (s *testStore) checkReplayed(t *testing.T, m queue.Stored, n int) {
	t.Helper()
	orig := deadLetter(n, fixtures[n-1]).Delivery
	var d schemas.Delivery
	if err := json.Unmarshal(m.Data, &d); err != nil {
		t.Fatalf("replayed delivery: %v", err)
	}
	if want := "replay." + s.id(n); m.ID != want {
		t.Errorf("id = %q, want %s (fixture %d)", m.ID, want, n)
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

// noneEnqueued checks that nothing was enqueued for the fixtures'
// destinations.
func (s *testStore) noneEnqueued(t *testing.T, what string) {
	t.Helper()
	for dest, ms := range s.taken(t) {
		t.Errorf("%s enqueued %d deliveries for %s", what, len(ms), dest)
	}
}

func TestReplayDryRunChangesNothing(t *testing.T) { storetest.Each(t, testReplayDryRunChangesNothing) }

func testReplayDryRunChangesNothing(t *testing.T, open storetest.Opener) {
	s := setup(t, open)
	ctx := ctxT(t)
	res, err := s.Replay(ctx, Filter{Destination: "sales"}, true)
	if err != nil {
		t.Fatal(err)
	}
	if !res.DryRun || !slices.Equal(res.Replayed, s.idsOf(3)) || len(res.Skipped) != 1 {
		t.Errorf("dry run result %+v, want fixture 3 replayable (%s) and 4 skipped", res, s.id(3))
	}
	left, err := s.List(ctx, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != len(fixtures) {
		t.Errorf("dry run left %d dead letters, want %d", len(left), len(fixtures))
	}
	s.noneEnqueued(t, "a dry run")
}

func TestReplayConcurrentStoresOnce(t *testing.T) { storetest.Each(t, testReplayConcurrentStoresOnce) }

func testReplayConcurrentStoresOnce(t *testing.T, open storetest.Opener) {
	q := open(t)
	const n = 20
	dls := make([]schemas.DeadLetter, n)
	for i := range n {
		dls[i] = deadLetter(i, fixture{dest: "ops", reason: schemas.ReasonExhausted})
	}
	all := putDead(t, q, dls...)
	s := NewStore(q, q)
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
	out := storetest.NewLanes(t, q).Take(t, "ops")
	if len(out) != n {
		t.Fatalf("ops's lane hands out %d deliveries, want %d (one per dead letter)", len(out), n)
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
	storetest.Each(t, testReplayAgainAfterReplayIsNoop)
}

func testReplayAgainAfterReplayIsNoop(t *testing.T, open storetest.Opener) {
	s := setup(t, open)
	ctx := ctxT(t)
	for range 2 {
		if _, err := s.Replay(ctx, Filter{IDs: s.idsOf(1)}, false); err != nil {
			t.Fatal(err)
		}
	}
	if out := s.out.Take(t, "ops"); len(out) != 1 {
		t.Errorf("ops's lane hands out %d deliveries, want 1", len(out))
	}
}

func TestEmptyFilterRefused(t *testing.T) { storetest.Each(t, testEmptyFilterRefused) }

func testEmptyFilterRefused(t *testing.T, open storetest.Opener) {
	s := setup(t, open)
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
	if len(left) != len(fixtures) {
		t.Errorf("a refused empty filter left %d dead letters, want %d", len(left), len(fixtures))
	}
	s.noneEnqueued(t, "a refused empty filter")
}

func TestPurge(t *testing.T) {
	tests := []struct {
		name   string
		f      func(s *testStore) Filter
		purged int
		left   []int
	}{
		{"by reason", func(*testStore) Filter { return Filter{Reason: schemas.ReasonGone} }, 1, []int{1, 2, 3, 4}},
		{"by destination", func(*testStore) Filter { return Filter{Destination: "ops"} }, 3, []int{3, 4}},
		{"by ids", func(s *testStore) Filter { return Filter{IDs: []string{s.id(2), s.id(4), missing}} }, 2, []int{1, 3, 5}},
		{"by until with limit", func(*testStore) Filter { return Filter{Until: testNow, Limit: 2} }, 2, []int{3, 4, 5}},
		{"all", func(*testStore) Filter { return Filter{All: true} }, 5, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, open storetest.Opener) {
				s := setup(t, open)
				ctx := ctxT(t)
				n, err := s.Purge(ctx, tt.f(s))
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
				if want := s.idsOf(tt.left...); !slices.Equal(ids(left), want) {
					t.Errorf("left %v, want %v", ids(left), want)
				}
				s.noneEnqueued(t, "a purge")
			})
		})
	}
}

func TestReplayGivesAnExpiredDeliveryALifetime(t *testing.T) {
	storetest.Each(t, testReplayGivesAnExpiredDeliveryALifetime)
}

func testReplayGivesAnExpiredDeliveryALifetime(t *testing.T, open storetest.Opener) {
	q := open(t)
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
	s := NewStore(q, q)
	s.now = func() time.Time { return testNow }
	out := storetest.NewLanes(t, q)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dl := deadLetter(100+i, fixture{dest: "ops", reason: schemas.ReasonExpired})
			dl.Delivery.CreatedAt, dl.Delivery.NotAfter = tt.created, tt.notAfter
			if _, err := s.Replay(ctxT(t), Filter{IDs: putDead(t, q, dl)}, false); err != nil {
				t.Fatal(err)
			}
			replayed := out.Take(t, "ops")
			if len(replayed) != 1 {
				t.Fatalf("ops's lane hands out %d deliveries, want the replayed one", len(replayed))
			}
			var d schemas.Delivery
			if err := json.Unmarshal(replayed[0].Data, &d); err != nil {
				t.Fatal(err)
			}
			if got := d.NotAfter.Sub(testNow); got != tt.want {
				t.Errorf("replayed lifetime %v, want %v", got, tt.want)
			}
		})
	}
}

func TestUndecodableIsListedSkippedAndPurgeable(t *testing.T) {
	storetest.Each(t, testUndecodableIsListedSkippedAndPurgeable)
}

func testUndecodableIsListedSkippedAndPurgeable(t *testing.T, open storetest.Opener) {
	s := setup(t, open)
	ctx := ctxT(t)
	acks, err := s.q.PutDeadLetters(ctx, []queue.Msg{{Key: "ops", Data: []byte("not json"), ID: "bad"}})
	if err != nil {
		t.Fatal(err)
	}
	bad := acks[0].Ref
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
	if want := s.idsOf(1, 2, 5); !slices.Equal(res.Replayed, want) || len(res.Skipped) != 1 || res.Skipped[0].ID != bad {
		t.Errorf("replay = %+v, want %v replayed and %s skipped", res, want, bad)
	}
	if n, err := s.Purge(ctx, Filter{Reason: ReasonUndecodable}); err != nil || n != 1 {
		t.Errorf("purge undecodable = %d, %v", n, err)
	}
	if left, err := s.List(ctx, Filter{}); err != nil || !slices.Equal(ids(left), s.idsOf(3, 4)) {
		t.Errorf("left %v (%v), want %v", ids(left), err, s.idsOf(3, 4))
	}
}

func TestReplayIsRecordedInHistory(t *testing.T) { storetest.Each(t, testReplayIsRecordedInHistory) }

func testReplayIsRecordedInHistory(t *testing.T, open storetest.Opener) {
	s := setup(t, open)
	s.history = history.NewRecorder(s.q, nil)
	ctx := ctxT(t)
	for range 2 { // the second replay finds nothing and records nothing
		if _, err := s.Replay(ctx, Filter{IDs: s.idsOf(1)}, false); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Replay(ctx, Filter{IDs: s.idsOf(2)}, true); err != nil {
		t.Fatal(err)
	}
	hs := history.NewStore(s.q, s.q)
	// Replaying 3 afterwards and waiting for its record orders the wait:
	// one connection's records are stored in the order they were made.
	if _, err := s.Replay(ctx, Filter{IDs: s.idsOf(3)}, false); err != nil {
		t.Fatal(err)
	}
	storetest.Eventually(t, "the replay of fixture 3 recorded", func() bool {
		recs, err := hs.History(ctx, "evt-3")
		if err != nil {
			t.Fatal(err)
		}
		return len(recs) > 0
	})
	recs, err := hs.History(ctx, "evt-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].Kind != history.KindReplayed || recs[0].Destination != "ops" ||
		recs[0].DeliveryID != "dlv-1" || !strings.Contains(recs[0].Detail, "dead letter "+s.id(1)) {
		t.Errorf("history of evt-1: %+v, want one replayed record", recs)
	}
	if recs, _ := hs.History(ctx, "evt-2"); len(recs) != 0 {
		t.Errorf("a dry run was recorded: %+v", recs)
	}
}

// A dead letter stored before ids were names (on its destination's subject,
// named by its sequence) is listed among the new ones by that number, and
// read, replayed and purged by it. On JetStream, where it stays as it was
// stored; Kafka carries such dead letters over to another topic at start
// (kafkaqueue's TestCarryOver).
func TestDeadLettersOfAnEarlierRelease(t *testing.T) {
	s := setup(t, func(t testing.TB) *queue.Stores { return storetest.JetStream(t) })
	ctx := ctxT(t)
	earlier := func(n int) string {
		t.Helper()
		m, err := Msg(deadLetter(n, fixture{dest: "ops", source: "github", reason: schemas.ReasonRejected, status: 400}))
		if err != nil {
			t.Fatal(err)
		}
		ack, err := s.q.Backend().Publish(ctx, queue.Msg{Subject: queue.DeadSubject("ops"), Header: m.Header, Data: m.Data,
			ID: fmt.Sprintf("dead.dlv-%d.0", n)})
		if err != nil {
			t.Fatal(err)
		}
		return strconv.FormatUint(ack.Seq, 10)
	}
	replayed, purged := earlier(6), earlier(7)

	list, err := s.List(ctx, Filter{Destination: "ops"})
	if err != nil {
		t.Fatal(err)
	}
	if want := append(s.idsOf(1, 2, 5), replayed, purged); !slices.Equal(ids(list), want) {
		t.Errorf("dead letters of ops: %v, want %v", ids(list), want)
	}
	if e, err := s.Get(ctx, replayed); err != nil || e.Delivery.ID != "dlv-6" || e.ID != replayed {
		t.Fatalf("Get(%s) = %s of %s, %v; want dlv-6's", replayed, e.ID, e.Delivery.ID, err)
	}
	res, err := s.Replay(ctx, Filter{IDs: []string{replayed}}, false)
	if err != nil || !slices.Equal(res.Replayed, []string{replayed}) {
		t.Fatalf("replay %s: %+v, %v", replayed, res, err)
	}
	if out := s.taken(t)["ops"]; len(out) != 1 || out[0].ID != ReplayMsgIDPrefix+replayed {
		t.Errorf("replayed to ops: %d deliveries, want the one of %s", len(out), replayed)
	}
	if n, err := s.Purge(ctx, Filter{IDs: []string{purged}}); err != nil || n != 1 {
		t.Fatalf("purge %s: %d, %v", purged, n, err)
	}
	for _, id := range []string{replayed, purged} {
		if _, err := s.Get(ctx, id); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get(%s) once replayed or purged: %v, want ErrNotFound", id, err)
		}
	}
	if _, err := s.Get(ctx, strconv.FormatUint(s.seq(1), 10)); !errors.Is(err, ErrNotFound) {
		t.Errorf("a named dead letter read by its seq: %v, want ErrNotFound", err)
	}
}
