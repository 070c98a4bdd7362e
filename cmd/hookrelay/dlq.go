package main

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hookrelay/hookrelay/deadletter"
	"github.com/hookrelay/hookrelay/internal/adminapi"
	"github.com/hookrelay/hookrelay/internal/history"
)

const dlqUsage = `Inspect, replay and purge dead letters through the admin API.

Usage:
  hookrelay dlq list    [FILTER] [--limit N] [-o table|json]
  hookrelay dlq show    ID [-o text|json]
  hookrelay dlq replay  FILTER [--dry-run] [-o text|json]
  hookrelay dlq purge   FILTER [--yes] [-o text|json]

FILTER is any of:
  --id ID (repeatable)  --destination D  --source S  --reason R  --status CODE
  --since T  --until T  (RFC 3339, or a duration meaning that long ago: 2h)
  --all                 (replay and purge refuse an empty filter without it)

Every command takes --admin URL (default $HOOKRELAY_ADMIN or http://127.0.0.1:8081);
a bearer token is sent from $HOOKRELAY_ADMIN_TOKEN when set. An --id that names
no dead letter is reported, and the command exits 1.
`

const defaultAdmin = "http://127.0.0.1:8081"

// runDLQ runs `hookrelay dlq …`.
func runDLQ(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return newAdminCmd(stdout, stderr).run(ctx, args)
}

// adminCmd holds what the commands that talk to the admin API (dlq, events,
// destinations) read and write, so tests can supply them.
type adminCmd struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	now            func() time.Time
}

// newAdminCmd is an adminCmd on the process's stdin, environment and clock.
func newAdminCmd(stdout, stderr io.Writer) adminCmd {
	return adminCmd{stdin: os.Stdin, stdout: stdout, stderr: stderr, getenv: os.Getenv, now: time.Now}
}

