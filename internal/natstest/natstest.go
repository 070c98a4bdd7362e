// Package natstest starts a real embedded JetStream for tests: a random port on
// 127.0.0.1 and a temp dir, with hookrelay's streams created.
package natstest

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookrelay/hookrelay/internal/natsembed"
	"github.com/hookrelay/hookrelay/internal/queue"
	"github.com/hookrelay/hookrelay/internal/queue/jsqueue"
)

// Env is a running test JetStream.
type Env struct {
	Server *natsembed.Server
	Conn   *nats.Conn
	JS     jetstream.JetStream
}

// Start starts the server, connects over TCP and creates the streams. Everything
// is stopped when the test ends.
func Start(t testing.TB) *Env {
	t.Helper()
	srv, err := natsembed.Start(natsembed.Options{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatalf("start embedded nats: %v", err)
	}
	t.Cleanup(srv.Shutdown)
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatalf("connect to %s: %v", srv.ClientURL(), err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	if err := jsqueue.EnsureStreams(context.Background(), js, queue.StreamOptions{}); err != nil {
		t.Fatalf("ensure streams: %v", err)
	}
	return &Env{Server: srv, Conn: nc, JS: js}
}

// Queue opens a jsqueue.Queue on the server over a connection of its own, as
// another relay instance would; it is closed when the test ends. Call it
// again for a second instance on the same store.
func (e *Env) Queue(t testing.TB, opts ...jsqueue.Option) *jsqueue.Queue {
	t.Helper()
	nc, err := nats.Connect(e.Server.ClientURL())
	if err != nil {
		t.Fatalf("connect to %s: %v", e.Server.ClientURL(), err)
	}
	q, err := jsqueue.New(context.Background(), nc, queue.StreamOptions{}, opts...)
	if err != nil {
		nc.Close()
		t.Fatalf("open queue: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = q.Close(ctx) // a test that closed it already gets nil
	})
	return q
}
