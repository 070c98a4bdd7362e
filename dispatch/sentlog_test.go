package dispatch

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/internal/config"
	"github.com/hookrelay/hookrelay/internal/natstest"
	"github.com/hookrelay/hookrelay/internal/queue"
	"github.com/hookrelay/hookrelay/internal/storetest"
	"github.com/hookrelay/hookrelay/internal/teamstest"
)

// scanRecorder is a real queue that remembers the scans of the sent log.
type scanRecorder struct {
	queue.Queue
	mu    sync.Mutex
	scans []sentScan
}

type sentScan struct {
	subject string
	start   time.Time
}

func (r *scanRecorder) Scan(ctx context.Context, stream, subject string, start time.Time, fn func(queue.Stored) (bool, error)) error {
	if stream == queue.StreamSent {
		r.mu.Lock()
		r.scans = append(r.scans, sentScan{subject, start})
		r.mu.Unlock()
	}
	return r.Queue.Scan(ctx, stream, subject, start, fn)
}

func (r *scanRecorder) sentScans() []sentScan {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]sentScan(nil), r.scans...)
}

// logSent stores sends to destination at the given times, one record each,
// as another instance of a release before records of many sends did.
func logSent(t *testing.T, q queue.Queue, destination string, at ...time.Time) {
	t.Helper()
	for _, a := range at {
		m := queue.Msg{Subject: queue.SentSubject(destination), Data: binary.BigEndian.AppendUint64(nil, uint64(a.UnixNano()))}
		if _, err := q.Publish(context.Background(), m); err != nil {
			t.Fatalf("log a send: %v", err)
		}
	}
}

func TestRunReadsTheSentLogOnceForAllDestinations(t *testing.T) {
	env := natstest.Start(t)
	q := env.Queue(t) // the publisher's
	sim := teamstest.NewServer(teamstest.WithLimits(nil))
	defer sim.Close()
	hourly := func(d *config.Destination) { d.Limits = config.Limits{{Per: time.Hour, Max: 100}} }
	busy, idle, other := dest(sim, "busy", hourly), dest(sim, "idle", hourly), dest(sim, "other", hourly)
	began := time.Now()
	logSent(t, q, "busy", began.Add(-30*time.Minute), began.Add(-time.Minute))
	logSent(t, q, "idle", began.Add(-20*time.Minute), began.Add(-10*time.Minute), began.Add(-time.Second))
	logSent(t, q, "gone-elsewhere", began.Add(-time.Minute)) // not configured here
	publish(t, queue.Over(q), "busy", 0, 1)

	rec := &scanRecorder{Queue: env.Queue(t)}
	ctx, cancel := context.WithCancel(context.Background())
	d, err := New(ctx, queue.Over(rec), []config.Destination{busy, idle, other}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	waitAccepted(t, sim, "/busy", 1)

	var all int
	for _, s := range rec.sentScans() {
		switch {
		case s.subject == queue.SentAll:
			all++
		case s.start.Before(began.Add(-time.Minute)):
			// The first delivery after start catches up with the seconds
			// since Run read the log, not the hour again.
			t.Errorf("scan of %s from %v, %v before the test began: the widest window read again", s.subject, s.start, began.Sub(s.start))
		}
	}
	if all != 1 {
		t.Errorf("%d scans of the whole sent log, want 1 at Run's start (scans: %+v)", all, rec.sentScans())
	}

	st, err := d.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"busy": 100 - 2 - 1, "idle": 100 - 3, "other": 100}
	for _, s := range st {
		if len(s.Budget) != 1 || s.Budget[0].Left != want[s.Name] {
			t.Errorf("budget of %s = %+v, want %d of 100 left in the hour (the logged sends inherited at start)", s.Name, s.Budget, want[s.Name])
		}
	}
}

