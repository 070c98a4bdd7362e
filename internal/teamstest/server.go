package teamstest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// Server is a simulated Teams endpoint listening on a random loopback port.
// The Handler's methods (Received, SetFault, …) are available on it.
type Server struct {
	// URL is the base URL, like http://127.0.0.1:PORT; append any path to get
	// a webhook URL.
	URL string
	*Handler

	srv      *http.Server
	cancel   context.CancelFunc
	done     chan struct{}
	mu       sync.Mutex
	closed   bool
	inflight sync.WaitGroup
}

// NewServer starts a simulated Teams endpoint on 127.0.0.1 and a free port. It
// panics if it cannot listen, as httptest.NewServer does.
func NewServer(opts ...Option) *Server {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(fmt.Sprintf("teamstest: listen on 127.0.0.1:0: %v", err))
	}
	// Request contexts derive from ctx, so Close also ends fault latencies.
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		URL:     "http://" + ln.Addr().String(),
		Handler: NewHandler(opts...),
		cancel:  cancel,
		done:    make(chan struct{}),
	}
	s.srv = &http.Server{
		Handler:           http.HandlerFunc(s.serve),
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	go func() {
		defer close(s.done)
		// Serve returns ErrServerClosed after Close; any other error has
		// already stopped the server, and requests to URL will fail visibly.
		_ = s.srv.Serve(ln)
	}()
	return s
}

// serve counts the requests in progress so Close can wait for them.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		http.Error(w, "teamstest: server closed", http.StatusServiceUnavailable)
		return
	}
	s.inflight.Add(1)
	s.mu.Unlock()
	defer s.inflight.Done()
	s.Handler.ServeHTTP(w, r)
}

// Close stops the server: it cuts short any fault latency, closes every
// connection and waits until no request is being handled. What was received
// stays readable.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.srv.Close()
	s.inflight.Wait()
	<-s.done
}
