package teamstest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"
)

// Server is a simulated Teams endpoint listening on a random loopback port.
// The Handler's methods (Received, SetFault, …) are available on it.
type Server struct {
	// URL is the base URL, like http://127.0.0.1:PORT; append any path to get
	// a webhook URL.
	URL string
	*Handler

	srv    *http.Server
	cancel context.CancelFunc
	done   chan struct{}
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
		Handler:           s.Handler,
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

// Close stops the server, cutting short any fault latency, and waits for the
// requests in progress to be answered.
func (s *Server) Close() {
	s.cancel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		s.srv.Close()
	}
	<-s.done
}
