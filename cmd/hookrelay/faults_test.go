package main

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/internal/natstest"
	"github.com/hookrelay/hookrelay/internal/teamstest"
)

// The fault tests run the binary through an operator's bad day: the store
// stopping under load, a cluster node dying, a relay instance killed. What an
// answer promised must hold: 202 delivered, 503 never stored.

// load posts events with unique markers to relays in turn, at most max of
// them, one every interval, until stopped, and remembers every answer.
type load struct {
	mu      sync.Mutex
	answers []answer
	stop    chan struct{}
	done    chan struct{}
}

type answer struct {
	marker string
	code   int // 0: no answer (connection refused or broken)
	began  time.Time
}

func startLoad(ctx context.Context, relays func() []*relay, dests, max int, interval time.Duration) *load {
	l := &load{stop: make(chan struct{}), done: make(chan struct{})}
	client := &http.Client{Timeout: 10 * time.Second}
	go func() {
		defer close(l.done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for n := range max {
			select {
			case <-l.stop:
				return
			case <-tick.C:
			}
			rs := relays()
			r := rs[n%len(rs)]
			marker := fmt.Sprintf("ld%dzz", n)
			began := time.Now()
			code, err := send(ctx, client, r.ingest, fmt.Sprintf(`{"d":%d,"marker":%q}`, n%dests, marker))
			if err != nil {
				code = 0
			}
			l.mu.Lock()
			l.answers = append(l.answers, answer{marker: marker, code: code, began: began})
			l.mu.Unlock()
		}
	}()
	return l
}

// halt stops the load and waits for its last request.
func (l *load) halt() {
	close(l.stop)
	<-l.done
}

// count returns how many answers had code since from.
func (l *load) count(code int, since time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, a := range l.answers {
		if a.code == code && !a.began.Before(since) {
			n++
		}
	}
	return n
}

// waitCount waits until count(code, since) reaches n.
func (l *load) waitCount(t *testing.T, code, n int, since time.Time, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for l.count(code, since) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d answers %d within %v, want %d", l.count(code, since), code, within, n)
		}
		time.Sleep(20 * time.Millisecond) // the load records answers as they come; nothing to wait on
	}
}

// markers returns the markers of the answers with code.
func (l *load) markers(code int) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, a := range l.answers {
		if a.code == code {
			out = append(out, a.marker)
		}
	}
	return out
}

// fastDestinations configures dests destinations on sim without rate limits,
// routed by the events' "d".
func fastDestinations(sim *teamstest.Server, dests int) string {
	body := "destinations:\n"
	for i := range dests {
		body += fmt.Sprintf("  - {name: d%d, url: %q, rate: 1000, burst: 100, limits: none, timeout: 3s, allow_private: true}\n",
			i, fmt.Sprintf("%s/d%d", sim.URL, i))
	}
	body += "routes:\n"
	for i := range dests {
		body += fmt.Sprintf("  - {source: app, filter: '.d == %d', to: [d%d]}\n", i, i)
	}
	return body
}

func destPaths(dests int) []string {
	var paths []string
	for i := range dests {
		paths = append(paths, fmt.Sprintf("/d%d", i))
	}
	return paths
}

// With NATS stopped under load, ingest answers 503 at once, and no event it
// answered 503 is stored: the client keeps no publish to flush once the
// server is back. Every event answered 202, before and after, is delivered.
func TestNATSDownRefusedEventsAreNeverStored(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: stops and restarts NATS under load")
	}
	sim := teamstest.NewServer(teamstest.WithLimits(nil))
	defer sim.Close()
	node := natstest.StartNode(t)
	const dests = 4
	r := startRelay(t, writeConfig(t, t.TempDir(), fmt.Sprintf("nats: {url: %q}\n", node.URL())+fastDestinations(sim, dests)))

	ctx := context.Background()
	l := startLoad(ctx, func() []*relay { return []*relay{r} }, dests, 5000, 10*time.Millisecond)
	start := time.Now()
	l.waitCount(t, http.StatusAccepted, 50, start, 30*time.Second)

	node.Stop()
	stopped := time.Now()
	l.waitCount(t, http.StatusServiceUnavailable, 30, stopped, 30*time.Second)
	node.Start()
	restarted := time.Now()
	l.waitCount(t, http.StatusAccepted, 50, restarted, 60*time.Second)
	l.halt()
	t.Logf("first 202 %v after NATS came back", firstAfter(l, http.StatusAccepted, restarted))

	// A sentinel posted last: once it and every 202 arrived, anything the
	// store held from before is delivered too.
	code, err := send(ctx, http.DefaultClient, r.ingest, `{"d":0,"marker":"sentinelzz"}`)
	if err != nil || code != http.StatusAccepted {
		t.Fatalf("sentinel: %d %v", code, err)
	}
	accepted := append(l.markers(http.StatusAccepted), "sentinelzz")
	if missing := waitMarkers(sim, destPaths(dests), accepted, 90*time.Second); len(missing) > 0 {
		t.Fatalf("%d of %d events answered 202 were never delivered, e.g. %v", len(missing), len(accepted), missing[:min(5, len(missing))])
	}
	delivered := deliveredMarkers(sim, dests)
	var storedAnyway, inFlight int
	l.mu.Lock()
	for _, a := range l.answers {
		if a.code != http.StatusServiceUnavailable || !delivered[a.marker] {
			continue
		}
		if a.began.Before(stopped) {
			inFlight++ // in flight as the server stopped: its ack may be what was lost
			continue
		}
		storedAnyway++
		t.Errorf("event %s was answered 503 (request began %v after NATS stopped) and delivered anyway",
			a.marker, a.began.Sub(stopped))
	}
	l.mu.Unlock()
	t.Logf("%d answered 503 while NATS was down, none delivered; %d in flight at the stop answered 503 and were stored",
		l.count(http.StatusServiceUnavailable, stopped)-storedAnyway, inFlight)
}

// firstAfter is how long after since the first answer with code began.
func firstAfter(l *load, code int, since time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, a := range l.answers {
		if a.code == code && !a.began.Before(since) {
			return a.began.Sub(since)
		}
	}
	return -1
}

// deliveredMarkers returns every load marker in a card the simulator
// accepted.
func deliveredMarkers(sim *teamstest.Server, dests int) map[string]bool {
	out := map[string]bool{}
	for _, p := range destPaths(dests) {
		for _, rec := range sim.Accepted(p) {
			for _, m := range markerRE.FindAll(rec.Body, -1) {
				out[string(m)] = true
			}
		}
	}
	return out
}

var markerRE = regexp.MustCompile(`(ld[0-9]+zz|sentinelzz)`)
