package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

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

// A three-node JetStream cluster with replicated streams, two relay
// instances and steady load: each round kills (SIGKILL) the node leading
// RELAY_IN, or transform's consumer on it, and starts it again, then kills one relay instance and starts another. Every
// event answered 202 is delivered, in every round: no instance stops
// relaying after a failover, and a killed one's destinations move.
func TestFailoverDeliversEveryAcceptedEvent(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: a NATS cluster's leader and a relay instance killed, several rounds")
	}
	const rounds, dests = 5, 4
	// Pulls miss two heartbeats (5 s apart) within settle.
	const downFor, settle = 5 * time.Second, 15 * time.Second
	sim := teamstest.NewServer(teamstest.WithLimits(nil))
	defer sim.Close()
	nodes := natstest.StartProcessCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	natstest.WaitJetStream(ctx, t, natstest.URLs(nodes))
	cfgPath := writeConfig(t, t.TempDir(),
		fmt.Sprintf("nats: {url: %q, replicas: 3}\n", natstest.URLs(nodes))+fastDestinations(sim, dests))
	var mu sync.Mutex
	live := []*relay{startRelay(t, cfgPath), startRelay(t, cfgPath)}
	relays := func() []*relay {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(live)
	}

	l := startLoad(ctx, relays, dests, 100000, 10*time.Millisecond)
	defer func() {
		select {
		case <-l.done:
		default:
			l.halt()
		}
	}()
	var progress sync.WaitGroup
	pctx, stopProgress := context.WithCancel(ctx)
	defer func() { stopProgress(); progress.Wait() }()
	progress.Go(func() { logProgress(pctx, t, l, sim, dests, 5*time.Second) })
	l.waitCount(t, http.StatusAccepted, 50, time.Now(), 60*time.Second)
	for round := range rounds {
		// RELAY_IN's leader, or the node leading transform's consumer on it:
		// a pull waiting there is lost with it, and only its missed
		// heartbeats tell the instance.
		what, leader := "RELAY_IN's leader", leaderOf(ctx, t, nodes, "RELAY_IN", "")
		if round%2 == 1 {
			what, leader = "transform's consumer leader", leaderOf(ctx, t, nodes, "RELAY_IN", "transform")
		}
		leader.Kill()
		stopped := time.Now()
		l.waitCount(t, http.StatusAccepted, 50, stopped, 60*time.Second) // the cluster serves without it
		time.Sleep(time.Until(stopped.Add(downFor)))
		leader.Start()
		natstest.WaitJetStream(ctx, t, leader.URL())
		// Long enough for a pull lost with the node to miss its heartbeats.
		time.Sleep(settle)
		// Both instances relay again before one is killed: an instance that
		// stopped relaying is not rescued by its replacement.
		if missing := waitMarkers(sim, destPaths(dests), l.markers(http.StatusAccepted), time.Minute); len(missing) > 0 {
			t.Fatalf("round %d: %d events answered 202 not delivered a minute after %s came back, e.g. %v; %s; destinations: %v",
				round+1, len(missing), leader.Name(), missing[:min(5, len(missing))],
				whereAre(ctx, t, natstest.URLs(nodes), missing, sim, dests), destinationsOf(t, relays()))
		}

		mu.Lock()
		victim := live[round%2]
		mu.Unlock()
		victim.kill()
		<-victim.exited
		replacement := startRelay(t, cfgPath)
		mu.Lock()
		live[round%2] = replacement
		mu.Unlock()
		l.waitCount(t, http.StatusAccepted, 50, time.Now(), 60*time.Second)
		t.Logf("round %d: %s (%s) stopped and restarted, a relay instance killed and replaced; %d accepted so far",
			round+1, leader.Name(), what, len(l.markers(http.StatusAccepted)))
	}
	l.halt()
	halted := time.Now()
	accepted := l.markers(http.StatusAccepted)
	if missing := waitMarkers(sim, destPaths(dests), accepted, 2*time.Minute); len(missing) > 0 {
		t.Fatalf("%d of %d events answered 202 never delivered, 2 minutes after the load stopped, e.g. %v; %s; destinations: %v",
			len(missing), len(accepted), missing[:min(5, len(missing))],
			whereAre(ctx, t, natstest.URLs(nodes), missing, sim, dests), destinationsOf(t, relays()))
	}
	t.Logf("%d rounds: all %d accepted events delivered, the last %v after the load stopped; %d answered 503, %d unanswered",
		rounds, len(accepted), time.Since(halted).Round(time.Millisecond),
		len(l.markers(http.StatusServiceUnavailable)), len(l.markers(0)))
	for _, r := range relays() {
		if body := adminGet(t, r, "/readyz"); !strings.HasPrefix(body, "ready") {
			t.Errorf("a relay instance is not ready after the rounds: %s", body)
		}
	}
}

