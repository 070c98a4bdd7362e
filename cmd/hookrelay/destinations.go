package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hookrelay/hookrelay/dispatch"
	"github.com/hookrelay/hookrelay/internal/adminapi"
)

const destinationsUsage = `Show every destination, worst first, through the admin API: its health, since
when its breaker is open, what it last answered, the next probe, the backlog
and the age of its oldest delivery, the budget left, gone or not.

Usage:
  hookrelay destinations [-o table|json] [--admin URL]

--admin defaults to $HOOKRELAY_ADMIN or http://127.0.0.1:8081; a bearer token
is sent from $HOOKRELAY_ADMIN_TOKEN when set.
`

// runDestinations runs `hookrelay destinations`.
func runDestinations(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return newAdminCmd(stdout, stderr).runDestinations(ctx, args)
}

func (c adminCmd) runDestinations(ctx context.Context, args []string) error {
	var admin string
	fs := c.adminFlags("destinations", destinationsUsage, &admin)
	output := fs.String("o", "table", "output format: table or json")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	if *output != "table" && *output != "json" {
		return badUsage(fmt.Errorf("destinations: -o %q: choose table or json", *output))
	}
	dests, err := c.destinations(ctx, admin)
	if err != nil {
		return err
	}
	if *output == "json" {
		return writeIndented(c.stdout, dests)
	}
	now := c.now()
	tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tHEALTH\tBREAKER\tSINCE\tLAST ANSWER\tNEXT PROBE\tBACKLOG\tOLDEST\tBUDGET LEFT")
	for _, d := range dests {
		var budget []string
		for _, b := range d.Budget {
			budget = append(budget, fmt.Sprintf("%d/%d per %s", b.Left, b.Max, b.Per))
		}
		answer := "-"
		if a := d.LastAnswer; a != nil {
			answer = a.Outcome
			if a.Status != 0 {
				answer = strconv.Itoa(a.Status)
			}
			answer += " " + ago(now, a.At)
			if text := cmp.Or(a.Error, a.Excerpt); text != "" {
				answer += ": " + cut(text, 40)
			}
		}
		since := "-"
		if d.Breaker != "closed" {
			since = ago(now, d.BreakerSince)
		}
		next, oldest := "-", "-"
		if d.NextProbe != nil {
			next = ago(now, *d.NextProbe)
		}
		if d.Oldest != nil {
			oldest = ago(now, *d.Oldest)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", d.Name, d.Health, d.Breaker, since, answer, next,
			d.Backlog, oldest, dash(strings.Join(budget, ", ")))
	}
	return tw.Flush()
}

// ago says how long before now t was ("3m ago"), or how long after ("in 20s").
func ago(now, t time.Time) string {
	d := now.Sub(t).Round(time.Second)
	if d < 0 {
		return "in " + (-d).String()
	}
	return d.String() + " ago"
}

func (c adminCmd) destinations(ctx context.Context, admin string) ([]dispatch.DestinationStatus, error) {
	api := adminapi.Client{BaseURL: admin, Token: c.getenv("HOOKRELAY_ADMIN_TOKEN"), HTTP: adminHTTP()}
	var out struct {
		Destinations []dispatch.DestinationStatus `json:"destinations"`
	}
	err := api.Do(ctx, http.MethodGet, "/api/v1/destinations", nil, &out)
	if apiErr, ok := errors.AsType[*adminapi.Error](err); ok && apiErr.StatusCode == http.StatusNotFound {
		return nil, errors.New("admin API: no destinations here: this relay does not run the dispatch role")
	}
	if err != nil {
		return nil, explain(err)
	}
	return out.Destinations, nil
}
