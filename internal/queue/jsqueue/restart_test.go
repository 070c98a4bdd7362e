package jsqueue_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookrelay/hookrelay/internal/natsembed"
	"github.com/hookrelay/hookrelay/internal/natstest"
	"github.com/hookrelay/hookrelay/internal/queue"
	"github.com/hookrelay/hookrelay/internal/queue/jsqueue"
)

func dispatchLike(dest string) queue.ConsumerConfig {
	return queue.ConsumerConfig{
		Stream: queue.StreamOut, Name: "dispatch-" + dest, Subject: queue.OutSubject(dest),
		AckWait: 30 * time.Second, MaxAckPending: 1, Exclusive: true,
	}
}

func openOn(t *testing.T, ctx context.Context, dir string) (*natsembed.Server, *jsqueue.Queue) {
	t.Helper()
	srv, err := natsembed.Start(natsembed.Options{StoreDir: dir})
	if err != nil {
		t.Fatalf("start embedded nats: %v", err)
	}
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		srv.Shutdown()
		t.Fatalf("connect: %v", err)
	}
	q, err := jsqueue.New(ctx, nc, queue.StreamOptions{})
	if err != nil {
		nc.Close()
		srv.Shutdown()
		t.Fatalf("open queue: %v", err)
	}
	return srv, q
}

func nextSeq(t *testing.T, ctx context.Context, c queue.Consumer) queue.Delivery {
	t.Helper()
	d, err := c.Next(ctx)
	if err != nil {
		t.Fatalf("next: %v", err)
	}
	return d
}

