package dispatch_test

// Benchmarks of dispatch against the Teams simulator on a real JetStream
// and, for throughput and the saturated destination, on Kafka too (kfake,
// in-process, on 127.0.0.1): those two are tables over benchStores.
// Each measurement takes seconds to minutes, so every benchmark runs it once
// per b.N and reports its own metrics (deliveries/s, ratios, bytes per
// destination); ns/op means nothing here and is suppressed. How to run them,
// and what they measured, is in docs/BENCHMARKS.md:
//
//	go test -run '^$' -bench . -benchtime 1x ./dispatch/
//	go test -run '^$' -bench 'Throughput|Saturated/kafka' -benchtime 1x ./dispatch/

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookrelay/hookrelay/dispatch"
	"github.com/hookrelay/hookrelay/internal/config"
	"github.com/hookrelay/hookrelay/internal/kafkatest"
	"github.com/hookrelay/hookrelay/internal/natsembed"
	"github.com/hookrelay/hookrelay/internal/natstest"
	"github.com/hookrelay/hookrelay/internal/queue"
	"github.com/hookrelay/hookrelay/internal/queue/jsqueue"
	"github.com/hookrelay/hookrelay/internal/queue/kafkaqueue"
	"github.com/hookrelay/hookrelay/internal/teamstest"
	"github.com/hookrelay/hookrelay/schemas"
)

// benchStore is a queue implementation the benchmarks run on; open starts an
// empty store, stopped when the benchmark ends, and returns a queue on it and
// a bare consumer of its out stream.
type benchStore struct {
	name string
	open func(b *testing.B) (queue.Queue, bareConsumer)
}

// bareConsumer reads what is stored on the out stream with the store's own
// client, as a relay without hookrelay's machinery would: one consumer for
// all destinations, handing each record's data to handle with a settle to
// call once it is delivered. It reads until ctx ends, or returns what kept it
// from reading.
type bareConsumer func(ctx context.Context, handle func(data []byte, settle func())) error

func benchStores() []benchStore {
	return []benchStore{
		{"jetstream", func(b *testing.B) (queue.Queue, bareConsumer) {
			env := natstest.Start(b)
			return env.Queue(b), func(ctx context.Context, handle func([]byte, func())) error {
				return bareJetStream(ctx, env.JS, handle)
			}
		}},
		{"kafka", func(b *testing.B) (queue.Queue, bareConsumer) {
			env := kafkatest.Start(b)
			const prefix = "bench."
			q := env.Queue(b, kafkaqueue.Options{TopicPrefix: prefix})
			return q, func(ctx context.Context, handle func([]byte, func())) error {
				// The out stream's topic, as kafkaqueue's doc names it.
				return bareKafka(ctx, env.Brokers(), prefix+"out", handle)
			}
		}},
	}
}

// bareJetStream reads RELAY_OUT with one durable consumer, each message
// acked (and so, on the work queue, removed) once settled.
func bareJetStream(ctx context.Context, js jetstream.JetStream, handle func([]byte, func())) error {
	cons, err := js.CreateOrUpdateConsumer(ctx, queue.StreamOut, jetstream.ConsumerConfig{
		Durable: "bare", AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: -1,
	})
	if err != nil {
		return fmt.Errorf("create consumer on %s: %w", queue.StreamOut, err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		handle(m.Data(), func() { _ = m.Ack() })
	})
	if err != nil {
		return fmt.Errorf("consume %s: %w", queue.StreamOut, err)
	}
	<-ctx.Done()
	cc.Stop()
	return nil
}

// bareKafka reads topic with one consumer-group member, committing the
// offsets of settled records (franz-go's marks, committed every 5 s).
func bareKafka(ctx context.Context, brokers []string, topic string, handle func([]byte, func())) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumerGroup("bench.bare"),
		kgo.ConsumeTopics(topic), kgo.AutoCommitMarks())
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	for ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) {
			handle(r.Value, func() { cl.MarkCommitRecords(r) })
		})
	}
	return nil
}

