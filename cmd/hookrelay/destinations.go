package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"

	"github.com/hookrelay/hookrelay/internal/adminapi"
)

const destinationsUsage = `Show every destination's breaker, backlog and budget through the admin API.

Usage:
  hookrelay destinations [-o table|json] [--admin URL]

--admin defaults to $HOOKRELAY_ADMIN or http://127.0.0.1:8081; a bearer token
is sent from $HOOKRELAY_ADMIN_TOKEN when set.
`

// destination is one entry of GET /api/v1/destinations.
type destination struct {
	Name       string `json:"name"`
	Breaker    string `json:"breaker"`
	Gone       bool   `json:"gone"`
	Backlog    uint64 `json:"backlog"`
	BudgetLeft []struct {
		Per  string `json:"per"`
		Max  int    `json:"max"`
		Left int    `json:"left"`
	} `json:"budget_left"`
}

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
	tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tBREAKER\tGONE\tBACKLOG\tBUDGET LEFT")
	for _, d := range dests {
		var budget []string
		for _, b := range d.BudgetLeft {
			budget = append(budget, fmt.Sprintf("%d/%d per %s", b.Left, b.Max, b.Per))
		}
		gone := "no"
		if d.Gone {
			gone = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", d.Name, d.Breaker, gone, d.Backlog, dash(strings.Join(budget, ", ")))
	}
	return tw.Flush()
}

func (c adminCmd) destinations(ctx context.Context, admin string) ([]destination, error) {
	api := adminapi.Client{BaseURL: admin, Token: c.getenv("HOOKRELAY_ADMIN_TOKEN"), HTTP: adminHTTP()}
	var out struct {
		Destinations []destination `json:"destinations"`
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
