// Package adminui guards the admin listener with a bearer token (or the
// page's session cookie, got once for it) and serves the admin page:
// destinations worst first with their trends, dead letters with replay and
// purge, the card as Teams would show it, and an event's history. The page is
// static HTML and JavaScript embedded in the binary (no build step), with
// Microsoft's Adaptive Cards renderer vendored under static/vendor; it holds
// no data and reads everything from the admin API.
package adminui

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

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

// SessionPath is where the page trades the token for a session cookie
// (POST {"token": …}), asks whether it has one (GET) and ends it (DELETE).
const SessionPath = "/ui/session"

// SessionLifetime bounds a session: the cookie lives until the browser
// closes, and at most this long.
const SessionLifetime = 12 * time.Hour

// PageHeader must accompany every request that changes something (any
// method but GET and HEAD) when it is authenticated by the session cookie:
// a page of another site can make a browser send the cookie, never this
// header, so a forged form cannot replay or purge.
const PageHeader = "X-Hookrelay-Page"

// RequireToken lets a request through to next only with the header
// "Authorization: Bearer <token>" or a session cookie the page got for the
// token at SessionPath, except for /healthz, /readyz, /metrics and the admin
// page (see Handler). Others get 401. The comparisons take the same time
// whatever is given. An empty token lets everything through: hookrelay
// serve allows that only on a loopback listener.
//
// The session cookie is what lets an operator type the token once per
// browser session rather than once per tab: it is HttpOnly (no script reads
// it), SameSite=Strict, without an expiry (the browser forgets it when it
// closes) and valid for SessionLifetime at most. Its value is an HMAC of its
// expiry keyed by the token, so it holds no secret, needs no server state,
// and dies when the token changes.
func RequireToken(token string, next http.Handler) http.Handler {
	a := &auth{token: token, key: sha256.Sum256([]byte("hookrelay admin session\x00" + token)), now: time.Now}
	a.want = sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == SessionPath {
			a.session(w, r)
			return
		}
		if open(r) {
			next.ServeHTTP(w, r)
			return
		}
		if token == "" {
			if err := fromThisMachine(r); err != nil {
				adminapi.WriteError(w, http.StatusForbidden, err)
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		switch a.check(r) {
		case byBearer:
			next.ServeHTTP(w, r)
		case byCookie:
			if r.Method != http.MethodGet && r.Method != http.MethodHead && r.Header.Get(PageHeader) == "" {
				adminapi.WriteError(w, http.StatusForbidden, errPageHeader)
				return
			}
			next.ServeHTTP(w, r)
		default:
			w.Header().Set("WWW-Authenticate", `Bearer realm="hookrelay admin"`)
			adminapi.WriteError(w, http.StatusUnauthorized, errToken)
		}
	})
}

// fromThisMachine refuses, for an admin API without a token (serve allows
// one only on a loopback listener), what a web page in the operator's
// browser could send it: a request naming another host (a DNS rebinding,
// which would let the page read the answers) and a change from another
// site (which a browser sends without asking, for a form or a plain-text
// body). A client of its own — hookrelay's commands, curl — sends neither an
// Origin nor Sec-Fetch-Site, and the admin page sends its own origin.
func fromThisMachine(r *http.Request) error {
	host, _, err := net.SplitHostPort(r.Host)
	if err != nil {
		host = r.Host
	}
	if ip := net.ParseIP(strings.Trim(host, "[]")); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return errForeignHost
	}
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return nil
	}
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return errCrossSite
	}
	if origin := r.Header.Get("Origin"); origin != "" {
		if u, err := url.Parse(origin); err != nil || u.Host != r.Host {
			return errCrossSite
		}
	}
	return nil
}

// errForeignHost and errCrossSite are the answers to what fromThisMachine
// refuses.
var (
	errForeignHost = errors.New("the admin API without a token answers only requests to a loopback address or localhost")
	errCrossSite   = errors.New("the admin API without a token takes no change from another site; set admin_token to use it across origins")
)

// errToken is the answer to a request without the admin token.
var errToken = errors.New("missing or wrong admin token: send Authorization: Bearer <admin_token>")