// logProgress logs, every period until ctx ends, each destination's events
// answered 202 and cards accepted by the simulator: a stall, or a
// destination that cannot keep up, shows in the test's log.
func logProgress(ctx context.Context, t *testing.T, l *load, sim *teamstest.Server, dests int, period time.Duration) {
	tick := time.NewTicker(period)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		accepted, cards := make([]int, dests), make([]int, dests)
		for _, m := range l.markers(http.StatusAccepted) {
			var n int
			if _, err := fmt.Sscanf(m, "ld%dzz", &n); err == nil {
				accepted[n%dests]++
			}
		}
		for i, p := range destPaths(dests) {
			cards[i] = len(sim.Accepted(p))
		}
		t.Logf("progress: by destination, accepted %v, cards delivered %v", accepted, cards)
	}
}

// whereAre says where the missing events are: how many are stored on each
// stream (as events, deliveries waiting, dead letters), and how many cards
// the simulator accepted more than once.
func whereAre(ctx context.Context, t *testing.T, urls string, missing []string, sim *teamstest.Server, dests int) string {
	t.Helper()
	want := map[string]bool{}
	for _, m := range missing {
		want[m] = true
	}
	counts := map[string]int{}
	received := 0 // of the missing, received by the simulator but not accepted
	for _, p := range destPaths(dests) {
		for _, rec := range sim.Accepted(p) {
			seen := map[string]bool{}
			for _, m := range markerRE.FindAll(rec.Body, -1) {
				seen[string(m)] = true
			}
			for m := range seen {
				counts[m]++
			}
		}
		for _, rec := range sim.Received(p) {
			if m := markerRE.Find(rec.Body); m != nil && want[string(m)] {
				received++
			}
		}
	}
	twice := 0
	for _, n := range counts {
		if n > 1 {
			twice++
		}
	}
	out := fmt.Sprintf("%d markers in more than one accepted card; %d requests of the missing received and refused", twice, received)
	nc, err := nats.Connect(urls)
	if err != nil {
		return out + "; " + err.Error()
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return out + "; " + err.Error()
	}
	for _, stream := range []string{"RELAY_IN", "RELAY_DEAD"} { // RELAY_OUT: the destinations' backlog
		found, err := scanFor(ctx, js, stream, want)
		out += fmt.Sprintf("; on %s: %d of them (%v)", stream, found, err)
	}
	if c, err := js.Consumer(ctx, "RELAY_IN", "transform"); err == nil {
		i := c.CachedInfo()
		out += fmt.Sprintf("; transform consumer: %d pending, %d ack pending, %d redelivered", i.NumPending, i.NumAckPending, i.NumRedelivered)
	}
	return out
}

