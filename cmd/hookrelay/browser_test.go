package main

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/hookrelay/hookrelay/deadletter"
	"github.com/hookrelay/hookrelay/internal/history"
	"github.com/hookrelay/hookrelay/internal/teamstest"
)

// chromiumPath is Debian's chromium, which .ci/install-chromium installs.
const chromiumPath = "/usr/bin/chromium"

// browser starts a headless chromium with a fresh profile and returns a
// context driving one tab of it, ended with the test.
func browser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is missing in CI: .ci/install-chromium should have installed it", chromiumPath)
		}
		t.Skipf("!!! SKIPPING THE ADMIN PAGE BROWSER TEST: %s not found (apt-get install -y chromium, or run .ci/install-chromium) !!!", chromiumPath)
	}
	// The flags keep a test browser quiet: no network beyond the page, no
	// first-run or background work, a profile of its own.
	profile, err := os.MkdirTemp("", "hookrelay-chromium-")
	if err != nil {
		t.Fatalf("browser profile dir: %v", err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(profile),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() {
		// Close the browser and wait for it, then remove its profile. Its
		// helper processes may still write there for a moment after the
		// browser is gone (t.TempDir's cleanup failed the test for that), so
		// a leftover profile is logged, not a failure.
		_ = chromedp.Cancel(ctx)
		cancelTimeout()
		cancelTab()
		cancelAlloc()
		if err := os.RemoveAll(profile); err != nil {
			t.Logf("remove the browser profile: %v", err)
		}
	})
	// Purge asks for confirmation in a dialog: the operator says yes.
	chromedp.ListenTarget(ctx, func(ev any) {
		if _, ok := ev.(*page.EventJavascriptDialogOpening); ok {
			go func() { _ = chromedp.Run(ctx, page.HandleJavaScriptDialog(true)) }()
		}
	})
	if err := chromedp.Run(ctx); err != nil {
		t.Fatalf("start %s: %v", chromiumPath, err)
	}
	return ctx
}

// TestAdminPageInABrowser drives the admin page in a real headless chromium
// against a real stack: the page needs the token, shows the destination and
// the dead letters, its replay button makes the simulator receive the card,
// its purge button deletes, and it shows the event's history.
func TestAdminPageInABrowser(t *testing.T) {
	ctx := browser(t)
	s := startStack(t, nil)
	s.sim.SetFault(teamstest.Fault{Status: 404, Path: "/ops"})
	replayID := s.send(t, `{"title":"replay me"}`)
	purgeID := s.send(t, `{"title":"purge me"}`)
	var dead []deadletter.Entry
	eventually(t, "two dead letters", func() bool { dead = s.deadLetters(t); return len(dead) == 2 })
	if dead[0].Delivery.EventID != replayID || dead[1].Delivery.EventID != purgeID {
		t.Fatalf("dead letters %s, %s; want the events in order", dead[0].Delivery.EventID, dead[1].Delivery.EventID)
	}
	s.sim.ClearFaults()

	// Without the token the page says what to do.
	var status string
	err := chromedp.Run(ctx,
		chromedp.Navigate(s.admin+"/"),
		chromedp.WaitVisible("#token"),
		chromedp.Poll(`document.getElementById("status").textContent.includes("token")`, nil),
		chromedp.Text("#status", &status, chromedp.ByID),
	)
	if err != nil {
		t.Fatalf("load the page: %v (status %q)", err, status)
	}
	if !strings.Contains(status, "admin token missing or wrong") {
		t.Errorf("status without a token: %q", status)
	}

	// With it, the page lists the destination and both dead letters.
	row := func(id string) string { return `#dl-rows tr[data-id="` + id + `"]` }
	var dest, dlRows string
	err = chromedp.Run(ctx,
		chromedp.SendKeys("#token", adminToken, chromedp.ByID),
		chromedp.Click("#save-token", chromedp.ByID),
		chromedp.WaitVisible(`#dest-rows tr[data-name="ops"]`),
		chromedp.WaitVisible(row(dead[1].ID)),
		chromedp.Text(`#dest-rows tr[data-name="ops"]`, &dest),
		chromedp.Text("#dl-rows", &dlRows, chromedp.ByID),
	)
	if err != nil {
		t.Fatalf("use the token: %v", err)
	}
	if f := strings.Fields(dest); len(f) < 4 || f[0] != "ops" || f[1] != "closed" || f[2] != "yes" || f[3] != "0" {
		t.Errorf("destination row %q: want ops, breaker closed, gone yes, backlog 0", dest)
	}
	if !strings.Contains(dlRows, "gone") || !strings.Contains(dlRows, "404") {
		t.Errorf("dead-letter rows %q: want reason and status", dlRows)
	}

	// Replay one: the simulator receives its card, once.
	err = chromedp.Run(ctx,
		chromedp.Click(row(dead[0].ID)+" button.replay"),
		chromedp.Poll(`document.getElementById("status").textContent.startsWith("replayed 1: `+dead[0].ID+`")`, nil),
	)
	if err != nil {
		t.Fatalf("click replay: %v", err)
	}
	cards := waitCards(t, s.sim, 1)
	if cards[0].DeliveryID != dead[0].Delivery.ID || !strings.Contains(string(cards[0].Body), "replay me") {
		t.Errorf("card %s %s, want the replayed dead letter's", cards[0].DeliveryID, cards[0].Body)
	}

	// Purge the other, confirming the dialog.
	err = chromedp.Run(ctx,
		chromedp.WaitNotPresent(row(dead[0].ID)),
		chromedp.Click(row(dead[1].ID)+" button.purge"),
		chromedp.WaitNotPresent(row(dead[1].ID)),
		chromedp.Poll(`document.getElementById("status").textContent.includes("purged 1")`, nil),
	)
	if err != nil {
		t.Fatalf("purge from the page: %v", err)
	}
	if left := s.deadLetters(t); len(left) != 0 {
		t.Errorf("%d dead letters left", len(left))
	}

	// The replayed event's history, shown on the page.
	eventually(t, "the delivered record", func() bool { return hasKind(s.view(t, replayID), history.KindDelivered) })
	var kinds []string
	err = chromedp.Run(ctx,
		chromedp.SetValue("#ev-id", replayID, chromedp.ByID),
		chromedp.Click("#ev-load", chromedp.ByID),
		chromedp.WaitVisible(`#ev-rows tr[data-kind="delivered"]`),
		chromedp.Evaluate(`[...document.querySelectorAll("#ev-rows tr")].map(tr => tr.dataset.kind)`, &kinds),
	)
	if err != nil {
		t.Fatalf("show the history: %v", err)
	}
	for _, k := range []string{"received", "routed", "attempt", "dead_lettered", "replayed", "delivered"} {
		if !slices.Contains(kinds, k) {
			t.Errorf("history on the page %v lacks %s", kinds, k)
		}
	}
	if shot := os.Getenv("HOOKRELAY_SCREENSHOT"); shot != "" {
		var png []byte
		if err := chromedp.Run(ctx, chromedp.FullScreenshot(&png, 100)); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(shot, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