// RELAY_OUT's consumers keep their state in memory: the work queue itself
// says what is left to deliver. After a restart of the server on the same
// files, the acked delivery is gone and the others, the one handed out and
// not settled included, are handed out again.
func TestWorkQueueConsumerAfterRestartHandsOutWhatIsLeft(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	srv, q := openOn(t, ctx, dir)
	var seqs []uint64
	for i := range 3 {
		ack, err := q.Publish(ctx, queue.Msg{Subject: queue.OutSubject("d"), Data: fmt.Appendf(nil, "%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, ack.Seq)
	}
	c, err := q.Consume(ctx, dispatchLike("d"))
	if err != nil {
		t.Fatal(err)
	}
	if err := nextSeq(t, ctx, c).Ack(ctx); err != nil {
		t.Fatal(err)
	}
	if d := nextSeq(t, ctx, c); d.Msg().Seq != seqs[1] {
		t.Fatalf("second handed out #%d, want #%d", d.Msg().Seq, seqs[1])
	} // and left unsettled
	_ = q.Close(ctx)
	srv.Shutdown()

	srv, q = openOn(t, ctx, dir)
	defer srv.Shutdown()
	defer func() { _ = q.Close(ctx) }()
	c, err = q.Consume(ctx, dispatchLike("d"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range seqs[1:] {
		d := nextSeq(t, ctx, c)
		if d.Msg().Seq != want {
			t.Fatalf("after restart handed out #%d, want #%d (#%d was acked)", d.Msg().Seq, want, seqs[0])
		}
		if err := d.Ack(ctx); err != nil {
			t.Fatal(err)
		}
	}
	backlog, err := q.Backlog(ctx, []string{"d"})
	if err != nil {
		t.Fatal(err)
	}
	if n := backlog["d"].Count; n != 0 {
		t.Errorf("backlog of d after acking all: %d, want 0", n)
	}
}

// A consumer an earlier version made with its state on file is deleted and
// made again in memory, and what waited on the stream is still delivered.
func TestFileBackedConsumerOfAnEarlierVersionIsMadeAgain(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	env := natstest.Start(t)
	st, err := env.JS.Stream(ctx, queue.StreamOut)
	if err != nil {
		t.Fatal(err)
	}
	cfg := dispatchLike("d")
	if _, err := st.CreateConsumer(ctx, jetstream.ConsumerConfig{
		Durable: cfg.Name, FilterSubject: cfg.Subject, AckPolicy: jetstream.AckExplicitPolicy,
	}); err != nil {
		t.Fatal(err)
	}
	q := env.Queue(t)
	stored, err := q.Publish(ctx, queue.Msg{Subject: cfg.Subject, Data: []byte("waiting")})
	if err != nil {
		t.Fatal(err)
	}
	c, err := q.Consume(ctx, cfg)
	if err != nil {
		t.Fatalf("consume over a file-backed consumer: %v", err)
	}
	defer c.Stop()
	cons, err := st.Consumer(ctx, cfg.Name)
	if err != nil {
		t.Fatal(err)
	}
	if !cons.CachedInfo().Config.MemoryStorage {
		t.Error("the consumer still keeps its state on file")
	}
	if d := nextSeq(t, ctx, c); d.Msg().Seq != stored.Seq {
		t.Errorf("handed out #%d, want #%d", d.Msg().Seq, stored.Seq)
	}
}

// restartable is an embedded server that a test stops and starts again on
// the same files and port, with queues that reconnect to it.
type restartable struct {
	t           *testing.T
	dir         string
	port        int
	srv         *natsembed.Server
	reconnected chan struct{}
}

func startRestartable(t *testing.T) *restartable {
	r := &restartable{t: t, dir: t.TempDir(), reconnected: make(chan struct{}, 16)}
	r.start()
	url := r.srv.ClientURL()
	if _, err := fmt.Sscanf(url[strings.LastIndex(url, ":")+1:], "%d", &r.port); err != nil {
		t.Fatalf("port of %s: %v", url, err)
	}
	return r
}

func (r *restartable) start() {
	r.t.Helper()
	srv, err := natsembed.Start(natsembed.Options{StoreDir: r.dir, Port: r.port})
	if err != nil {
		r.t.Fatalf("start embedded nats: %v", err)
	}
	r.srv = srv
	r.t.Cleanup(srv.Shutdown) // cleanups run after the test's defers closed the queues
}

// queue opens a queue that reconnects at once; the caller closes it.
func (r *restartable) queue(ctx context.Context) *jsqueue.Queue {
	r.t.Helper()
	nc, err := nats.Connect(r.srv.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond),
		nats.ReconnectHandler(func(*nats.Conn) { r.reconnected <- struct{}{} }))
	if err != nil {
		r.t.Fatal(err)
	}
	q, err := jsqueue.New(ctx, nc, queue.StreamOptions{})
	if err != nil {
		nc.Close()
		r.t.Fatal(err)
	}
	return q
}

// restart stops the server, starts it again and waits until the queues
// opened so far reconnected.
func (r *restartable) restart(ctx context.Context, queues int) {
	r.t.Helper()
	r.srv.Shutdown()
	r.start()
	for range queues {
		select {
		case <-r.reconnected:
		case <-ctx.Done():
			r.t.Fatal("no reconnection to the restarted server")
		}
	}
}

// A server that restarts forgets consumers kept in memory. The consumer is
// made again at the next pull, and what was stored before and after is
// delivered.
func TestConsumerForgottenByARestartedServerIsMadeAgain(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r := startRestartable(t)
	q := r.queue(ctx)
	defer func() { _ = q.Close(ctx) }()
	c, err := q.Consume(ctx, dispatchLike("d"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	before, err := q.Publish(ctx, queue.Msg{Subject: queue.OutSubject("d"), Data: []byte("before")})
	if err != nil {
		t.Fatal(err)
	}
	r.restart(ctx, 1)
	after, err := q.Publish(ctx, queue.Msg{Subject: queue.OutSubject("d"), Data: []byte("after")})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []uint64{before.Seq, after.Seq} {
		d := nextSeq(t, ctx, c)
		if d.Msg().Seq != want {
			t.Fatalf("handed out #%d, want #%d", d.Msg().Seq, want)
		}
		if err := d.Ack(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// The membership bucket is kept in memory too: after a restart the
// instances make it again and go on splitting the exclusive consumers
// rather than each competing for all of them.
func TestMembershipMadeAgainAfterAServerRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r := startRestartable(t)
	var queues []*jsqueue.Queue
	defer func() {
		for _, q := range queues {
			_ = q.Close(ctx)
		}
	}()
	open := func() []queue.Consumer {
		q := r.queue(ctx)
		queues = append(queues, q)
		var cs []queue.Consumer
		for i := range 12 {
			c, err := q.Consume(ctx, dispatchLike(fmt.Sprintf("d%d", i)))
			if err != nil {
				t.Fatal(err)
			}
			cs = append(cs, c)
		}
		return cs
	}
	a, b := open(), open()
	split := func(got []int) bool { return got[0] > 0 && got[1] > 0 }
	waitSplit(t, "before the restart", split, a, b)
	r.restart(ctx, 2)

	nc, err := nats.Connect(r.srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	var members []string
	for ctx.Err() == nil && len(members) < 2 {
		if kv, err := js.KeyValue(ctx, "RELAY_MEMBERS"); err == nil {
			members, _ = kv.Keys(ctx)
		}
		if len(members) < 2 {
			time.Sleep(50 * time.Millisecond) // polls the server: no event says the bucket is back
		}
	}
	if len(members) < 2 {
		t.Fatalf("members in the bucket after the restart: %v, want both instances", members)
	}
	waitSplit(t, "after the restart", split, a, b)
}
