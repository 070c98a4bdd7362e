package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/internal/teamstest"
)

// The operating tests (issue 15) drive the built binary as an SRE would:
// check, render, version, a second serve on a locked data_dir, a taken port,
// and live reloads by SIGHUP and POST /-/reload.

// runBinary runs hookrelay with args (and stdin) and returns its stdout,
// stderr and exit status.
func runBinary(t *testing.T, stdin string, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary(t), args...)
	cmd.Dir = repoRoot(t)
	cmd.Stdin = strings.NewReader(stdin)
	if env != nil {
		cmd.Env = env
	}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if exit, ok := errors.AsType[*exec.ExitError](err); ok {
		return out.String(), errOut.String(), exit.ExitCode()
	}
	if err != nil {
		t.Fatalf("hookrelay %s: %v", strings.Join(args, " "), err)
	}
	return out.String(), errOut.String(), 0
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// envWithout is the environment without the variables the example configs
// reference, as on a CI machine that has none of the secrets.
func envWithout() []string {
	var out []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasSuffix(name, "_TOKEN") || strings.HasSuffix(name, "_SECRET") || strings.HasSuffix(name, "_URL") ||
			name == "KAFKA_BROKERS" {
			continue
		}
		out = append(out, kv)
	}
	return out
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"version"}} {
		stdout, stderr, code := runBinary(t, "", nil, args...)
		if code != 0 || !strings.HasPrefix(stdout, "hookrelay ") || !strings.Contains(stdout, "go1.") {
			t.Errorf("hookrelay %s: exit %d, stdout %q, stderr %q", args[0], code, stdout, stderr)
		}
	}
	stdout, _, code := runBinary(t, "", nil, "version", "-o", "json")
	if code != 0 || !strings.Contains(stdout, `"go_version": "go1.`) {
		t.Errorf("version -o json: exit %d, %s", code, stdout)
	}
}

func TestExitStatus(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want int
	}{
		{nil, exitUsage},
		{[]string{"no-such-command"}, exitUsage},
		{[]string{"serve", "--no-such-flag"}, exitUsage},
		{[]string{"serve", "--config", "/nonexistent/hookrelay.yaml"}, exitUsage},
		{[]string{"check", "-h"}, 0},
		{[]string{"completion", "bash"}, 0},
		{[]string{"completion", "zsh"}, 0},
		{[]string{"completion", "fish"}, exitUsage},
	} {
		_, stderr, code := runBinary(t, "", nil, tc.args...)
		if code != tc.want {
			t.Errorf("hookrelay %v: exit %d, want %d (stderr %q)", tc.args, code, tc.want, stderr)
		}
	}
}

// Every configuration the repository ships passes check, without its secrets.
func TestCheckPassesEveryShippedConfig(t *testing.T) {
	root := repoRoot(t)
	files, err := filepath.Glob(filepath.Join(root, "examples", "*.yaml"))
	if err != nil || len(files) < 3 {
		t.Fatalf("examples: %v %v", files, err)
	}
	files = append(files, filepath.Join(root, "deploy", "kubernetes", "hookrelay.yaml"),
		filepath.Join(root, "deploy", "compose", "hookrelay.yaml"))
	for _, f := range files {
		stdout, stderr, code := runBinary(t, "", envWithout(), "check", "--config", f)
		if code != 0 || !strings.Contains(stdout, ": valid: ") {
			t.Errorf("check %s: exit %d\n%s%s", f, code, stdout, stderr)
		}
	}
}

