package ingest_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/ingest"
	"github.com/hookrelay/hookrelay/internal/config"
	"github.com/hookrelay/hookrelay/internal/natstest"
	"github.com/hookrelay/hookrelay/internal/queue"
)

// The two benchmarks run the same load — 64 keep-alive senders posting 2 KB
// bodies over real HTTP to a real JetStream — so their results compare as a
// ratio: BenchmarkIngest against BenchmarkBaseline, a bare handler that does
// nothing but one synchronous publish.
//
//	go test -run '^$' -bench . -benchtime 5s ./ingest/

const (
	benchSenders  = 64
	benchBodySize = 2 << 10
)

// BenchmarkIngest runs the ingest handler with the token scheme and with
// GitHub's signature, to show what verification costs.
func BenchmarkIngest(b *testing.B) {
	body := benchBody()
	mac := hmac.New(sha256.New, []byte("gh-secret"))
	mac.Write(body)
	schemes := []struct {
		name   string
		verify config.Verify
		header map[string]string
	}{
		{"token", config.Verify{Scheme: "token", Secret: "bench-secret"},
			map[string]string{"Authorization": "Bearer bench-secret"}},
		{"github", config.Verify{Scheme: "github", Secret: "gh-secret"},
			map[string]string{"X-Hub-Signature-256": "sha256=" + hex.EncodeToString(mac.Sum(nil)), "X-GitHub-Event": "push"}},
	}
	for _, s := range schemes {
		b.Run(s.name, func(b *testing.B) {
			env := natstest.Start(b)
			cfg := &config.Config{Sources: []config.Source{{Name: "bench", Verify: s.verify}}}
			h, err := ingest.New(cfg, env.JS, slog.New(slog.DiscardHandler))
			if err != nil {
				b.Fatal(err)
			}
			runLoad(b, h, "/hooks/bench", s.header)
		})
	}
}

func BenchmarkBaseline(b *testing.B) {
	env := natstest.Start(b)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if _, err := env.JS.Publish(r.Context(), queue.InSubject("baseline"), body); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})
	runLoad(b, h, "/", nil)
}

// benchBody is a 2 KB JSON body.
func benchBody() []byte {
	return []byte(`{"pad":"` + strings.Repeat("x", benchBodySize-10) + `"}`)
}

// runLoad posts 2 KB bodies to h from benchSenders parallel keep-alive
// clients and reports requests/s and latency percentiles.
func runLoad(b *testing.B, h http.Handler, path string, header map[string]string) {
	b.Helper()
	srv := httptest.NewServer(h)
	b.Cleanup(srv.Close)
	client := &http.Client{Transport: &http.Transport{
		MaxIdleConns:        benchSenders,
		MaxIdleConnsPerHost: benchSenders,
	}}
	b.Cleanup(client.CloseIdleConnections)
	body := benchBody()

	var (
		mu        sync.Mutex
		latencies []time.Duration
	)
	b.SetBytes(benchBodySize)
	b.SetParallelism((benchSenders + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.ResetTimer()
	began := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		for pb.Next() {
			req, err := http.NewRequest(http.MethodPost, srv.URL+path, bytes.NewReader(body))
			if err != nil {
				b.Error(err)
				return
			}
			for k, v := range header {
				req.Header.Set(k, v)
			}
			t0 := time.Now()
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			// Drain so the connection is reused.
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			mine = append(mine, time.Since(t0))
			if resp.StatusCode != http.StatusAccepted {
				b.Errorf("status %d, want 202", resp.StatusCode)
				return
			}
		}
		mu.Lock()
		latencies = append(latencies, mine...)
		mu.Unlock()
	})
	elapsed := time.Since(began)
	b.StopTimer()
	if len(latencies) == 0 {
		return
	}
	slices.Sort(latencies)
	pct := func(p float64) float64 {
		return float64(latencies[int(p*float64(len(latencies)-1))].Microseconds())
	}
	b.ReportMetric(float64(len(latencies))/elapsed.Seconds(), "req/s")
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
}
