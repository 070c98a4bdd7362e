package teamstest_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/internal/teamstest"
)

const (
	okCard    = `{"@type":"MessageCard","summary":"deploy finished"}`
	okWF      = `{"type":"message","attachments":[{"contentType":"application/vnd.microsoft.card.adaptive","content":{"type":"AdaptiveCard","version":"1.4","body":[]}}]}`
	wrapped   = "Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error "
	contextID = " with ContextId tcid=0,server=msgapi-production-eus-azsc2-4-170,cv=deadbeef.0.."
)

// fakeClock is a settable clock, read by the simulator through WithClock.
type fakeClock struct {
	mu   sync.Mutex
	base time.Time
	at   time.Duration
}

func newFakeClock() *fakeClock {
	return &fakeClock{base: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.base.Add(c.at)
}

// Set moves the clock to base+d.
func (c *fakeClock) Set(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.at = d
}

// answer is what a client saw.
type answer struct {
	status     int
	body       string
	retryAfter string
}

func send(t *testing.T, method, url, body string, header map[string]string) answer {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatalf("new request %s %s: %v", method, url, err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read answer of %s %s: %v", method, url, err)
	}
	return answer{status: resp.StatusCode, body: string(b), retryAfter: resp.Header.Get("Retry-After")}
}

func post(t *testing.T, url, body string) answer {
	t.Helper()
	return send(t, http.MethodPost, url, body, nil)
}

func start(t *testing.T, opts ...teamstest.Option) *teamstest.Server {
	t.Helper()
	s := teamstest.NewServer(opts...)
	t.Cleanup(s.Close)
	return s
}

// sized returns a MessageCard of exactly n bytes.
func sized(t *testing.T, n int) string {
	t.Helper()
	const head, tail = `{"summary":"s","text":"`, `"}`
	if n < len(head)+len(tail) {
		t.Fatalf("card of %d bytes is too small", n)
	}
	return head + strings.Repeat("a", n-len(head)-len(tail)) + tail
}

func TestAnswers(t *testing.T) {
	largeWF := `{"type":"message","attachments":[{"contentType":"application/vnd.microsoft.card.adaptive","content":{"type":"AdaptiveCard","version":"1.4","body":[{"type":"TextBlock","text":"` +
		strings.Repeat("a", teamstest.MaxBodyBytes) + `"}]}}]}`
	oneAllowed := teamstest.WithLimits([]teamstest.Limit{{Per: time.Hour, Max: 1}})
	tests := []struct {
		name       string
		opts       []teamstest.Option
		setup      func(t *testing.T, s *teamstest.Server) // runs before the request, on path /hook
		method     string                                  // default POST
		body       string
		want       answer
		wantBodyIn string // checked instead of want.body when set
		wantRec    int    // Received.Status
	}{
		{name: "connector success", body: okCard, want: answer{status: 200, body: "1"}, wantRec: 200},
		{name: "connector success on text only", body: `{"text":"hello"}`, want: answer{status: 200, body: "1"}, wantRec: 200},
		{name: "workflows success", body: okWF, want: answer{status: 202}, wantRec: 202},
		{name: "workflows success on older version", body: strings.Replace(okWF, "1.4", "1.2", 1), want: answer{status: 202}, wantRec: 202},
		{name: "exactly 28 KB is accepted", body: sized(t, teamstest.MaxBodyBytes), want: answer{status: 200, body: "1"}, wantRec: 200},

		{name: "no summary nor text, wrapped", body: `{"@type":"MessageCard","title":"t","summary":" "}`,
			want: answer{status: 200, body: wrapped + "400" + contextID}, wantRec: 400},
		{name: "no summary nor text, bare", opts: []teamstest.Option{teamstest.WithBareErrors()}, body: `{"title":"t"}`,
			want: answer{status: 400, body: "Summary or Text is required."}, wantRec: 400},
		{name: "invalid JSON, wrapped", body: `{"summary":`, want: answer{status: 200, body: wrapped + "400" + contextID}, wantRec: 400},
		{name: "invalid JSON, bare", opts: []teamstest.Option{teamstest.WithBareErrors()}, body: `{"summary":"a"} x`,
			want: answer{status: 400}, wantBodyIn: "not valid JSON", wantRec: 400},

		{name: "workflows without attachments is bare", body: `{"type":"message","attachments":[]}`,
			want: answer{status: 400}, wantBodyIn: "attachments are required", wantRec: 400},
		{name: "workflows wrong contentType", body: strings.Replace(okWF, "card.adaptive", "card.hero", 1),
			want: answer{status: 400}, wantBodyIn: "contentType", wantRec: 400},
		{name: "workflows content not an AdaptiveCard", body: strings.Replace(okWF, `"type":"AdaptiveCard"`, `"type":"HeroCard"`, 1),
			want: answer{status: 400}, wantBodyIn: "not AdaptiveCard", wantRec: 400},
		{name: "workflows version 1.5", body: strings.Replace(okWF, "1.4", "1.5", 1),
			want: answer{status: 400}, wantBodyIn: "1.4 or lower", wantRec: 400},
		{name: "workflows version missing", body: strings.Replace(okWF, `"version":"1.4",`, "", 1),
			want: answer{status: 400}, wantBodyIn: "1.4 or lower", wantRec: 400},

		{name: "over 28 KB, wrapped", body: sized(t, teamstest.MaxBodyBytes+1),
			want: answer{status: 200, body: wrapped + "413" + contextID}, wantRec: 413},
		{name: "over 28 KB, bare", opts: []teamstest.Option{teamstest.WithBareErrors()}, body: sized(t, teamstest.MaxBodyBytes+1),
			want: answer{status: 413}, wantBodyIn: "28 KB", wantRec: 413},
		{name: "over 28 KB, workflows is bare", body: largeWF, want: answer{status: 413}, wantBodyIn: "28 KB", wantRec: 413},

		{name: "throttled, wrapped without Retry-After", opts: []teamstest.Option{oneAllowed}, body: okCard,
			setup: func(t *testing.T, s *teamstest.Server) { post(t, s.URL+"/hook", okCard) },
			want:  answer{status: 200, body: wrapped + "429" + contextID}, wantRec: 429},
		{name: "throttled, bare with Retry-After", opts: []teamstest.Option{oneAllowed, teamstest.WithBareErrors()}, body: okCard,
			setup: func(t *testing.T, s *teamstest.Server) { post(t, s.URL+"/hook", okCard) },
			want:  answer{status: 429, retryAfter: "1"}, wantBodyIn: "too many", wantRec: 429},
		{name: "throttled, workflows is bare", opts: []teamstest.Option{oneAllowed}, body: okWF,
			setup: func(t *testing.T, s *teamstest.Server) { post(t, s.URL+"/hook", okWF) },
			want:  answer{status: 429, retryAfter: "1"}, wantBodyIn: "too many", wantRec: 429},
		{name: "throttling is per URL", opts: []teamstest.Option{oneAllowed}, body: okCard,
			setup: func(t *testing.T, s *teamstest.Server) { post(t, s.URL+"/other", okCard) },
			want:  answer{status: 200, body: "1"}, wantRec: 200},

		{name: "removed webhook is a bare 410", body: okCard,
			setup: func(t *testing.T, s *teamstest.Server) { s.Remove("/hook") },
			want:  answer{status: 410}, wantBodyIn: "removed", wantRec: 410},
		{name: "removed via /_sim/remove", body: okWF,
			setup: func(t *testing.T, s *teamstest.Server) {
				if a := post(t, s.URL+"/_sim/remove?path=/hook", ""); a.status != http.StatusNoContent {
					t.Fatalf("POST /_sim/remove: %d %s", a.status, a.body)
				}
			},
			want: answer{status: 410}, wantBodyIn: "removed", wantRec: 410},
		{name: "GET is not allowed", method: http.MethodGet, want: answer{status: 405}, wantBodyIn: "POST", wantRec: 405},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := start(t, tt.opts...)
			if tt.setup != nil {
				tt.setup(t, s)
			}
			method := cmp(tt.method, http.MethodPost)
			got := send(t, method, s.URL+"/hook", tt.body, map[string]string{teamstest.DeliveryIDHeader: "d-1"})
			want := tt.want
			if tt.wantBodyIn != "" {
				if !strings.Contains(got.body, tt.wantBodyIn) {
					t.Errorf("body %q does not contain %q", got.body, tt.wantBodyIn)
				}
				want.body = got.body
			}
			if got != want {
				t.Errorf("answer = %+v, want %+v", got, want)
			}
			recs := s.Received("/hook")
			if len(recs) == 0 {
				t.Fatal("request not recorded")
			}
			last := recs[len(recs)-1]
			wantAccepted := tt.wantRec == 200 || tt.wantRec == 202
			if last.Status != tt.wantRec || last.Accepted != wantAccepted || last.DeliveryID != "d-1" || string(last.Body) != tt.body {
				t.Errorf("recorded status=%d accepted=%v delivery=%q body-match=%v, want %d %v %q true",
					last.Status, last.Accepted, last.DeliveryID, string(last.Body) == tt.body, tt.wantRec, wantAccepted, "d-1")
			}
		})
	}
}

