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
	fs := flag.NewFlagSet("teams-sim", flag.ContinueOnError)
	fs.SetOutput(stdout)
	listen := fs.String("listen", "127.0.0.1:9090", "address to listen on")
	bare := fs.Bool("bare-errors", false, "answer connector errors with their own status instead of Teams' HTTP 200 with the error in the body")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("teams-sim: %w", err)
	}
	var opts []teamstest.Option
	if *bare {
		opts = append(opts, teamstest.WithBareErrors())
	}

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("teams-sim: listen on %s (is another process using it? choose one with --listen): %w", *listen, err)
	}
	srv := &http.Server{
		Handler:           teamstest.NewHandler(opts...),
		ReadHeaderTimeout: 10 * time.Second,
		// Request contexts end with ctx, so shutdown cuts fault latencies short.
		BaseContext: func(net.Listener) context.Context { return ctx },
	}
	fmt.Fprintf(stdout, "teams simulator listening on http://%s\n", ln.Addr())

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
