package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/hookrelay/hookrelay/internal/teamstest"
)

// runTeamsSim runs `hookrelay teams-sim`: the Teams webhook simulator on a
// real port, for trying hookrelay without Teams. Any path is a webhook URL;
// /_sim/… switches faults on and shows what was received.
func runTeamsSim(ctx context.Context, args []string, stdout io.Writer) error {
	sim, err := listenTeamsSim(args, stdout)
	if err != nil {
		return err
	}
	return sim.serve(ctx)
}

// teamsSim is the simulator with its port bound, before it serves: demo
// binds it before serve starts, so that once the relay serves, the
// destinations it sends to answer.
type teamsSim struct {
	ln      net.Listener
	handler http.Handler
}

// listenTeamsSim reads the teams-sim flags and binds the simulator's port.
func listenTeamsSim(args []string, stdout io.Writer) (*teamsSim, error) {
	fs := flag.NewFlagSet("teams-sim", flag.ContinueOnError)
	fs.SetOutput(stdout)
	listen := fs.String("listen", "127.0.0.1:9090", "address to listen on")
	bare := fs.Bool("bare-errors", false, "answer connector errors with their own status instead of Teams' HTTP 200 with the error in the body")
	if err := fs.Parse(args); err != nil {
		return nil, fmt.Errorf("teams-sim: %w", err)
	}
	var opts []teamstest.Option
	if *bare {
		opts = append(opts, teamstest.WithBareErrors())
	}

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return nil, fmt.Errorf("teams-sim: listen on %s (is another process using it? choose one with --listen): %w", *listen, err)
	}
	fmt.Fprintf(stdout, "teams simulator listening on http://%s\n", ln.Addr())
	return &teamsSim{ln: ln, handler: teamstest.NewHandler(opts...)}, nil
}

// serve answers on the bound port until ctx ends.
func (s *teamsSim) serve(ctx context.Context) error {
	ln := s.ln
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		// Request contexts end with ctx, so shutdown cuts fault latencies short.
		BaseContext: func(net.Listener) context.Context { return ctx },
	}

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("teams-sim: serve on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		// Connections still open after the grace period are cut; that is
		// the end of a simulator run, not a failure.
		srv.Close()
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("teams-sim: serve on %s: %w", ln.Addr(), err)
	}
	return nil
}
