// Package adminui guards the admin listener with a bearer token and serves the
// admin page: destinations, dead letters with replay and purge, and an
// event's history. The page is static HTML and JavaScript embedded in the
// binary (no build step); it holds no data and reads everything from the
// admin API with the token the operator types in.
package adminui

import (
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"errors"
	"io/fs"
	"net/http"
	"strings"

	"github.com/hookrelay/hookrelay/internal/adminapi"
)

//go:embed static
var static embed.FS

// PagePath is where the admin page is served.
const PagePath = "/ui/"

// Handler serves the admin page under PagePath, and redirects / to it.
func Handler() http.Handler {
	files, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	mux := http.NewServeMux()
	fileServer := http.StripPrefix(PagePath, http.FileServerFS(files))
	mux.Handle("GET "+PagePath, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		// The page shows webhook payloads, which anyone can send: only its
		// own script may run, and it may talk only to this listener.
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		fileServer.ServeHTTP(w, r)
	}))
	mux.Handle("GET /{$}", http.RedirectHandler(PagePath, http.StatusFound))
	return mux
}

// open reports whether a request may go without a token: the probes and
// metrics scrapers, which cannot be given one, and the page itself, which
// holds no data (a browser cannot send a bearer token to load a page).
func open(r *http.Request) bool {
	switch p := r.URL.Path; {
	case p == "/healthz", p == "/readyz", p == "/metrics":
		return true
	case r.Method != http.MethodGet && r.Method != http.MethodHead:
		return false
	default:
		return p == "/" || strings.HasPrefix(p, PagePath)
	}
}

// RequireToken lets a request through to next only with the header
// "Authorization: Bearer <token>", except for /healthz, /readyz, /metrics
// and the admin page (see Handler). Others get 401. The comparison takes the
// same time whatever the token given. An empty token lets everything
// through: hookrelay serve allows that only on a loopback listener.
func RequireToken(token string, next http.Handler) http.Handler {
	if token == "" {
		return next
	}
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if open(r) {
			next.ServeHTTP(w, r)
			return
		}
		got, ok := bearer(r.Header.Get("Authorization"))
		// Hashing first makes the comparison independent of the length
		// given, too.
		sum := sha256.Sum256([]byte(got))
		if !ok || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="hookrelay admin"`)
			adminapi.WriteError(w, http.StatusUnauthorized, errToken)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// errToken is the answer to a request without the admin token.
var errToken = errors.New("missing or wrong admin token: send Authorization: Bearer <admin_token>")

func bearer(h string) (string, bool) {
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}