// A broken file fails check with status 1 and every problem on its line.
func TestCheckFailsBrokenConfigsWithTheirLines(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		want       []string
	}{
		{"typo and duration", `sources:
  - name: app
    verify: {scheme: token, secret: 0123456789abcdef01}
destinations:
  - name: ops
    url: https://example.com/hook
    timeout: 10 seconds
destinatons: []
routes:
  - {source: app, to: [ops]}
`, []string{`line 7: destinations[0].timeout: "10 seconds" is not a duration: write 10s`,
			`line 8: unknown field "destinatons"; did you mean "destinations"?`}},
		{"filter, mapping and destination", `sources:
  - name: app
    verify: {scheme: token, secret: 0123456789abcdef01}
    mapping: nosuch
destinations:
  - {name: ops, url: "http://10.0.0.1/x"}
routes:
  - source: app
    filter: '.a =='
    to: [ops, gone]
`, []string{`line 4: sources[0].mapping: unknown mapping "nosuch"`,
			`line 6: destinations[0].url: must be https`,
			`line 9: routes[0].filter: jq filter ".a =="`,
			`line 10: routes[0].to[1]: unknown destination "gone"`}},
		{"short secret", "sources:\n  - name: app\n    verify: {scheme: token, secret: t}\n",
			[]string{"line 3: sources[0].verify.secret: is 1 bytes; at least 16 are required"}},
		{"admin API open without a token", "admin_listen: 0.0.0.0:8081\n",
			[]string{"admin_token is required when admin_listen (0.0.0.0:8081) is not a loopback address"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "broken.yaml")
			if err := os.WriteFile(path, []byte(tc.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			stdout, stderr, code := runBinary(t, "", nil, "check", "--config", path)
			if code != 1 {
				t.Errorf("exit %d, want 1", code)
			}
			for _, want := range tc.want {
				if !strings.Contains(stdout, want) {
					t.Errorf("check output lacks %q:\n%s%s", want, stdout, stderr)
				}
			}
			// From stdin, the same.
			raw, _ := os.ReadFile(path)
			stdout, _, code = runBinary(t, string(raw), nil, "check", "--config", "-")
			if code != 1 || !strings.Contains(stdout, tc.want[0]) {
				t.Errorf("check --config -: exit %d\n%s", code, stdout)
			}
			// serve runs the same validation, and exits 2 on it.
			_, stderr, code = runBinary(t, "", nil, "serve", "--config", path)
			if code != exitUsage || !strings.Contains(stderr, tc.want[0]) {
				t.Errorf("serve: exit %d, want %d with %q:\n%s", code, exitUsage, tc.want[0], stderr)
			}
		})
	}
}

// render needs no secret: examples/vendors.yaml's own recipe works with none
// set, the payload read from stdin.
func TestRenderWithSecretsUnset(t *testing.T) {
	payload := `{"ref":"refs/heads/main","repository":{"full_name":"acme/api","html_url":"https://github.com/acme/api"},` +
		`"pusher":{"name":"ada"},"commits":[{"id":"0123456789abcdef","message":"fix it","url":"https://github.com/acme/api/commit/0123456"}],` +
		`"compare":"https://github.com/acme/api/compare/a...b"}`
	stdout, stderr, code := runBinary(t, payload, envWithout(), "render", "--config", "examples/vendors.yaml",
		"--source", "github", "--file", "-", "--header", "X-GitHub-Event: push")
	if code != 0 || !strings.Contains(stdout, "acme/api") || strings.Contains(stderr, "is not set") {
		t.Fatalf("render: exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
}

// A second serve on a data_dir in use exits 1 and names the holder's pid.
func TestSecondServeOnALockedDataDir(t *testing.T) {
	dataDir := t.TempDir()
	first := startRelay(t, writeConfig(t, dataDir, ""))
	_, stderr, code := runBinary(t, "", nil, "serve", "--config", writeConfig(t, dataDir, ""))
	want := fmt.Sprintf("in use by another process (pid %d)", first.cmd.Process.Pid)
	if code != exitFailure || !strings.Contains(stderr, want) {
		t.Fatalf("second serve: exit %d, want %d naming %q:\n%s", code, exitFailure, want, stderr)
	}
}

// With the admin port taken, serve fails before it says it serves.
func TestTakenPortFailsBeforeServing(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	path := filepath.Join(t.TempDir(), "hookrelay.yaml")
	cfg := fmt.Sprintf("listen: 127.0.0.1:0\nadmin_listen: %s\ndata_dir: %s\n", ln.Addr(), t.TempDir())
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := runBinary(t, "", nil, "serve", "--config", path)
	if code != exitFailure || !strings.Contains(stderr, "admin listener "+ln.Addr().String()) ||
		strings.Contains(stderr, "serving") || strings.Contains(stderr, "draining") {
		t.Fatalf("serve on a taken port: exit %d:\n%s", code, stderr)
	}
}

// waitLog waits for a log line whose message starts with prefix.
func (r *relay) waitLog(t *testing.T, prefix string, within time.Duration) {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case msg := <-r.logs:
			if strings.HasPrefix(msg, prefix) {
				return
			}
		case <-r.exited:
			t.Fatalf("serve exited waiting for %q: %v", prefix, r.exitErr)
		case <-deadline:
			t.Fatalf("no log line %q within %v", prefix, within)
		}
	}
}

