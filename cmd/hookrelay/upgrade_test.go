package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/internal/teamstest"
)

// previousRelease is the last release before dispatch read RELAY_OUT by
// lanes: it kept a consumer per destination.
const previousRelease = "cbba20b46ef15c60b247b4f8865e4fe563a643b0"

// buildRelease builds hookrelay as it was at commit, from this repository's
// history. Without git or the commit (a shallow clone) the test is skipped,
// loudly.
func buildRelease(t *testing.T, commit string) string {
	t.Helper()
	missing := func(format string, args ...any) {
		t.Helper()
		t.Skipf("SKIPPED, the upgrade is not tested: "+format, args...)
	}
	if _, err := exec.LookPath("git"); err != nil {
		missing("no git to build release %s: %v", commit, err)
	}
	if out, err := exec.Command("git", "cat-file", "-e", commit+"^{commit}").CombinedOutput(); err != nil {
		missing("commit %s is not in this clone (%v: %s): fetch the full history", commit, err, out)
	}
	top, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		missing("not in a git checkout: %v", err)
	}
	src := t.TempDir()
	archive := exec.Command("git", "archive", "--format=tar", commit)
	archive.Dir = string(bytes.TrimSpace(top))
	untar := exec.Command("tar", "-x", "-C", src)
	pipe, err := archive.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	untar.Stdin = pipe
	if err := untar.Start(); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	archive.Stderr = &stderr
	if err := archive.Run(); err != nil {
		t.Fatalf("git archive %s: %v\n%s", commit, err, stderr.String())
	}
	if err := untar.Wait(); err != nil {
		t.Fatalf("untar release %s: %v", commit, err)
	}
	bin := filepath.Join(t.TempDir(), "hookrelay-"+commit[:7])
	build := exec.Command("go", "build", "-o", bin, "./cmd/hookrelay")
	build.Dir = src
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build release %s: %v\n%s", commit, err, out)
	}
	return bin
}

