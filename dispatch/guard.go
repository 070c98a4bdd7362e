package dispatch

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"syscall"
	"time"

	"golang.org/x/net/http/httpproxy"

	"github.com/hookrelay/hookrelay/internal/config"
)

// ErrPrivateAddress is returned when a destination URL resolves to an
// address that is not public and the destination did not set allow_private.
var ErrPrivateAddress = errors.New("destination resolves to a non-public address")

// publicOnly refuses connections to loopback, private, link-local and other
// non-public addresses. It runs at connect time, after DNS, so a name that
// changes its answer cannot reach an internal service.
func publicOnly(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("guard: parse %q: %w", address, err)
	}
	if !config.IsPublicAddress(ap.Addr()) {
		return fmt.Errorf("%w: %s", ErrPrivateAddress, ap.Addr())
	}
	return nil
}

// newClient returns the HTTP client for destinations. Redirects are not
// followed: a webhook that redirects is misconfigured, and following one could
// leave the destination guard's intent.
//
// The egress proxy the environment names (HTTPS_PROXY, HTTP_PROXY, NO_PROXY,
// read now) is dialled whatever its address, usually a private one: through
// it, the proxy connects to the destination, whose name CheckDestination
// checked when it was configured, and the proxy's own policy applies.
func newClient(allowPrivate bool) *http.Client {
	proxy := httpproxy.FromEnvironment()
	proxyFor := proxy.ProxyFunc()
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	dial := dialer.DialContext
	if !allowPrivate {
		guarded := &net.Dialer{Timeout: dialer.Timeout, KeepAlive: dialer.KeepAlive, Control: publicOnly}
		proxies := proxyAddrs(proxy.HTTPProxy, proxy.HTTPSProxy)
		dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
			if proxies[addr] {
				return dialer.DialContext(ctx, network, addr)
			}
			return guarded.DialContext(ctx, network, addr)
		}
	}
	tr := &http.Transport{
		Proxy:             func(r *http.Request) (*url.URL, error) { return proxyFor(r.URL) },
		DialContext:       dial,
		ForceAttemptHTTP2: true,
		MaxIdleConns:      1000,
		// Many destinations share a host (every Teams connector URL of a
		// tenant does); each has at most one request in flight.
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	return &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// proxyAddrs are the host:port the transport dials for the proxies named
// (a URL, or host[:port] as the environment may give it).
func proxyAddrs(proxies ...string) map[string]bool {
	out := map[string]bool{}
	for _, p := range proxies {
		if p == "" {
			continue
		}
		u, err := url.Parse(p)
		if err != nil || u.Host == "" {
			if u, err = url.Parse("http://" + p); err != nil || u.Host == "" {
				continue
			}
		}
		port := u.Port()
		if port == "" {
			port = map[string]string{"https": "443", "socks5": "1080", "socks5h": "1080"}[u.Scheme]
		}
		if port == "" {
			port = "80"
		}
		out[net.JoinHostPort(u.Hostname(), port)] = true
	}
	return out
}

// CheckDestination resolves a destination URL's host and refuses it when it
// names a non-public address. A name that does not resolve now is let through:
// DNS may be down at start-up, and the connect-time guard still applies.
func CheckDestination(ctx context.Context, rawURL string, allowPrivate bool) error {
	if allowPrivate {
		return nil
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return fmt.Errorf("parse URL: %w", err)
	}
	if u.Scheme != "https" {
		return fmt.Errorf("scheme %q: only https is allowed without allow_private", u.Scheme)
	}
	host := u.Hostname()
	if a, err := netip.ParseAddr(host); err == nil {
		if !config.IsPublicAddress(a) {
			return fmt.Errorf("%w: %s", ErrPrivateAddress, a)
		}
		return nil
	}
	if host == "localhost" {
		return fmt.Errorf("%w: localhost", ErrPrivateAddress)
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil
	}
	for _, a := range addrs {
		if !config.IsPublicAddress(a) {
			return fmt.Errorf("%w: %s resolves to %s", ErrPrivateAddress, host, a)
		}
	}
	return nil
}