// post sends body to source with token and returns the status.
func post(t *testing.T, ingest, source, token, body string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, ingest+"/hooks/"+source+"/"+token, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// postID sends body to source with token and returns the status and the
// event's id.
func postID(ingest, source, token, body string) (int, string, error) {
	resp, err := http.Post(ingest+"/hooks/"+source+"/"+token, "application/json", strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	var answer struct{ ID string }
	err = json.NewDecoder(resp.Body).Decode(&answer)
	return resp.StatusCode, answer.ID, err
}

func adminDo(t *testing.T, r *relay, method, path, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, r.admin+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// A reload applies a new file with no restart: a destination and a route
// added reach the next event while events flow to the others without loss
// or duplicate; a removed source answers 404; a rotated secret is accepted
// at once and the old one refused; a broken file is refused and the old
// configuration keeps working; a removed destination's waiting deliveries
// are dead-lettered as "removed".
func TestReloadAppliesANewConfigWithoutRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: runs the binary through several reloads")
	}
	eachBackend(t, testReloadAppliesANewConfigWithoutRestart)
}

func testReloadAppliesANewConfigWithoutRestart(t *testing.T, be backend) {
	queueLines := be.own(t)
	sim := teamstest.NewServer(teamstest.WithLimits(nil))
	defer sim.Close()
	const (
		adminToken = "admin-token-5f0c9a7e3b"
		appSecret  = "app-secret-0123456789"
		oldSecret  = "old-secret-0123456789"
		rotSecret1 = "rot-secret-one-0123456"
		rotSecret2 = "rot-secret-two-0123456"
	)
	path := filepath.Join(t.TempDir(), "hookrelay.yaml")
	dataDir := t.TempDir()
	write := func(sources, dests, routes string) {
		t.Helper()
		cfg := fmt.Sprintf("listen: 127.0.0.1:0\nadmin_listen: 127.0.0.1:0\nadmin_token: %s\ndata_dir: %s\n%s"+
			"sources:\n%sdestinations:\n%sroutes:\n%s", adminToken, dataDir, queueLines, sources, dests, routes)
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	dest := func(name string) string {
		return fmt.Sprintf("  - {name: %s, url: %q, limits: none, rate: 100, burst: 10, backoff: 50ms, max_backoff: 100ms, allow_private: true}\n",
			name, sim.URL+"/"+name)
	}
	// ops changed: another rate and timeout (a new worker, budget and consumer settings).
	opsChanged := fmt.Sprintf("  - {name: ops, url: %q, limits: none, rate: 80, burst: 8, timeout: 7s, backoff: 50ms, max_backoff: 100ms, allow_private: true}\n",
		sim.URL+"/ops")
	srcApp := fmt.Sprintf("  - {name: app, verify: {scheme: token, secret: %s}}\n", appSecret)
	srcOld := fmt.Sprintf("  - {name: old, verify: {scheme: token, secret: %s}}\n", oldSecret)
	srcRot := func(secret string) string {
		return fmt.Sprintf("  - {name: rot, verify: {scheme: token, secret: %s}}\n", secret)
	}
	routeOps := "  - {source: app, filter: '.to == \"ops\"', to: [ops]}\n  - {source: old, to: [ops]}\n  - {source: rot, to: [ops]}\n"
	routesAfter := strings.Replace(routeOps, "  - {source: old, to: [ops]}\n", "", 1) // without source old
	routeNew := "  - {name: app-new, source: app, filter: '.to == \"new\"', to: [new]}\n"

	write(srcApp+srcOld+srcRot(rotSecret1), dest("ops"), routeOps)
	r := startRelay(t, path)
	if code := post(t, r.ingest, "rot", rotSecret1, `{"title":"rot before"}`); code != http.StatusAccepted {
		t.Fatalf("rot before the reload: %d", code)
	}

	// Events flow to ops throughout the reload.
	const flow = 60
	var wg sync.WaitGroup
	reloaded := make(chan struct{})
	wg.Go(func() {
		for i := range flow {
			if i == flow/2 {
				<-reloaded
			}
			if code := post(t, r.ingest, "app", appSecret, fmt.Sprintf(`{"to":"ops","title":"flow-%03d"}`, i)); code != http.StatusAccepted {
				t.Errorf("flow event %d: %d", i, code)
			}
		}
	})

	// Reload 1 (SIGHUP): destination "new" and its route added, ops
	// changed, source "old" removed, rot's secret rotated.
	write(srcApp+srcRot(rotSecret2), opsChanged+dest("new"), routesAfter+routeNew)
	if err := r.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	r.waitLog(t, "destination changed", 30*time.Second)
	r.waitLog(t, "configuration reloaded", 30*time.Second)
	close(reloaded)
	if code := post(t, r.ingest, "app", appSecret, `{"to":"new","title":"first-to-new"}`); code != http.StatusAccepted {
		t.Fatalf("event to the new destination: %d", code)
	}
	if missing := waitMarkers(sim, []string{"/new"}, []string{"first-to-new"}, 30*time.Second); len(missing) > 0 {
		t.Errorf("the added destination did not get the next event")
	}
	if code := post(t, r.ingest, "old", oldSecret, `{"title":"to a removed source"}`); code != http.StatusNotFound {
		t.Errorf("removed source: %d, want 404", code)
	}
	if code := post(t, r.ingest, "rot", rotSecret2, `{"title":"rot after"}`); code != http.StatusAccepted {
		t.Errorf("rotated secret: %d, want 202", code)
	}
	if code := post(t, r.ingest, "rot", rotSecret1, `{"title":"rot old secret"}`); code != http.StatusUnauthorized {
		t.Errorf("old secret after rotation: %d, want 401", code)
	}
	// An event no route takes is counted, and events show names the filters.
	if _, id, err := postID(r.ingest, "app", appSecret, `{"to":"nowhere"}`); err != nil || id == "" {
		t.Fatalf("filtered event: id %q, %v", id, err)
	} else {
		env := append(os.Environ(), "HOOKRELAY_ADMIN_TOKEN="+adminToken)
		eventually(t, "the filtered event's history", func() bool {
			stdout, _, _ := runBinary(t, "", env, "events", "show", id, "--admin", r.admin)
			return strings.Contains(stdout, `route "app-1" filter .to == "ops" did not match`) &&
				strings.Contains(stdout, `route "app-new" filter .to == "new" did not match`)
		})
		// app-1 (to ops) did not take the event sent to "new", nor this one.
		if _, metrics := adminDo(t, r, http.MethodGet, "/metrics", ""); !strings.Contains(metrics,
			`hookrelay_route_filtered_total{route="app-1",source="app"} 2`) {
			t.Errorf("filtered counts:\n%s", grepLines(metrics, "hookrelay_route_filtered_total"))
		}
	}
	wg.Wait()
	markers := make([]string, flow)
	for i := range markers {
		markers[i] = fmt.Sprintf("flow-%03d", i)
	}
	if missing := waitMarkers(sim, []string{"/ops"}, markers, 60*time.Second); len(missing) > 0 {
		t.Fatalf("lost across the reload: %v", missing)
	}
	for _, m := range markers {
		n := 0
		for _, rec := range sim.Received("/ops") {
			if bytes.Contains(rec.Body, []byte(m)) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%s delivered %d times, want once", m, n)
		}
	}

	// Reload 2: a broken file is refused, the old configuration stays.
	write(srcApp+srcRot(rotSecret2)+"rate_limt: 5\n", dest("ops")+dest("new"), routesAfter+routeNew)
	if err := r.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	r.waitLog(t, "configuration reload refused", 30*time.Second)
	if _, metrics := adminDo(t, r, http.MethodGet, "/metrics", ""); !strings.Contains(metrics, "hookrelay_config_last_reload_successful 0") ||
		!strings.Contains(metrics, `hookrelay_config_reloads_total{result="failure"} 1`) {
		t.Errorf("metrics after a refused reload:\n%s", grepLines(metrics, "hookrelay_config"))
	}
	if code := post(t, r.ingest, "app", appSecret, `{"to":"new","title":"after-refused"}`); code != http.StatusAccepted {
		t.Fatalf("after a refused reload: %d", code)
	}
	if missing := waitMarkers(sim, []string{"/new"}, []string{"after-refused"}, 30*time.Second); len(missing) > 0 {
		t.Errorf("the running configuration stopped working after a refused reload")
	}

	// POST /-/reload is behind the admin token and says why it refused.
	if code, _ := adminDo(t, r, http.MethodPost, "/-/reload", ""); code != http.StatusUnauthorized {
		t.Errorf("POST /-/reload without the token: %d, want 401", code)
	}
	if code, body := adminDo(t, r, http.MethodPost, "/-/reload", adminToken); code != http.StatusInternalServerError ||
		!strings.Contains(body, `unknown field "rate_limt"`) {
		t.Errorf("POST /-/reload of a broken file: %d %s", code, body)
	}

	// Reload 3 (POST): "new" removed while a delivery waits for it (the
	// receiver answers 503): that delivery is dead-lettered as removed.
	sim.SetFault(teamstest.Fault{Status: http.StatusServiceUnavailable, Path: "/new"})
	if code := post(t, r.ingest, "app", appSecret, `{"to":"new","title":"waiting-for-new"}`); code != http.StatusAccepted {
		t.Fatalf("event to new: %d", code)
	}
	waitReceived(t, sim, "/new", "waiting-for-new", 30*time.Second)
	write(srcApp+srcRot(rotSecret2), dest("ops"), routesAfter)
	if code, body := adminDo(t, r, http.MethodPost, "/-/reload", adminToken); code != http.StatusOK {
		t.Fatalf("POST /-/reload: %d %s", code, body)
	}
	r.waitLog(t, "dead-lettered", 30*time.Second)
	if _, list := adminDo(t, r, http.MethodGet, "/api/v1/deadletters?reason=removed", adminToken); !strings.Contains(list, `"reason": "removed"`) ||
		!strings.Contains(list, "waiting-for-new") {
		t.Fatalf("no dead letter with reason removed for the removed destination:\n%s", list)
	}
	// Once "new" is back, the removed dead letter replays to it.
	sim.ClearFaults()
	write(srcApp+srcRot(rotSecret2), dest("ops")+dest("new"), routesAfter+routeNew)
	if code, body := adminDo(t, r, http.MethodPost, "/-/reload", adminToken); code != http.StatusOK {
		t.Fatalf("POST /-/reload: %d %s", code, body)
	}
	stdout, stderr, code := runBinary(t, "", append(os.Environ(), "HOOKRELAY_ADMIN_TOKEN="+adminToken),
		"dlq", "replay", "--reason", "removed", "--admin", r.admin)
	if code != 0 || !strings.Contains(stdout, "replayed 1 dead letter") {
		t.Fatalf("dlq replay --reason removed: exit %d\n%s%s", code, stdout, stderr)
	}
	if missing := waitMarkers(sim, []string{"/new"}, []string{"waiting-for-new"}, 30*time.Second); len(missing) > 0 {
		t.Errorf("the removed destination's dead letter did not reach it once it was back")
	}
	if _, metrics := adminDo(t, r, http.MethodGet, "/metrics", ""); !strings.Contains(metrics, "hookrelay_config_last_reload_successful 1") ||
		!strings.Contains(metrics, `hookrelay_config_reloads_total{result="success"} 3`) {
		t.Errorf("metrics after a successful reload:\n%s", grepLines(metrics, "hookrelay_config"))
	}
}

// waitReceived waits until a request carrying marker reached path.
func waitReceived(t *testing.T, sim *teamstest.Server, path, marker string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		for _, rec := range sim.Received(path) {
			if bytes.Contains(rec.Body, []byte(marker)) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never received %q", path, marker)
		}
		time.Sleep(20 * time.Millisecond) // the simulator signals accepted cards only
	}
}

func grepLines(text, prefix string) string {
	var out []string
	for line := range strings.SplitSeq(text, "\n") {
		if strings.HasPrefix(line, prefix) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n") + "\n(" + strconv.Itoa(len(out)) + " lines)"
}

// With --watch-config, a changed file is reloaded without a signal, as a
// Kubernetes ConfigMap update would be.
func TestWatchConfigReloadsAChangedFile(t *testing.T) {
	dataDir := t.TempDir()
	path := writeConfig(t, dataDir, "")
	r := startRelay(t, path, "--watch-config", "100ms")
	if code := post(t, r.ingest, "later", "later-secret-0123456789", `{}`); code != http.StatusNotFound {
		t.Fatalf("source later before it is configured: %d", code)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	raw = append(raw, "  - {name: later, verify: {scheme: token, secret: later-secret-0123456789}}\n"...)
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	r.waitLog(t, "configuration reloaded", 30*time.Second)
	if code := post(t, r.ingest, "later", "later-secret-0123456789", `{}`); code != http.StatusAccepted {
		t.Errorf("source later after the file changed: %d, want 202", code)
	}
}

// demo runs the relay and the simulator in one process: an interrupt stops
// both, and the simulator's port is free again.
func TestDemoStopsBothOnInterrupt(t *testing.T) {
	simLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	simAddr := simLn.Addr().String()
	simLn.Close()
	raw, err := os.ReadFile(filepath.Join(repoRoot(t), "examples", "quickstart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.NewReplacer("127.0.0.1:8080", "127.0.0.1:0", "127.0.0.1:8081", "127.0.0.1:0",
		"127.0.0.1:9090", simAddr, "./data", t.TempDir()).Replace(string(raw))
	path := filepath.Join(t.TempDir(), "quickstart.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary(t), "demo", "--config", path, "--sim-listen", simAddr)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	serving := make(chan struct{})
	logDone := make(chan string)
	go func() {
		var all strings.Builder
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			all.WriteString(sc.Text() + "\n")
			if strings.Contains(sc.Text(), `"msg":"hookrelay serving"`) {
				close(serving)
			}
		}
		logDone <- all.String()
	}()
	select {
	case <-serving:
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("demo did not serve:\n%s", <-logDone)
	}
	if c, err := net.Dial("tcp", simAddr); err != nil {
		t.Fatalf("the simulator does not listen on %s: %v", simAddr, err)
	} else {
		c.Close()
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	logs := <-logDone
	if err := cmd.Wait(); err != nil {
		t.Fatalf("demo after an interrupt: %v\n%s", err, logs)
	}
	if c, err := net.Dial("tcp", simAddr); err == nil {
		c.Close()
		t.Errorf("the simulator still listens on %s after the interrupt", simAddr)
	}
}

// A change written between the start's read of the file and the watch's first
// look is still reloaded: the watch starts from the digest taken at start.
// On a busy machine the test above wrote its change before the watch's
// goroutine first ran, and no reload ever came.
func TestWatchFileReloadsAChangeMadeBeforeItStarted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hookrelay.yaml")
	if err := os.WriteFile(path, []byte("sources: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	loaded := fileDigest(path)
	if err := os.WriteFile(path, []byte("sources: [later]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	reloaded := make(chan struct{})
	go watchFile(ctx, path, loaded, time.Millisecond, func() { close(reloaded); cancel() })
	select {
	case <-reloaded:
	case <-ctx.Done():
		t.Fatal("the change made before the watch started was never reloaded")
	}
}

// A reload that is refused changes nothing: here the new configuration names
// a destination on a private address without allow_private (which `check`
// refuses too) and a new mapping, and the old mapping's file is gone since.
// The next event is still mapped by the old mapping, sent to the old
// destinations only.
func TestRefusedReloadChangesNothing(t *testing.T) {
	sim := teamstest.NewServer(teamstest.WithLimits(nil))
	defer sim.Close()
	const adminToken, secret = "admin-token-5f0c9a7e3b", "app-secret-0123456789"
	dir, dataDir := t.TempDir(), t.TempDir()
	oldJQ, newJQ := filepath.Join(dir, "old.jq"), filepath.Join(dir, "new.jq")
	for path, title := range map[string]string{oldJQ: "OLD-MAPPING", newJQ: "NEW-MAPPING"} {
		if err := os.WriteFile(path, []byte(`{title: "`+title+` \(.n)"}`), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "hookrelay.yaml")
	write := func(mapping, dests, to string) {
		t.Helper()
		cfg := fmt.Sprintf("listen: 127.0.0.1:0\nadmin_listen: 127.0.0.1:0\nadmin_token: %s\ndata_dir: %s\n"+
			"sources:\n  - {name: app, verify: {scheme: token, secret: %s}, mapping: %s}\n"+
			"destinations:\n%sroutes:\n  - {source: app, to: [%s]}\n", adminToken, dataDir, secret, mapping, dests, to)
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ops := fmt.Sprintf("  - {name: ops, url: %q, limits: none, rate: 100, burst: 10, allow_private: true}\n", sim.URL+"/ops")
	priv := "  - {name: priv, url: \"https://10.255.0.1/hook\", limits: none}\n"
	write(newJQ, ops+priv, "ops, priv")
	if out, errOut, code := runBinary(t, "", nil, "check", "--config", path); code == 0 || !strings.Contains(out+errOut, "non-public address") {
		t.Errorf("check of the new configuration: exit %d, %s%s; want it refused for the private address", code, out, errOut)
	}
	write(oldJQ, ops, "ops")
	r := startRelay(t, path)
	if code := post(t, r.ingest, "app", secret, `{"n":"before"}`); code != http.StatusAccepted {
		t.Fatalf("before: %d", code)
	}
	waitReceived(t, sim, "/ops", "OLD-MAPPING before", 30*time.Second)

	write(newJQ, ops+priv, "ops, priv")
	if err := os.Remove(oldJQ); err != nil {
		t.Fatal(err)
	}
	if code, body := adminDo(t, r, http.MethodPost, "/-/reload", adminToken); code == http.StatusOK {
		t.Fatalf("reload accepted: %s", body)
	}
	if code := post(t, r.ingest, "app", secret, `{"n":"after"}`); code != http.StatusAccepted {
		t.Fatalf("after: %d", code)
	}
	waitReceived(t, sim, "/ops", "OLD-MAPPING after", 30*time.Second)
	for _, w := range r.lastWarnings() {
		if strings.Contains(w, `"priv"`) {
			t.Errorf("the refused destination has deliveries: %s", w)
		}
	}
}