// scanFor counts the messages of stream that hold one of the markers.
func scanFor(ctx context.Context, js jetstream.JetStream, stream string, markers map[string]bool) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var c jetstream.Consumer
	var err error
	for range 10 { // the cluster may still be electing
		if c, err = js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{}); err == nil {
			break
		}
		time.Sleep(time.Second)
	}
	if err != nil {
		return 0, err
	}
	st, err := js.Stream(ctx, stream)
	if err != nil {
		return 0, err
	}
	last := st.CachedInfo().State.LastSeq
	found := 0
	for {
		m, err := c.Next(jetstream.FetchMaxWait(5 * time.Second))
		if err != nil {
			return found, err
		}
		// Deliveries and dead letters carry the card in base64.
		var held struct {
			Card     []byte `json:"card"`
			Delivery struct {
				Card []byte `json:"card"`
			} `json:"delivery"`
		}
		_ = json.Unmarshal(m.Data(), &held)
		for _, body := range [][]byte{m.Data(), held.Card, held.Delivery.Card} {
			if mk := markerRE.Find(body); mk != nil && markers[string(mk)] {
				found++
				break
			}
		}
		if md, err := m.Metadata(); err == nil && md.Sequence.Stream >= last {
			return found, nil
		}
	}
}

// destinationsOf is each relay's destinations as its admin API lists them,
// by process id.
func destinationsOf(t *testing.T, relays []*relay) []string {
	var status []string
	for _, r := range relays {
		status = append(status, fmt.Sprintf("[%d] %s", r.cmd.Process.Pid, adminGet(t, r, "/api/v1/destinations")))
		if !testing.Verbose() { // verbose, every line was logged already
			var warned []string
			for _, w := range r.lastWarnings() {
				if !strings.Contains(w, "event not stored") {
					warned = append(warned, w)
				}
			}
			status = append(status, fmt.Sprintf("[%d] last warnings:\n%s", r.cmd.Process.Pid, strings.Join(warned, "\n")))
		}
	}
	return status
}

