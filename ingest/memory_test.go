package ingest_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
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
	const slow = 12
	var held []net.Conn
	for range slow {
		// 60 KiB sent of 64 KiB declared: about 32 KiB of the budget each.
		held = append(held, rawRequest(t, f, "/hooks/alpha/alpha-secret", nil, 64<<10, `{"pad":"`+strings.Repeat("x", 60<<10)))
	}
	large := `{"pad":"` + strings.Repeat("y", 50<<10) + `"}`
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := do(t, "POST", f.url+"/hooks/alpha/alpha-secret", nil, strings.NewReader(large))
		if got.status == http.StatusServiceUnavailable {
			if got.header.Get("Retry-After") == "" {
				t.Error("503 without Retry-After")
			}
			break
		}
		if got.status != http.StatusAccepted || time.Now().After(deadline) {
			t.Fatalf("with %d large bodies half sent, a large event answered %d; want 503 once they hold the 256 KiB", slow, got.status)
		}
	}
	if got := do(t, "POST", f.url+"/hooks/alpha/alpha-secret", nil, strings.NewReader(`{"n":1}`)); got.status != http.StatusAccepted {
		t.Errorf("a small event while the budget is used up answered %d, want 202", got.status)
	}
	for _, conn := range held {
		_ = conn.Close()
	}
	deadline = time.Now().Add(10 * time.Second)
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
