// Command hookrelay relays vendor webhooks to Microsoft Teams through a
// durable queue: NATS JetStream or Kafka.
//
//	hookrelay serve --config hookrelay.yaml   run every stage (embedded NATS by default)
//	hookrelay check --config hookrelay.yaml   validate a configuration, as serve would
//	hookrelay demo                            serve examples/quickstart.yaml with the simulator
//	hookrelay dlq list|show|replay|purge      inspect and replay dead letters
//	hookrelay events show|replay              an event's history; replay from source
//	hookrelay destinations                    breaker, backlog and budget per destination
//	hookrelay render --source S --file F      print the card an event would become
//	hookrelay teams-sim --listen ADDR         run the Teams webhook simulator
//	hookrelay version                         version, commit and Go version
//	hookrelay completion bash|zsh             shell completion
//
// Exit status: 0 success, 1 a failure at run time, 2 a usage or
// configuration error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/hookrelay/hookrelay/internal/buildinfo"
)

const usage = `hookrelay relays vendor webhooks to Microsoft Teams through a durable queue.

Usage:
  hookrelay serve [--config FILE] [--role all|ingest|transform|dispatch]
  hookrelay check [--config FILE] [-o text|json]  (validate a configuration; no queue, no secrets)
  hookrelay demo [--config FILE]                  (serve with the Teams simulator; Ctrl-C stops both)
  hookrelay dlq list|show|replay|purge [flags]    (talks to the admin API)
  hookrelay events show|replay [flags]            (an event's history; replay from source)
  hookrelay destinations [-o json]                (breaker, backlog and budget)
  hookrelay render --config FILE --source NAME --file PAYLOAD [--format F]
                                                  (the card an event would become; no queue)
  hookrelay teams-sim [--listen ADDR]             (a Teams webhook simulator)
  hookrelay version [-o json]                     (also --version)
  hookrelay completion bash|zsh                   (shell completion script)

Run "hookrelay COMMAND -h" for a command's flags.
Exit status: 0 success, 1 failure at run time, 2 usage or configuration error.
`

// Exit statuses.
const (
	exitFailure = 1 // something failed at run time
	exitUsage   = 2 // the command line or the configuration is wrong
)

// usageError marks an error the user makes on the command line or in the
// configuration: the process exits 2 rather than 1.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// badUsage marks err as a usage or configuration error (nil stays nil).
func badUsage(err error) error {
	if err == nil {
		return nil
	}
	return usageError{err}
}

// exitCode is the process's exit status for what run returned.
func exitCode(err error) int {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		// -h asked for help and got it; a missing command was a mistake.
		if _, ok := errors.AsType[usageError](err); ok {
			return exitUsage
		}
		return 0
	}
	if _, ok := errors.AsType[usageError](err); ok {
		return exitUsage
	}
	return exitFailure
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "hookrelay:", err)
	}
	stop()
	os.Exit(exitCode(err))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return badUsage(flag.ErrHelp)
	}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "serve":
		return runServe(ctx, rest, stderr)
	case "check":
		return runCheck(ctx, rest, stdout, stderr)
	case "demo":
		return runDemo(ctx, rest, stdout, stderr)
	case "dlq":
		return runDLQ(ctx, rest, stdout, stderr)
	case "events":
		return runEvents(ctx, rest, stdout, stderr)
	case "destinations":
		return runDestinations(ctx, rest, stdout, stderr)
	case "render":
		return runRender(ctx, rest, stdout, stderr)
	case "teams-sim":
		return runTeamsSim(ctx, rest, stdout)
	case "version", "--version", "-version", "-v":
		return runVersion(rest, stdout, stderr)
	case "completion":
		return runCompletion(rest, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return badUsage(fmt.Errorf("unknown command %q", cmd))
	}
}

// runVersion prints the version, commit and Go version, from the binary's
// build information.
func runVersion(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	fs.SetOutput(stderr)
	output := fs.String("o", "text", "output format: text or json")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	info := buildinfo.Read()
	switch *output {
	case "json":
		return writeIndented(stdout, info)
	case "text":
		_, err := fmt.Fprintln(stdout, info)
		return err
	default:
		return badUsage(fmt.Errorf("version: -o %q: choose text or json", *output))
	}
}

// parseFlags parses a command's flags; a mistake is a usage error, and
// positional arguments are refused.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err // asked for, and printed
		}
		return badUsage(err)
	}
	if fs.NArg() > 0 {
		return badUsage(fmt.Errorf("%s: unexpected argument %q", fs.Name(), fs.Arg(0)))
	}
	return nil
}