// leaderOf returns the node leading stream's replicas, or its consumer's
// when consumer is set.
func leaderOf(ctx context.Context, t *testing.T, nodes []*natstest.ProcessNode, stream, consumer string) *natstest.ProcessNode {
	t.Helper()
	nc, err := nats.Connect(natstest.URLs(nodes))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	for {
		ictx, cancel := context.WithTimeout(ctx, 5*time.Second)
		var cluster *jetstream.ClusterInfo
		if consumer == "" {
			var st jetstream.Stream
			if st, err = js.Stream(ictx, stream); err == nil {
				cluster = st.CachedInfo().Cluster
			}
		} else {
			var c jetstream.Consumer
			if c, err = js.Consumer(ictx, stream, consumer); err == nil {
				cluster = c.CachedInfo().Cluster
			}
		}
		cancel()
		for _, n := range nodes {
			if cluster != nil && n.Name() == cluster.Leader {
				return n
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("no leader of %s %s: %v", stream, consumer, err)
		}
		time.Sleep(100 * time.Millisecond) // an election in progress
	}
}

// On a data_dir whose disk fills, ingest answers 503 at once and /readyz says
// the store refuses writes; once space is freed the relay takes events again
// by itself, and every event it answered 202 is delivered.
func TestFullDiskRecoversWithoutARestart(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: fills a small disk under the binary")
	}
	dataDir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", dataDir).CombinedOutput(); err != nil {
		t.Skipf("SKIPPING: cannot mount a 24 MiB tmpfs to fill (needs root): %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dataDir).Run() })
	filler := filepath.Join(dataDir, "filler")
	if err := os.WriteFile(filler, make([]byte, 10<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	sim := teamstest.NewServer(teamstest.WithLimits(nil))
	defer sim.Close()
	r := startRelay(t, writeConfig(t, dataDir, fastDestinations(sim, 1)))

	ctx := context.Background()
	pad := strings.Repeat("x", 48<<10)
	var accepted []string
	post := func(n int) int {
		marker := fmt.Sprintf("ld%dzz", n)
		code, err := send(ctx, http.DefaultClient, r.ingest, fmt.Sprintf(`{"d":0,"marker":%q,"pad":%q}`, marker, pad))
		if err != nil {
			t.Fatalf("event %d: %v", n, err)
		}
		if code == http.StatusAccepted {
			accepted = append(accepted, marker)
		}
		return code
	}
	n := 0
	for ; ; n++ {
		code := post(n)
		if code == http.StatusServiceUnavailable {
			break
		}
		if code != http.StatusAccepted || n > 2000 {
			t.Fatalf("event %d answered %d before the disk filled", n, code)
		}
	}
	t.Logf("%d events of 48 KiB taken, then 503", len(accepted))
	// At the edge, deliveries free a little room now and then, and a
	// write may fit again. Another writer taking 1 MiB more puts the store
	// well over its limit at the relay's next look at the disk (every 5 s):
	// then /readyz must say why nothing is taken.
	// Less than 1 MiB may be left, as the store's files take more than
	// what it holds: the other writer takes at most all but 256 KiB, so
	// that the disk itself never fills (nats-server stops JetStream when a
	// write of its own finds no space: only the limit keeps it from that).
	var fs syscall.Statfs_t
	if err := syscall.Statfs(dataDir, &fs); err != nil {
		t.Fatal(err)
	}
	if take := min(1<<20, int64(fs.Bavail)*int64(fs.Bsize)-256<<10); take > 0 {
		if err := os.WriteFile(filler+"2", make([]byte, take), 0o600); err != nil {
			t.Fatal(err)
		}
	} else if err := os.WriteFile(filler+"2", nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		body := adminGet(t, r, "/readyz")
		if strings.Contains(body, "not ready") && strings.Contains(body, "refuses writes") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz 30 s after the disk filled for good says:\n%s", body)
		}
		post(n) // a refused write is what tells the relay the store is full
		n++
		time.Sleep(200 * time.Millisecond) // the relay looks at the disk on its own interval
	}
	if err := os.Remove(filler + "2"); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	// The relay notices the freed space by itself, on its own interval:
	// until then, at the edge, a write may be taken as deliveries free room
	// and the next refused. Recovered means 20 events in a row taken, and
	// ready.
	freed := time.Now()
	for inARow := 0; inARow < 20; {
		if time.Since(freed) > time.Minute {
			t.Fatalf("not recovered a minute after space was freed: /readyz says %s", adminGet(t, r, "/readyz"))
		}
		n++
		if post(n) == http.StatusAccepted {
			inARow++
			continue
		}
		inARow = 0
		time.Sleep(200 * time.Millisecond) // nothing to wait on: the relay rechecks the disk on its own
	}
	t.Logf("20 events in a row taken %v after space was freed", time.Since(freed).Round(time.Millisecond))
	if body := adminGet(t, r, "/readyz"); !strings.HasPrefix(body, "ready") {
		t.Errorf("/readyz after recovery says:\n%s", body)
	}
	if missing := waitMarkers(sim, destPaths(1), accepted, time.Minute); len(missing) > 0 {
		t.Fatalf("%d of %d events answered 202 never delivered, e.g. %v", len(missing), len(accepted), missing[:min(5, len(missing))])
	}
}

// A store that stops answering while its connections stay open (a frozen
// machine, a long pause) makes every waiting pull miss its heartbeats. The
// stages ask again until it answers, and every event answered 202 is
// delivered once it does, with no restart.
func TestFrozenStoreDoesNotStopTheStages(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: freezes a nats-server process under the binary")
	}
	sim := teamstest.NewServer(teamstest.WithLimits(nil))
	defer sim.Close()
	node := natstest.StartProcessCluster(t, 1)[0]
	const dests = 2
	r := startRelay(t, writeConfig(t, t.TempDir(), fmt.Sprintf("nats: {url: %q}\n", node.URL())+fastDestinations(sim, dests)))
	ctx := context.Background()
	natstest.WaitJetStream(ctx, t, node.URL())

	var accepted []string
	post := func(n int) {
		t.Helper()
		marker := fmt.Sprintf("ld%dzz", n)
		code, err := send(ctx, http.DefaultClient, r.ingest, fmt.Sprintf(`{"d":%d,"marker":%q}`, n%dests, marker))
		if err != nil || code != http.StatusAccepted {
			t.Fatalf("event %d: %d %v", n, code, err)
		}
		accepted = append(accepted, marker)
	}
	for n := range 10 {
		post(n)
	}
	if missing := waitMarkers(sim, destPaths(dests), accepted, 30*time.Second); len(missing) > 0 {
		t.Fatalf("before the freeze, %d events not delivered", len(missing))
	}
	node.Freeze()
	// Longer than two missed heartbeats of any pull: hookrelay's (5 s
	// apart) and nats.go's default (15 s), which once stopped transform
	// for good with "no heartbeat received".
	time.Sleep(32 * time.Second)
	node.Thaw()
	for n := 10; n < 30; n++ {
		post(n)
	}
	if missing := waitMarkers(sim, destPaths(dests), accepted, time.Minute); len(missing) > 0 {
		t.Fatalf("%d of %d events answered 202 after the store thawed never delivered, e.g. %v; /readyz: %s",
			len(missing), len(accepted), missing[:min(5, len(missing))], adminGet(t, r, "/readyz"))
	}
	if body := adminGet(t, r, "/readyz"); !strings.HasPrefix(body, "ready") {
		t.Errorf("/readyz after the store thawed: %s", body)
	}
	// Not silent: the interruption and the recovery are both logged.
	r.waitLog(t, "pull interrupted", 10*time.Second)
	r.waitLog(t, "pull works again", 10*time.Second)
}

// Slow and hostile senders cannot grow the process without bound: 500
// connections declaring 1 MiB bodies and sending a byte a second (half of
// them with a wrong token), then 250 sending almost 1 MiB and stalling, keep
// the relay's resident memory under slowClientsRSSBound while a normal
// sender's events are all accepted.
func TestSlowClientsHoldBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: 750 slow connections against the binary")
	}
	sim := teamstest.NewServer(teamstest.WithLimits(nil))
	defer sim.Close()
	r := startRelayBinary(t, plainBinary(t), writeConfig(t, t.TempDir(), fastDestinations(sim, 1)))
	addr := strings.TrimPrefix(r.ingest, "http://")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	idle := residentBytes(t, r.cmd.Process.Pid)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	slowSender := func(path string, first int) {
		defer wg.Done()
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			return // the connection cap may hold it in the backlog; that is the point
		}
		defer conn.Close()
		head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: relay\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", path, 1<<20)
		if _, err := conn.Write(append([]byte(head), bytes.Repeat([]byte("x"), first)...)); err != nil {
			return
		}
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				if _, err := conn.Write([]byte("x")); err != nil {
					return // answered and closed: refused
				}
			}
		}
	}
	for i := range 500 {
		path := "/hooks/app/s3cret"
		if i%2 == 0 {
			path = "/hooks/app/wrong-token"
		}
		wg.Add(1)
		go slowSender(path, 1)
	}
	for range 250 {
		wg.Add(1)
		go slowSender("/hooks/app/s3cret", 1<<20-64)
	}

	var peak int64
	for n := range 100 { // a normal sender, one event every 100 ms for 10 s
		code, err := send(ctx, http.DefaultClient, r.ingest, fmt.Sprintf(`{"d":0,"marker":"ld%dzz"}`, n))
		if err != nil || code != http.StatusAccepted {
			t.Errorf("normal event %d beside the slow senders: %d %v", n, code, err)
		}
		peak = max(peak, residentBytes(t, r.cmd.Process.Pid))
		time.Sleep(100 * time.Millisecond) // the pace of a normal sender
	}
	t.Logf("resident memory %d MiB idle, peaked at %d MiB with 750 slow senders (bound %d MiB)",
		idle>>20, peak>>20, slowClientsRSSBound>>20)
	if peak > slowClientsRSSBound {
		t.Errorf("resident memory reached %d MiB, bound %d MiB", peak>>20, slowClientsRSSBound>>20)
	}
}

