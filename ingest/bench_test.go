package ingest_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"runtime/metrics"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookrelay/hookrelay/ingest"
	"github.com/hookrelay/hookrelay/internal/config"
	"github.com/hookrelay/hookrelay/internal/kafkatest"
	"github.com/hookrelay/hookrelay/internal/queue"
	"github.com/hookrelay/hookrelay/internal/queue/kafkaqueue"
	"github.com/hookrelay/hookrelay/internal/telemetry"
)

// The benchmarks run the same load — 64 keep-alive senders posting 2 KB
// bodies over real HTTP — against the ingest handler and against a baseline, a
// bare handler that does nothing but one synchronous write of the body to the
// same store, so results compare as a ratio. Each runs on every backend: a
// real JetStream (embedded, file storage) and Kafka (kfake, in-process, on
// 127.0.0.1). BenchmarkSideBySide runs both targets at once, half the senders
// each; BenchmarkAlternating gives each target the whole load in turn, in
// short slices, which is the ratio to trust on a busy machine:
//
//	go test -run '^$' -bench . -benchtime 5s ./ingest/
//	go test -run '^$' -bench '^(BenchmarkIngest|BenchmarkBaseline)$/kafka' -benchtime 5s ./ingest/
//	go test -run '^$' -bench Alternating -benchtime 1x ./ingest/

const (
	benchSenders  = 64
	benchBodySize = 2 << 10
)

// benchScheme is a verification scheme and a request that passes it.
type benchScheme struct {
	name   string
	verify config.Verify
	header map[string]string
}

func benchSchemes() []benchScheme {
	mac := hmac.New(sha256.New, []byte("gh-secret"))
	mac.Write(benchBody())
	return []benchScheme{
		{"token", config.Verify{Scheme: "token", Secret: "bench-secret"},
			map[string]string{"Authorization": "Bearer bench-secret"}},
		{"github", config.Verify{Scheme: "github", Secret: "gh-secret"},
			map[string]string{"X-Hub-Signature-256": "sha256=" + hex.EncodeToString(mac.Sum(nil)), "X-GitHub-Event": "push"}},
	}
}

// benchBackend is a store the benchmarks run on: open starts it and returns
// the queue ingest writes through and the baseline's bare write of a body to
// the same store.
type benchBackend struct {
	name string
	open func(b *testing.B) (queue.Queue, bareWrite)
}

// bareWrite stores body with the store's own client, returning once the store
// has it durably, as queue.Queue.Publish does.
type bareWrite func(ctx context.Context, body []byte) error

func benchBackends() []benchBackend {
	return []benchBackend{
		{"jetstream", func(b *testing.B) (queue.Queue, bareWrite) {
			env, q := startQueue(b)
			return q, func(ctx context.Context, body []byte) error {
				_, err := env.JS.Publish(ctx, queue.InSubject("baseline"), body)
				return err
			}
		}},
		{"kafka", func(b *testing.B) (queue.Queue, bareWrite) {
			env := kafkatest.Start(b)
			q := env.Queue(b, kafkaqueue.Options{})
			p := env.Producer(b, "bench.baseline")
			return q, func(ctx context.Context, body []byte) error {
				return p.ProduceSync(ctx, &kgo.Record{Value: body}).FirstErr()
			}
		}},
	}
}

// BenchmarkIngest runs the ingest handler with the token scheme and with
// GitHub's signature, to show what verification costs.
func BenchmarkIngest(b *testing.B) {
	for _, be := range benchBackends() {
		b.Run(be.name, func(b *testing.B) {
			for _, s := range benchSchemes() {
				b.Run(s.name, func(b *testing.B) {
					q, _ := be.open(b)
					runLoad(b, ingestTarget(b, q, s))
				})
			}
		})
	}
}

func BenchmarkBaseline(b *testing.B) {
	for _, be := range benchBackends() {
		b.Run(be.name, func(b *testing.B) {
			_, write := be.open(b)
			runLoad(b, baselineTarget(b, write, nil))
		})
	}
}

// BenchmarkSideBySide loads ingest and the baseline at the same time, on one
// store, and reports their ratio of requests/s and of p99 latency. The ratios
// resist a noisy machine; a rate ratio near 1 means the shared store, not
// ingest's own work, sets the pace. Capacity compares BenchmarkIngest with
// BenchmarkBaseline.
func BenchmarkSideBySide(b *testing.B) {
	for _, be := range benchBackends() {
		b.Run(be.name, func(b *testing.B) {
			for _, s := range benchSchemes() {
				b.Run(s.name, func(b *testing.B) {
					q, write := be.open(b)
					in, base := ingestTarget(b, q, s), baselineTarget(b, write, s.header)
					runLoad(b, in, base)
					b.ReportMetric(in.rate/base.rate, "rate-ratio")
					b.ReportMetric(in.p99/base.p99, "p99-ratio")
				})
			}
		})
	}
}