// errPageHeader is the answer to a change authenticated by cookie alone.
var errPageHeader = errors.New("a change authenticated by the session cookie must carry the " + PageHeader + " header")

type auth struct {
	token string
	want  [sha256.Size]byte // the token's hash
	key   [sha256.Size]byte // the session cookies' HMAC key
	now   func() time.Time
}

type authBy int

const (
	unauthenticated authBy = iota
	byBearer
	byCookie
)

func (a *auth) check(r *http.Request) authBy {
	if got, ok := bearer(r.Header.Get("Authorization")); ok {
		if a.tokenIs(got) {
			return byBearer
		}
		return unauthenticated
	}
	if c, err := r.Cookie(cookieName(r)); err == nil && a.validCookie(c.Value) {
		return byCookie
	}
	return unauthenticated
}

// tokenIs compares in constant time; hashing first makes it independent of
// the length given, too.
func (a *auth) tokenIs(got string) bool {
	sum := sha256.Sum256([]byte(got))
	return subtle.ConstantTimeCompare(sum[:], a.want[:]) == 1
}

// cookieName names the session cookie after the listener's port: browsers
// share cookies across a host's ports, and two relays on one machine must
// not log each other out.
func cookieName(r *http.Request) string {
	if _, port, err := net.SplitHostPort(r.Host); err == nil && port != "" {
		return "hookrelay_admin_" + port
	}
	return "hookrelay_admin"
}

func (a *auth) cookieValue(expiry time.Time) string {
	exp := strconv.FormatInt(expiry.Unix(), 10)
	m := hmac.New(sha256.New, a.key[:])
	m.Write([]byte(exp))
	return exp + "." + hex.EncodeToString(m.Sum(nil))
}

func (a *auth) validCookie(v string) bool {
	exp, _, ok := strings.Cut(v, ".")
	n, err := strconv.ParseInt(exp, 10, 64)
	if !ok || err != nil || a.now().Unix() >= n || n > a.now().Add(SessionLifetime).Unix() {
		return false
	}
	want := a.cookieValue(time.Unix(n, 0))
	return subtle.ConstantTimeCompare([]byte(v), []byte(want)) == 1
}

// SessionState is the answer of GET SessionPath.
type SessionState struct {
	// TokenRequired is false when the listener has no token (loopback).
	TokenRequired bool `json:"token_required"`
	// Authenticated says whether this request's cookie or bearer token is
	// good.
	Authenticated bool `json:"authenticated"`
}

func (a *auth) session(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		adminapi.WriteJSON(w, http.StatusOK, SessionState{
			TokenRequired: a.token != "", Authenticated: a.token == "" || a.check(r) != unauthenticated,
		})
	case http.MethodPost:
		var body struct {
			Token string `json:"token"`
		}
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&body); err != nil {
			adminapi.WriteError(w, http.StatusBadRequest, errors.New(`send {"token": "<admin_token>"}`))
			return
		}
		if a.token == "" {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if !a.tokenIs(body.Token) {
			adminapi.WriteError(w, http.StatusUnauthorized, errors.New("wrong admin token"))
			return
		}
		http.SetCookie(w, &http.Cookie{
			Name: cookieName(r), Value: a.cookieValue(a.now().Add(SessionLifetime)), Path: "/",
			HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: overTLS(r),
		})
		w.WriteHeader(http.StatusNoContent)
	case http.MethodDelete:
		http.SetCookie(w, &http.Cookie{Name: cookieName(r), Value: "", Path: "/", MaxAge: -1,
			HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: overTLS(r)})
		w.WriteHeader(http.StatusNoContent)
	default:
		w.Header().Set("Allow", "GET, POST, DELETE")
		adminapi.WriteError(w, http.StatusMethodNotAllowed, errors.New("use GET, POST or DELETE"))
	}
}

// overTLS reports whether the browser reached the listener over TLS: its
// own, or a proxy's that says so. Trusting the header cannot weaken the
// cookie: Secure only keeps it off plain HTTP.
func overTLS(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

func bearer(h string) (string, bool) {
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}