// slowClientsRSSBound is what the relay may hold resident under slow
// senders with the default limits: max_body_memory (64 MiB) plus 32 KiB per
// connection up to max_connections (32 MiB), the embedded store, the
// runtime, and the garbage collector's headroom.
const slowClientsRSSBound = 200 << 20

// residentBytes reads a process's resident set size from /proc.
func residentBytes(t testing.TB, pid int) int64 {
	t.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("read the relay's memory: %v", err)
	}
	for line := range strings.SplitSeq(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kb int64
			if _, err := fmt.Sscanf(strings.TrimSpace(rest), "%d kB", &kb); err != nil {
				t.Fatalf("VmRSS %q: %v", rest, err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmRSS in /proc status")
	return 0
}

// On Kafka, a broker that stops answering under load (every request's
// connection closed, as a broker going away does; kfake keeps its log, so
// what was stored survives, like a restarted broker's disk): ingest answers
// 503, no event answered 503 after the outage began is stored, and every
// event answered 202 is delivered once the broker is back, without a restart.
func TestKafkaBrokerOutageLosesNothingAndStoresNoRefusal(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: a Kafka broker out under load")
	}
	sim := teamstest.NewServer(teamstest.WithLimits(nil))
	defer sim.Close()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(0))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	const dests = 2
	r := startRelay(t, writeConfig(t, t.TempDir(),
		fmt.Sprintf("queue: {kind: kafka, brokers: [%q]}\n", cluster.ListenAddrs()[0])+fastDestinations(sim, dests)))

	ctx := context.Background()
	l := startLoad(ctx, func() []*relay { return []*relay{r} }, dests, 5000, 10*time.Millisecond)
	l.waitCount(t, http.StatusAccepted, 50, time.Now(), 60*time.Second)
	var down atomic.Bool
	down.Store(true)
	cluster.Control(func(kmsg.Request) (kmsg.Response, error, bool) {
		if !down.Load() {
			cluster.DropControl()
			return nil, nil, false
		}
		cluster.KeepControl()
		return nil, errors.New("broker out"), true
	})
	stopped := time.Now()
	// Each refusal waits out publish_timeout (5 s): the client cannot tell an
	// outage from a slow broker.
	l.waitCount(t, http.StatusServiceUnavailable, 5, stopped, time.Minute)
	down.Store(false)
	restored := time.Now()
	l.waitCount(t, http.StatusAccepted, 50, restored, time.Minute)
	l.halt()
	t.Logf("first 202 %v after the broker came back", firstAfter(l, http.StatusAccepted, restored))

	code, err := send(ctx, http.DefaultClient, r.ingest, `{"d":0,"marker":"sentinelzz"}`)
	if err != nil || code != http.StatusAccepted {
		t.Fatalf("sentinel: %d %v", code, err)
	}
	accepted := append(l.markers(http.StatusAccepted), "sentinelzz")
	if missing := waitMarkers(sim, destPaths(dests), accepted, 2*time.Minute); len(missing) > 0 {
		t.Fatalf("%d of %d events answered 202 were never delivered, e.g. %v", len(missing), len(accepted), missing[:min(5, len(missing))])
	}
	delivered := deliveredMarkers(sim, dests)
	refused, inFlight := 0, 0
	l.mu.Lock()
	for _, a := range l.answers {
		if a.code != http.StatusServiceUnavailable {
			continue
		}
		refused++
		if !delivered[a.marker] {
			continue
		}
		// A write in flight as the broker went or came back may be stored
		// while its answer was lost or late: Kafka's ambiguity, and the
		// vendor's retry is a duplicate of its ID. Its deadline
		// (publish_timeout, 5 s) tells whether it was.
		if a.began.Before(stopped) || a.began.Add(5*time.Second).After(restored) {
			inFlight++
			continue
		}
		t.Errorf("event %s was answered 503 (request began %v after the outage began, ended before it did) and delivered anyway",
			a.marker, a.began.Sub(stopped))
	}
	l.mu.Unlock()
	t.Logf("%d answered 503; %d of them in flight as the outage began or ended were stored", refused, inFlight)
}
