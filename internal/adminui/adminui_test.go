package adminui

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestRequireToken(t *testing.T) {
	api := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "secret data") })
	h := RequireToken("s3cret-token", api)
	tests := []struct {
		name, method, path, auth string
		want                     int
	}{
		{"api without token", "GET", "/api/v1/deadletters", "", 401},
		{"api with token", "GET", "/api/v1/deadletters", "Bearer s3cret-token", 200},
		{"scheme in any case", "POST", "/api/v1/deadletters/replay", "bearer s3cret-token", 200},
		{"wrong token", "GET", "/api/v1/deadletters", "Bearer s3cret-tokem", 401},
		{"prefix of the token", "GET", "/api/v1/deadletters", "Bearer s3cret", 401},
		{"token plus more", "GET", "/api/v1/deadletters", "Bearer s3cret-token2", 401},
		{"basic scheme", "GET", "/api/v1/deadletters", "Basic s3cret-token", 401},
		{"bare token", "GET", "/api/v1/deadletters", "s3cret-token", 401},
		{"empty bearer", "GET", "/api/v1/deadletters", "Bearer ", 401},
		{"event history", "GET", "/api/v1/events/x", "", 401},
		{"destinations", "GET", "/api/v1/destinations", "", 401},
		{"healthz", "GET", "/healthz", "", 200},
		{"readyz", "GET", "/readyz", "", 200},
		{"metrics", "GET", "/metrics", "", 200},
		{"page", "GET", "/ui/", "", 200},
		{"page script", "GET", "/ui/app.js", "", 200},
		{"root", "GET", "/", "", 200},
		{"post to the page path", "POST", "/ui/", "", 401},
		{"healthz look-alike", "GET", "/healthz/../api/v1/deadletters", "", 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, tt.path, nil)
			if tt.auth != "" {
				r.Header.Set("Authorization", tt.auth)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tt.want {
				t.Fatalf("%s %s (%q): %d, want %d", tt.method, tt.path, tt.auth, w.Code, tt.want)
			}
			if w.Code == 401 {
				if strings.Contains(w.Body.String(), "secret data") || w.Header().Get("WWW-Authenticate") == "" {
					t.Errorf("401 leaks the answer or lacks WWW-Authenticate: %q %v", w.Body, w.Header())
				}
			}
		})
	}
}

