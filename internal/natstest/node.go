package natstest

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Node is a nats-server with JetStream that a test stops and starts again on
// the same files and ports, alone or as one node of a cluster on loopback.
type Node struct {
	t    testing.TB
	opts server.Options
	srv  *server.Server
}

// StartNode starts one server on a random loopback port and a temp dir;
// it is stopped when the test ends.
func StartNode(t testing.TB) *Node {
	t.Helper()
	n := &Node{t: t, opts: nodeOptions(t, "standalone", freePort(t))}
	n.Start()
	t.Cleanup(n.Stop)
	return n
}

func nodeOptions(t testing.TB, name string, port int) server.Options {
	return server.Options{
		ServerName: name, Host: "127.0.0.1", Port: port,
		JetStream: true, StoreDir: t.TempDir(),
		JetStreamMaxMemory: 256 << 20, JetStreamMaxStore: 1 << 30,
		NoLog: true, NoSigs: true, MaxPayload: 8 << 20,
	}
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Name is the server's name, as JetStream's cluster info reports leaders.
func (n *Node) Name() string { return n.opts.ServerName }

// URL is the client URL, the same across restarts.
func (n *Node) URL() string { return fmt.Sprintf("nats://127.0.0.1:%d", n.opts.Port) }

// Start starts the server again on its files and ports, and waits until it
// accepts clients.
func (n *Node) Start() {
	n.t.Helper()
	n.start(true)
}

func (n *Node) start(wait bool) {
	n.t.Helper()
	o := n.opts // NewServer keeps and changes what it is given
	srv, err := server.NewServer(&o)
	if err != nil {
		n.t.Fatalf("nats-server %s: %v", n.Name(), err)
	}
	n.srv = srv
	go srv.Start()
	if wait {
		n.waitReady()
	}
}

func (n *Node) waitReady() {
	n.t.Helper()
	if !n.srv.ReadyForConnections(30 * time.Second) {
		n.t.Fatalf("nats-server %s not ready after 30s", n.Name())
	}
}

// Stop stops the server and waits until it has; a stopped node stays so.
func (n *Node) Stop() {
	if n.srv == nil {
		return
	}
	n.srv.Shutdown()
	n.srv.WaitForShutdown()
	n.srv = nil
}

// URLs joins the nodes' client URLs as nats.Connect takes them.
func URLs[N interface{ URL() string }](nodes []N) string {
	urls := make([]string, len(nodes))
	for i, n := range nodes {
		urls[i] = n.URL()
	}
	return strings.Join(urls, ",")
}

// WaitJetStream waits until JetStream answers through url (a cluster's meta
// leader elected).
func WaitJetStream(ctx context.Context, t testing.TB, url string) {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatalf("connect to %s: %v", url, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	for {
		actx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := js.AccountInfo(actx)
		cancel()
		if err == nil {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("JetStream at %s did not answer: %v", url, err)
		}
		time.Sleep(100 * time.Millisecond) // the server says nothing when its meta group forms
	}
}