// BenchmarkAlternating measures ingest's capacity as a ratio to the
// baseline's when other work on the machine comes and goes: one store, both
// targets, and the whole load (benchSenders) given to one target at a time in
// slices of altSlice, alternating, so that both meet the same disturbances.
// BenchmarkIngest and BenchmarkBaseline, run one after the other, see
// different ones. It ignores b.N: run it with -benchtime 1x.
// HOOKRELAY_BENCH_WINDOW is the time under load, shared evenly (default 20s).
func BenchmarkAlternating(b *testing.B) {
	window := benchWindow(b)
	for _, be := range benchBackends() {
		b.Run(be.name, func(b *testing.B) {
			for _, s := range benchSchemes() {
				b.Run(s.name, func(b *testing.B) {
					q, write := be.open(b)
					in, base := ingestTarget(b, q, s), baselineTarget(b, write, s.header)
					runAlternating(b, window, in, base)
					b.ReportMetric(in.rate/base.rate, "rate-ratio")
					b.ReportMetric(in.p99/base.p99, "p99-ratio")
				})
			}
		})
	}
}

// altSlice is how long one target has the load before the other: short
// enough that both see the same machine, long enough that the senders'
// last requests (waited for at the end of a slice) weigh little.
const altSlice = time.Second

func benchWindow(b *testing.B) time.Duration {
	b.Helper()
	v := os.Getenv("HOOKRELAY_BENCH_WINDOW")
	if v == "" {
		return 20 * time.Second
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 2*altSlice {
		b.Fatalf("HOOKRELAY_BENCH_WINDOW: want a duration of at least %s, got %q", 2*altSlice, v)
	}
	return d
}

// runAlternating gives the targets the load in turn, slice by slice, until
// window has passed, and reports each target's requests/s (over its own
// slices) and latency percentiles.
func runAlternating(b *testing.B, window time.Duration, targets ...*target) {
	b.Helper()
	client := loadClient(b, len(targets))
	body := benchBody()
	b.ResetTimer()
	for i := range int(window / altSlice) {
		t := targets[i%len(targets)]
		before := readRuntime()
		began := time.Now()
		var wg sync.WaitGroup
		for range benchSenders {
			wg.Go(func() {
				var mine []time.Duration
				for time.Since(began) < altSlice {
					d, err := post(client, t, body)
					if err != nil {
						b.Error(err)
						break
					}
					mine = append(mine, d)
				}
				t.mu.Lock()
				t.latencies = append(t.latencies, mine...)
				t.mu.Unlock()
			})
		}
		wg.Wait()
		t.elapsed += time.Since(began)
		t.runtime = t.runtime.add(readRuntime().sub(before))
	}
	b.StopTimer()
	report(b, targets)
	for _, t := range targets {
		if n := float64(len(t.latencies)); n > 0 {
			// What the whole process allocated and collected while the
			// target had the load, per request: the GC's share of the
			// tail.
			b.ReportMetric(float64(t.runtime.allocBytes)/n, t.name+"-B/req")
			b.ReportMetric(float64(t.runtime.gcs)/n*1000, t.name+"-GCs/kreq")
		}
	}
	b.ReportMetric(0, "ns/op") // one window, not an operation
}

// runtimeCounts are process-wide runtime counters.
type runtimeCounts struct{ allocBytes, gcs uint64 }

func readRuntime() runtimeCounts {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}, {Name: "/gc/cycles/total:gc-cycles"}}
	metrics.Read(s)
	return runtimeCounts{allocBytes: s[0].Value.Uint64(), gcs: s[1].Value.Uint64()}
}

func (c runtimeCounts) sub(o runtimeCounts) runtimeCounts {
	return runtimeCounts{c.allocBytes - o.allocBytes, c.gcs - o.gcs}
}

func (c runtimeCounts) add(o runtimeCounts) runtimeCounts {
	return runtimeCounts{c.allocBytes + o.allocBytes, c.gcs + o.gcs}
}

