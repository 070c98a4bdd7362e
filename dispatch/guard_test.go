package dispatch

import (
	"bufio"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/internal/config"
)

// postWith makes one request to url with client, as a destination's worker
// does.
func postWith(t *testing.T, client *http.Client, url string) outcome {
	t.Helper()
	w := newWorker(nil, config.Destination{Name: "ops", URL: url, Timeout: 5 * time.Second}, client, slog.New(slog.DiscardHandler), options{}, nil)
	return w.post(context.Background(), "d1", []byte(`{"text":"x"}`))
}

// A connection the guard refuses says why without the URL: what an
// outcome's error says reaches the admin page, dead letters, the history
// and traces, and a destination URL is a credential.
func TestRefusedConnectionKeepsTheURLSecret(t *testing.T) {
	t.Setenv("HTTPS_PROXY", "")
	t.Setenv("https_proxy", "")
	o := postWith(t, newClient(false), "https://localhost:1/webhookb2/s3cr3t-path/IncomingWebhook")
	if o.verdict != rejected || !errors.Is(o.err, ErrPrivateAddress) {
		t.Fatalf("outcome %v %v, want rejected for a non-public address", o.verdict, o.err)
	}
	if strings.Contains(o.err.Error(), "s3cr3t") || strings.Contains(o.err.Error(), "webhookb2") {
		t.Errorf("the refusal names the URL: %v", o.err)
	}
}

// The egress proxy the environment names is dialled though its address is
// private; the destination is asked of it (CONNECT), and what the proxy
// answers is a failure to retry, not a refused destination.
func TestEgressProxyOnAPrivateAddressIsUsed(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	asked := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		req, err := http.ReadRequest(bufio.NewReader(c))
		if err != nil {
			return
		}
		asked <- req.Method + " " + req.Host
		_, _ = c.Write([]byte("HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n"))
	}()
	t.Setenv("HTTPS_PROXY", "http://"+ln.Addr().String())
	t.Setenv("NO_PROXY", "")
	t.Setenv("no_proxy", "")
	o := postWith(t, newClient(false), "https://93.184.215.14/webhookb2/s3cr3t-path")
	select {
	case got := <-asked:
		if got != "CONNECT 93.184.215.14:443" {
			t.Errorf("the proxy was asked %q, want CONNECT 93.184.215.14:443", got)
		}
	default:
		t.Fatalf("the proxy was not dialled: outcome %v %v", o.verdict, o.err)
	}
	if o.verdict != retry || errors.Is(o.err, ErrPrivateAddress) {
		t.Errorf("outcome %v %v, want a failure to retry", o.verdict, o.err)
	}
	if strings.Contains(o.err.Error(), "s3cr3t") {
		t.Errorf("the failure names the URL: %v", o.err)
	}
}
