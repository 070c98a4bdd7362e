package jsqueue

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/hookrelay/hookrelay/internal/natsembed"
	"github.com/hookrelay/hookrelay/internal/queue"
)

// A change of the member set that leaves this instance preferred (at start
// every instance observes itself) must not end its pull: the server may hand
// a message to the abandoned pull, where it waits out the ack wait.
func TestPullOutlivesAChangeThatKeepsThisMember(t *testing.T) {
	srv, err := natsembed.Start(natsembed.Options{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatalf("start embedded nats: %v", err)
	}
	t.Cleanup(srv.Shutdown)
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	q, err := New(ctx, nc, queue.StreamOptions{})
	if err != nil {
		nc.Close()
		t.Fatalf("open queue: %v", err)
	}
	defer func() { _ = q.Close(context.Background()) }()
	cons, err := q.Consume(ctx, queue.ConsumerConfig{Stream: queue.StreamOut, Name: "dispatch-p", Subject: queue.OutSubject("p"),
		AckWait: 30 * time.Second, MaxAckPending: 1, Exclusive: true})
	if err != nil {
		t.Fatalf("consume: %v", err)
	}
	ex := cons.(*exclusive)

	_, changed := ex.members.prefers(ex.name())
	pulled := make(chan error, 1)
	go func() {
		m, err := ex.pull(ctx, changed)
		if err == nil {
			err = m.Ack()
		}
		pulled <- err
	}()
	ex.members.mu.Lock()
	ex.members.notifyLocked()
	ex.members.mu.Unlock()
	if mine, _ := ex.members.prefers(ex.name()); !mine {
		t.Fatal("the only member is not preferred; the test proves nothing")
	}
	if _, err := q.Publish(ctx, queue.Msg{Subject: queue.OutSubject("p"), Data: []byte("x")}); err != nil {
		t.Fatalf("publish: %v", err)
	}
	if err := <-pulled; err != nil {
		t.Fatalf("pull after a change that kept this member preferred: %v, want the message", err)
	}
}
