package dispatch

import (
	"context"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/internal/config"
	"github.com/hookrelay/hookrelay/internal/storetest"
	"github.com/hookrelay/hookrelay/internal/teamstest"
)

// TestTenMinuteOutageLosesNothingAndDrainsAtBudget runs with the default
// retry and breaker settings through a real ten-minute outage.
func TestTenMinuteOutageLosesNothingAndDrainsAtBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("a real ten-minute outage")
	}
	t.Parallel()
	const outage, events = 10 * time.Minute, 100
	q := storetest.JetStream(t)
	sim := teamstest.NewServer()
	defer sim.Close()
	sim.SetFault(teamstest.Fault{Status: 503, For: outage, Path: "/o"})
	publish(t, q, "o", 0, events)
	start(t, q, dest(sim, "o", func(d *config.Destination) {
		d.Rate, d.Limits = 4, config.Limits{{Per: time.Second, Max: 4}, {Per: 30 * time.Second, Max: 60}}
		d.MaxAttempts, d.MaxAge = config.DefaultMaxAttempts, config.DefaultMaxAge
		d.Backoff, d.MaxBackoff = config.DefaultBackoff, config.DefaultMaxBackoff
		d.BreakerFailures, d.BreakerOpenFor = config.DefaultBreakerFailures, config.DefaultBreakerOpenFor
	}))
	ctx, cancel := context.WithTimeout(context.Background(), outage+3*time.Minute)
	defer cancel()
	if err := sim.WaitAccepted(ctx, "/o", events); err != nil {
		t.Fatalf("%d of %d delivered after the outage: %v", len(sim.Accepted("/o")), events, err)
	}
	if n := deadCount(t, q); n != 0 {
		t.Errorf("%d dead letters: the outage burned attempts", n)
	}
	refused := len(sim.Received("/o")) - events
	// Five failures open the breaker; then one probe per 30 s open period.
	if limit := 5 + int(outage/config.DefaultBreakerOpenFor) + 2; refused > limit {
		t.Errorf("%d requests refused during the outage, want at most %d (no retry storm)", refused, limit)
	}
	if got := sim.MaxInWindow("/o", time.Second); got > 4 {
		t.Errorf("%d in one second after recovery, limit 4", got)
	}
	if got := sim.MaxInWindow("/o", 30*time.Second); got != 60 {
		t.Errorf("the backlog used %d of the 60 a 30 s window allows: it must drain at the budget, neither over nor under", got)
	}
	t.Logf("%d refused during a %v outage; %d delivered after it", refused, outage, events)
}

// resetFirst is a listener that resets its first n connections.
type resetFirst struct {
	net.Listener
	n atomic.Int32
}

func (l *resetFirst) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil || l.n.Add(-1) < 0 {
			return c, err
		}
		_ = c.(*net.TCPConn).SetLinger(0) // close with RST
		_ = c.Close()
	}
}

func TestTransportFailuresAreRetried(t *testing.T) {
	q := storetest.JetStream(t)
	sim := teamstest.NewServer()
	defer sim.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rl := &resetFirst{Listener: ln}
	rl.n.Store(2)
	srv := &http.Server{Handler: sim.Handler}
	go func() { _ = srv.Serve(rl) }()
	defer srv.Close()

	publish(t, q, "reset", 0, 1)
	start(t, q, dest(sim, "reset", func(d *config.Destination) { d.URL = "http://" + ln.Addr().String() + "/reset" }))
	waitAccepted(t, sim, "/reset", 1)
	if n := deadCount(t, q); n != 0 {
		t.Errorf("%d dead letters: a connection reset was treated as permanent", n)
	}
	if left := rl.n.Load(); left >= 0 {
		t.Errorf("only %d resets happened; the test proves nothing", 2-left)
	}
}