func (c adminCmd) run(ctx context.Context, args []string) error {
	var admin string
	sub, rest, fs, err := c.subcommand("dlq", dlqUsage, args, &admin)
	if err != nil {
		return err
	}
	client := func() *deadletter.Client {
		return &deadletter.Client{BaseURL: admin, Token: c.getenv("HOOKRELAY_ADMIN_TOKEN"), HTTP: adminHTTP()}
	}

	switch sub {
	case "list":
		ff := c.filterFlags(fs)
		limit := fs.Int("limit", deadletter.DefaultListLimit, "show at most this many, oldest first (0: all)")
		output := fs.String("o", "table", "output format: table or json")
		if err := parseNoArgs(fs, rest); err != nil {
			return err
		}
		f, err := ff.filter()
		if err != nil {
			return badUsage(err)
		}
		f.Limit = *limit
		if *output != "table" && *output != "json" {
			return badUsage(fmt.Errorf("dlq list: -o %q: choose table or json", *output))
		}
		page, err := client().Page(ctx, f, 0, false)
		if err != nil {
			return explain(err)
		}
		if *output == "json" {
			err = writeIndented(c.stdout, page.Entries)
		} else {
			err = writeTable(c.stdout, page.Entries)
		}
		if err != nil {
			return err
		}
		if len(page.Entries) < page.Total {
			// On stderr in both formats: JSON on stdout stays whole.
			fmt.Fprintf(c.stderr, "showing the oldest %d of %d; raise --limit or narrow the filter to see more\n", len(page.Entries), page.Total)
		}
		found := make([]string, 0, len(page.Entries))
		for _, e := range page.Entries {
			found = append(found, e.ID)
		}
		if len(page.Entries) == page.Total {
			return missingError(notFound(f.IDs, found))
		}
		return nil

	case "show":
		id, output, err := parseShow(fs, rest, "ID (from hookrelay dlq list)")
		if err != nil {
			return err
		}
		e, err := client().Get(ctx, id)
		if err != nil {
			return explain(err)
		}
		// The attempts and the original event are in the event's history;
		// a dead letter is worth showing without them.
		var view *history.View
		var viewErr error
		if e.Delivery.EventID != "" {
			v, err := c.eventsClient(admin).Get(ctx, e.Delivery.EventID)
			if err == nil {
				view = &v
			} else {
				viewErr = explain(err)
			}
		}
		if output == "json" {
			return writeShowJSON(c.stdout, e, view)
		}
		return writeDeadLetter(c.stdout, e, view, viewErr)

	case "replay":
		ff := c.filterFlags(fs)
		dryRun := fs.Bool("dry-run", false, "only say what would be replayed")
		output := fs.String("o", "text", "output format: text or json")
		if err := parseNoArgs(fs, rest); err != nil {
			return err
		}
		f, err := ff.requiredFilter()
		if err != nil {
			return badUsage(err)
		}
		if err := checkOutput(fs.Name(), *output); err != nil {
			return err
		}
		res, err := client().Replay(ctx, f, *dryRun)
		if err != nil {
			return explain(err)
		}
		found := slices.Clone(res.Replayed)
		for _, s := range res.Skipped {
			found = append(found, s.ID)
		}
		missing := notFound(f.IDs, found)
		if *output == "json" {
			if err := writeIndented(c.stdout, struct {
				deadletter.ReplayResult
				NotFound []string `json:"not_found"`
			}{res, missing}); err != nil {
				return err
			}
			return missingError(missing)
		}
		verb := "replayed"
		if res.DryRun {
			verb = "would replay"
		}
		fmt.Fprintf(c.stdout, "%s %d dead letter(s)", verb, len(res.Replayed))
		if len(res.Replayed) > 0 {
			fmt.Fprintf(c.stdout, ": %s", strings.Join(res.Replayed, ", "))
		}
		fmt.Fprintln(c.stdout)
		for _, s := range res.Skipped {
			fmt.Fprintf(c.stdout, "skipped %s: %s\n", s.ID, s.Reason)
		}
		return missingError(missing)

	case "purge":
		ff := c.filterFlags(fs)
		yes := fs.Bool("yes", false, "do not ask for confirmation")
		output := fs.String("o", "text", "output format: text or json")
		if err := parseNoArgs(fs, rest); err != nil {
			return err
		}
		f, err := ff.requiredFilter()
		if err != nil {
			return badUsage(err)
		}
		if err := checkOutput(fs.Name(), *output); err != nil {
			return err
		}
		// Listed first: the prompt says how many, and ids that name
		// nothing are reported. The purge goes no further than the newest
		// listed: what arrives while the prompt waits was not confirmed.
		page, err := client().Page(ctx, f, 0, false)
		if err != nil {
			return explain(err)
		}
		matching := page.Entries
		f.MaxSeq = page.MaxSeq
		found := make([]string, 0, len(matching))
		for _, e := range matching {
			found = append(found, e.ID)
		}
		missing := notFound(f.IDs, found)
		n := 0
		if len(matching) > 0 {
			if !*yes {
				ok, err := c.confirm(fmt.Sprintf("Delete %d dead letter(s) matching %s? This cannot be undone. [y/N] ",
					len(matching), ff.describe()))
				if err != nil {
					return err
				}
				if !ok {
					return errors.New("dlq purge: cancelled, nothing deleted")
				}
			}
			if n, err = client().Purge(ctx, f); err != nil {
				return explain(err)
			}
		}
		if *output == "json" {
			if err := writeIndented(c.stdout, struct {
				Purged   int      `json:"purged"`
				NotFound []string `json:"not_found"`
			}{n, missing}); err != nil {
				return err
			}
			return missingError(missing)
		}
		fmt.Fprintf(c.stdout, "purged %d dead letter(s)\n", n)
		return missingError(missing)

	case "help", "-h", "--help":
		fmt.Fprint(c.stdout, dlqUsage)
		return nil
	default:
		fmt.Fprint(c.stderr, dlqUsage)
		return badUsage(fmt.Errorf("dlq: unknown command %q (list, show, replay or purge)", sub))
	}
}

