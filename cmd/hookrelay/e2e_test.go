package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
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

	"github.com/hookrelay/hookrelay/internal/teamstest"
	"github.com/hookrelay/hookrelay/schemas"
)

// The end-to-end tests run the real binary: `hookrelay serve` on each queue
// backend (backends_test.go) — its embedded JetStream in a temp dir, or an
// in-process Kafka —, listeners on 127.0.0.1 random ports, and the Teams
// simulator as every destination.

// buildOnce and buildPlainOnce hold the binaries built for this test run,
// in temp dirs TestMain removes.
var buildOnce struct {
	sync.Once
	path string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	for _, p := range []string{buildOnce.path, buildPlainOnce.path} {
		if p != "" {
			_ = os.RemoveAll(filepath.Dir(p))
		}
	}
	os.Exit(code)
}

// binary builds hookrelay once per test run.
func binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "hookrelay-bin")
		if err != nil {
			buildOnce.err = err
			return
		}
		buildOnce.path = filepath.Join(dir, "hookrelay")
		out, err := exec.Command("go", "build", "-race", "-o", buildOnce.path, ".").CombinedOutput()
		if err != nil {
			buildOnce.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildOnce.err != nil {
		t.Fatal(buildOnce.err)
	}
	return buildOnce.path
}

var buildPlainOnce struct {
	sync.Once
	path string
	err  error
}

// plainBinary builds hookrelay without the race detector, once per test
// run, for tests that measure the process's memory: the detector's shadow
// memory would be most of what they measure.
func plainBinary(t testing.TB) string {
	t.Helper()
	buildPlainOnce.Do(func() {
		dir, err := os.MkdirTemp("", "hookrelay-bin")
		if err != nil {
			buildPlainOnce.err = err
			return
		}
		buildPlainOnce.path = filepath.Join(dir, "hookrelay")
		out, err := exec.Command("go", "build", "-o", buildPlainOnce.path, ".").CombinedOutput()
		if err != nil {
			buildPlainOnce.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildPlainOnce.err != nil {
		t.Fatal(buildPlainOnce.err)
	}
	return buildPlainOnce.path
}

// relay is one running `hookrelay serve` process.
type relay struct {
	cmd         *exec.Cmd
	ingest      string // http://host:port
	admin       string
	exited      chan struct{}
	exitErr     error
	stderrLines atomic.Int64
	// logs receives every log line's message, while the test reads them
	// (lines beyond its buffer are dropped).
	logs chan string
	// warnings keeps the last warnings and errors logged, for a failing
	// test to print.
	warnMu   sync.Mutex
	warnings []string
}

// lastWarnings returns the warnings and errors the relay logged last.
func (r *relay) lastWarnings() []string {
	r.warnMu.Lock()
	defer r.warnMu.Unlock()
	return slices.Clone(r.warnings)
}

// startRelay starts serve on cfg and waits until both listeners reported
// their addresses on the JSON log.
func startRelay(t *testing.T, cfgPath string, flags ...string) *relay {
	t.Helper()
	return startRelayBinary(t, binary(t), cfgPath, flags...)
}

// startRelayBinary is startRelay with the binary at bin.
func startRelayBinary(t testing.TB, bin, cfgPath string, flags ...string) *relay {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve", "--config", cfgPath}, flags...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start serve: %v", err)
	}
	r := &relay{cmd: cmd, exited: make(chan struct{}), logs: make(chan string, 1024)}
	addrs := make(chan [2]string, 4)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			r.stderrLines.Add(1)
			var line struct{ Msg, Listener, Addr, Level string }
			if json.Unmarshal(sc.Bytes(), &line) == nil {
				if line.Level == "WARN" || line.Level == "ERROR" {
					r.warnMu.Lock()
					if len(r.warnings) == 300 {
						r.warnings = r.warnings[1:]
					}
					r.warnings = append(r.warnings, sc.Text())
					r.warnMu.Unlock()
				}
				select {
				case r.logs <- line.Msg:
				default:
				}
			}
			if line.Msg == "listening" {
				addrs <- [2]string{line.Listener, "http://" + line.Addr}
			} else if testing.Verbose() {
				t.Logf("serve[%d]: %s", cmd.Process.Pid, sc.Bytes())
			}
		}
		r.exitErr = cmd.Wait()
		close(r.exited)
	}()
	t.Cleanup(func() { r.kill(); <-r.exited })
	deadline := time.After(60 * time.Second)
	for r.ingest == "" || r.admin == "" {
		select {
		case a := <-addrs:
			switch a[0] {
			case "ingest":
				r.ingest = a[1]
			case "admin":
				r.admin = a[1]
			}
		case <-r.exited:
			t.Fatalf("serve exited during start-up: %v", r.exitErr)
		case <-deadline:
			t.Fatal("serve did not report its listeners within 60s")
		}
	}
	return r
}