// Without a token, the admin API answers its own machine's clients — the
// commands, curl, the page — and refuses what a web page in the operator's
// browser could send: a request naming another host (DNS rebinding) and a
// change from another site.
func TestRequireTokenEmptyAnswersThisMachineOnly(t *testing.T) {
	h := RequireToken("", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	for _, tc := range []struct {
		name, method, host string
		header             map[string]string
		want               int
	}{
		{"a read", "GET", "127.0.0.1:8081", nil, 200},
		{"a read by name", "GET", "localhost:8081", nil, 200},
		{"a read over IPv6", "GET", "[::1]:8081", nil, 200},
		{"a change from the command or curl", "POST", "127.0.0.1:8081", nil, 200},
		{"a change from the page", "POST", "127.0.0.1:8081", map[string]string{"Origin": "http://127.0.0.1:8081", "Sec-Fetch-Site": "same-origin"}, 200},
		{"a read through a rebound name", "GET", "rebound.evil.example:8081", nil, 403},
		{"a change from another site", "POST", "127.0.0.1:8081", map[string]string{"Origin": "https://evil.example"}, 403},
		{"a change a browser marks cross-site", "POST", "127.0.0.1:8081", map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		{"a change from another port", "POST", "127.0.0.1:8081", map[string]string{"Origin": "http://127.0.0.1:3000", "Sec-Fetch-Site": "same-site"}, 403},
	} {
		r := httptest.NewRequest(tc.method, "/api/v1/deadletters/purge", strings.NewReader(`{"all":true}`))
		r.Host = tc.host
		for k, v := range tc.header {
			r.Header.Set(k, v)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != tc.want {
			t.Errorf("%s: %d, want %d (%s)", tc.name, w.Code, tc.want, strings.TrimSpace(w.Body.String()))
		}
	}
}

func TestHandler(t *testing.T) {
	srv := httptest.NewServer(Handler())
	t.Cleanup(srv.Close)
	tests := []struct {
		path, wantType, wantBody string
	}{
		{"/ui/", "text/html", `<script src="app.js"`},
		{"/ui/app.js", "javascript", "textContent"},
		{"/ui/style.css", "text/css", "table"},
		{"/ui/card.js", "javascript", "HookrelayCard"},
		{"/ui/vendor/adaptivecards/adaptivecards.min.js", "javascript", "AdaptiveCards"},
		{"/ui/vendor/adaptivecards/adaptivecards.css", "text/css", "ac-"},
		{"/ui/favicon.svg", "image/svg+xml", "<svg"},
	}
	for _, tt := range tests {
		resp, err := http.Get(srv.URL + tt.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Type"), tt.wantType) ||
			!strings.Contains(string(body), tt.wantBody) {
			t.Errorf("GET %s: %d %s, body has %q: %v", tt.path, resp.StatusCode, resp.Header.Get("Content-Type"), tt.wantBody, strings.Contains(string(body), tt.wantBody))
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
			t.Errorf("GET %s: CSP %q", tt.path, csp)
		}
	}
	for _, js := range []string{"app.js", "card.js"} {
		if strings.Contains(readAll(t, srv.URL+"/ui/"+js), "innerHTML") {
			t.Errorf("%s writes HTML: payloads are untrusted", js)
		}
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != PagePath {
		t.Errorf("GET /: %d to %q, want a redirect to %s", resp.StatusCode, resp.Header.Get("Location"), PagePath)
	}
}

func readAll(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestSessionCookie(t *testing.T) {
	api := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "secret data") })
	srv := httptest.NewServer(RequireToken("s3cret-token", api))
	t.Cleanup(srv.Close)
	do := func(method, path, body string, header map[string]string) *http.Response {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if r := do("POST", SessionPath, `{"token":"wrong"}`, nil); r.StatusCode != 401 || len(r.Cookies()) != 0 {
		t.Fatalf("login with a wrong token: %d, cookies %v", r.StatusCode, r.Cookies())
	}
	r := do("POST", SessionPath, `{"token":"s3cret-token"}`, nil)
	if r.StatusCode != 204 || len(r.Cookies()) != 1 {
		t.Fatalf("login: %d, cookies %v", r.StatusCode, r.Cookies())
	}
	c := r.Cookies()[0]
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.MaxAge != 0 || !c.Expires.IsZero() || c.Path != "/" ||
		strings.Contains(c.Value, "s3cret") {
		t.Errorf("session cookie %+v: want HttpOnly, SameSite=Strict, a session cookie for /, without the token", c)
	}
	if !strings.HasPrefix(c.Name, "hookrelay_admin_") || c.Secure {
		t.Errorf("cookie %q: want the port in its name, and not Secure on plain HTTP", c.Name)
	}
	if r := do("POST", SessionPath, `{"token":"s3cret-token"}`, map[string]string{"X-Forwarded-Proto": "https"}); len(r.Cookies()) != 1 || !r.Cookies()[0].Secure {
		t.Errorf("behind a TLS proxy: cookies %v, want one Secure", r.Cookies())
	}
	cookie := map[string]string{"Cookie": c.Name + "=" + c.Value}
	withHeader := map[string]string{"Cookie": c.Name + "=" + c.Value, PageHeader: "1"}
	flip := "0"
	if strings.HasSuffix(c.Value, "0") {
		flip = "1"
	}
	tampered := map[string]string{"Cookie": c.Name + "=" + c.Value[:len(c.Value)-1] + flip}
	// A far expiry with a made-up signature, and the right signature of
	// another listener's cookie name, are both refused.
	forged := map[string]string{"Cookie": c.Name + "=99999999999.00"}
	for _, tt := range []struct {
		name, method string
		header       map[string]string
		want         int
	}{
		{"read with the cookie", "GET", cookie, 200},
		{"change with the cookie alone", "POST", cookie, 403},
		{"change with the cookie and the page's header", "POST", withHeader, 200},
		{"tampered cookie", "GET", tampered, 401},
		{"forged cookie", "GET", forged, 401},
		{"no cookie", "GET", nil, 401},
	} {
		if got := do(tt.method, "/api/v1/deadletters", "", tt.header).StatusCode; got != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, got, tt.want)
		}
	}
	var state SessionState
	req, _ := http.NewRequest("GET", srv.URL+SessionPath, nil)
	req.Header.Set("Cookie", cookie["Cookie"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.NewDecoder(resp.Body).Decode(&state); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if !state.TokenRequired || !state.Authenticated {
		t.Errorf("session state %+v, want required and authenticated", state)
	}
	if r := do("DELETE", SessionPath, "", cookie); r.StatusCode != 204 || len(r.Cookies()) != 1 || r.Cookies()[0].MaxAge >= 0 {
		t.Errorf("logout: %d, cookies %v: want the cookie deleted", r.StatusCode, r.Cookies())
	}
}

func TestSessionCookieExpires(t *testing.T) {
	a := &auth{token: "t", now: time.Now}
	v := a.cookieValue(time.Now().Add(time.Minute))
	if !a.validCookie(v) {
		t.Fatal("fresh cookie refused")
	}
	a.now = func() time.Time { return time.Now().Add(2 * time.Minute) }
	if a.validCookie(v) {
		t.Error("expired cookie accepted")
	}
	a.now = time.Now
	if a.validCookie(a.cookieValue(time.Now().Add(SessionLifetime + time.Hour))) {
		t.Error("cookie beyond SessionLifetime accepted")
	}
	other := &auth{token: "t2", key: [32]byte{1}, now: time.Now}
	if a.validCookie(other.cookieValue(time.Now().Add(time.Minute))) {
		t.Error("cookie of another token accepted")
	}
}

// TestVendoredAdaptiveCards checks the vendored renderer against the sums
// its README records, so it cannot change without the note of its version.
func TestVendoredAdaptiveCards(t *testing.T) {
	readme, err := fs.ReadFile(static, "static/vendor/adaptivecards/README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"adaptivecards.min.js", "adaptivecards.css", "LICENSE", "LICENSE.swiper"} {
		b, err := fs.ReadFile(static, "static/vendor/adaptivecards/"+name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if strings.HasPrefix(name, "LICENSE") {
			if !strings.Contains(string(b), "MIT License") {
				t.Errorf("%s is not the MIT licence", name)
			}
			continue
		}
		sum := sha256.Sum256(b)
		if row := "| " + name + " | `" + hex.EncodeToString(sum[:]) + "` |"; !strings.Contains(string(readme), row) {
			t.Errorf("%s: its sha256 %x is not the README's; update the README's table with the version", name, sum)
		}
	}
}

func TestPreviewPage(t *testing.T) {
	page, err := PreviewPage([]byte(`{"type":"message","attachments":[{"content":{"type":"AdaptiveCard","body":[{"type":"TextBlock","text":"</script><b>x"}]}}]}`), "from <test>")
	if err != nil {
		t.Fatal(err)
	}
	s := string(page)
	if strings.Count(s, "</script>") != 4 || !strings.Contains(s, `\u003c/script>\u003cb>x`) || !strings.Contains(s, "from &lt;test&gt;") {
		t.Errorf("the card or its description escaped its block:\n%s", s[len(s)-1500:])
	}
	if !strings.Contains(s, "AdaptiveCards") || !strings.Contains(s, "HookrelayCard") {
		t.Error("the preview lacks the renderer or card.js")
	}
	if _, err := PreviewPage([]byte("nope"), ""); err == nil {
		t.Error("a card that is not JSON: no error")
	}
}
