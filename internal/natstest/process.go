package natstest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ProcessNode is a nats-server running as a process of its own, which a test
// kills with SIGKILL as a machine's crash would: no goodbye to clients or to
// the other nodes, pulls waiting on it lost without a word.
type ProcessNode struct {
	t       testing.TB
	bin     string
	name    string
	port    int
	conf    string
	mu      sync.Mutex
	cmd     *exec.Cmd
	stopped chan struct{}
}

// serverBinary builds the nats-server of go.mod into the test's temp dir,
// from the module cache: the version the relay embeds. Go's build cache
// makes every build after the first a link.
func serverBinary(t testing.TB) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "nats-server")
	if out, err := exec.Command("go", "build", "-o", path, "github.com/nats-io/nats-server/v2").CombinedOutput(); err != nil {
		t.Fatalf("go build nats-server: %v\n%s", err, out)
	}
	return path
}

// StartProcessCluster starts size nats-server processes clustered on
// loopback (one alone when size is 1), with JetStream in temp dirs; they are
// killed when the test ends.
func StartProcessCluster(t testing.TB, size int) []*ProcessNode {
	t.Helper()
	bin := serverBinary(t)
	routes := make([]string, size)
	clusterPorts := make([]int, size)
	for i := range size {
		clusterPorts[i] = freePort(t)
		routes[i] = fmt.Sprintf("nats://127.0.0.1:%d", clusterPorts[i])
	}
	nodes := make([]*ProcessNode, size)
	for i := range size {
		n := &ProcessNode{t: t, bin: bin, name: fmt.Sprintf("n%d", i+1), port: freePort(t)}
		dir := t.TempDir()
		n.conf = filepath.Join(dir, "nats.conf")
		conf := fmt.Sprintf("server_name: %s\nlisten: 127.0.0.1:%d\n"+
			"jetstream { store_dir: %q, max_file_store: 1G, max_memory_store: 256M }\n",
			n.name, n.port, filepath.Join(dir, "js"))
		if size > 1 {
			conf += fmt.Sprintf("cluster { name: hookrelay-test, listen: 127.0.0.1:%d, routes: [%s] }\n",
				clusterPorts[i], strings.Join(routes, ", "))
		}
		if err := os.WriteFile(n.conf, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		nodes[i] = n
		t.Cleanup(n.Kill)
	}
	for _, n := range nodes {
		n.Start()
	}
	return nodes
}

// Name is the server's name, as JetStream's cluster info reports leaders.
func (n *ProcessNode) Name() string { return n.name }

// URL is the client URL, the same across restarts.
func (n *ProcessNode) URL() string { return fmt.Sprintf("nats://127.0.0.1:%d", n.port) }

// Start starts the process on its files and ports and waits until it
// accepts connections.
func (n *ProcessNode) Start() {
	n.t.Helper()
	cmd := exec.Command(n.bin, "-c", n.conf)
	if err := cmd.Start(); err != nil {
		n.t.Fatalf("start nats-server %s: %v", n.name, err)
	}
	stopped := make(chan struct{})
	go func() { _ = cmd.Wait(); close(stopped) }()
	n.mu.Lock()
	n.cmd, n.stopped = cmd, stopped
	n.mu.Unlock()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", n.port), time.Second)
		if err == nil {
			_ = c.Close()
			return
		}
		select {
		case <-stopped:
			n.t.Fatalf("nats-server %s exited during start-up", n.name)
		default:
		}
		if time.Now().After(deadline) {
			n.t.Fatalf("nats-server %s does not accept connections after 30s: %v", n.name, err)
		}
		time.Sleep(50 * time.Millisecond) // a process says nothing when it listens
	}
}

// Kill ends the process with SIGKILL and waits for it; a killed node stays
// so until Start.
func (n *ProcessNode) Kill() {
	n.mu.Lock()
	cmd, stopped := n.cmd, n.stopped
	n.cmd = nil
	n.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-stopped
}

// Freeze stops the process with SIGSTOP, as a stalled machine or a long GC
// pause would: connections stay open, nothing is answered, no heartbeat is
// sent. Thaw lets it go on.
func (n *ProcessNode) Freeze() { n.signal(syscall.SIGSTOP) }

// Thaw continues a frozen process.
func (n *ProcessNode) Thaw() { n.signal(syscall.SIGCONT) }

func (n *ProcessNode) signal(sig syscall.Signal) {
	n.t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		n.t.Fatalf("nats-server %s is not running", n.name)
	}
	if err := n.cmd.Process.Signal(sig); err != nil {
		n.t.Fatalf("signal nats-server %s: %v", n.name, err)
	}
}