func (r *relay) kill() { _ = r.cmd.Process.Signal(syscall.SIGKILL) }

// writeConfig writes a config with the given destinations YAML and routes.
func writeConfig(t testing.TB, dataDir, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "hookrelay.yaml")
	cfg := fmt.Sprintf("listen: 127.0.0.1:0\nadmin_listen: 127.0.0.1:0\ndata_dir: %s\ninsecure_short_secrets: true\n"+
		"sources:\n  - name: app\n    verify: {scheme: token, secret: s3cret}\n%s", dataDir, body)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// send posts one event and returns the HTTP status.
func send(ctx context.Context, client *http.Client, ingest string, body string) (int, error) {
	code, _, err := sendID(ctx, client, ingest, body)
	return code, err
}

// sendID posts one event and returns the HTTP status and the event id.
func sendID(ctx context.Context, client *http.Client, ingest string, body string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ingest+"/hooks/app/s3cret", strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	var answer struct{ ID string }
	_ = json.NewDecoder(resp.Body).Decode(&answer)
	return resp.StatusCode, answer.ID, nil
}

// waitMarkers waits until every marker appears in a card accepted on one of
// paths, and returns those that did not within d. It wakes on each accepted
// card rather than polling. Each card is read once: with tens of thousands
// of cards, searching them all for every marker took minutes, and the
// markers it reported missing were the ones not yet delivered when that
// search began.
func waitMarkers(sim *teamstest.Server, paths []string, markers []string, d time.Duration) []string {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	idx := newCardIndex(markers)
	for {
		seen := map[string]int{}
		for _, p := range paths {
			seen[p] = idx.read(sim, p)
		}
		missing := idx.missing(markers)
		if len(missing) == 0 || ctx.Err() != nil {
			return missing
		}
		// Wake on the next card accepted on any of the paths.
		next, stop := context.WithCancel(ctx)
		for _, p := range paths {
			go func() {
				if sim.WaitAccepted(next, p, seen[p]+1) == nil {
					stop()
				}
			}()
		}
		<-next.Done()
		stop()
	}
}

// cardIndex holds what the accepted cards read so far contain: their words,
// and their text when a marker is more than one word.
type cardIndex struct {
	words    map[string]bool
	text     []byte
	keepText bool
	// next is, per path, the first request not read yet; open are the
	// requests before it still being answered when read.
	next map[string]int
	open map[string][]int
}

var markerWord = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

func newCardIndex(markers []string) *cardIndex {
	x := &cardIndex{words: map[string]bool{}, next: map[string]int{}, open: map[string][]int{}}
	for _, m := range markers {
		if !markerWord.MatchString(m) {
			x.keepText = true
		}
	}
	return x
}

// read adds the cards accepted on path since the last read, and returns
// how many were accepted on it.
func (x *cardIndex) read(sim *teamstest.Server, path string) int {
	recs := sim.Received(path)
	var stillOpen []int
	add := func(i int) {
		switch rec := recs[i]; {
		case rec.Accepted:
			x.add(rec.Body)
		case rec.Status == 0:
			stillOpen = append(stillOpen, i)
		}
	}
	for _, i := range x.open[path] {
		add(i)
	}
	for i := x.next[path]; i < len(recs); i++ {
		add(i)
	}
	x.next[path], x.open[path] = len(recs), stillOpen
	accepted := 0
	for _, rec := range recs {
		if rec.Accepted {
			accepted++
		}
	}
	return accepted
}

func (x *cardIndex) add(body []byte) {
	for _, w := range bytes.FieldsFunc(body, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-')
	}) {
		x.words[string(w)] = true
	}
	if x.keepText {
		x.text = append(x.text, body...)
		x.text = append(x.text, 0)
	}
}

func (x *cardIndex) missing(markers []string) []string {
	var out []string
	for _, m := range markers {
		if markerWord.MatchString(m) {
			if !x.words[m] {
				out = append(out, m)
			}
		} else if !bytes.Contains(x.text, []byte(m)) {
			out = append(out, m)
		}
	}
	return out
}

// dlqList lists the dead letters of destination through the CLI.
func dlqList(t *testing.T, r *relay, destination string) []map[string]any {
	t.Helper()
	var out bytes.Buffer
	if err := runDLQ(context.Background(), []string{"list", "--admin", r.admin, "--destination", destination, "-o", "json"}, &out, io.Discard); err != nil {
		t.Fatalf("dlq list: %v", err)
	}
	var list []map[string]any
	if err := json.Unmarshal(out.Bytes(), &list); err != nil {
		t.Fatalf("dlq list -o json: %v\n%s", err, out.String())
	}
	return list
}