func cmp(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func TestTeamsLadder(t *testing.T) {
	want := []teamstest.Limit{
		{Per: time.Second, Max: 4},
		{Per: 30 * time.Second, Max: 60},
		{Per: time.Hour, Max: 100},
		{Per: 2 * time.Hour, Max: 150},
		{Per: 24 * time.Hour, Max: 1800},
	}
	if got := teamstest.TeamsLadder(); !reflect.DeepEqual(got, want) {
		t.Errorf("TeamsLadder() = %v, want %v", got, want)
	}
}

// step is one request at a clock offset and the status Teams should decide.
type step struct {
	at   time.Duration
	want int
}

func runSteps(t *testing.T, clock *fakeClock, s *teamstest.Server, path string, steps []step) {
	t.Helper()
	for i, st := range steps {
		clock.Set(st.at)
		post(t, s.URL+path, okCard)
		recs := s.Received(path)
		if got := recs[len(recs)-1].Status; got != st.want {
			t.Fatalf("step %d at %v: status %d, want %d", i, st.at, got, st.want)
		}
	}
}

func TestLadderSlidingWindow(t *testing.T) {
	ms := time.Millisecond
	t.Run("4 per second", func(t *testing.T) {
		clock := newFakeClock()
		s := start(t, teamstest.WithClock(clock.Now))
		runSteps(t, clock, s, "/hook", []step{
			{0, 200}, {0, 200}, {100 * ms, 200}, {999 * ms, 200},
			{999 * ms, 429},  // a fifth in (−1 ms, 999 ms]
			{1000 * ms, 200}, // the two at 0 are exactly 1 s old: out of the window
			{1000 * ms, 200},
			{1000 * ms, 429},
			{1100 * ms, 200}, // the one at 100 ms left
			{1100 * ms, 429},
		})
	})
	t.Run("throttled requests do not count", func(t *testing.T) {
		clock := newFakeClock()
		s := start(t, teamstest.WithClock(clock.Now), teamstest.WithLimits([]teamstest.Limit{{Per: time.Second, Max: 1}}))
		runSteps(t, clock, s, "/hook", []step{{0, 200}, {500 * ms, 429}, {1000 * ms, 200}})
	})
	t.Run("60 per 30 seconds", func(t *testing.T) {
		clock := newFakeClock()
		s := start(t, teamstest.WithClock(clock.Now))
		// Two a second stays under 4/1s and reaches 60 at 29.5 s.
		var steps []step
		for i := range 60 {
			steps = append(steps, step{time.Duration(i) * 500 * ms, 200})
		}
		steps = append(steps,
			step{29900 * ms, 429}, // 60 accepted in (−0.1 s, 29.9 s]
			step{30000 * ms, 200}, // the one at 0 left: 59 in (0, 30 s]
			step{30000 * ms, 429}, // 60 again
			step{30500 * ms, 200}, // the one at 0.5 s left
		)
		runSteps(t, clock, s, "/hook", steps)
	})
}

func TestConcurrentRequestsStayWithinLimit(t *testing.T) {
	s := start(t, teamstest.WithLimits([]teamstest.Limit{{Per: time.Hour, Max: 4}}))
	var wg sync.WaitGroup
	for range 40 {
		wg.Go(func() { post(t, s.URL+"/hook", okCard) })
	}
	wg.Wait()
	if got := len(s.Accepted("/hook")); got != 4 {
		t.Errorf("accepted %d of 40 concurrent requests, want 4", got)
	}
	if got := len(s.Received("/hook")); got != 40 {
		t.Errorf("received %d, want 40", got)
	}
}

func TestReceivedAndAccepted(t *testing.T) {
	s := start(t)
	post(t, s.URL+"/a", okCard)
	post(t, s.URL+"/b", `{}`)
	post(t, s.URL+"/a", okWF)
	post(t, s.URL+"/a", `nope`)

	paths := func(recs []teamstest.Received) []string {
		var out []string
		for _, r := range recs {
			out = append(out, r.Path+":"+string(r.Body))
		}
		return out
	}
	tests := []struct {
		name string
		got  []teamstest.Received
		want []string
	}{
		{"received /a", s.Received("/a"), []string{"/a:" + okCard, "/a:" + okWF, "/a:nope"}},
		{"received all", s.Received(""), []string{"/a:" + okCard, "/b:{}", "/a:" + okWF, "/a:nope"}},
		{"accepted /a", s.Accepted("/a"), []string{"/a:" + okCard, "/a:" + okWF}},
		{"accepted /b", s.Accepted("/b"), nil},
	}
	for _, tt := range tests {
		if got := paths(tt.got); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestMaxInWindow(t *testing.T) {
	clock := newFakeClock()
	s := start(t, teamstest.WithClock(clock.Now), teamstest.WithLimits(nil))
	ms := time.Millisecond
	for _, at := range []time.Duration{0, 500 * ms, 900 * ms, 1000 * ms} {
		clock.Set(at)
		post(t, s.URL+"/hook", `{"refused":"still counts"}`)
	}
	clock.Set(0)
	post(t, s.URL+"/other", okCard)

	tests := []struct {
		path string
		per  time.Duration
		want int
	}{
		{"/hook", time.Second, 3}, // 0 and 1000 ms are exactly 1 s apart: not in one interval
		{"/hook", 1001 * ms, 4},
		{"/hook", 400 * ms, 2}, // 900 and 1000 ms
		{"/hook", 0, 0},
		{"", time.Millisecond, 2}, // /hook and /other both at 0
		{"/none", time.Second, 0},
	}
	for _, tt := range tests {
		if got := s.MaxInWindow(tt.path, tt.per); got != tt.want {
			t.Errorf("MaxInWindow(%q, %v) = %d, want %d", tt.path, tt.per, got, tt.want)
		}
	}
}

func TestWaitAccepted(t *testing.T) {
	s := start(t)
	done := make(chan error, 1)
	go func() { done <- s.WaitAccepted(t.Context(), "/hook", 3) }()

	post(t, s.URL+"/hook", okCard)
	post(t, s.URL+"/hook", `{}`) // refused: does not count
	post(t, s.URL+"/other", okCard)
	post(t, s.URL+"/hook", okWF)
	select {
	case err := <-done:
		t.Fatalf("WaitAccepted returned after 2 accepted: %v", err)
	default:
	}
	post(t, s.URL+"/hook", okCard)
	if err := <-done; err != nil {
		t.Fatalf("WaitAccepted: %v", err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if err := s.WaitAccepted(ctx, "/hook", 4); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitAccepted for more than arrive = %v, want DeadlineExceeded", err)
	}
	if err := s.WaitAccepted(t.Context(), "", 4); err != nil {
		t.Errorf("WaitAccepted on all paths: %v", err)
	}
}

func TestFaults(t *testing.T) {
	s := start(t)
	check := func(path string, want int) {
		t.Helper()
		if got := post(t, s.URL+path, okCard); got.status != want {
			t.Fatalf("POST %s: %d %q, want %d", path, got.status, got.body, want)
		}
	}

	t.Run("status is bare and limited by count and path", func(t *testing.T) {
		s.SetFault(teamstest.Fault{Status: 503, Path: "/f1", Count: 2})
		check("/other", 200)
		check("/f1", 503)
		check("/f1", 503)
		check("/f1", 200)
	})
	t.Run("a path's fault wins over the all-paths fault", func(t *testing.T) {
		s.SetFault(teamstest.Fault{Status: 500})
		s.SetFault(teamstest.Fault{Status: 502, Path: "/f2"})
		check("/f2", 502)
		check("/elsewhere", 500)
		s.ClearFaults()
		check("/f2", 200)
	})
	t.Run("via /_sim/fault", func(t *testing.T) {
		if a := post(t, s.URL+"/_sim/fault", `{"status":500,"for":"30s","path":"/f3","count":1}`); a.status != http.StatusNoContent {
			t.Fatalf("POST /_sim/fault: %d %s", a.status, a.body)
		}
		check("/f3", 500)
		check("/f3", 200)
		post(t, s.URL+"/_sim/fault", `{"status":500}`)
		check("/f3", 500)
		if a := send(t, http.MethodDelete, s.URL+"/_sim/fault", "", nil); a.status != http.StatusNoContent {
			t.Fatalf("DELETE /_sim/fault: %d %s", a.status, a.body)
		}
		check("/f3", 200)
		for _, bad := range []string{`{"latency":"soon"}`, `{"status":42}`, `not json`} {
			if a := post(t, s.URL+"/_sim/fault", bad); a.status != http.StatusBadRequest {
				t.Errorf("POST /_sim/fault %s: %d, want 400", bad, a.status)
			}
		}
	})
	t.Run("latency then the normal answer", func(t *testing.T) {
		s.SetFault(teamstest.Fault{Latency: 150 * time.Millisecond, Path: "/slow", Count: 1})
		begin := time.Now()
		check("/slow", 200)
		if took := time.Since(begin); took < 150*time.Millisecond {
			t.Errorf("answer took %v, want at least the 150ms latency", took)
		}
		begin = time.Now()
		check("/slow", 200)
		if took := time.Since(begin); took >= 150*time.Millisecond {
			t.Errorf("second answer took %v: the count-1 fault should be used up", took)
		}
	})
}

func TestFaultExpires(t *testing.T) {
	clock := newFakeClock()
	s := start(t, teamstest.WithClock(clock.Now), teamstest.WithBareErrors())
	s.SetFault(teamstest.Fault{Status: 500, For: 30 * time.Second})
	runSteps(t, clock, s, "/hook", []step{{0, 500}, {30*time.Second - 1, 500}, {30 * time.Second, 200}})
}

func TestLatencyEndsWithClientAndClose(t *testing.T) {
	s := teamstest.NewServer()
	s.SetFault(teamstest.Fault{Latency: time.Minute})
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+"/hook", strings.NewReader(okCard))
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatal("request answered during a minute of latency")
	}
	begin := time.Now()
	s.Close()
	if took := time.Since(begin); took > 5*time.Second {
		t.Errorf("Close took %v with a request waiting out latency", took)
	}
	recs := s.Received("/hook")
	if len(recs) != 1 || recs[0].Status != 0 || recs[0].Accepted {
		t.Errorf("recorded %+v, want one unanswered request (status 0)", recs)
	}
}

func TestSimEndpoints(t *testing.T) {
	s := start(t)
	post(t, s.URL+"/a", okCard)
	post(t, s.URL+"/a", `{"title":"no summary"}`)
	post(t, s.URL+"/a", `not json`)
	post(t, s.URL+"/b", okWF)

	a := send(t, http.MethodGet, s.URL+"/_sim/received?path=/a", "", nil)
	var recs []struct {
		Path     string          `json:"path"`
		Status   int             `json:"status"`
		Accepted bool            `json:"accepted"`
		Body     json.RawMessage `json:"body"`
	}
	if err := json.Unmarshal([]byte(a.body), &recs); err != nil {
		t.Fatalf("decode /_sim/received %q: %v", a.body, err)
	}
	if len(recs) != 3 || string(recs[0].Body) != okCard || recs[0].Status != 200 || !recs[0].Accepted ||
		recs[1].Status != 400 || string(recs[2].Body) != `"not json"` {
		t.Errorf("/_sim/received = %s", a.body)
	}

	a = send(t, http.MethodGet, s.URL+"/_sim/stats", "", nil)
	var st struct {
		Total    int            `json:"total"`
		Accepted int            `json:"accepted"`
		ByStatus map[string]int `json:"by_status"`
	}
	if err := json.Unmarshal([]byte(a.body), &st); err != nil {
		t.Fatalf("decode /_sim/stats %q: %v", a.body, err)
	}
	if st.Total != 4 || st.Accepted != 2 || !reflect.DeepEqual(st.ByStatus, map[string]int{"200": 1, "202": 1, "400": 2}) {
		t.Errorf("/_sim/stats = %s", a.body)
	}
	if a := send(t, http.MethodGet, s.URL+"/_sim/nothing", "", nil); a.status != http.StatusNotFound {
		t.Errorf("GET /_sim/nothing: %d, want 404", a.status)
	}
}
