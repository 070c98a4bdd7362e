package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/internal/config"
	"github.com/hookrelay/hookrelay/internal/teamstest"
)

// BenchmarkWholePath measures events/s through the whole relay in one
// process, as `hookrelay serve` runs it: HTTP POST to ingest, RELAY_IN on the
// embedded JetStream, transform (generic mapping to a MessageCard),
// RELAY_OUT, dispatch, and the Teams simulator (no latency, no limits).
// 100 sources each route to their own destination (no rate limit worth the
// name, no digests); 64 clients post the events round-robin over the sources.
//
// Reported: end-to-end events/s (events ÷ first POST to last arrival), the
// rate ingest answered 202, and the steady arrival rate at the simulator
// (10th to 90th percentile of arrivals). HOOKRELAY_BENCH_EVENTS sets the
// number of events (default 5000); see docs/BENCHMARKS.md.
//
//	go test -run '^$' -bench WholePath -benchtime 1x ./cmd/hookrelay/
func BenchmarkWholePath(b *testing.B) {
	const sources, clients = 100, 64
	events := 5000
	if v := os.Getenv("HOOKRELAY_BENCH_EVENTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			b.Fatalf("HOOKRELAY_BENCH_EVENTS: want a positive integer, got %q", v)
		}
		events = n
	}
	var endToEnd, ingested, steady float64
	for range b.N {
		e, i, s := wholePath(b, sources, clients, events)
		endToEnd, ingested, steady = endToEnd+e, ingested+i, steady+s
	}
	n := float64(b.N)
	b.ReportMetric(endToEnd/n, "events/s")
	b.ReportMetric(ingested/n, "ingest-202/s")
	b.ReportMetric(steady/n, "steady-arrivals/s")
	b.ReportMetric(0, "ns/op")
}

// wholePath runs serve, posts the events and waits until the simulator
// accepted a card for each. It returns the end-to-end, ingest and steady rates.
func wholePath(b *testing.B, sources, clients, events int) (endToEnd, ingested, steady float64) {
	b.Helper()
	sim := teamstest.NewHandler(teamstest.WithLimits(nil))
	simSrv := httptest.NewServer(sim)
	defer simSrv.Close()
	waitCtx, stopWaiting := context.WithCancel(context.Background())
	defer stopWaiting()
	all := make(chan struct{})
	go func() {
		if sim.WaitAccepted(waitCtx, "", events) == nil {
			close(all)
		}
	}()

	var y strings.Builder
	fmt.Fprintf(&y, "listen: 127.0.0.1:0\nadmin_listen: 127.0.0.1:0\ndata_dir: %s\nsources:\n", b.TempDir())
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
		if err := <-done; err != nil {
			b.Errorf("serve: %v", err)
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
	select {
	case <-all:
	case <-time.After(10 * time.Minute):
		b.Fatalf("%d of %d cards accepted after 10 minutes", len(sim.Accepted("")), events)
	}
	at := benchArrivals(sim.Accepted(""))
	if got := len(sim.Received("")); got != events {
		b.Logf("the simulator received %d requests for %d events", got, events)
	}
	return float64(events) / at[len(at)-1].Sub(start).Seconds(),
		float64(events) / ingestTime.Seconds(),
		benchSteadyRate(at)
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

// benchArrivals returns the sorted arrival times of rs.
func benchArrivals(rs []teamstest.Received) []time.Time {
	at := make([]time.Time, len(rs))
	for i, r := range rs {
		at[i] = r.At
	}
	slices.SortFunc(at, time.Time.Compare)
	return at
}

// benchSteadyRate is arrivals per second between the 10th and 90th percentile
// of sorted arrival times: the rate once running, without start-up and tail.
func benchSteadyRate(at []time.Time) float64 {
	lo, hi := len(at)/10, len(at)*9/10
	if hi <= lo || !at[hi].After(at[lo]) {
		return 0
	}
	return float64(hi-lo) / at[hi].Sub(at[lo]).Seconds()
}
