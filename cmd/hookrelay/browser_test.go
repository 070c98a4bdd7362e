package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/hookrelay/hookrelay/dispatch"
	"github.com/hookrelay/hookrelay/internal/queue"
	"github.com/hookrelay/hookrelay/internal/teamstest"
	"github.com/hookrelay/hookrelay/schemas"
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
		chromedp.WindowSize(1440, 1100),
		chromedp.UserDataDir(profile),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	// The <dialog> makes chromedp log an event it does not know, once per
	// node; that is noise, anything else it reports is kept.
	ctx, cancelTab := chromedp.NewContext(allocCtx, chromedp.WithErrorf(func(format string, args ...any) {
		if !strings.HasPrefix(format, "unhandled node event") {
			log.Printf(format, args...)
		}
	}))
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

// pageProblems collects what the page reports going wrong — uncaught
// script errors, console errors, refusals by the Content-Security-Policy —
// and returns a function listing them so far.
func pageProblems(t *testing.T, ctx context.Context) func() []string {
	t.Helper()
	var mu sync.Mutex
	var seen []string
	add := func(s string) {
		mu.Lock()
		seen = append(seen, s)
		mu.Unlock()
	}
	chromedp.ListenTarget(ctx, func(ev any) {
		switch e := ev.(type) {
		case *runtime.EventExceptionThrown:
			add("uncaught: " + e.ExceptionDetails.Error())
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.APITypeError {
				add(fmt.Sprintf("console error: %v", e.Args))
			}
		case *cdplog.EventEntryAdded:
			if e.Entry.Level == cdplog.LevelError || e.Entry.Source == cdplog.SourceSecurity {
				add(fmt.Sprintf("%s: %s (%s)", e.Entry.Source, e.Entry.Text, e.Entry.URL))
			}
		}
	})
	if err := chromedp.Run(ctx, cdplog.Enable()); err != nil {
		t.Fatal(err)
	}
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(seen)
	}
}

