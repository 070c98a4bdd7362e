package jsqueue_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/hookrelay/hookrelay/internal/natstest"
	"github.com/hookrelay/hookrelay/internal/queue"
	"github.com/hookrelay/hookrelay/internal/queue/jsqueue"
	"github.com/hookrelay/hookrelay/internal/queue/queuetest"
)

func TestErrorsMatchTheQueuesErrors(t *testing.T) {
	env := natstest.Start(t)
	q := env.Queue(t)
	ctx := context.Background()

	big := queue.Msg{Subject: queue.InSubject("s"), Data: bytes.Repeat([]byte("x"), int(env.Conn.MaxPayload())+1)}
	if _, err := q.Publish(ctx, big); !errors.Is(err, queue.ErrTooLarge) {
		t.Errorf("publish oversized: %v, want ErrTooLarge", err)
	}
	if _, err := q.PublishAll(ctx, []queue.Msg{big}); !errors.Is(err, queue.ErrTooLarge) {
		t.Errorf("publish all oversized: %v, want ErrTooLarge", err)
	}
	if err := q.Send(queue.Msg{Subject: queue.HistorySubject("e"), Data: big.Data}); !errors.Is(err, queue.ErrTooLarge) {
		t.Errorf("send oversized: %v, want ErrTooLarge", err)
	}
	if _, err := q.Get(ctx, queue.StreamIn, 999); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("get missing: %v, want ErrNotFound", err)
	}
	if err := q.Delete(ctx, queue.Stored{Msg: queue.Msg{Subject: queue.InSubject("s")}, Stream: queue.StreamIn, Seq: 999}); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("delete missing: %v, want ErrNotFound", err)
	}
	if _, err := q.Publish(ctx, queue.Msg{Subject: "elsewhere.x"}); err == nil {
		t.Error("publish outside the streams: no error")
	}
}

func TestStoreGoneIsUnavailable(t *testing.T) {
	env := natstest.Start(t)
	nc, err := nats.Connect(env.Server.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectWait(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	q, err := jsqueue.New(context.Background(), nc, queue.StreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = q.Close(context.Background()) }()
	if err := q.Ready(context.Background()); err != nil {
		t.Fatalf("ready with the server up: %v", err)
	}
	env.Server.Shutdown()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := q.Ready(ctx); !errors.Is(err, queue.ErrUnavailable) || !queue.IsUnavailable(err) {
		t.Errorf("ready with the server gone: %v, want ErrUnavailable", err)
	}
	if _, err := q.Publish(ctx, queue.Msg{Subject: queue.InSubject("s"), Data: []byte("{}")}); !errors.Is(err, queue.ErrUnavailable) {
		t.Errorf("publish with the server gone: %v, want ErrUnavailable", err)
	}
	if _, err := q.Get(ctx, queue.StreamIn, 1); !errors.Is(err, queue.ErrUnavailable) {
		t.Errorf("get with the server gone: %v, want ErrUnavailable", err)
	}
}

// waitSplit polls until every consumer is owned by exactly one instance and
// ok accepts how many each owns.
func waitSplit(t *testing.T, what string, ok func([]int) bool, instances ...[]queue.Consumer) {
	t.Helper()
	var got []int
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		got = make([]int, len(instances))
		single := true
		for c := range instances[0] {
			owners := 0
			for i, cs := range instances {
				if cs[c].Owned() {
					owners++
					got[i]++
				}
			}
			single = single && owners == 1
		}
		if single && ok(got) {
			return
		}
	}
	t.Fatalf("%s: consumers owned %v", what, got)
}

func TestInstancesSplitExclusiveConsumersAndTakeOver(t *testing.T) {
	env := natstest.Start(t)
	a, b := env.Queue(t), env.Queue(t)
	ctx := context.Background()
	ca, cb := openLanes(t, a, 12), openLanes(t, b, 12)
	waitSplit(t, "two instances", func(got []int) bool { return got[0] > 0 && got[1] > 0 }, ca, cb)

	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	waitSplit(t, "after the first closed", func(got []int) bool { return got[1] == 12 }, ca, cb)
}

// With one partition, one instance at a time dispatches every destination.
func TestPartitionsBoundTheInstancesThatShare(t *testing.T) {
	env := natstest.Start(t)
	open := func() queue.Queue {
		nc, err := nats.Connect(env.Server.ClientURL())
		if err != nil {
			t.Fatal(err)
		}
		q, err := jsqueue.New(context.Background(), nc, queue.StreamOptions{}, jsqueue.WithPartitions(1))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = q.Close(context.Background()) })
		return q
	}
	ca, cb := openLanes(t, open(), 12), openLanes(t, open(), 12)
	waitSplit(t, "one partition", func(got []int) bool { return got[0] == 12 || got[1] == 12 }, ca, cb)
}

