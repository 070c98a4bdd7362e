package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/internal/teamstest"
)

// BenchmarkIdleProcess measures issue 13's target on the whole process, as a
// user runs it: `hookrelay serve` (the binary, without the race detector) on
// its embedded JetStream in a temp data_dir, with N destinations (default
// 10 000, each routed from one source, on a loopback receiver) and no traffic.
// The target: ready in ≤ 5 s, and after two minutes ≤ 200 MB resident and
// ≤ 2 % of one core.
//
// Reported:
//   - ready_s: from starting the process to /readyz answering 200 (polled
//     every 50 ms);
//   - owned_s: from starting the process to /api/v1/destinations saying this
//     instance owns every destination, polled every 2 s during the idle
//     period (absent if it never did within it);
//   - rss_MB: VmRSS after the idle period, counted from ready;
//   - cpu_%: user + system CPU over the 20 s after that, in % of one core;
//   - goroutines: go_goroutines from /metrics, read after the CPU window.
//
// HOOKRELAY_BENCH_DESTINATIONS sets N, HOOKRELAY_BENCH_IDLE_FOR the idle
// period (default 2m; 20s for a quick run), HOOKRELAY_BENCH_READY_WITHIN how
// long to wait for /readyz (default 3m); see docs/BENCHMARKS.md.
//
//	go test -run '^$' -bench IdleProcess -benchtime 1x -timeout 30m ./cmd/hookrelay/
func BenchmarkIdleProcess(b *testing.B) {
	dests := benchEnv(b, "HOOKRELAY_BENCH_DESTINATIONS", 10000)
	idleFor := benchEnvDuration(b, "HOOKRELAY_BENCH_IDLE_FOR", 2*time.Minute)
	readyWithin := benchEnvDuration(b, "HOOKRELAY_BENCH_READY_WITHIN", 3*time.Minute)
	for range b.N {
		idleProcess(b, dests, idleFor, readyWithin)
	}
	b.ReportMetric(0, "ns/op")
}

// cpuWindow is how long idle CPU is measured over.
const cpuWindow = 20 * time.Second

func idleProcess(b *testing.B, dests int, idleFor, readyWithin time.Duration) {
	bin := plainBinary(b)
	sim := teamstest.NewServer()
	defer sim.Close()
	var y strings.Builder
	y.WriteString("destinations:\n")
	for i := range dests {
		fmt.Fprintf(&y, "  - {name: d%05d, url: %q, format: messagecard, allow_private: true}\n", i, fmt.Sprintf("%s/d%05d", sim.URL, i))
	}
	y.WriteString("routes:\n")
	for i := range dests {
		fmt.Fprintf(&y, "  - {source: app, to: [d%05d]}\n", i)
	}
	cfgPath := writeConfig(b, b.TempDir(), y.String())
	ticks := clockTicks(b)

	start := time.Now()
	r := startRelayBinary(b, bin, cfgPath)
	pid := r.cmd.Process.Pid
	ready := waitReady(b, r, start, readyWithin)
	b.Logf("N=%d: /readyz 200 after %.2f s", dests, ready.Seconds())

	// The idle period, counted from ready; every destination owned is
	// noted on the way, and nothing is asked once they are.
	idleEnd := time.After(idleFor)
	owned, of := -1, dests
	var ownedAt time.Duration
	poll := time.NewTicker(2 * time.Second)
	defer poll.Stop()
idle:
	for {
		select {
		case <-idleEnd:
			break idle
		case <-r.exited:
			b.Fatalf("serve exited while idle: %v", r.exitErr)
		case <-poll.C:
			if owned == of {
				continue
			}
			if owned, of = ownedDestinations(r); owned == of {
				ownedAt = time.Since(start)
				b.Logf("N=%d: every destination owned after %.1f s", dests, ownedAt.Seconds())
			}
		}
	}
	if owned != of {
		b.Logf("N=%d: %d of %d destinations owned after %v idle", dests, owned, of, idleFor)
	}

	rss := residentBytes(b, pid)
	cpu0, wall0 := cpuTicks(b, pid), time.Now()
	select {
	case <-time.After(cpuWindow):
	case <-r.exited:
		b.Fatalf("serve exited while idle: %v", r.exitErr)
	}
	cpu1, wall := cpuTicks(b, pid), time.Since(wall0)
	cpu := float64(cpu1-cpu0) / float64(ticks) / wall.Seconds() * 100
	rssAfter := residentBytes(b, pid)
	goroutines := metricValue(b, r, "go_goroutines")
	heap := metricValue(b, r, "go_memstats_heap_inuse_bytes")

	b.Logf("N=%d: ready %.2f s; after %v idle: RSS %.1f MB (%.1f MB after the CPU window), CPU %.2f %% of one core over %v, "+
		"%.0f goroutines, Go heap in use %.1f MB", dests, ready.Seconds(), idleFor, mb(rss), mb(rssAfter), cpu,
		wall.Round(time.Millisecond), goroutines, heap/(1<<20))
	b.ReportMetric(ready.Seconds(), "ready_s")
	if owned == of {
		b.ReportMetric(ownedAt.Seconds(), "owned_s")
	}
	b.ReportMetric(mb(rss), "rss_MB")
	b.ReportMetric(cpu, "cpu_%")
	if goroutines >= 0 {
		b.ReportMetric(goroutines, "goroutines")
	}

	stopRelay(b, r)
}

