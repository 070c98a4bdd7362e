package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/internal/config"
	"github.com/hookrelay/hookrelay/internal/natstest"
	"github.com/hookrelay/hookrelay/internal/teamstest"
)

// BenchmarkWholePath measures events/s through the whole relay in one
// process, as `hookrelay serve` runs it: HTTP POST to ingest, RELAY_IN on the
// embedded JetStream, transform (generic mapping to a MessageCard),
// RELAY_OUT, dispatch, and the Teams simulator (no latency, no limits).
// 100 sources each route to their own destination (no rate limit worth the
// name, no digests); 64 clients post the events round-robin over the sources.
//
// Reported: end-to-end events/s (events ÷ first POST to the last event's
// arrival), the rate ingest answered 202, and the steady arrival rate at the
// simulator (10th to 90th percentile of arrivals). HOOKRELAY_BENCH_EVENTS
// sets the number of events (default 5000), HOOKRELAY_BENCH_SOURCES the
// sources and destinations (default 100), HOOKRELAY_BENCH_CLUSTER=N runs
// the store as N nats-server processes, the streams with N replicas (default:
// the embedded server); see docs/BENCHMARKS.md.
//
//	go test -run '^$' -bench 'WholePath$' -benchtime 1x ./cmd/hookrelay/
func BenchmarkWholePath(b *testing.B) { benchOnePath(b, wholePath) }

// BenchmarkBareRelay runs the bare relay of startBareRelay alone, as
// BenchmarkWholePath runs hookrelay, with the same settings and reports:
// a CPU profile of it is the baseline a profile of hookrelay's is read
// against (docs/BENCHMARKS.md). Ratios of rates come from
// BenchmarkWholePathVsBare, which alternates the two.
//
//	HOOKRELAY_BENCH_EVENTS=20000 go test -run '^$' -bench 'BareRelay$' -benchtime 1x -cpuprofile bare.prof ./cmd/hookrelay/
func BenchmarkBareRelay(b *testing.B) { benchOnePath(b, barePath) }

