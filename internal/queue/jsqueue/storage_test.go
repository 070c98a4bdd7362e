package jsqueue_test

import (
	"context"
	"fmt"
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