func mb(n int64) float64 { return float64(n) / (1 << 20) }

// waitReady polls /readyz every 50 ms until it answers 200, and returns the
// time since start. Until the admin server serves, a request waits in the
// listener's backlog: each is bounded to a second.
func waitReady(b *testing.B, r *relay, start time.Time, within time.Duration) time.Duration {
	b.Helper()
	client := &http.Client{Timeout: time.Second}
	deadline := start.Add(within)
	last := "no answer"
	for {
		resp, err := client.Get(r.admin + "/readyz")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Since(start)
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, body)
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			b.Fatalf("/readyz not 200 within %v of starting serve; last answer: %s", within, last)
		}
		select {
		case <-time.After(50 * time.Millisecond):
		case <-r.exited:
			b.Fatalf("serve exited before it was ready: %v", r.exitErr)
		}
	}
}

// ownedDestinations returns how many destinations /api/v1/destinations says
// this instance owns, and of how many; -1 owned if it did not answer.
func ownedDestinations(r *relay) (owned, of int) {
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(r.admin + "/api/v1/destinations")
	if err != nil {
		return -1, 0
	}
	defer resp.Body.Close()
	var st struct {
		Destinations []struct{ Owned bool }
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&st) != nil {
		return -1, 0
	}
	for _, d := range st.Destinations {
		if d.Owned {
			owned++
		}
	}
	return owned, len(st.Destinations)
}

// metricValue returns the value of an unlabelled metric on the admin
// /metrics, or -1 if it is not there.
func metricValue(b *testing.B, r *relay, name string) float64 {
	b.Helper()
	resp, err := http.Get(r.admin + "/metrics")
	if err != nil {
		b.Fatalf("read /metrics: %v", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err != nil {
				b.Fatalf("/metrics: %s %q: %v", name, rest, err)
			}
			return v
		}
	}
	return -1
}

// clockTicks returns the kernel's clock ticks per second (USER_HZ), in which
// /proc/PID/stat counts CPU time: `getconf CLK_TCK`, or Linux's 100 where
// getconf is missing.
func clockTicks(b *testing.B) int64 {
	b.Helper()
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if err != nil {
		b.Logf("getconf CLK_TCK: %v; assuming 100 ticks a second", err)
		return 100
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	if err != nil || n <= 0 {
		b.Fatalf("getconf CLK_TCK answered %q", out)
	}
	return n
}

// cpuTicks returns the user + system CPU time pid used so far, in clock
// ticks, from /proc/PID/stat.
func cpuTicks(b *testing.B, pid int) int64 {
	b.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatalf("read the relay's CPU time: %v", err)
	}
	// Fields after the command name, which may hold spaces: state is the
	// first, utime and stime the 12th and 13th.
	_, rest, ok := strings.Cut(string(data), ") ")
	f := strings.Fields(rest)
	if !ok || len(f) < 13 {
		b.Fatalf("/proc/%d/stat: unexpected %q", pid, data)
	}
	user, err1 := strconv.ParseInt(f[11], 10, 64)
	sys, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		b.Fatalf("/proc/%d/stat: utime %q stime %q", pid, f[11], f[12])
	}
	return user + sys
}

// stopRelay sends SIGTERM and requires a clean exit within 30 s.
func stopRelay(b testing.TB, r *relay) {
	b.Helper()
	if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		b.Fatal(err)
	}
	select {
	case <-r.exited:
		if r.exitErr != nil {
			b.Errorf("serve exited with %v after SIGTERM, want 0", r.exitErr)
		}
	case <-time.After(30 * time.Second):
		b.Error("serve did not exit within 30s of SIGTERM")
	}
}

func benchEnvDuration(b *testing.B, name string, def time.Duration) time.Duration {
	b.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		b.Fatalf("%s: want a positive duration like 2m, got %q", name, v)
	}
	return d
}