// filterFlags are the FILTER flags as given, before they become a Filter.
type filterFlags struct {
	now                                       func() time.Time
	ids                                       stringList
	destination, source, reason, since, until string
	status                                    int
	all                                       bool
}

func (c adminCmd) filterFlags(fs *flag.FlagSet) *filterFlags {
	ff := &filterFlags{now: c.now}
	fs.Var(&ff.ids, "id", "a dead-letter id (repeatable, or comma-separated)")
	fs.StringVar(&ff.destination, "destination", "", "only this destination")
	fs.StringVar(&ff.source, "source", "", "only this source")
	fs.StringVar(&ff.reason, "reason", "", "only this reason (rejected, gone, exhausted, expired, transform, removed, undecodable)")
	fs.IntVar(&ff.status, "status", 0, "only this last HTTP status")
	fs.StringVar(&ff.since, "since", "", "dead since: RFC 3339 or a duration ago (2h)")
	fs.StringVar(&ff.until, "until", "", "dead before: RFC 3339 or a duration ago (30m)")
	fs.BoolVar(&ff.all, "all", false, "with replay or purge: act on every dead letter matching the rest (even nothing)")
	return ff
}

func (ff *filterFlags) filter() (deadletter.Filter, error) {
	f := deadletter.Filter{
		IDs: ff.ids, Destination: ff.destination, Source: ff.source, Reason: ff.reason,
		Status: ff.status, All: ff.all,
	}
	var err error
	if f.Since, err = deadletter.ParseTime(ff.since, ff.now()); err != nil {
		return f, fmt.Errorf("--since: %w", err)
	}
	if f.Until, err = deadletter.ParseTime(ff.until, ff.now()); err != nil {
		return f, fmt.Errorf("--until: %w", err)
	}
	return f, nil
}

// requiredFilter is filter for commands that change things: an empty one
// needs --all, checked here too so the user is told before being asked.
func (ff *filterFlags) requiredFilter() (deadletter.Filter, error) {
	f, err := ff.filter()
	if err == nil && f.Empty() && !f.All {
		err = errors.New("name what to act on (--id, --destination, --source, --reason, --status, --since, --until), or --all for every dead letter")
	}
	return f, err
}

func (ff *filterFlags) describe() string {
	var parts []string
	add := func(k, v string) {
		if v != "" {
			parts = append(parts, k+"="+v)
		}
	}
	add("id", strings.Join(ff.ids, ","))
	add("destination", ff.destination)
	add("source", ff.source)
	add("reason", ff.reason)
	if ff.status != 0 {
		add("status", strconv.Itoa(ff.status))
	}
	add("since", ff.since)
	add("until", ff.until)
	if len(parts) == 0 {
		return "anything (--all)"
	}
	return strings.Join(parts, " ")
}

// stringList is a repeatable flag; each value may hold several comma-separated ids.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(v string) error {
	for s := range strings.SplitSeq(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

// subcommand parses `hookrelay NAME [--admin URL] SUB …` for a command that
// talks to the admin API: it returns SUB, SUB's arguments, and a flag set
// for them that takes --admin too. Both read --admin into admin, whose
// default is $HOOKRELAY_ADMIN, else defaultAdmin. With no SUB it prints
// usage and returns flag.ErrHelp.
func (c adminCmd) subcommand(name, usage string, args []string, admin *string) (string, []string, *flag.FlagSet, error) {
	top := c.adminFlags(name, usage, admin)
	top.Usage = func() { fmt.Fprint(c.stderr, usage) }
	if err := top.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return "", nil, nil, err
		}
		return "", nil, nil, badUsage(err)
	}
	if top.NArg() == 0 {
		top.Usage()
		return "", nil, nil, badUsage(flag.ErrHelp)
	}
	sub := top.Arg(0)
	return sub, top.Args()[1:], c.adminFlags(name+" "+sub, usage+"\nFlags of "+sub+":\n", admin), nil
}