// A destination sending back to back logs its sends in a few records, not
// one a send, and the last of them is logged within about sentLogIdle of
// the last send, not when the idle worker ends (idleAfter).
func TestSendsAreLoggedInRecordsOfMany(t *testing.T) {
	q := storetest.JetStream(t)
	sim := teamstest.NewServer(teamstest.WithLimits(nil))
	defer sim.Close()
	const n = 40
	publish(t, q, "fast", 0, n)
	start(t, q, dest(sim, "fast", func(d *config.Destination) { d.Rate, d.Burst, d.Limits = 1e6, 1e6, nil }))
	waitAccepted(t, sim, "/fast", n)
	lastSent := time.Now()

	ctx := context.Background()
	var sends, records int
	storetest.Eventually(t, fmt.Sprintf("all %d sends logged", n), func() bool {
		sends, records = 0, 0
		if err := q.Sends(ctx, "fast", time.Time{}, func(string, time.Time) (bool, error) { sends++; return true, nil }); err != nil {
			t.Fatal(err)
		}
		if err := q.Backend().Scan(ctx, queue.StreamSent, queue.SentSubject("fast"), time.Time{}, func(queue.Stored) (bool, error) {
			records++
			return true, nil
		}); err != nil {
			t.Fatal(err)
		}
		return sends == n
	})
	// One record a send would be n. Fewer than half: a record ends early
	// where the lane's count of what waits (Behind) says nothing does, and
	// that count errs low by the deletes made during a recount of the
	// store, which the claimer makes as it takes the partitions, while
	// this burst is sent (11 records once on a loaded machine, 1–4 usually).
	if records > n/2 {
		t.Errorf("%d sends logged in %d records: not batched", n, records)
	}
	t.Logf("%d sends in %d records, all logged %v after the last send", n, records, time.Since(lastSent).Round(time.Millisecond))
}

// orderedStores remembers, in the order the worker made them, the records
// it wrote to the send log ("log:N", N sends) and its acks ("ackB", B the
// delivery's Behind).
type orderedStores struct {
	*queue.Stores
	mu    sync.Mutex
	calls []string
}

func (o *orderedStores) add(call string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.calls = append(o.calls, call)
}

func (o *orderedStores) RecordSends(destination string, at []time.Time) error {
	o.add(fmt.Sprintf("log:%d", len(at)))
	return o.Stores.RecordSends(destination, at)
}

func (o *orderedStores) OpenLane(ctx context.Context, destination string, opts queue.LaneOptions) (queue.Consumer, error) {
	c, err := o.Stores.OpenLane(ctx, destination, opts)
	if err != nil {
		return nil, err
	}
	return orderedLane{c, o}, nil
}

type orderedLane struct {
	queue.Consumer
	o *orderedStores
}

func (l orderedLane) Next(ctx context.Context) (queue.Delivery, error) {
	d, err := l.Consumer.Next(ctx)
	if err != nil {
		return nil, err
	}
	return orderedDelivery{d, l.o}, nil
}

func (l orderedLane) More(ctx context.Context, n int, maxWait time.Duration) ([]queue.Delivery, error) {
	ds, err := l.Consumer.More(ctx, n, maxWait)
	for i, d := range ds {
		ds[i] = orderedDelivery{d, l.o}
	}
	return ds, err
}

type orderedDelivery struct {
	queue.Delivery
	o *orderedStores
}

func (d orderedDelivery) Ack(ctx context.Context) error {
	d.o.add(fmt.Sprintf("ack%d", d.Behind()))
	return d.Delivery.Ack(ctx)
}

// A burst's sends are in the log before its last delivery settles, which
// is what a handover waits for, so the next owner's budget counts them.
func TestSendsAreLoggedBeforeTheLastDeliverySettles(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		q := &orderedStores{Stores: open(t)}
		sim := teamstest.NewServer(teamstest.WithLimits(nil))
		defer sim.Close()
		const n = 12
		publish(t, q, "burst", 0, n)
		start(t, q, dest(sim, "burst", func(d *config.Destination) { d.Rate, d.Burst, d.Limits = 1e6, 1e6, nil }))
		waitAccepted(t, sim, "/burst", n)
		var calls []string
		loggedAtLastAck := 0
		storetest.Eventually(t, fmt.Sprintf("all %d deliveries settled", n), func() bool {
			q.mu.Lock()
			calls = slices.Clone(q.calls)
			q.mu.Unlock()
			acks, logged := 0, 0
			loggedAtLastAck = 0
			for _, c := range calls {
				var k int
				if _, err := fmt.Sscanf(c, "log:%d", &k); err == nil {
					logged += k
					continue
				}
				if acks++; acks == n {
					loggedAtLastAck = logged
				}
			}
			return acks == n
		})
		if loggedAtLastAck != n {
			t.Fatalf("%d of %d sends logged when the last delivery settled (calls %v)", loggedAtLastAck, n, calls)
		}
	})
}