// The previous release wrote the data directory: deliveries waiting behind
// a destination that was down (held by its consumers, some in flight), and
// dead letters, named by their stream sequence. This release starts on it,
// retires the consumers and delivers every waiting delivery; the dead
// letters are listed by their old ids, and shown, purged and replayed by
// them, among a new dead letter named by what it is.
func TestUpgradeFromThePreviousReleaseKeepsEverything(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: builds the previous release")
	}
	prev := buildRelease(t, previousRelease)
	sim := teamstest.NewServer()
	defer sim.Close()
	sim.SetFault(teamstest.Fault{Status: 500, Path: "/down"})
	sim.SetFault(teamstest.Fault{Status: 404, Path: "/gone"})
	cfg := writeConfig(t, t.TempDir(), fmt.Sprintf(`destinations:
  - {name: down, url: %q, allow_private: true, max_attempts: 1000, backoff: 100ms, max_backoff: 300ms, breaker_failures: 1000}
  - {name: gone, url: %q, allow_private: true}
routes:
  - {source: app, filter: '.to == "down"', to: [down]}
  - {source: app, filter: '.to == "gone"', to: [gone]}
`, sim.URL+"/down", sim.URL+"/gone"))

	old := startRelayBinary(t, prev, cfg)
	ctx := context.Background()
	var markers []string
	for n := range 10 {
		marker := fmt.Sprintf("upg%dzz", n)
		markers = append(markers, marker)
		if code, err := send(ctx, http.DefaultClient, old.ingest, fmt.Sprintf(`{"to":"down","marker":%q}`, marker)); err != nil || code != 202 {
			t.Fatalf("send to the previous release: %d %v", code, err)
		}
	}
	for n := range 3 {
		if code, err := send(ctx, http.DefaultClient, old.ingest, fmt.Sprintf(`{"to":"gone","n":%d}`, n)); err != nil || code != 202 {
			t.Fatalf("send to the previous release: %d %v", code, err)
		}
	}
	gone := func(r *relay) int { return len(dlqList(t, r, "gone")) }
	deadline := time.Now().Add(60 * time.Second)
	for gone(old) < 3 || len(sim.Received("/down")) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("the previous release made %d dead letters and %d attempts on /down, want 3 and 2",
				gone(old), len(sim.Received("/down")))
		}
		time.Sleep(100 * time.Millisecond) // another process: its admin API is all there is to ask
	}
	stopRelay(t, old)
	if n := len(sim.Accepted("/down")); n != 0 {
		t.Fatalf("%d cards reached /down while it was down", n)
	}

	sim.ClearFaults()
	r := startRelay(t, cfg)
	if missing := waitMarkers(sim, []string{"/down"}, markers, 60*time.Second); len(missing) > 0 {
		t.Fatalf("after the upgrade, waiting deliveries never arrived: %v", missing)
	}
	if n := gone(r); n != 3 {
		t.Fatalf("after the upgrade dlq list shows %d dead letters of gone, want 3", n)
	}
	var oldIDs []string
	for _, e := range dlqList(t, r, "gone") {
		id, _ := e["id"].(string)
		if _, err := strconv.ParseUint(id, 10, 64); err != nil {
			t.Fatalf("a dead letter of the previous release listed as %q, want its number", id)
		}
		oldIDs = append(oldIDs, id)
	}
	dlq := func(args ...string) string {
		t.Helper()
		var out bytes.Buffer
		if err := runDLQ(ctx, append(args, "--admin", r.admin), &out, io.Discard); err != nil {
			t.Fatalf("dlq %s: %v\n%s", strings.Join(args, " "), err, out.String())
		}
		return out.String()
	}
	if out := dlq("show", "-o", "json", oldIDs[0]); !strings.Contains(out, `"id": "`+oldIDs[0]+`"`) || !strings.Contains(out, `"destination": "gone"`) {
		t.Errorf("dlq show %s of the previous release:\n%s", oldIDs[0], out)
	}
	if out := dlq("purge", "--id", oldIDs[0], "--yes"); !strings.Contains(out, "purged 1") {
		t.Errorf("dlq purge --id %s: %q", oldIDs[0], out)
	}

	// A dead letter of this release, beside them, is named by what it is.
	sim.SetFault(teamstest.Fault{Status: 404, Path: "/gone"})
	code, eventID, err := sendID(ctx, http.DefaultClient, r.ingest, `{"to":"gone","n":3}`)
	if err != nil || code != 202 {
		t.Fatalf("send to this release: %d %v", code, err)
	}
	newID := eventID + ":gone:0"
	for deadline := time.Now().Add(30 * time.Second); gone(r) < 3; {
		if time.Now().After(deadline) {
			t.Fatalf("this release's dead letter of gone never listed: %s", adminGet(t, r, "/api/v1/deadletters"))
		}
		time.Sleep(100 * time.Millisecond) // another process: its admin API is all there is to ask
	}
	var listed []string
	for _, e := range dlqList(t, r, "gone") {
		id, _ := e["id"].(string)
		listed = append(listed, id)
	}
	if want := []string{oldIDs[1], oldIDs[2], newID}; !slices.Equal(listed, want) {
		t.Fatalf("dead letters of gone: %q, want the previous release's by number, then %s", listed, newID)
	}
	sim.ClearFaults()
	if out := dlq("replay", "--id", oldIDs[1]+","+newID); !strings.Contains(out, "replayed 2") {
		t.Errorf("dlq replay --id %s,%s: %q", oldIDs[1], newID, out)
	}
	waitAccepted(t, sim, "/gone", 2, 30*time.Second)
	if err := runDLQ(ctx, []string{"replay", "--admin", r.admin, "--destination", "gone"}, io.Discard, io.Discard); err != nil {
		t.Fatalf("dlq replay of the previous release's dead letters: %v", err)
	}
	waitAccepted(t, sim, "/gone", 3, 30*time.Second)
	if n := gone(r); n != 0 {
		t.Errorf("%d dead letters of gone left after replaying them all", n)
	}
	stopRelay(t, r)
}