// BenchmarkThroughput1000Destinations measures aggregate deliveries/s to 1000
// destinations on a simulator without latency or limits, against a baseline
// of the same POSTs sent straight from 1000 goroutines (with a pooled
// connection per goroutine, and with at most 4 idle connections kept per
// host as dispatch's client does). Rates are read from
// the simulator's arrival times between the 10th and 90th percentile, so
// start-up (1000 consumers) and the tail do not count.
//
// HOOKRELAY_BENCH_PER_DEST sets deliveries per destination (default 20).
func BenchmarkThroughput1000Destinations(b *testing.B) {
	const dests = 1000
	perDest := envInt(b, "HOOKRELAY_BENCH_PER_DEST", 20)
	for _, st := range benchStores() {
		b.Run(st.name, func(b *testing.B) {
			var relay, direct, direct4, bare float64
			for range b.N {
				// The machine may be shared: the baselines are taken before
				// and after the relay's run, and averaged.
				direct += postDirect(b, dests, perDest, dests) / 2
				bare += bareThroughput(b, st, dests, perDest) / 2
				direct4 += postDirect(b, dests, perDest, 4)
				q, _ := st.open(b)
				relay += relayThroughput(b, q, dests, perDest)
				bare += bareThroughput(b, st, dests, perDest) / 2
				direct += postDirect(b, dests, perDest, dests) / 2
			}
			n := float64(b.N)
			b.ReportMetric(relay/n, "deliveries/s")
			b.ReportMetric(direct/n, "direct-posts/s")
			b.ReportMetric(direct4/n, "direct-4idle-posts/s")
			b.ReportMetric(bare/n, "bare-relay/s")
			b.ReportMetric(relay/direct, "relay/direct")
			b.ReportMetric(relay/bare, "relay/bare")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// postDirect sends perDest cards from each of dests goroutines straight to a
// fresh simulator, with at most idlePerHost pooled connections, and returns
// the steady rate the simulator saw.
func postDirect(b *testing.B, dests, perDest, idlePerHost int) float64 {
	b.Helper()
	h := teamstest.NewHandler(teamstest.WithLimits(nil))
	srv := httptest.NewServer(h)
	defer srv.Close()
	tr := &http.Transport{MaxIdleConns: dests, MaxIdleConnsPerHost: idlePerHost}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	var failed atomic.Int64
	var wg sync.WaitGroup
	for i := range dests {
		url := fmt.Sprintf("%s/d%04d", srv.URL, i)
		wg.Go(func() {
			for n := range perDest {
				if !postCard(client, url, card(n)) {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if f := failed.Load(); f > 0 {
		b.Fatalf("direct POSTs: %d of %d not accepted", f, dests*perDest)
	}
	return steadyRate(arrivals(h.Accepted("")))
}

// bareThroughput stores perDest deliveries for each of dests destinations on
// a fresh store, as relayThroughput does, then delivers them with the store's
// bare consumer: each record decoded and handed to its destination's
// goroutine, which POSTs the card (pooled connections, as the direct
// baseline) and settles the record. No budget, breaker, retry or status:
// what is left is the store's reads and acks plus HTTP, so relay ÷ bare is
// hookrelay's share. Returns the steady rate the simulator saw.
func bareThroughput(b *testing.B, st benchStore, dests, perDest int) float64 {
	b.Helper()
	q, consume := st.open(b)
	h := teamstest.NewHandler(teamstest.WithLimits(nil))
	srv := httptest.NewServer(h)
	defer srv.Close()
	all := acceptedAll(b, h, dests*perDest)
	names := make([]string, dests)
	for i := range names {
		names[i] = fmt.Sprintf("d%04d", i)
	}
	preload(b, q, names, perDest)

	tr := &http.Transport{MaxIdleConns: dests, MaxIdleConnsPerHost: dests}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	type job struct {
		card   []byte
		settle func()
	}
	queues := map[string]chan job{}
	for _, name := range names {
		ch := make(chan job, perDest)
		queues[name] = ch
		wg.Go(func() {
			for {
				select {
				case j := <-ch:
					if postCard(client, srv.URL+"/"+name, j.card) {
						j.settle()
					}
				case <-ctx.Done():
					return
				}
			}
		})
	}
	var failed atomic.Int64
	consumeErr := make(chan error, 1)
	wg.Go(func() {
		consumeErr <- consume(ctx, func(data []byte, settle func()) {
			var dl schemas.Delivery
			if err := json.Unmarshal(data, &dl); err != nil || queues[dl.Destination] == nil {
				failed.Add(1)
				return
			}
			select {
			case queues[dl.Destination] <- job{dl.Card, settle}:
			case <-ctx.Done():
			}
		})
	})
	select {
	case <-all:
	case err := <-consumeErr:
		b.Fatalf("bare: consumer stopped after %d of %d deliveries: %v", len(h.Accepted("")), dests*perDest, err)
	case <-time.After(10 * time.Minute):
		b.Fatalf("bare: %d of %d deliveries accepted after 10 minutes", len(h.Accepted("")), dests*perDest)
	}
	if f := failed.Load(); f > 0 {
		b.Fatalf("bare: %d records not deliveries of the benchmark's destinations", f)
	}
	return steadyRate(arrivals(h.Accepted("")))
}

// postCard POSTs one card and reports whether the simulator accepted it.
func postCard(client *http.Client, url string, body []byte) bool {
	resp, err := client.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	return resp.StatusCode == http.StatusOK && string(got) == "1"
}

// relayThroughput stores perDest deliveries for each of dests destinations
// on q, runs a dispatcher until the simulator accepted them all, and returns
// the steady rate the simulator saw.
func relayThroughput(b *testing.B, q queue.Queue, dests, perDest int) float64 {
	b.Helper()
	h := teamstest.NewHandler(teamstest.WithLimits(nil))
	srv := httptest.NewServer(h)
	defer srv.Close()
	all := acceptedAll(b, h, dests*perDest)
	var ds []config.Destination
	var names []string
	for i := range dests {
		d := benchDest(srv.URL, fmt.Sprintf("d%04d", i), func(d *config.Destination) {
			// No budget worth the name: the relay's own overhead is measured.
			d.Rate, d.Burst, d.Limits = 1e6, 1e6, config.Limits{}
		})
		ds = append(ds, d)
		names = append(names, d.Name)
	}
	preload(b, q, names, perDest)
	r := runDispatcher(b, q, ds)
	defer r.stop()
	select {
	case <-all:
	case <-r.exited:
		b.Fatalf("relay: dispatcher stopped after %d of %d deliveries: %v", len(h.Accepted("")), dests*perDest, r.err)
	case <-time.After(10 * time.Minute):
		b.Fatalf("relay: %d of %d deliveries accepted after 10 minutes", len(h.Accepted("")), dests*perDest)
	}
	if got := len(h.Received("")); got != dests*perDest {
		b.Logf("relay: the simulator received %d requests for %d deliveries", got, dests*perDest)
	}
	return steadyRate(arrivals(h.Accepted("")))
}

// BenchmarkSaturatedDestination keeps one destination (rate 4/s, burst 1,
// limit 4 in any 1 s) saturated with a backlog and reports achieved ÷ allowed
// arrivals over a window starting at the first arrival, measured by the
// simulator, which enforces the same limit. Also reported: the most requests
// the simulator saw in any 1 s, and how many it refused (both must stay at
// most 4 and 0).
//
// HOOKRELAY_BENCH_SATURATE sets the window (default 15s; 2m for the full run).
func BenchmarkSaturatedDestination(b *testing.B) {
	window := envDuration(b, "HOOKRELAY_BENCH_SATURATE", 15*time.Second)
	for _, st := range benchStores() {
		b.Run(st.name, func(b *testing.B) {
			var ratio float64
			var maxIn, refused int
			for range b.N {
				q, _ := st.open(b)
				r, m, n := saturate(b, q, window)
				ratio += r
				maxIn = max(maxIn, m)
				refused += n
			}
			b.ReportMetric(ratio/float64(b.N), "achieved/allowed")
			b.ReportMetric(float64(maxIn), "max-in-1s")
			b.ReportMetric(float64(refused), "refused")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// saturate runs one saturated destination on q for window from its first
// arrival and returns achieved ÷ allowed arrivals, the most the simulator saw
// in any 1 s and how many it refused.
func saturate(b *testing.B, q queue.Queue, window time.Duration) (ratio float64, maxIn, refused int) {
	b.Helper()
	limit := teamstest.Limit{Per: time.Second, Max: 4}
	sim := teamstest.NewServer(teamstest.WithLimits([]teamstest.Limit{limit}))
	defer sim.Close()
	d := benchDest(sim.URL, "busy", func(d *config.Destination) {
		d.Rate, d.Burst, d.Limits = 4, 1, config.Limits{{Per: limit.Per, Max: limit.Max}}
	})
	allowed := float64(limit.Max) * window.Seconds() / limit.Per.Seconds()
	preload(b, q, []string{d.Name}, int(allowed)+40)
	r := runDispatcher(b, q, []config.Destination{d})

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	err := sim.WaitAccepted(ctx, "/busy", 1)
	cancel()
	if err != nil {
		b.Fatal(err)
	}
	t0 := sim.Accepted("/busy")[0].At
	end := t0.Add(window)
	// The window is the measurement, not a synchronisation: wait it out.
	<-time.After(time.Until(end) + 100*time.Millisecond)
	r.stop()

	in := 0
	for _, r := range sim.Received("/busy") {
		if r.At.Before(end) {
			in++
		}
		if !r.Accepted {
			refused++
		}
	}
	return float64(in) / allowed, sim.MaxInWindow("/busy", limit.Per), refused
}

// BenchmarkIdleDestinations measures what idle destinations cost once the
// dispatcher settled: Go heap in use and goroutines per destination, the
// time to set up their consumers, and the CPU the process spends idling.
// With nats=child the JetStream server runs in a child process, so the heap
// is the dispatcher's (and the NATS client's) alone, and the server's
// resident memory per consumer is reported from /proc when available; with
// nats=in-process it shares the process, as in `hookrelay serve`.
//
// HOOKRELAY_BENCH_IDLE lists the sizes (default "1000,10000").
func BenchmarkIdleDestinations(b *testing.B) {
	var sizes []int
	for _, s := range strings.Split(envString("HOOKRELAY_BENCH_IDLE", "1000,10000"), ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			b.Fatalf("HOOKRELAY_BENCH_IDLE: %q is not a positive count", s)
		}
		sizes = append(sizes, n)
	}
	for _, where := range []string{"child", "in-process"} {
		for _, n := range sizes {
			b.Run(fmt.Sprintf("nats=%s/n=%d", where, n), func(b *testing.B) {
				for range b.N {
					measureIdle(b, where, n)
				}
			})
		}
	}
}

func measureIdle(b *testing.B, where string, n int) {
	b.Helper()
	var q queue.Queue
	serverPID := "self"
	if where == "child" {
		q, serverPID = childNATS(b)
	} else {
		q = natstest.Start(b).Queue(b)
	}
	sim := teamstest.NewServer()
	defer sim.Close()
	ds := make([]config.Destination, n)
	for i := range ds {
		ds[i] = benchDest(sim.URL, fmt.Sprintf("idle%05d", i))
	}

	heap0, g0 := settledHeap(), runtime.NumGoroutine()
	rss0 := residentBytes(serverPID)
	start := time.Now()
	r := runDispatcher(b, q, ds)
	defer r.stop()
	waitStarted(b, r, 15*time.Minute)
	setup := time.Since(start)
	// Let every worker issue its first pull request before measuring.
	<-time.After(3 * time.Second)
	heap1, g1 := settledHeap(), runtime.NumGoroutine()

	const idleFor = 10 * time.Second
	cpu0, serverCPU0 := cpuSeconds("self"), cpuSeconds(serverPID)
	<-time.After(idleFor)
	cpu, serverCPU := cpuSeconds("self")-cpu0, cpuSeconds(serverPID)-serverCPU0

	b.ReportMetric(float64(int64(heap1)-int64(heap0))/float64(n), "heap-B/dest")
	b.ReportMetric(float64(g1-g0)/float64(n), "goroutines/dest")
	b.ReportMetric(setup.Seconds(), "setup-s")
	if cpu0 >= 0 {
		b.ReportMetric(100*cpu/idleFor.Seconds(), "idle-cpu-%")
	}
	if serverPID != "self" {
		if serverCPU0 >= 0 {
			b.ReportMetric(100*serverCPU/idleFor.Seconds(), "nats-idle-cpu-%")
		}
		if rss1 := residentBytes(serverPID); rss0 > 0 && rss1 > 0 {
			b.ReportMetric(float64(rss1-rss0)/float64(n), "nats-rss-B/dest")
		}
	}
	b.ReportMetric(0, "ns/op")
}

// settledHeap returns the bytes of heap in use after two collections.
func settledHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// cpuSeconds returns the user and system CPU time a process ("self" or a
// pid) used so far, from /proc, or -1 where /proc is unavailable. Linux counts
// it in ticks of 1/100 s (USER_HZ).
func cpuSeconds(pid string) float64 {
	data, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return -1
	}
	// Fields after the command name, which may hold spaces: state is the
	// first, utime and stime the 12th and 13th.
	_, rest, ok := strings.Cut(string(data), ") ")
	f := strings.Fields(rest)
	if !ok || len(f) < 13 {
		return -1
	}
	user, err1 := strconv.ParseInt(f[11], 10, 64)
	sys, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return -1
	}
	return float64(user+sys) / 100
}

// waitStarted polls the dispatcher's status until it dispatches every
// destination (a single instance owns each once its consumer runs): there is
// no signal for a consumer started by another goroutine.
// A dispatcher that stops meanwhile (say, a consumer it could not create)
// fails the benchmark at once.
func waitStarted(b *testing.B, r *running, within time.Duration) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		st, err := r.d.Status(ctx)
		owned := 0
		for _, s := range st {
			if s.Owned {
				owned++
			}
		}
		if err == nil && owned == len(st) {
			return
		}
		select {
		case <-ctx.Done():
			b.Fatalf("the dispatcher owns %d of %d destinations after %v (last error: %v)", owned, len(st), within, err)
		case <-r.exited:
			b.Fatalf("dispatcher stopped before it owned every destination: %v", r.err)
		case <-tick.C:
		}
	}
}

// childNATS starts JetStream in a child process (this test binary, in
// TestBenchNATSProcess) and returns a queue on it and the child's pid.
func childNATS(b *testing.B) (queue.Queue, string) {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestBenchNATSProcess$")
	cmd.Env = append(os.Environ(), "HOOKRELAY_BENCH_NATS_DIR="+b.TempDir())
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatalf("start NATS child process: %v", err)
	}
	b.Cleanup(func() {
		stdin.Close() // the child shuts its server down on EOF
		_ = cmd.Wait()
	})
	var url string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if u, ok := strings.CutPrefix(sc.Text(), "nats-url "); ok {
			url = u
			break
		}
	}
	if url == "" {
		b.Fatal("NATS child process did not report its URL")
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	nc, err := nats.Connect(url)
	if err != nil {
		b.Fatalf("connect to %s: %v", url, err)
	}
	q, err := jsqueue.New(context.Background(), nc, queue.StreamOptions{})
	if err != nil {
		nc.Close()
		b.Fatalf("open queue: %v", err)
	}
	// Registered after the child's cleanup, so it runs before it.
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = q.Close(ctx)
	})
	return q, strconv.Itoa(cmd.Process.Pid)
}

// residentBytes reads VmRSS of a process ("self" or a pid) from /proc, or
// returns 0.
func residentBytes(pid string) int64 {
	data, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(data)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}

// TestBenchNATSProcess is the child process of childNATS, not a test: it
// runs JetStream until its stdin closes.
func TestBenchNATSProcess(t *testing.T) {
	dir := os.Getenv("HOOKRELAY_BENCH_NATS_DIR")
	if dir == "" {
		t.Skip("the NATS child process of BenchmarkIdleDestinations")
	}
	srv, err := natsembed.Start(natsembed.Options{StoreDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	fmt.Printf("nats-url %s\n", srv.ClientURL())
	_, _ = io.Copy(io.Discard, os.Stdin)
}

// BenchmarkIsolation measures delivery latency (publish to arrival at the
// simulator) of 100 healthy destinations, each sent one delivery per second,
// without and then with 5 sick destinations under the same load: one in
// outage (500), one throttled (429), one answering after 20 s (timeout 25 s),
// one removed (410) and one whose port refuses connections.
//
// HOOKRELAY_BENCH_ISOLATION sets how long deliveries are published in each
// run (default 20s).
func BenchmarkIsolation(b *testing.B) {
	run := envDuration(b, "HOOKRELAY_BENCH_ISOLATION", 20*time.Second)
	var calm, sick []time.Duration
	for range b.N {
		calm = append(calm, healthyLatencies(b, run, false)...)
		sick = append(sick, healthyLatencies(b, run, true)...)
	}
	c50, c99 := percentile(calm, 0.50), percentile(calm, 0.99)
	s50, s99 := percentile(sick, 0.50), percentile(sick, 0.99)
	b.ReportMetric(ms(c50), "calm-p50-ms")
	b.ReportMetric(ms(c99), "calm-p99-ms")
	b.ReportMetric(ms(s50), "sick-p50-ms")
	b.ReportMetric(ms(s99), "sick-p99-ms")
	b.ReportMetric(ms(s50)/ms(c50), "p50-sick/calm")
	b.ReportMetric(ms(s99)/ms(c99), "p99-sick/calm")
	b.ReportMetric(0, "ns/op")
}

func healthyLatencies(b *testing.B, run time.Duration, withSick bool) []time.Duration {
	b.Helper()
	env := natstest.Start(b)
	limit := teamstest.Limit{Per: time.Second, Max: 4}
	sim := teamstest.NewServer(teamstest.WithLimits([]teamstest.Limit{limit}))
	defer sim.Close()
	budget := func(d *config.Destination) {
		d.Rate, d.Burst, d.Limits = 4, 1, config.Limits{{Per: limit.Per, Max: limit.Max}}
	}
	var ds []config.Destination
	for i := range 100 {
		ds = append(ds, benchDest(sim.URL, fmt.Sprintf("ok%03d", i), budget))
	}
	if withSick {
		sim.SetFault(teamstest.Fault{Path: "/sick-outage", Status: http.StatusInternalServerError})
		sim.SetFault(teamstest.Fault{Path: "/sick-throttled", Status: http.StatusTooManyRequests})
		sim.SetFault(teamstest.Fault{Path: "/sick-slow", Latency: 20 * time.Second})
		sim.Remove("/sick-gone")
		ds = append(ds,
			benchDest(sim.URL, "sick-outage", budget),
			benchDest(sim.URL, "sick-throttled", budget),
			benchDest(sim.URL, "sick-slow", budget, func(d *config.Destination) { d.Timeout = 25 * time.Second }),
			benchDest(sim.URL, "sick-gone", budget),
			benchDest(refusingURL(b), "sick-unreachable", budget),
		)
	}
	q := env.Queue(b)
	r := runDispatcher(b, q, ds)
	defer r.stop()
	waitStarted(b, r, time.Minute)

	// One delivery per destination per second, spread evenly over the second.
	ctx := context.Background()
	sent := map[string]time.Time{}
	want := map[string]int{}
	tick := time.NewTicker(time.Second / time.Duration(len(ds)))
	defer tick.Stop()
	for i, end := 0, time.Now().Add(run); time.Now().Before(end); i++ {
		<-tick.C
		d := ds[i%len(ds)]
		data, id := delivery(d.Name, i/len(ds))
		sent[id] = time.Now()
		if _, err := q.Publish(ctx, queue.Msg{Subject: queue.OutSubject(d.Name), Data: data, ID: id}); err != nil {
			b.Fatalf("publish delivery: %v", err)
		}
		want[d.Name]++
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for _, d := range ds[:100] {
		if err := sim.WaitAccepted(wctx, "/"+d.Name, want[d.Name]); err != nil {
			b.Fatal(err)
		}
	}
	var lat []time.Duration
	for _, r := range sim.Accepted("") {
		if strings.HasPrefix(r.Path, "/ok") {
			lat = append(lat, r.At.Sub(sent[r.DeliveryID]))
		}
	}
	return lat
}

// refusingURL returns an http URL on a loopback port nobody listens on.
func refusingURL(b *testing.B) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ln.Close()
	return url
}

// benchDest is a destination on the simulator with every field at its
// configuration default as config.Parse fills it (rate 4, burst 1), without
// limits or digests, changed by mod.
func benchDest(base, name string, mod ...func(*config.Destination)) config.Destination {
	cfg, err := config.Parse(fmt.Appendf(nil, "destinations:\n  - {name: %s, url: %q, format: messagecard, allow_private: true, limits: none, digest: false}\n", name, base+"/"+name))
	if err != nil {
		panic(fmt.Sprintf("destination %s: %v", name, err)) // the YAML above is fixed
	}
	d := cfg.Destinations[0]
	for _, m := range mod {
		m(&d)
	}
	return d
}

// card is a small valid MessageCard, like a short notification.
func card(n int) []byte {
	return fmt.Appendf(nil, `{"@type":"MessageCard","@context":"https://schema.org/extensions","summary":"build %d finished","title":"build %d finished","text":"status: passed, duration 42s, branch main"}`, n, n)
}

// delivery encodes the n-th delivery for a destination and returns it with its id.
func delivery(dest string, n int) ([]byte, string) {
	now := time.Now()
	dl := schemas.Delivery{
		ID: fmt.Sprintf("ev%d.%s", n, dest), EventID: fmt.Sprintf("ev%d", n), Source: "bench", Destination: dest,
		Format: schemas.FormatMessageCard, Card: card(n), CreatedAt: now, NotAfter: now.Add(time.Hour),
	}
	data, err := json.Marshal(dl)
	if err != nil {
		panic(err) // a Delivery always encodes
	}
	return data, dl.ID
}

// preload stores perDest deliveries for each destination on RELAY_OUT.
func preload(b *testing.B, q queue.Queue, dests []string, perDest int) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	batch := make([]queue.Msg, 0, 1000)
	flush := func() {
		if _, err := q.PublishAll(ctx, batch); err != nil {
			b.Fatalf("publish deliveries: %v", err)
		}
		batch = batch[:0]
	}
	for n := range perDest {
		for _, d := range dests {
			data, id := delivery(d, n)
			if batch = append(batch, queue.Msg{Subject: queue.OutSubject(d), Data: data, ID: id}); len(batch) == cap(batch) {
				flush()
			}
		}
	}
	flush()
}

// running is a dispatcher running in the background.
type running struct {
	b      *testing.B
	d      *dispatch.Dispatcher
	cancel context.CancelFunc
	exited chan struct{} // closed when Run returned
	err    error         // what Run returned, once exited is closed
	once   sync.Once
}

// runDispatcher runs a dispatcher with default options until stop is called
// or the benchmark ends.
func runDispatcher(b *testing.B, q queue.Queue, dests []config.Destination) *running {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	d, err := dispatch.New(ctx, queue.Over(q), dests, slog.New(slog.DiscardHandler))
	if err != nil {
		cancel()
		b.Fatalf("new dispatcher: %v", err)
	}
	r := &running{b: b, d: d, cancel: cancel, exited: make(chan struct{})}
	go func() {
		r.err = d.Run(ctx)
		close(r.exited)
	}()
	b.Cleanup(r.stop)
	return r
}

// stop cancels the dispatcher and waits until Run returned.
func (r *running) stop() {
	r.once.Do(func() {
		r.cancel()
		<-r.exited
		if r.err != nil {
			r.b.Errorf("dispatcher: %v", r.err)
		}
	})
}

// acceptedAll returns a channel closed once h accepted n requests.
func acceptedAll(b *testing.B, h *teamstest.Handler, n int) <-chan struct{} {
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	all := make(chan struct{})
	go func() {
		if h.WaitAccepted(ctx, "", n) == nil {
			close(all)
		}
	}()
	return all
}

// arrivals returns the arrival times of rs.
func arrivals(rs []teamstest.Received) []time.Time {
	at := make([]time.Time, len(rs))
	for i, r := range rs {
		at[i] = r.At
	}
	return at
}

// steadyRate is arrivals per second between the 10th and 90th percentile of
// the arrival times: the rate once running, without start-up and tail.
func steadyRate(at []time.Time) float64 {
	slices.SortFunc(at, time.Time.Compare)
	lo, hi := len(at)/10, len(at)*9/10
	if hi <= lo || !at[hi].After(at[lo]) {
		return 0
	}
	return float64(hi-lo) / at[hi].Sub(at[lo]).Seconds()
}

// percentile returns the q-quantile of ds by nearest rank.
func percentile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func envString(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func envInt(b *testing.B, name string, def int) int {
	b.Helper()
	n, err := strconv.Atoi(envString(name, strconv.Itoa(def)))
	if err != nil || n <= 0 {
		b.Fatalf("%s: want a positive integer, got %q", name, os.Getenv(name))
	}
	return n
}

func envDuration(b *testing.B, name string, def time.Duration) time.Duration {
	b.Helper()
	d, err := time.ParseDuration(envString(name, def.String()))
	if err != nil || d <= 0 {
		b.Fatalf("%s: want a positive duration like 2m, got %q", name, os.Getenv(name))
	}
	return d
}