// benchOnePath runs path b.N times with the settings from the environment
// (see BenchmarkWholePath) and reports its mean rates.
func benchOnePath(b *testing.B, path func(b *testing.B, cluster, sources, clients, events int) benchRates) {
	const clients = 64
	events := benchEnv(b, "HOOKRELAY_BENCH_EVENTS", 5000)
	sources := benchEnv(b, "HOOKRELAY_BENCH_SOURCES", 100)
	cluster := benchEnv(b, "HOOKRELAY_BENCH_CLUSTER", 0) // 0: the embedded server
	var endToEnd, ingested, steady float64
	for range b.N {
		r := path(b, cluster, sources, clients, events)
		endToEnd, ingested, steady = endToEnd+r.endToEnd, ingested+r.ingested, steady+r.steady
	}
	n := float64(b.N)
	b.ReportMetric(endToEnd/n, "events/s")
	b.ReportMetric(ingested/n, "ingest-202/s")
	b.ReportMetric(steady/n, "steady-arrivals/s")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkWholePathVsBare measures hookrelay's whole path (as
// BenchmarkWholePath, with 100 and with 1000 sources each routed to its own
// destination) against the bare relay of startBareRelay, the baseline of
// issue 13, under the same load and receiver. The two alternate in the same
// run — bare, hookrelay, bare, hookrelay, … — so that a noisy machine weighs
// on both alike; each run starts on a fresh store. Every event ingest
// accepted must arrive at the simulator, or the benchmark fails.
//
// Reported: each one's mean end-to-end events/s and the ratio of the means
// (hookrelay ÷ bare); each round is logged. HOOKRELAY_BENCH_ROUNDS sets
// the number of rounds (default 3), HOOKRELAY_BENCH_EVENTS the events per run
// (default 5000), HOOKRELAY_BENCH_CLUSTER=N puts both on N nats-server
// processes, a fresh cluster for each run, their streams with N replicas.
//
//	go test -run '^$' -bench WholePathVsBare -benchtime 1x ./cmd/hookrelay/
func BenchmarkWholePathVsBare(b *testing.B) {
	const clients = 64
	events := benchEnv(b, "HOOKRELAY_BENCH_EVENTS", 5000)
	rounds := benchEnv(b, "HOOKRELAY_BENCH_ROUNDS", 3)
	cluster := benchEnv(b, "HOOKRELAY_BENCH_CLUSTER", 0) // 0: the embedded server
	for _, dests := range []int{100, 1000} {
		b.Run(fmt.Sprintf("destinations=%d", dests), func(b *testing.B) {
			var relay, bare float64
			for range b.N {
				for round := range rounds {
					br := barePath(b, cluster, dests, clients, events)
					rr := wholePath(b, cluster, dests, clients, events)
					b.Logf("round %d: bare %.0f events/s (ingest %.0f/s), hookrelay %.0f events/s (ingest %.0f/s): %.2f×",
						round+1, br.endToEnd, br.ingested, rr.endToEnd, rr.ingested, rr.endToEnd/br.endToEnd)
					relay, bare = relay+rr.endToEnd, bare+br.endToEnd
				}
			}
			n := float64(b.N * rounds)
			b.ReportMetric(relay/n, "relay_events/s")
			b.ReportMetric(bare/n, "bare_events/s")
			b.ReportMetric(relay/bare, "ratio")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// benchEnv reads a positive integer from the environment variable name, or
// returns def when it is unset.
func benchEnv(b *testing.B, name string, def int) int {
	b.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		b.Fatalf("%s: want a positive integer, got %q", name, v)
	}
	return n
}

// startBenchCluster starts a fresh cluster of size nats-server processes on
// 127.0.0.1 and waits until JetStream answers. It returns the cluster's URLs
// and a function that kills it, which a run calls once done so that the
// next run's cluster does not share the cores with an idle one.
func startBenchCluster(b *testing.B, size int) (url string, stop func()) {
	b.Helper()
	nodes := natstest.StartProcessCluster(b, size)
	stop = func() {
		for _, n := range nodes {
			n.Kill()
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	natstest.WaitJetStream(ctx, b, natstest.URLs(nodes))
	return natstest.URLs(nodes), stop
}

// benchRates are one run's rates in events/s: end to end (events ÷ first POST
// to the last event's first arrival), ingest's 202s, and the steady arrival
// rate at the receiver (10th to 90th percentile of first arrivals).
type benchRates struct{ endToEnd, ingested, steady float64 }

// wholePath runs serve on a fresh data dir with sources, each routed to a
// destination of its own on the Teams simulator, posts the events and waits
// until each arrived. The store is the embedded JetStream when cluster is 0,
// else a fresh cluster of that many nats-server processes, the streams with
// as many replicas.
func wholePath(b *testing.B, cluster, sources, clients, events int) benchRates {
	b.Helper()
	store := ""
	if cluster > 0 {
		url, stop := startBenchCluster(b, cluster)
		defer stop()
		store = fmt.Sprintf("nats: {url: %q, replicas: %d}\n", url, cluster)
	}
	sim := teamstest.NewHandler(teamstest.WithLimits(nil))
	simSrv := httptest.NewServer(sim)
	defer simSrv.Close()

	var y strings.Builder
	fmt.Fprintf(&y, "listen: 127.0.0.1:0\nadmin_listen: 127.0.0.1:0\ndata_dir: %s\n%ssources:\n", b.TempDir(), store)
	for i := range sources {
		fmt.Fprintf(&y, "  - {name: s%03d, verify: {scheme: token, secret: s3cret}}\n", i)
	}
	y.WriteString("destinations:\n")
	for i := range sources {
		fmt.Fprintf(&y, "  - {name: d%03d, url: %q, format: messagecard, rate: 1000000, burst: 1000000, limits: none, digest: false, allow_private: true}\n",
			i, fmt.Sprintf("%s/d%03d", simSrv.URL, i))
	}
	y.WriteString("routes:\n")
	for i := range sources {
		fmt.Fprintf(&y, "  - {source: s%03d, to: [d%03d]}\n", i, i)
	}
	cfg, err := config.Parse([]byte(y.String()))
	if err != nil {
		b.Fatalf("config: %v", err)
	}

	addrs := make(chan [2]string, 4)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, configSource{}, "all", slog.New(listenerLog{addrs})) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				b.Errorf("serve: %v", err)
			}
		case <-time.After(time.Minute):
			b.Errorf("serve did not stop within a minute")
		}
	}()
	var ingest string
	for ingest == "" {
		select {
		case a := <-addrs:
			if a[0] == "ingest" {
				ingest = "http://" + a[1]
			}
		case err := <-done:
			b.Fatalf("serve stopped during start-up: %v", err)
		case <-time.After(time.Minute):
			b.Fatal("serve did not report its ingest listener within a minute")
		}
	}
	return benchDrive(b, sim, ingest, sources, clients, events)
}

// barePath runs the bare relay with the Teams simulator as its receiver,
// posts the events and waits until each arrived. Its store is as
// wholePath's.
func barePath(b *testing.B, cluster, sources, clients, events int) benchRates {
	b.Helper()
	url := ""
	if cluster > 0 {
		var stopCluster func()
		url, stopCluster = startBenchCluster(b, cluster)
		defer stopCluster()
	}
	sim := teamstest.NewHandler(teamstest.WithLimits(nil))
	simSrv := httptest.NewServer(sim)
	defer simSrv.Close()
	ingest, stop := startBareRelay(b, simSrv.URL, url, max(cluster, 1))
	defer stop()
	return benchDrive(b, sim, ingest, sources, clients, events)
}

// benchDrive posts the events from clients round-robin over the sources to
// ingest (ingest/hooks/sNNN/s3cret), then waits, 10 minutes at most, until
// the simulator accepted a card for each. It fails unless ingest answered 202
// to every event and every one of them arrived.
func benchDrive(b *testing.B, sim *teamstest.Handler, ingest string, sources, clients, events int) benchRates {
	b.Helper()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}, Timeout: 30 * time.Second}
	defer client.CloseIdleConnections()
	var next, failed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range clients {
		wg.Go(func() {
			for n := int(next.Add(1)) - 1; n < events; n = int(next.Add(1)) - 1 {
				url := fmt.Sprintf("%s/hooks/s%03d/s3cret", ingest, n%sources)
				body := fmt.Sprintf(`{"title":"build %d finished","status":"passed","branch":"main","duration_s":42,"n":%d}`, n, n)
				if !benchPost(client, url, body) {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	ingestTime := time.Since(start)
	if f := failed.Load(); f > 0 {
		b.Fatalf("ingest: %d of %d events not answered 202", f, events)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	// A card can arrive twice (at least once): wait for as many as there
	// are events, then for more while some event has not arrived.
	want := events
	var first []time.Time
	for {
		err := sim.WaitAccepted(ctx, "", want)
		got := sim.Accepted("")
		first = benchFirstArrivals(b, got, events)
		if len(first) == events {
			break
		}
		if err != nil {
			b.Fatalf("%d of %d accepted events never arrived at the simulator: %v", events-len(first), events, err)
		}
		want = len(got) + 1
	}
	if got := len(sim.Received("")); got != events {
		b.Logf("the simulator received %d requests for %d events", got, events)
	}
	slices.SortFunc(first, time.Time.Compare)
	return benchRates{
		endToEnd: float64(events) / first[len(first)-1].Sub(start).Seconds(),
		ingested: float64(events) / ingestTime.Seconds(),
		steady:   benchSteadyRate(first),
	}
}

// eventNumber finds the number of the event a card was made from: its title,
// "build N finished", appears in hookrelay's card and in the bare relay's.
var eventNumber = regexp.MustCompile(`build (\d+) finished`)

// benchFirstArrivals returns the time each distinct event of 0..events-1
// first arrived in rs; a card naming no such event fails the benchmark.
func benchFirstArrivals(b *testing.B, rs []teamstest.Received, events int) []time.Time {
	b.Helper()
	first := make(map[int]time.Time, events)
	for _, r := range rs {
		m := eventNumber.FindSubmatch(r.Body)
		n := -1
		if m != nil {
			n, _ = strconv.Atoi(string(m[1]))
		}
		if n < 0 || n >= events {
			b.Fatalf("a card at %s names no event posted: %.200s", r.Path, r.Body)
		}
		if at, ok := first[n]; !ok || r.At.Before(at) {
			first[n] = r.At
		}
	}
	return slices.Collect(maps.Values(first))
}

// benchPost posts one event and reports whether ingest answered 202.
func benchPost(client *http.Client, url, body string) bool {
	resp, err := client.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode == http.StatusAccepted
}

// listenerLog is a slog handler that passes on the addresses serve reports
// listening on ("listening", listener, addr) and drops everything else.
type listenerLog struct{ addrs chan<- [2]string }

func (listenerLog) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }

func (h listenerLog) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "listening" {
		return nil
	}
	var a [2]string
	r.Attrs(func(at slog.Attr) bool {
		switch at.Key {
		case "listener":
			a[0] = at.Value.String()
		case "addr":
			a[1] = at.Value.String()
		}
		return true
	})
	select {
	case h.addrs <- a:
	default:
	}
	return nil
}

func (h listenerLog) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h listenerLog) WithGroup(string) slog.Handler      { return h }

// benchSteadyRate is arrivals per second between the 10th and 90th percentile
// of sorted arrival times: the rate once running, without start-up and tail.
func benchSteadyRate(at []time.Time) float64 {
	lo, hi := len(at)/10, len(at)*9/10
	if hi <= lo || !at[hi].After(at[lo]) {
		return 0
	}
	return float64(hi-lo) / at[hi].Sub(at[lo]).Seconds()
}
