package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hookrelay/hookrelay/internal/history"
)

const eventsUsage = `Show an event's history, and replay stored events from source.

Usage:
  hookrelay events show    ID [-o text|json]
  hookrelay events replay  --source NAME --since T [--until T] [--route R]… [--dry-run] [--replay-id ID] [-o text|json]

replay re-runs the source's stored events (RELAY_IN keeps them for
retention.events, default 7 days) through the current routes and mappings,
e.g. after fixing a mapping; --route limits it to those routes. The new
deliveries go through each destination's normal budget. Running the same
--replay-id twice replays once. T is RFC 3339, or a duration meaning that
long ago (2h).

Every command takes --admin URL (default $HOOKRELAY_ADMIN or http://127.0.0.1:8081);
a bearer token is sent from $HOOKRELAY_ADMIN_TOKEN when set.
`

// runEvents runs `hookrelay events …`.
func runEvents(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return newAdminCmd(stdout, stderr).runEvents(ctx, args)
}

func (c adminCmd) eventsClient(admin string) *history.Client {
	return &history.Client{BaseURL: admin, Token: c.getenv("HOOKRELAY_ADMIN_TOKEN"), HTTP: adminHTTP()}
}

func (c adminCmd) runEvents(ctx context.Context, args []string) error {
	var admin string
	sub, rest, fs, err := c.subcommand("events", eventsUsage, args, &admin)
	if err != nil {
		return err
	}

	switch sub {
	case "show":
		id, output, err := parseShow(fs, rest, "event ID")
		if err != nil {
			return err
		}
		v, err := c.eventsClient(admin).Get(ctx, id)
		if err != nil {
			return explain(err)
		}
		if output == "json" {
			return writeIndented(c.stdout, v)
		}
		return writeView(c.stdout, v, "")

	case "replay":
		var routes stringList
		source := fs.String("source", "", "the source whose events to replay (required)")
		since := fs.String("since", "", "events received since: RFC 3339 or a duration ago, e.g. 2h (required)")
		until := fs.String("until", "", "events received before: RFC 3339 or a duration ago")
		fs.Var(&routes, "route", "only through this route (repeatable, or comma-separated)")
		dryRun := fs.Bool("dry-run", false, "only list the events that would be replayed")
		replayID := fs.String("replay-id", "", "name the replay, so running it again repeats nothing (default: from the time)")
		output := fs.String("o", "text", "output format: text or json")
		if err := parseNoArgs(fs, rest); err != nil {
			return err
		}
		if *source == "" || *since == "" {
			return badUsage(fmt.Errorf("events replay: --source and --since are required (e.g. --source github --since 2h)"))
		}
		if err := checkOutput(fs.Name(), *output); err != nil {
			return err
		}
		req := history.ReplayRequest{Source: *source, Routes: routes, DryRun: *dryRun, ID: *replayID}
		var err error
		if req.Since, err = history.ParseTime(*since, c.now()); err != nil {
			return badUsage(fmt.Errorf("--since: %w", err))
		}
		if req.Until, err = history.ParseTime(*until, c.now()); err != nil {
			return badUsage(fmt.Errorf("--until: %w", err))
		}
		res, err := c.eventsClient(admin).Replay(ctx, req)
		if err != nil {
			return explain(err)
		}
		if *output == "json" {
			return writeIndented(c.stdout, res)
		}
		verb := "replayed"
		if res.DryRun {
			verb = "would replay"
		}
		fmt.Fprintf(c.stdout, "%s %d event(s) of %s (replay %s)\n", verb, res.Count, req.Source, res.ID)
		tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
		if len(res.Events) > 0 {
			fmt.Fprintln(tw, "EVENT\tRECEIVED\tSIZE")
		}
		for _, e := range res.Events {
			fmt.Fprintf(tw, "%s\t%s\t%d\n", e.ID, e.ReceivedAt.UTC().Format(time.RFC3339), e.Size)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if res.Truncated {
			fmt.Fprintf(c.stdout, "(listing the first %d)\n", len(res.Events))
		}
		return nil

	case "help", "-h", "--help":
		fmt.Fprint(c.stdout, eventsUsage)
		return nil
	default:
		fmt.Fprint(c.stderr, eventsUsage)
		return badUsage(fmt.Errorf("events: unknown command %q (show or replay)", sub))
	}
}

// writeView prints an event's timeline and the stored event. With
// destination set, the attempts shown are those for that destination.
func writeView(w io.Writer, v history.View, destination string) error {
	fmt.Fprintf(w, "Event %s\n", v.ID)
	if len(v.History) == 0 {
		fmt.Fprintln(w, "  no history recorded")
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if len(v.History) > 0 {
		fmt.Fprintln(tw, "  AT\tSTAGE\tKIND\tDESTINATION\tATTEMPT\tSTATUS\tDETAIL")
	}
	for _, r := range v.History {
		if destination != "" && r.Destination != "" && r.Destination != destination {
			continue
		}
		attempt, status := "-", "-"
		if r.Attempt > 0 {
			attempt = strconv.Itoa(r.Attempt)
		}
		if r.Status > 0 {
			status = strconv.Itoa(r.Status)
		}
		width := 100
		if r.Kind == history.KindFiltered {
			width = 500 // which filters did not match: the whole answer to "where did it go?"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.At.UTC().Format("2006-01-02 15:04:05.000Z"), r.Stage,
			r.Kind, dash(r.Destination), attempt, status, cut(r.Detail, width))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if v.Event == nil {
		fmt.Fprintln(w, "\nThe event itself is no longer stored (older than retention.events).")
		return nil
	}
	e := v.Event
	fmt.Fprintf(w, "\nOriginal event (RELAY_IN %d): source %s, received %s, verified by %s, %d bytes",
		e.Seq, e.Source, e.ReceivedAt.UTC().Format(time.RFC3339), dash(e.Verified), e.Size)
	if e.ContentType != "" {
		fmt.Fprintf(w, ", %s", e.ContentType)
	}
	fmt.Fprintln(w)
	return writeJSONBlock(w, e.Body)
}

// writeJSONBlock prints JSON indented; a JSON string is printed as its text.
func writeJSONBlock(w io.Writer, raw []byte) error {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		_, err := fmt.Fprintln(w, s)
		return err
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		_, err := fmt.Fprintln(w, strings.TrimSpace(string(raw)))
		return err
	}
	buf.WriteByte('\n')
	_, err := buf.WriteTo(w)
	return err
}
