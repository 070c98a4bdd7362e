// Command hookrelay relays vendor webhooks to Microsoft Teams through a
// durable queue: NATS JetStream or Kafka.
//
//	hookrelay serve --config hookrelay.yaml   run every stage (embedded NATS by default)
//	hookrelay dlq list|show|replay|purge      inspect and replay dead letters
//	hookrelay events show|replay              an event's history; replay from source
//	hookrelay destinations                    breaker, backlog and budget per destination
//	hookrelay render --source S --file F      print the card an event would become
//	hookrelay teams-sim --listen ADDR         run the Teams webhook simulator
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
)

const usage = `hookrelay relays vendor webhooks to Microsoft Teams through a durable queue.

Usage:
  hookrelay serve [--config FILE] [--role all|ingest|transform|dispatch]
  hookrelay dlq list|show|replay|purge [flags]    (talks to the admin API)
  hookrelay events show|replay [flags]            (an event's history; replay from source)
  hookrelay destinations [-o json]                (breaker, backlog and budget)
  hookrelay render --config FILE --source NAME --file PAYLOAD [--format F]
                                                  (the card an event would become; no queue)
  hookrelay teams-sim [--listen ADDR]             (a Teams webhook simulator)

Run "hookrelay COMMAND -h" for a command's flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "hookrelay:", err)
		}
		os.Exit(2)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return flag.ErrHelp
	}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "serve":
		return runServe(ctx, rest, stderr)
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
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
}
