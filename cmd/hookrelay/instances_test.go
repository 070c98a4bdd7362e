package main

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/internal/teamstest"
)

func TestTwoInstancesShareDestinationsAndSurviveAKill(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: two relay processes on a shared queue")
	}
	eachBackend(t, testTwoInstancesShareDestinationsAndSurviveAKill)
}

func testTwoInstancesShareDestinationsAndSurviveAKill(t *testing.T, be backend) {
	sim := teamstest.NewServer() // Teams' ladder
	defer sim.Close()
	const dests = 4
	body := be.shared(t) + "destinations:\n"
	for i := range dests {
		body += fmt.Sprintf("  - {name: d%d, url: %q, timeout: 3s, limits: teams, allow_private: true}\n", i, fmt.Sprintf("%s/d%d", sim.URL, i))
	}
	body += "routes:\n"
	for i := range dests {
		body += fmt.Sprintf("  - {source: app, filter: '.d == %d', to: [d%d]}\n", i, i)
	}
	a := startRelay(t, writeConfig(t, t.TempDir(), body))
	b := startRelay(t, writeConfig(t, t.TempDir(), body))

	ctx := context.Background()
	var sent []string
	post := func(r *relay, from, to int) {
		t.Helper()
		for n := from; n < to; n++ {
			marker := fmt.Sprintf("mk%dzz", n)
			code, err := send(ctx, http.DefaultClient, r.ingest, fmt.Sprintf(`{"d":%d,"marker":%q}`, n%dests, marker))
			if err != nil || code != http.StatusAccepted {
				t.Fatalf("event %d: %d %v", n, code, err)
			}
			sent = append(sent, marker)
		}
	}
	post(a, 0, 20)
	post(b, 20, 40)
	waitAccepted(t, sim, "/d0", 3, 30*time.Second)
	a.kill()
	<-a.exited
	killedAt := time.Now()
	post(b, 40, 60)

	// Every accepted event arrives, within 30 s of the kill plus the time the
	// budget needs for the backlog (15 per destination at 4/s). Counting cards
	// is not enough: a card the killed instance sent but could not ack comes
	// again, so look for every event by its marker.
	var paths []string
	for i := range dests {
		paths = append(paths, fmt.Sprintf("/d%d", i))
	}
	if missing := waitMarkers(sim, paths, sent, 45*time.Second); len(missing) > 0 {
		t.Fatalf("%d accepted events never delivered %v after the kill, e.g. %v; status: %s",
			len(missing), time.Since(killedAt), missing[:min(5, len(missing))], adminGet(t, b, "/api/v1/destinations"))
	}
	for _, path := range paths {
		for _, rec := range sim.Received(path) {
			if !rec.Accepted && rec.Status != 0 {
				t.Errorf("%s answered %d: the two instances together exceeded the budget", path, rec.Status)
			}
		}
		if got := sim.MaxInWindow(path, time.Second); got > 4 {
			t.Errorf("%s: %d requests in one second, limit 4", path, got)
		}
	}
	t.Logf("all %d events delivered; the surviving instance finished %v after the kill", len(sent), time.Since(killedAt))
}