// target is one HTTP server under load and what was measured of it.
type target struct {
	name   string
	url    string
	header map[string]string

	mu        sync.Mutex
	latencies []time.Duration
	elapsed   time.Duration // under load
	runtime   runtimeCounts // while under load
	rate      float64       // requests/s
	p99       float64       // µs
}

func ingestTarget(b *testing.B, q queue.Queue, s benchScheme) *target {
	b.Helper()
	cfg := &config.Config{Sources: []config.Source{{Name: "bench", Verify: s.verify}}}
	// Wired as serve wires it: tracing (no exporter set, as by default) and
	// metrics.
	tel, shutdown, err := telemetry.Setup(context.Background(), "bench")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = shutdown(context.Background()) })
	logger := slog.New(slog.DiscardHandler)
	h, err := ingest.New(cfg, queue.Over(q), logger,
		ingest.WithMetrics(tel.Metrics()), ingest.WithTelemetry(tel))
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(tel.HTTPHandler(h))
	b.Cleanup(srv.Close)
	return &target{name: "ingest", url: srv.URL + "/hooks/bench", header: s.header}
}

// baselineTarget is the bare handler. It is sent header, the scheme's
// credentials, as ingest is: a vendor sends the same request whoever answers
// it, and the ratio is to count only what ingest does with it, not the load
// generator's and the HTTP server's work on headers the baseline would not
// have been sent.
func baselineTarget(b *testing.B, write bareWrite, header map[string]string) *target {
	b.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if err := write(r.Context(), body); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	b.Cleanup(srv.Close)
	return &target{name: "baseline", url: srv.URL, header: header}
}

// benchBody is a 2 KB JSON body.
func benchBody() []byte {
	return []byte(`{"pad":"` + strings.Repeat("x", benchBodySize-10) + `"}`)
}

// runLoad posts 2 KB bodies from benchSenders parallel keep-alive clients,
// spread evenly over the targets, and reports each target's requests/s and
// latency percentiles (prefixed with its name when there are several).
func runLoad(b *testing.B, targets ...*target) {
	b.Helper()
	client := loadClient(b, len(targets))
	body := benchBody()
	var next atomic.Int64

	b.SetBytes(benchBodySize)
	b.SetParallelism((benchSenders + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.ResetTimer()
	began := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		t := targets[int(next.Add(1))%len(targets)]
		var mine []time.Duration
		for pb.Next() {
			d, err := post(client, t, body)
			if err != nil {
				b.Error(err)
				return
			}
			mine = append(mine, d)
		}
		t.mu.Lock()
		t.latencies = append(t.latencies, mine...)
		t.mu.Unlock()
	})
	elapsed := time.Since(began)
	b.StopTimer()
	for _, t := range targets {
		t.elapsed = elapsed
	}
	report(b, targets)
}

// loadClient keeps a connection per sender to each of n targets.
func loadClient(b *testing.B, n int) *http.Client {
	b.Helper()
	client := &http.Client{Transport: &http.Transport{
		MaxIdleConns:        n * benchSenders,
		MaxIdleConnsPerHost: benchSenders,
	}}
	b.Cleanup(client.CloseIdleConnections)
	return client
}

// post sends body to t and returns how long the answer took; an answer other
// than 202 is an error.
func post(client *http.Client, t *target, body []byte) (time.Duration, error) {
	req, err := http.NewRequest(http.MethodPost, t.url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	for k, v := range t.header {
		req.Header.Set(k, v)
	}
	t0 := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	// Drain so the connection is reused.
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	d := time.Since(t0)
	if resp.StatusCode != http.StatusAccepted {
		return d, fmt.Errorf("%s: status %d, want 202", t.name, resp.StatusCode)
	}
	return d, nil
}

// report sets each target's rate and p99 from its latencies and elapsed time,
// and reports them with p50 (prefixed with the target's name when there are
// several).
func report(b *testing.B, targets []*target) {
	b.Helper()
	for _, t := range targets {
		if len(t.latencies) == 0 || t.elapsed == 0 {
			continue
		}
		slices.Sort(t.latencies)
		pct := func(p float64) float64 {
			return float64(t.latencies[int(p*float64(len(t.latencies)-1))].Microseconds())
		}
		t.rate, t.p99 = float64(len(t.latencies))/t.elapsed.Seconds(), pct(0.99)
		prefix := ""
		if len(targets) > 1 {
			prefix = t.name + "-"
		}
		b.ReportMetric(t.rate, prefix+"req/s")
		b.ReportMetric(pct(0.50), prefix+"p50-µs")
		b.ReportMetric(t.p99, prefix+"p99-µs")
	}
}