// adminFlags is the flag set of a command that talks to the admin API: on a
// flag error it prints usage and its flags. It reads --admin into admin,
// whose default is what admin holds, else $HOOKRELAY_ADMIN, else
// defaultAdmin.
func (c adminCmd) adminFlags(name, usage string, admin *string) *flag.FlagSet {
	if *admin == "" {
		*admin = cmp.Or(c.getenv("HOOKRELAY_ADMIN"), defaultAdmin)
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.Usage = func() {
		fmt.Fprint(c.stderr, usage)
		fs.PrintDefaults()
	}
	fs.StringVar(admin, "admin", *admin, "admin API base URL")
	return fs
}

// adminHTTP makes the admin API's requests; a replay of many takes a while.
func adminHTTP() *http.Client { return &http.Client{Timeout: 5 * time.Minute} }

// parseInterspersed parses flags anywhere among the arguments (flag stops at
// the first non-flag) and returns the positional ones.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, badUsage(err)
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// parseShow parses the arguments of a show command: one ID (what names it
// in the error) and -o text|json.
func parseShow(fs *flag.FlagSet, args []string, what string) (id, output string, err error) {
	o := fs.String("o", "text", "output format: text or json")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return "", "", err
	}
	if len(pos) != 1 {
		return "", "", badUsage(fmt.Errorf("%s: want exactly one %s, got %d", fs.Name(), what, len(pos)))
	}
	if err := checkOutput(fs.Name(), *o); err != nil {
		return "", "", err
	}
	return pos[0], *o, nil
}

func parseNoArgs(fs *flag.FlagSet, args []string) error {
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return badUsage(fmt.Errorf("%s: unexpected argument %q (filters are flags, e.g. --id %s)", fs.Name(), pos[0], pos[0]))
	}
	return nil
}

// checkOutput accepts -o text or json.
func checkOutput(cmd, output string) error {
	if output != "text" && output != "json" {
		return badUsage(fmt.Errorf("%s: -o %q: choose text or json", cmd, output))
	}
	return nil
}

// notFound returns the ids asked for that are not among found.
func notFound(asked, found []string) []string {
	missing := []string{}
	for _, id := range asked {
		if !slices.Contains(found, id) && !slices.Contains(missing, id) {
			missing = append(missing, id)
		}
	}
	return missing
}

// missingError is the run-time failure of ids that name no dead letter.
func missingError(missing []string) error {
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("no dead letter with id %s (list them with: hookrelay dlq list)", strings.Join(missing, ", "))
}

func (c adminCmd) confirm(prompt string) (bool, error) {
	fmt.Fprint(c.stderr, prompt)
	line, err := bufio.NewReader(c.stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return false, fmt.Errorf("read confirmation: %w", err)
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true, nil
	}
	return false, nil
}

// explain adds what to do next to the admin API errors a user can fix. A
// request the API refuses as malformed (400: a filter, an id, a time it
// cannot take) is a usage mistake, exit status 2.
func explain(err error) error {
	apiErr, ok := errors.AsType[*adminapi.Error](err)
	switch {
	case ok && (apiErr.StatusCode == http.StatusUnauthorized || apiErr.StatusCode == http.StatusForbidden):
		return fmt.Errorf("%w (set HOOKRELAY_ADMIN_TOKEN to the admin token)", err)
	case ok && apiErr.StatusCode == http.StatusBadRequest:
		return badUsage(err)
	}
	return err
}

func writeIndented(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// maxErrorColumn and maxTitleColumn cut the ANSWER and TITLE columns so a
// table row stays one line.
const (
	maxErrorColumn = 60
	maxTitleColumn = 40
)

func writeTable(w io.Writer, entries []deadletter.Entry) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tDEAD AT\tDESTINATION\tSOURCE\tTITLE\tREASON\tSTATUS\tATTEMPTS\tANSWER")
	for _, e := range entries {
		status := "-"
		if e.LastStatus != 0 {
			status = strconv.Itoa(e.LastStatus)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n",
			e.ID, e.DeadAt.UTC().Format("2006-01-02 15:04:05Z"), dash(e.Delivery.Destination), dash(e.Delivery.Source),
			dash(cut(e.Title, maxTitleColumn)), e.Reason, status, e.Attempts, cut(errorColumn(e), maxErrorColumn))
	}
	return tw.Flush()
}

