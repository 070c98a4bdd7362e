package ingest_test

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/ingest"
	"github.com/hookrelay/hookrelay/internal/config"
	"github.com/hookrelay/hookrelay/internal/queue"
)

// rawRequest opens a connection to the fixture and writes a POST's headers
// declaring contentLength bytes, then body (fewer bytes, or none); the
// caller reads the answer, or holds the connection.
func rawRequest(t *testing.T, f *fixture, path string, header map[string]string, contentLength int, body string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(f.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	var b strings.Builder
	fmt.Fprintf(&b, "POST %s HTTP/1.1\r\nHost: relay\r\nContent-Type: application/json\r\nContent-Length: %d\r\n", path, contentLength)
	for k, v := range header {
		fmt.Fprintf(&b, "%s: %s\r\n", k, v)
	}
	b.WriteString("\r\n" + body)
	if _, err := conn.Write([]byte(b.String())); err != nil {
		t.Fatal(err)
	}
	return conn
}

// answer reads the status of the answer on conn, within 5 s.
func answer(t *testing.T, conn net.Conn) int {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer within 5s: %v", err)
	}
	defer resp.Body.Close()
	return resp.StatusCode
}

// A sender that cannot be the source is refused from the request line and
// headers, before its body: it is not waited for, and holds no memory.
func TestRefusedBeforeTheBody(t *testing.T) {
	f := start(t)
	for _, tc := range []struct {
		name, path string
		header     map[string]string
		want       int
	}{
		{"unknown source", "/hooks/nobody/x", nil, http.StatusNotFound},
		{"wrong token in the path", "/hooks/alpha/wrong", nil, http.StatusUnauthorized},
		{"no token at all", "/hooks/alpha", nil, http.StatusUnauthorized},
		{"wrong bearer token", "/hooks/alpha", map[string]string{"Authorization": "Bearer wrong"}, http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// 1 MiB declared, nothing sent: an answer proves nothing waited for it.
			conn := rawRequest(t, f, tc.path, tc.header, 1<<20, "")
			if got := answer(t, conn); got != tc.want {
				t.Errorf("answered %d, want %d", got, tc.want)
			}
		})
	}
}

// Bodies in memory are bounded across requests: senders holding large bodies
// half sent use up max_body_memory, and the next large body is answered 503
// with Retry-After rather than held; a small event is still served, from the
// part of every body read without the budget. Once the slow senders leave,
// large bodies are served again. A declared Content-Length reserves nothing.
func TestBodyMemoryIsBounded(t *testing.T) {
	f := startConfig(t, strings.Replace(testConfig, "max_body: 1024", "max_body: 65536\nmax_body_memory: 262144", 1))
	var held []net.Conn
	hold := func() {
		// 60 KiB sent of 64 KiB declared: 32 KiB of the budget each.
		held = append(held, rawRequest(t, f, "/hooks/alpha/alpha-secret", nil, 64<<10, `{"pad":"`+strings.Repeat("x", 60<<10)))
	}
	for range 8 { // 8 × 32 KiB: the whole budget
		hold()
	}
	large := `{"pad":"` + strings.Repeat("y", 50<<10) + `"}`
	// A large event may take budget before a slow sender's body is read,
	// which that sender is then refused: every large event served means
	// one more slow sender, until they hold the budget.
	for {
		got := do(t, "POST", f.url+"/hooks/alpha/alpha-secret", nil, strings.NewReader(large))
		if got.status == http.StatusServiceUnavailable {
			if got.header.Get("Retry-After") == "" {
				t.Error("503 without Retry-After")
			}
			break
		}
		if got.status != http.StatusAccepted || len(held) == 40 {
			t.Fatalf("with %d large bodies half sent, a large event answered %d; want 503 once they hold the 256 KiB", len(held), got.status)
		}
		hold()
	}
	if got := do(t, "POST", f.url+"/hooks/alpha/alpha-secret", nil, strings.NewReader(`{"n":1}`)); got.status != http.StatusAccepted {
		t.Errorf("a small event while the budget is used up answered %d, want 202", got.status)
	}
	for _, conn := range held {
		_ = conn.Close()
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := do(t, "POST", f.url+"/hooks/alpha/alpha-secret", nil, strings.NewReader(large))
		if got.status == http.StatusAccepted {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the slow senders left, a large event answered %d", got.status)
		}
		time.Sleep(10 * time.Millisecond) // the server notices closed connections on its own
	}
}

// A sender that hangs up part way through its body has sent no event:
// nothing is stored, whether the part sent fits in the first chunk or not,
// and the next full event is stored whole. The request's context is kept
// alive, as a proxy in front may do, so that only the body tells.
func TestSenderGoneMidBodyStoresNothing(t *testing.T) {
	_, q := startQueue(t)
	cfg, err := config.Parse([]byte(strings.Replace(testConfig, "max_body: 1024", "max_body: 262144", 1)))
	if err != nil {
		t.Fatal(err)
	}
	h, err := ingest.New(cfg, queue.Over(q), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(context.WithoutCancel(r.Context())))
	}))
	defer srv.Close()
	f := &fixture{q: queue.Over(q), url: srv.URL}
	for _, sent := range []int{10 << 10, 40 << 10, 100 << 10} {
		// Any prefix past the object is valid JSON: only the length
		// tells the body was cut.
		conn := rawRequest(t, f, "/hooks/alpha/alpha-secret", nil, 200<<10, `{"n":1}`+strings.Repeat(" ", sent))
		if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
			t.Fatal(err)
		}
		if got := answer(t, conn); got != http.StatusBadRequest {
			t.Errorf("a body cut after %d bytes answered %d, want 400", sent, got)
		}
	}
	if n := stored(t, f.q); n != 0 {
		t.Fatalf("%d events stored from bodies cut short, want 0", n)
	}
	if got := do(t, "POST", f.url+"/hooks/alpha/alpha-secret", nil, strings.NewReader(`{"n":1}`)); got.status != http.StatusAccepted {
		t.Fatalf("a whole event after them answered %d, want 202", got.status)
	}
	if n := stored(t, f.q); n != 1 {
		t.Fatalf("%d events stored, want the 1 whole one", n)
	}
}
