package transform

import (
	"context"
	"strings"
	"testing"

	"github.com/hookrelay/hookrelay/internal/queue"
)

// A filtered event names the routes and filters that did not take it, and a
// reconfiguration applies to the next event planned.
func TestReconfigureAndFilteredRoutes(t *testing.T) {
	s := queue.Over(nil) // planning reads no store
	tr, err := New(s, s, s, parseConfig(t, `  - {name: only-x, source: github, filter: '.x == 1', to: [ops]}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	ev := event("e1", "github", `{"x":2}`)
	outs, filtered, _ := tr.plan(context.Background(), tr.table.Load(), ev, false)
	if len(outs) != 0 || len(filtered) != 1 || filtered[0].name != "only-x" {
		t.Fatalf("plan: %d outputs, filtered %v", len(outs), filtered)
	}
	if got := filteredDetail("github", filtered); got != `no route took the event: route "only-x" filter .x == 1 did not match` {
		t.Errorf("detail = %q", got)
	}
	if got := filteredDetail("quiet", nil); !strings.Contains(got, `source "quiet" has no route`) {
		t.Errorf("detail without routes = %q", got)
	}

	undo, err := tr.Reconfigure(parseConfig(t, `  - {name: two, source: github, filter: '.x == 2', to: [dev]}`))
	if err != nil {
		t.Fatal(err)
	}
	outs, filtered, _ = tr.plan(context.Background(), tr.table.Load(), ev, false)
	if len(outs) != 1 || outs[0].delivery.Destination != "dev" || outs[0].delivery.Route != "two" || len(filtered) != 0 {
		t.Fatalf("after Reconfigure: outputs %+v, filtered %v", outs, filtered)
	}
	// A configuration that cannot be applied changes nothing.
	bad := parseConfig(t, `  - {name: bad, source: github, to: [ops]}`)
	bad.Routes[0].Mapping = "missing.jq" // deleted since it was checked
	if _, err := tr.Reconfigure(bad); err == nil {
		t.Fatal("Reconfigure accepted a missing mapping file")
	}
	if outs, _, _ = tr.plan(context.Background(), tr.table.Load(), ev, false); len(outs) != 1 || outs[0].delivery.Route != "two" {
		t.Errorf("a refused Reconfigure changed the routes: %+v", outs)
	}
	// Undone, the first configuration is back.
	undo()
	if outs, filtered, _ = tr.plan(context.Background(), tr.table.Load(), ev, false); len(outs) != 0 || len(filtered) != 1 || filtered[0].name != "only-x" {
		t.Errorf("after undo: outputs %+v, filtered %v, want only-x's filter again", outs, filtered)
	}
}