// screenshotDir is where the browser tests save their screenshots:
// $HOOKRELAY_SCREENSHOTS (docs/ is refreshed that way), else a new
// directory under the system's temp dir, kept after the test so the paths
// it logs can be opened.
func screenshotDir(t *testing.T) string {
	t.Helper()
	if dir := os.Getenv("HOOKRELAY_SCREENSHOTS"); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	dir, err := os.MkdirTemp("", "hookrelay-admin-page-")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// screenshot saves what the window shows (with sel "full", the whole page;
// with another sel, that element) as name.png in dir and logs the path.
func screenshot(t *testing.T, ctx context.Context, dir, name, sel string) {
	t.Helper()
	var png []byte
	var action chromedp.Action
	switch sel {
	case "":
		action = chromedp.CaptureScreenshot(&png)
	case "full":
		action = chromedp.FullScreenshot(&png, 100) // 100: PNG, not JPEG
	default:
		action = chromedp.Screenshot(sel, &png, chromedp.ByQuery)
	}
	if err := chromedp.Run(ctx, action); err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

// TestAdminPageInABrowser drives the admin page in a real headless chromium
// against a real stack whose four destinations are failing (500, breaker
// open), gone (the webhook removed), throttled (429 twice, then delivered)
// and healthy. It asks the page the 3 a.m. questions: what is broken and
// since when, what did not reach the channel, whether it is getting better;
// and it shows the card as Teams would, with Microsoft's renderer.
func TestAdminPageInABrowser(t *testing.T) {
	ctx := browser(t)
	problems := pageProblems(t, ctx)
	defer func() {
		for _, p := range problems() {
			t.Errorf("the page reported: %s", p)
		}
	}()
	s := startStackWith(t, nil, func(sim string) string {
		return fmt.Sprintf(`
destinations:
  - {name: failing, url: %q, format: adaptive, allow_private: true, backoff: 20ms, max_backoff: 100ms, max_attempts: 2, breaker_failures: 2, breaker_open_for: 1h}
  - {name: gone, url: %q, format: messagecard, allow_private: true, backoff: 20ms, max_backoff: 100ms}
  - {name: throttled, url: %q, format: adaptive, allow_private: true, backoff: 20ms, max_backoff: 100ms, breaker_failures: 10}
  - {name: healthy, url: %q, format: adaptive, allow_private: true}
routes:
  - {name: app-all, source: app, to: [failing, gone, throttled, healthy]}
`, sim+"/failing", sim+"/gone", sim+"/throttled", sim+"/healthy")
	})
	// Older dead letters than a page holds, so the list pages.
	const older = 60
	for i := range older {
		dl := schemas.DeadLetter{
			Delivery: schemas.Delivery{ID: fmt.Sprintf("old-%d", i), EventID: fmt.Sprintf("old-%d", i), Source: "app",
				Destination: "healthy", Format: schemas.FormatAdaptive, Card: []byte(`{"type":"message","attachments":[]}`)},
			Reason: schemas.ReasonExpired, DeadAt: time.Now().Add(-2 * time.Hour),
		}
		data, err := json.Marshal(dl)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.q.Publish(context.Background(), queue.Msg{Subject: queue.DeadSubject("healthy"), Data: data}); err != nil {
			t.Fatal(err)
		}
	}
	s.sim.SetFault(teamstest.Fault{Status: 500, Path: "/failing"})
	s.sim.SetFault(teamstest.Fault{Status: 429, Path: "/throttled", Count: 2})
	s.sim.Remove("/gone")
	first := s.send(t, `{"title":"Disk full on db-1","text":"/var is 98% full","severity":"critical"}`)
	eventually(t, "the first event dead-lettered for failing and gone", func() bool {
		return len(s.deadLetters(t, "--destination", "failing")) == 1 && len(s.deadLetters(t, "--destination", "gone")) == 1
	})
	// The breaker is open now: the second event waits for failing; gone
	// refuses it at once.
	s.send(t, `{"title":"Disk full on db-2","text":"/var is 99% full"}`)
	eventually(t, "both events delivered to healthy and throttled, two dead for gone", func() bool {
		return len(s.sim.Accepted("/healthy")) == 2 && len(s.sim.Accepted("/throttled")) == 2 &&
			len(s.deadLetters(t, "--destination", "gone")) == 2
	})
	failingDead := s.deadLetters(t, "--destination", "failing")[0]
	goneDead := s.deadLetters(t, "--destination", "gone")

	// Without a session the page asks for the token.
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

	// Signed in: what is broken and since when, worst first.
	dlRow := func(id string) string { return `#dl-rows tr[data-id="` + id + `"]` }
	var failingRow, goneRow string
	var order []string
	err = chromedp.Run(ctx,
		chromedp.SendKeys("#token", adminToken, chromedp.ByID),
		chromedp.Click("#save-token", chromedp.ByID),
		chromedp.WaitVisible(`#dest-rows tr[data-name="failing"]`),
		chromedp.Poll(`document.querySelector('#dest-rows tr[data-name="failing"]').textContent.includes("open since")`, nil),
		chromedp.Text(`#dest-rows tr[data-name="failing"]`, &failingRow, chromedp.ByQuery),
		chromedp.Text(`#dest-rows tr[data-name="gone"]`, &goneRow, chromedp.ByQuery),
		chromedp.Evaluate(`[...document.querySelectorAll("#dest-rows tr")].map(tr => tr.dataset.name)`, &order),
	)
	if err != nil {
		t.Fatalf("sign in and list destinations: %v", err)
	}
	if !strings.Contains(failingRow, "breaker open since") || !strings.Contains(failingRow, "500") ||
		!strings.Contains(failingRow, "Internal Server Error") || !strings.Contains(failingRow, "probe in") ||
		!strings.Contains(failingRow, "oldest") {
		t.Errorf("failing row %q: want open since, the last answer 500 Internal Server Error, the next probe, the oldest waiting", failingRow)
	}
	if !strings.Contains(goneRow, "gone") || !strings.Contains(goneRow, "410") {
		t.Errorf("gone row %q: want gone and its 410", goneRow)
	}
	if !slices.Equal(order, []string{"gone", "failing", "throttled", "healthy"}) &&
		!slices.Equal(order, []string{"gone", "failing", "healthy", "throttled"}) {
		t.Errorf("destinations in the order %v, want the worst first: gone, failing, then the others", order)
	}

	// What did not reach the channel: the card's title and the answer.
	var deadText string
	err = chromedp.Run(ctx,
		chromedp.WaitVisible(dlRow(failingDead.ID)),
		chromedp.Text(dlRow(failingDead.ID), &deadText, chromedp.ByQuery),
	)
	if err != nil {
		t.Fatalf("dead letters: %v", err)
	}
	for _, want := range []string{"Disk full on db-1", "Internal Server Error", "500", "exhausted", first} {
		if !strings.Contains(deadText, want) {
			t.Errorf("dead letter row %q lacks %q", deadText, want)
		}
	}
	if !strings.Contains(deadText, "just now") && !strings.Contains(deadText, " ago") {
		t.Errorf("dead letter row %q says not how long ago it died", deadText)
	}
	var goneText, dlRange string
	err = chromedp.Run(ctx,
		chromedp.Text(dlRow(goneDead[0].ID), &goneText, chromedp.ByQuery),
		chromedp.Text("#dl-range", &dlRange, chromedp.ByID),
	)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(goneText, "this webhook has been removed") {
		t.Errorf("gone dead letter %q lacks the 410's answer", goneText)
	}
	if want := fmt.Sprintf("1–50 of %d", older+3); dlRange != want {
		t.Errorf("dead-letter range %q, want %q", dlRange, want)
	}

	// Whether it gets better: the charts have data points.
	var delivered, failedPts int
	err = chromedp.Run(ctx,
		chromedp.Poll(`document.querySelectorAll("#overall-charts figure.delivered .pt").length > 0`, nil),
		chromedp.Evaluate(`[...document.querySelectorAll("#overall-charts figure.delivered .pt")].reduce((a, e) => a + Number(e.dataset.value), 0)`, &delivered),
		chromedp.Evaluate(`[...document.querySelectorAll("#overall-charts figure.failed .pt")].reduce((a, e) => a + Number(e.dataset.value), 0)`, &failedPts),
	)
	if err != nil {
		t.Fatalf("charts: %v", err)
	}
	if delivered != 4 || failedPts < 2 {
		t.Errorf("overall chart: %d delivered, %d failed; want the 4 deliveries and at least failing's 2 failures", delivered, failedPts)
	}
	// Per destination too, and over the day.
	var failingFailed int
	var dayLabel string
	err = chromedp.Run(ctx,
		chromedp.Click(`#dest-rows tr[data-name="failing"] button.details`, chromedp.ByQuery),
		chromedp.WaitVisible("#dest-charts figure.failed .pt", chromedp.ByQuery),
		chromedp.Evaluate(`[...document.querySelectorAll("#dest-charts figure.failed .pt")].reduce((a, e) => a + Number(e.dataset.value), 0)`, &failingFailed),
		chromedp.Evaluate(`{ const w = document.getElementById("window"); w.value = "24h"; w.dispatchEvent(new Event("change")) }`, nil),
		chromedp.Poll(`document.querySelector("#overall-charts figure.delivered svg").getAttribute("aria-label").includes("per 15m0s")`, nil),
		chromedp.AttributeValue("#overall-charts figure.delivered svg", "aria-label", &dayLabel, nil, chromedp.ByQuery),
	)
	if err != nil {
		t.Fatalf("per-destination and daily trends: %v", err)
	}
	if failingFailed != 2 || !strings.HasPrefix(dayLabel, "Delivered: 4 in all") {
		t.Errorf("failing's chart counts %d failures (want its 2); the day's delivered chart says %q", failingFailed, dayLabel)
	}
	err = chromedp.Run(ctx,
		chromedp.Evaluate(`{ const w = document.getElementById("window"); w.value = "1h"; w.dispatchEvent(new Event("change")) }`, nil),
		chromedp.Poll(`document.querySelector("#overall-charts figure.delivered svg").getAttribute("aria-label").includes("per 1m0s")`, nil),
	)
	if err != nil {
		t.Fatalf("back to the hour: %v", err)
	}
	dir := screenshotDir(t)
	screenshot(t, ctx, dir, "admin-page", "")
	screenshot(t, ctx, dir, "admin-page-full", "full")

	// The card as Teams would show it, drawn by Microsoft's renderer.
	var cardText, rawJSON string
	err = chromedp.Run(ctx,
		chromedp.Click(dlRow(failingDead.ID)+" button.card", chromedp.ByQuery),
		chromedp.WaitVisible("#preview-card .ac-adaptiveCard", chromedp.ByQuery),
		chromedp.Text("#preview-card .ac-adaptiveCard", &cardText, chromedp.ByQuery),
		chromedp.Click("#preview-raw summary", chromedp.ByQuery),
		chromedp.Text("#preview-json", &rawJSON, chromedp.ByID),
	)
	if err != nil {
		t.Fatalf("card preview: %v", err)
	}
	if !strings.Contains(cardText, "Disk full on db-1") || strings.Contains(cardText, `"type"`) {
		t.Errorf("rendered card %q: want the title drawn, not JSON", cardText)
	}
	if !strings.Contains(rawJSON, `"AdaptiveCard"`) {
		t.Errorf("raw JSON one click away: %q", rawJSON)
	}
	// Teams renders a TextBlock's markdown, so the preview does too; what
	// it hands Microsoft's renderer as HTML holds no tag of the card's own.
	var md string
	err = chromedp.Run(ctx, chromedp.Evaluate(`HookrelayCard.markdown("**x** <img src=x onerror=alert(1)> [a](javascript:alert(1)) \\{")`, &md))
	if err != nil {
		t.Fatal(err)
	}
	if md != `<strong>x</strong> &lt;img src=x onerror=alert(1)&gt; a) {` {
		t.Errorf("markdown for the renderer: %q", md)
	}
	screenshot(t, ctx, dir, "admin-card-preview", "#preview")
	var mcTitle string
	err = chromedp.Run(ctx,
		chromedp.Click(dlRow(goneDead[0].ID)+" button.card", chromedp.ByQuery),
		chromedp.WaitVisible("#preview-card .mc-card", chromedp.ByQuery),
		chromedp.Text("#preview-card .mc-card", &mcTitle, chromedp.ByQuery),
	)
	if err != nil {
		t.Fatalf("messagecard preview: %v", err)
	}
	if !strings.Contains(mcTitle, "Disk full on db-1") {
		t.Errorf("MessageCard drawn as %q", mcTitle)
	}

	// The CLI gives the same answers, from the same API.
	out, err := s.cli(t, adminToken, "destinations", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var dests []dispatch.DestinationStatus
	if err := json.Unmarshal([]byte(out), &dests); err != nil {
		t.Fatalf("destinations -o json: %v\n%s", err, out)
	}
	if len(dests) != 4 || dests[0].Name != "gone" || dests[1].Name != "failing" {
		t.Fatalf("destinations -o json: %s", out)
	}
	if f := dests[1]; f.Health != "open" || f.BreakerSince.IsZero() || f.NextProbe == nil || f.Oldest == nil ||
		f.LastAnswer == nil || f.LastAnswer.Status != 500 || f.LastAnswer.Excerpt != "Internal Server Error" {
		t.Errorf("failing in destinations -o json: %+v", f)
	}
	out, err = s.cli(t, adminToken, "destinations")
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 5 || !strings.HasPrefix(lines[2], "failing") ||
		!strings.Contains(lines[2], "open") || !strings.Contains(lines[2], "500 ") || !regexp.MustCompile(`in [1-5]?\dm[0-9.]+s`).MatchString(lines[2]) {
		t.Errorf("destinations table:\n%s\nwant failing second: open, its 500, the probe within the hour", out)
	}
	out, err = s.cli(t, adminToken, "dlq", "list", "--destination", "failing", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var listed []map[string]any
	if err := json.Unmarshal([]byte(out), &listed); err != nil || len(listed) != 1 {
		t.Fatalf("dlq list -o json: %v\n%s", err, out)
	}
	if l := listed[0]; l["title"] != "app: Disk full on db-1" || l["response_excerpt"] != "Internal Server Error" ||
		l["delivery"].(map[string]any)["event_id"] != first {
		t.Errorf("dlq list -o json lacks the title, answer or event id the page shows: %s", out)
	}

	// The token is asked once per browser session: a new tab is signed in.
	tab, cancelTab := chromedp.NewContext(ctx)
	defer cancelTab()
	var formHidden bool
	err = chromedp.Run(tab,
		chromedp.Navigate(s.admin+"/ui/"),
		chromedp.WaitVisible(`#dest-rows tr[data-name="failing"]`),
		chromedp.Evaluate(`document.getElementById("token-form").hidden`, &formHidden),
	)
	if err != nil {
		t.Fatalf("second tab: %v", err)
	}
	if !formHidden {
		t.Error("a second tab asked for the token again")
	}
	_ = chromedp.Cancel(tab)

	// Every control is reachable by keyboard, and the purge dialog works
	// without a mouse: Enter opens it on Cancel, Escape closes it.
	var unreachable []string
	var focused string
	err = chromedp.Run(ctx,
		chromedp.Evaluate(`[...document.querySelectorAll("button, input, select, summary")].filter(e => e.tabIndex < 0 && !e.closest("[hidden]")).map(e => e.id || e.textContent)`, &unreachable),
		chromedp.Focus(dlRow(goneDead[0].ID)+" button.purge", chromedp.ByQuery),
		chromedp.KeyEvent(kb.Enter),
		chromedp.WaitVisible("#confirm", chromedp.ByID),
		chromedp.Evaluate(`document.activeElement.id`, &focused),
		chromedp.KeyEvent(kb.Escape),
		chromedp.WaitNotVisible("#confirm", chromedp.ByID),
	)
	if err != nil {
		t.Fatalf("keyboard: %v", err)
	}
	if len(unreachable) > 0 || focused != "confirm-cancel" {
		t.Errorf("controls out of the tab order %v; the dialog focused %q, want confirm-cancel", unreachable, focused)
	}

	// Purge asks first, naming the count; Cancel keeps everything.
	var confirmText string
	err = chromedp.Run(ctx,
		chromedp.Click(dlRow(goneDead[0].ID)+" button.purge", chromedp.ByQuery),
		chromedp.WaitVisible("#confirm", chromedp.ByID),
		chromedp.Text("#confirm-text", &confirmText, chromedp.ByID),
		chromedp.Click("#confirm-cancel", chromedp.ByID),
		chromedp.WaitNotVisible("#confirm", chromedp.ByID),
	)
	if err != nil {
		t.Fatalf("purge, cancelled: %v", err)
	}
	if !strings.Contains(confirmText, "1 dead letter will be deleted") {
		t.Errorf("purge confirmation %q does not name the count", confirmText)
	}
	if n := len(s.deadLetters(t, "--destination", "gone")); n != 2 {
		t.Fatalf("after cancel: %d gone dead letters, want 2", n)
	}
	// A relative since is fixed once, when the count is made: the dialog
	// names the instant, and the purge goes by it.
	err = chromedp.Run(ctx,
		chromedp.SetValue(`#dl-filter input[name="destination"]`, "gone", chromedp.ByQuery),
		chromedp.SetValue(`#dl-filter input[name="since"]`, "1h", chromedp.ByQuery),
		chromedp.Click("#dl-purge-all", chromedp.ByID),
		chromedp.WaitVisible("#confirm", chromedp.ByID),
		chromedp.Text("#confirm-text", &confirmText, chromedp.ByID),
	)
	if err != nil {
		t.Fatalf("purge matching: %v", err)
	}
	if !strings.Contains(confirmText, "2 dead letters will be deleted") || !strings.Contains(confirmText, "destination=gone") ||
		!strings.Contains(confirmText, "since=20") {
		t.Errorf("purge-matching confirmation %q: want the count 2 and the filter, since as the instant it named", confirmText)
	}
	err = chromedp.Run(ctx,
		chromedp.Click("#confirm-ok", chromedp.ByID),
		chromedp.Poll(`document.getElementById("status").textContent.includes("purged 2")`, nil),
		chromedp.WaitNotPresent(dlRow(goneDead[0].ID)),
	)
	if err != nil {
		t.Fatalf("purge matching, confirmed: %v", err)
	}
	if n := len(s.deadLetters(t, "--destination", "gone")); n != 0 {
		t.Errorf("%d gone dead letters left", n)
	}

	// Replay is one click; the dead letter goes back to RELAY_OUT.
	err = chromedp.Run(ctx,
		chromedp.Evaluate(`document.querySelector('#dl-filter input[name="destination"]').value = ""`, nil),
		chromedp.Evaluate(`document.querySelector('#dl-filter input[name="since"]').value = ""`, nil),
		chromedp.Click("#dl-load", chromedp.ByID),
		chromedp.WaitVisible(dlRow(failingDead.ID)),
		chromedp.Click(dlRow(failingDead.ID)+" button.replay", chromedp.ByQuery),
		chromedp.Poll(`document.getElementById("status").textContent.startsWith("replayed 1: `+failingDead.ID+`")`, nil),
		chromedp.WaitNotPresent(dlRow(failingDead.ID)),
	)
	if err != nil {
		t.Fatalf("replay: %v", err)
	}

	// The event's history, and its cards as rendered now.
	var kinds []string
	err = chromedp.Run(ctx,
		chromedp.SetValue("#ev-id", first, chromedp.ByID),
		chromedp.Click("#ev-load", chromedp.ByID),
		chromedp.WaitVisible(`#ev-rows tr[data-kind="dead_lettered"]`),
		chromedp.Evaluate(`[...document.querySelectorAll("#ev-rows tr")].map(tr => tr.dataset.kind)`, &kinds),
		chromedp.Click("#ev-cards", chromedp.ByID),
		chromedp.Poll(`document.getElementById("preview-what").textContent.includes("rendered now")`, nil),
		chromedp.WaitVisible("#preview-card .ac-adaptiveCard", chromedp.ByQuery),
	)
	if err != nil {
		t.Fatalf("history and cards: %v", err)
	}
	for _, k := range []string{"received", "routed", "attempt", "dead_lettered", "delivered", "replayed"} {
		if !slices.Contains(kinds, k) {
			t.Errorf("history on the page %v lacks %s", kinds, k)
		}
	}

	// Signing out clears the page and ends the session for every tab.
	var rowsLeft int
	err = chromedp.Run(ctx,
		chromedp.Click("#logout", chromedp.ByID),
		chromedp.WaitVisible("#token", chromedp.ByID),
		chromedp.Evaluate(`document.querySelectorAll("#dest-rows tr, #dl-rows tr").length`, &rowsLeft),
		chromedp.Navigate(s.admin+"/ui/"),
		chromedp.WaitVisible("#token", chromedp.ByID),
	)
	if err != nil {
		t.Fatalf("sign out: %v", err)
	}
	if rowsLeft != 0 {
		t.Errorf("%d rows left on the page after signing out", rowsLeft)
	}
}

// TestRenderPreviewInABrowser opens what `hookrelay render --preview` writes
// from a file, offline: the Adaptive Card drawn by Microsoft's renderer, the
// MessageCard by the page's approximation.
func TestRenderPreviewInABrowser(t *testing.T) {
	ctx := browser(t)
	dir := renderDir(t)
	cfg := filepath.Join(dir, "hookrelay.yaml")
	for _, tc := range []struct{ format, sel string }{
		{"adaptive", "#preview-card .ac-adaptiveCard"},
		{"messagecard", "#preview-card .mc-card .mc-title"},
	} {
		out := filepath.Join(t.TempDir(), "card.html")
		var stdout, stderr bytes.Buffer
		err := runRender(context.Background(), []string{"--config", cfg, "--source", "desk", "--file",
			filepath.Join(dir, "desk.json"), "--format", tc.format, "--preview", out}, &stdout, &stderr)
		if err != nil {
			t.Fatalf("render --preview: %v\n%s", err, stderr.String())
		}
		if !strings.Contains(stderr.String(), "file://"+out) {
			t.Errorf("render does not say where the preview is: %s", stderr.String())
		}
		var text, what string
		err = chromedp.Run(ctx,
			chromedp.Navigate("file://"+out),
			chromedp.WaitVisible(tc.sel, chromedp.ByQuery),
			chromedp.Text(tc.sel, &text, chromedp.ByQuery),
			chromedp.Text("#what", &what, chromedp.ByID),
		)
		if err != nil {
			t.Fatalf("%s preview: %v", tc.format, err)
		}
		if !strings.Contains(text, "Ticket T-9: Printer on fire") || !strings.Contains(what, "mappings/desk.jq") {
			t.Errorf("%s preview shows %q (%q)", tc.format, text, what)
		}
	}
}