// adminGet returns an admin API answer, for diagnostics.
func adminGet(t *testing.T, r *relay, path string) string {
	t.Helper()
	resp, err := http.Get(r.admin + path)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func waitAccepted(t *testing.T, sim *teamstest.Server, path string, n int, within time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	if err := sim.WaitAccepted(ctx, path, n); err != nil {
		t.Fatalf("%s: %d of %d cards accepted: %v", path, len(sim.Accepted(path)), n, err)
	}
}

func TestServeRelays200EventsWithinLimits(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: runs the binary for about 10s per backend")
	}
	eachBackend(t, testRelays200EventsWithinLimits)
}

func testRelays200EventsWithinLimits(t *testing.T, be backend) {
	sim := teamstest.NewServer() // Teams' ladder, connector-style wrapped errors
	defer sim.Close()
	const dests, perDest = 10, 20
	var b strings.Builder
	b.WriteString(be.own(t))
	b.WriteString("destinations:\n")
	for i := range dests {
		format := schemas.FormatMessageCard
		if i%2 == 1 {
			format = schemas.FormatAdaptive
		}
		fmt.Fprintf(&b, "  - {name: d%d, url: %q, format: %s, allow_private: true}\n", i, fmt.Sprintf("%s/d%d", sim.URL, i), format)
	}
	b.WriteString("routes:\n")
	for i := range dests {
		fmt.Fprintf(&b, "  - {source: app, filter: '.dest == \"d%d\"', to: [d%d]}\n", i, i)
	}
	r := startRelay(t, writeConfig(t, t.TempDir(), b.String()))

	ctx := context.Background()
	var failed atomic.Int64
	var wg sync.WaitGroup
	jobs := make(chan int)
	for range 8 {
		wg.Go(func() {
			for n := range jobs {
				body := fmt.Sprintf(`{"dest":"d%d","title":"build %d finished","n":%d}`, n%dests, n, n)
				if code, err := send(ctx, http.DefaultClient, r.ingest, body); err != nil || code != http.StatusAccepted {
					t.Errorf("event %d: status %d, err %v", n, code, err)
					failed.Add(1)
				}
			}
		})
	}
	for n := range dests * perDest {
		jobs <- n
	}
	close(jobs)
	wg.Wait()
	if failed.Load() > 0 {
		t.FailNow()
	}

	validator, err := schemas.NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	for i := range dests {
		path := fmt.Sprintf("/d%d", i)
		waitAccepted(t, sim, path, perDest, 60*time.Second)
		kind := schemas.FormatMessageCard
		if i%2 == 1 {
			kind = schemas.FormatAdaptive
		}
		for _, rec := range sim.Received(path) {
			if !rec.Accepted {
				t.Errorf("%s: a request was answered %d; want no throttled or refused answer", path, rec.Status)
			}
			if len(rec.Body) > schemas.MaxCardBytes {
				t.Errorf("%s: card of %d bytes", path, len(rec.Body))
			}
			if err := validator.Validate(kind, rec.Body); err != nil {
				t.Errorf("%s: invalid %s card: %v", path, kind, err)
			}
		}
		if got := len(sim.Received(path)); got != perDest {
			t.Errorf("%s received %d requests, want %d", path, got, perDest)
		}
		if got := sim.MaxInWindow(path, time.Second); got > 4 {
			t.Errorf("%s: %d requests arrived within one second, limit 4", path, got)
		}
	}
}

func TestCrashLosesNoAcceptedEvent(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: kills and restarts the binary")
	}
	eachBackend(t, testCrashLosesNoAcceptedEvent)
}