// openLanes opens the lanes of n destinations on q.
func openLanes(t *testing.T, q queue.Queue, n int) []queue.Consumer {
	t.Helper()
	ctx := context.Background()
	var cs []queue.Consumer
	for i := range n {
		dest := fmt.Sprintf("d%d", i)
		c, err := q.OpenLane(ctx, dest, queue.LaneOptions{Hold: 1})
		if err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
	}
	return cs
}

func TestConformance(t *testing.T) {
	queuetest.Run(t, queuetest.Backend{
		Start: func(t *testing.T) func(t *testing.T) queue.Queue {
			env := natstest.Start(t)
			return func(t *testing.T) queue.Queue { return env.Queue(t) }
		},
	})
}

// TestConformanceWithoutDirectGets runs the suite on streams without direct
// gets, as with replicas: lanes read from the stream's leader, scans through
// a consumer.
func TestConformanceWithoutDirectGets(t *testing.T) {
	queuetest.Run(t, queuetest.Backend{
		Start: func(t *testing.T) func(t *testing.T) queue.Queue {
			env := natstest.Start(t)
			return func(t *testing.T) queue.Queue { return env.Queue(t, jsqueue.WithoutDirectGets()) }
		},
	})
}

// TestReadsGoOnWhenDirectGetsAreTurnedOff: an instance of an earlier release
// starting beside this one (a rollback) updates the streams without direct
// gets; reads that found no responder read the configuration again and go
// to the leader.
func TestReadsGoOnWhenDirectGetsAreTurnedOff(t *testing.T) {
	env := natstest.Start(t)
	q := env.Queue(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var acks []queue.PubAck
	for i := range 3 {
		ack, err := q.Publish(ctx, queue.Msg{Subject: queue.HistorySubject("ev"), Data: fmt.Appendf(nil, "%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		acks = append(acks, ack)
	}
	for _, cfg := range jsqueue.StreamConfigs(queue.StreamOptions{}) {
		if cfg.Name != queue.StreamHistory {
			continue
		}
		if !cfg.AllowDirect {
			t.Fatalf("%s does not allow direct gets with one replica", cfg.Name)
		}
		cfg.AllowDirect = false
		if _, err := env.JS.UpdateStream(ctx, cfg); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	err := q.Scan(ctx, queue.StreamHistory, queue.HistorySubject("ev"), time.Time{}, func(s queue.Stored) (bool, error) {
		got = append(got, string(s.Data))
		return true, nil
	})
	if err != nil || fmt.Sprint(got) != "[0 1 2]" {
		t.Errorf("scan after direct gets were turned off: %q, %v", got, err)
	}
	if m, err := q.Get(ctx, queue.StreamHistory, acks[1].Seq); err != nil || string(m.Data) != "1" {
		t.Errorf("get after direct gets were turned off: %q, %v", m.Data, err)
	}
}

// A scan that has nothing to read — no message on the subject, or none
// stored since its start — reads the subject's last message and no more:
// with replicas, where a scan reads through a consumer, it makes none
// (a worker's catch-up of its send log made one, through the meta group,
// for each destination it started).
func TestScanOfNothingMakesNoConsumer(t *testing.T) {
	env := natstest.Start(t)
	q := env.Queue(t, jsqueue.WithoutDirectGets())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// An ordered consumer is made again (name_1, name_2, …) when nats.go
	// resets it: counted once.
	var mu sync.Mutex
	made := map[string]bool{}
	sub, err := env.Conn.Subscribe("$JS.API.CONSUMER.CREATE.>", func(m *nats.Msg) {
		name := strings.Split(m.Subject, ".")[5]
		mu.Lock()
		made[name[:strings.LastIndexByte(name, '_')+1]] = true
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	// The queue asks over a connection of its own: the server must hold
	// this subscription before the first scan, or the one consumer made is
	// not seen.
	if err := env.Conn.Flush(); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Publish(ctx, queue.Msg{Subject: queue.SentSubject("busy"), Data: []byte("1")}); err != nil {
		t.Fatal(err)
	}
	after := time.Now().Add(time.Second)
	scans := []struct {
		subject string
		start   time.Time
		want    int
	}{
		{queue.SentSubject("idle"), time.Time{}, 0},
		{queue.SentSubject("busy"), after, 0},
		{queue.SentSubject("busy"), time.Time{}, 1},
	}
	for _, s := range scans {
		n := 0
		if err := q.Scan(ctx, queue.StreamSent, s.subject, s.start, func(queue.Stored) (bool, error) { n++; return true, nil }); err != nil || n != s.want {
			t.Errorf("scan %s from %v: %d messages, %v; want %d", s.subject, s.start, n, err, s.want)
		}
	}
	if err := env.Conn.Flush(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if got := len(made); got != 1 {
		t.Errorf("%d consumers made for three scans, one with something to read; want 1", got)
	}
}
