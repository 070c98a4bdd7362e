package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"golang.org/x/sync/errgroup"
)

// runDemo runs `hookrelay demo`: the Teams simulator and serve in one
// process, so that Ctrl-C stops both and a second run finds its ports free.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "examples/quickstart.yaml", "configuration `file`; its destinations point at the simulator")
	simListen := fs.String("sim-listen", "127.0.0.1:9090", "the simulator's address")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	// Checked before anything starts, so a bad file is a usage error, not
	// a simulator left alone.
	if _, err := loadConfig(*configPath, nil); err != nil {
		return badUsage(err)
	}
	// The simulator's port is bound before serve starts: once the relay
	// says it serves, the destinations it sends to answer.
	sim, err := listenTeamsSim([]string{"--listen", *simListen}, stdout)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	g, ctx := errgroup.WithContext(ctx)
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	g.Go(func() error {
		defer stop() // the simulator failing ends the relay too
		return sim.serve(ctx)
	})
	g.Go(func() error {
		defer stop()
		return runServe(ctx, []string{"--config", *configPath, "--log-level", *logLevel}, stderr)
	})
	err = g.Wait()
	if errors.Is(err, context.Canceled) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	return nil
}