// testCrashLosesNoAcceptedEvent kills the relay while it takes events and
// restarts it on the same queue, which outlives the killed process.
func testCrashLosesNoAcceptedEvent(t *testing.T, be backend) {
	sim := teamstest.NewServer(teamstest.WithLimits(nil))
	defer sim.Close()
	dataDir := t.TempDir()
	cfg := writeConfig(t, dataDir, be.own(t)+fmt.Sprintf(`destinations:
  - {name: fast, url: %q, rate: 100, burst: 10, limits: none, allow_private: true}
routes:
  - {source: app, to: [fast]}
`, sim.URL+"/fast"))
	r := startRelay(t, cfg)

	// Senders post until the relay dies; only 202s count as promises.
	var mu sync.Mutex
	var accepted []string
	ids := map[string]string{} // marker → event id
	var total atomic.Int64
	killed := make(chan struct{})
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 10 * time.Second}
	for s := range 4 {
		wg.Go(func() {
			for n := 0; ; n++ {
				marker := fmt.Sprintf("mk%dx%dzz", s, n)
				code, id, err := sendID(context.Background(), client, r.ingest, fmt.Sprintf(`{"marker":%q}`, marker))
				if err != nil {
					return // the relay is gone
				}
				if code == http.StatusAccepted {
					mu.Lock()
					accepted = append(accepted, marker)
					ids[marker] = id
					mu.Unlock()
					if total.Add(1) == 300 {
						close(killed)
					}
				}
			}
		})
	}
	<-killed
	r.kill()
	<-r.exited
	wg.Wait()
	if got := len(sim.Accepted("/fast")); got >= len(accepted) {
		t.Logf("all %d events were delivered before the kill; the restart proves less", got)
	}

	r2 := startRelay(t, cfg)
	// Work a killed process held comes back after the queue's ack wait
	// (JetStream, 15 s) or the group's session timeout (Kafka, 10 s).
	if missing := waitMarkers(sim, []string{"/fast"}, accepted, 2*time.Minute); len(missing) > 0 {
		t.Fatalf("%d of %d accepted events never reached Teams, e.g. %v; relay status: %s\nhistory of %s: %s\ndead letters: %s",
			len(missing), len(accepted), missing[:min(5, len(missing))], adminGet(t, r2, "/api/v1/destinations"),
			ids[missing[0]], adminGet(t, r2, "/api/v1/events/"+ids[missing[0]]), adminGet(t, r2, "/api/v1/deadletters"))
	}
	t.Logf("%d events accepted before SIGKILL, all delivered after restart (%d cards in all, duplicates allowed)",
		len(accepted), len(sim.Accepted("/fast")))
}

func TestOutageRecoversAndDeadLettersReplay(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: outage and dead-letter replay through the binary")
	}
	eachBackend(t, testOutageRecoversAndDeadLettersReplay)
}

func testOutageRecoversAndDeadLettersReplay(t *testing.T, be backend) {
	sim := teamstest.NewServer()
	defer sim.Close()
	sim.SetFault(teamstest.Fault{Status: 404, Path: "/gone"})
	cfg := writeConfig(t, t.TempDir(), be.own(t)+fmt.Sprintf(`destinations:
  - {name: flaky, url: %q, allow_private: true, max_attempts: 4, backoff: 50ms, max_backoff: 400ms, breaker_failures: 3, breaker_open_for: 300ms}
  - {name: gone, url: %q, allow_private: true}
routes:
  - {source: app, filter: '.to == "flaky"', to: [flaky]}
  - {source: app, filter: '.to == "gone"', to: [gone]}
`, sim.URL+"/flaky", sim.URL+"/gone"))
	r := startRelay(t, cfg)
	ctx := context.Background()
	// The outage starts once the relay delivers to flaky: building the
	// binary, and on a busy machine the stages' start (consumers, the
	// claim, the lane), may take longer than the outage lasts, and the
	// events would then meet no outage at all.
	if code, err := send(ctx, http.DefaultClient, r.ingest, `{"to":"flaky","n":-1}`); err != nil || code != 202 {
		t.Fatalf("send: %d %v", code, err)
	}
	waitAccepted(t, sim, "/flaky", 1, 60*time.Second)
	sim.SetFault(teamstest.Fault{Status: 500, For: 2 * time.Second, Path: "/flaky"})
	for n := range 5 {
		for _, to := range []string{"flaky", "gone"} {
			if code, err := send(ctx, http.DefaultClient, r.ingest, fmt.Sprintf(`{"to":%q,"n":%d}`, to, n)); err != nil || code != 202 {
				t.Fatalf("send: %d %v", code, err)
			}
		}
	}
	waitAccepted(t, sim, "/flaky", 1+5, 60*time.Second)
	if failed := len(sim.Received("/flaky")) - len(sim.Accepted("/flaky")); failed == 0 {
		t.Error("the outage refused nothing; the test proves nothing")
	}

	// The 404 destination's events are dead letters, listed by the CLI.
	listGone := func() []map[string]any { return dlqList(t, r, "gone") }
	deadline := time.Now().Add(30 * time.Second)
	for len(listGone()) < 5 {
		if time.Now().After(deadline) {
			t.Fatalf("dlq list shows %d dead letters for gone, want 5", len(listGone()))
		}
		// The relay is another process: there is no signal to wait on but
		// its admin API, so poll it briefly.
		time.Sleep(100 * time.Millisecond)
	}
	for _, d := range listGone() {
		if d["reason"] != schemas.ReasonGone {
			t.Errorf("dead letter reason %v, want gone", d["reason"])
		}
	}

	sim.ClearFaults()
	if err := runDLQ(ctx, []string{"replay", "--admin", r.admin, "--destination", "gone"}, io.Discard, io.Discard); err != nil {
		t.Fatalf("dlq replay: %v", err)
	}
	waitAccepted(t, sim, "/gone", 5, 30*time.Second)
	if n := len(listGone()); n != 0 {
		t.Errorf("%d dead letters left after a successful replay", n)
	}

	// SIGTERM drains and exits 0.
	stopRelay(t, r)
}