// A destination that gets a delivery now and then, owned by this instance
// throughout, stops reading its send log at each delivery after a gap once
// it read the log a gap after it took the destination over (what the
// previous owner logs late is in by then): its budget has counted every
// send since, as no other instance could have sent. Before, each delivery
// after half a request's gap read the log again.
func TestOwnedDestinationStopsReadingItsSendLogAcrossGaps(t *testing.T) {
	t.Parallel()
	env := natstest.Start(t)
	q := env.Queue(t) // the publisher's
	sim := teamstest.NewServer(teamstest.WithLimits(nil))
	defer sim.Close()
	h := dest(sim, "h", func(d *config.Destination) {
		d.Limits = config.Limits{{Per: time.Hour, Max: 100}}
		d.Timeout = time.Second
	})
	rec := &scanRecorder{Queue: env.Queue(t)}
	start(t, queue.Over(rec), h)
	scansOfH := func() int {
		n := 0
		for _, s := range rec.sentScans() {
			if s.subject == queue.SentSubject("h") {
				n++
			}
		}
		return n
	}
	gap := h.Timeout + 5*time.Second // worker.gap
	deliver := func(n int, after time.Duration) {
		// The worker compares the clock with its last delivery's and its
		// take of the destination: only time passing makes the gap.
		time.Sleep(after)
		publish(t, queue.Over(q), "h", n, n+1)
		waitAccepted(t, sim, "/h", n+1)
	}
	deliver(0, 0)
	deliver(1, gap+100*time.Millisecond) // read: less than a gap after the take
	read := scansOfH()
	deliver(2, gap/2+100*time.Millisecond)
	if got := scansOfH(); got != read {
		t.Errorf("%d scans of h's send log at a delivery after a gap, owned throughout and read a gap after the take, want none (%d before)",
			got-read, read)
	}
}

// Sends the previous owner logs after this instance took the destination
// over and first read the log (a request in flight at the handover,
// answered late) are still counted: the budget reads the log again at a
// delivery after a gap until it has read it a gap after the take.
func TestSendsThePreviousOwnerLogsLateAreInherited(t *testing.T) {
	t.Parallel()
	env := natstest.Start(t)
	q := env.Queue(t) // the publisher's, and the previous owner's log
	sim := teamstest.NewServer(teamstest.WithLimits(nil))
	defer sim.Close()
	h := dest(sim, "h", func(d *config.Destination) {
		d.Limits = config.Limits{{Per: time.Hour, Max: 100}}
		d.Timeout = time.Second
	})
	d := start(t, queue.Over(env.Queue(t)), h)
	publish(t, queue.Over(q), "h", 0, 1)
	waitAccepted(t, sim, "/h", 1)
	now := time.Now()
	logSent(t, q, "h", now, now.Add(-time.Millisecond), now.Add(-2*time.Millisecond))
	// Only time passing makes the worker's gap.
	time.Sleep((h.Timeout+5*time.Second)/2 + 500*time.Millisecond)
	publish(t, queue.Over(q), "h", 1, 2)
	waitAccepted(t, sim, "/h", 2)
	st, err := d.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range st {
		if s.Name == "h" && (len(s.Budget) != 1 || s.Budget[0].Left != 100-2-3) {
			t.Errorf("budget of h: %+v, want %d left: our 2 sends and the previous owner's 3", s.Budget, 100-2-3)
		}
	}
}
