package adminui

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
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

func TestRequireTokenEmptyLetsAllThrough(t *testing.T) {
	h := RequireToken("", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/api/v1/deadletters", nil))
	if w.Code != 200 {
		t.Errorf("empty token: %d, want 200", w.Code)
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
	if strings.Contains(readAll(t, srv.URL+"/ui/app.js"), "innerHTML") {
		t.Error("app.js writes HTML: payloads are untrusted")
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