// errorColumn is what went wrong: the receiver's answer when there is one
// (what Teams said is what an SRE needs), after the error.
func errorColumn(e deadletter.Entry) string {
	switch {
	case e.ResponseExcerpt == "":
		return dash(e.LastError)
	case e.LastError == "":
		return e.ResponseExcerpt
	default:
		return e.LastError + ": " + e.ResponseExcerpt
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// cut puts s on one line and shortens it to n runes, marking the cut.
func cut(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// writeShowJSON prints the entry as `dlq list -o json` does, with the event's
// history and stored event added as "history" and "event".
func writeShowJSON(w io.Writer, e deadletter.Entry, view *history.View) error {
	data, err := json.Marshal(e)
	if err != nil {
		return err
	}
	var out map[string]json.RawMessage
	if err := json.Unmarshal(data, &out); err != nil {
		return err
	}
	if view != nil {
		if out["history"], err = json.Marshal(view.History); err != nil {
			return err
		}
		if view.Event != nil {
			if out["event"], err = json.Marshal(view.Event); err != nil {
				return err
			}
		}
	}
	return writeIndented(w, out)
}

// writeDeadLetter prints a dead letter for a person: what failed and why,
// every attempt, the card, and the original event.
func writeDeadLetter(w io.Writer, e deadletter.Entry, view *history.View, viewErr error) error {
	d := e.Delivery
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "%s\t%s\n", k, v)
		}
	}
	stamp := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	}
	row("Dead letter", e.ID)
	row("Reason", e.Reason)
	row("Dead at", stamp(e.DeadAt))
	row("Destination", d.Destination)
	row("Source", d.Source)
	row("Route", d.Route)
	row("Event", d.EventID)
	row("Delivery", d.ID)
	row("Attempts", fmt.Sprintf("%d (first %s, last %s)", e.Attempts, dash(stamp(e.FirstAttempt)), dash(stamp(e.LastAttempt))))
	if e.LastStatus != 0 {
		row("Last status", strconv.Itoa(e.LastStatus))
	}
	row("Last error", e.LastError)
	row("Response", cut(e.ResponseExcerpt, 200))
	if d.Replays > 0 {
		row("Replays", strconv.Itoa(d.Replays))
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	fmt.Fprintln(w, "\nAttempts:")
	switch {
	case viewErr != nil:
		fmt.Fprintf(w, "  not available: %v\n", viewErr)
	case view == nil:
		fmt.Fprintln(w, "  not available: the dead letter names no event")
	default:
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  AT\tATTEMPT\tSTATUS\tRESPONSE")
		n := 0
		for _, r := range view.History {
			if r.Kind != history.KindAttempt || r.Destination != d.Destination {
				continue
			}
			n++
			status := "-"
			if r.Status > 0 {
				status = strconv.Itoa(r.Status)
			}
			fmt.Fprintf(tw, "  %s\t%d\t%s\t%s\n", r.At.UTC().Format("2006-01-02 15:04:05.000Z"), r.Attempt, status, cut(r.Detail, 100))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if n == 0 {
			fmt.Fprintln(w, "  none recorded")
		}
	}

	fmt.Fprintln(w, "\nCard:")
	if len(d.Card) == 0 {
		fmt.Fprintln(w, "  none rendered")
	} else if err := writeJSONBlock(w, d.Card); err != nil {
		return err
	}

	fmt.Fprintln(w)
	if view == nil {
		fmt.Fprintln(w, "Original event: not available")
		return nil
	}
	return writeView(w, *view, d.Destination)
}
