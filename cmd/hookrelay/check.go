package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"

	"github.com/hookrelay/hookrelay/ingest"
	"github.com/hookrelay/hookrelay/internal/config"
	"github.com/hookrelay/hookrelay/transform"
)

const checkUsage = `Usage: hookrelay check [--config FILE] [-o text|json]

Validates a configuration as serve does — fields, values, sources' secrets
and schemes, jq filters and mappings — and reports every problem with its line
and field. It needs no queue, no network and no secrets: an unset ${VAR} is
reported as a note. --config - reads the file from stdin.
Exit status: 0 valid, 1 problems found, 2 usage error.
`

// checkResult is what check -o json prints.
type checkResult struct {
	File         string   `json:"file"`
	Valid        bool     `json:"valid"`
	Problems     []string `json:"problems"`
	Unset        []string `json:"unset_variables"`
	Sources      int      `json:"sources"`
	Destinations int      `json:"destinations"`
	Routes       int      `json:"routes"`
}

// runCheck runs `hookrelay check`.
func runCheck(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, checkUsage); fs.PrintDefaults() }
	configPath := fs.String("config", "hookrelay.yaml", "configuration `file` (- for stdin)")
	output := fs.String("o", "text", "output format: text or json")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *output != "text" && *output != "json" {
		return badUsage(fmt.Errorf("check: -o %q: choose text or json", *output))
	}
	cfg, err := loadConfig(*configPath, os.Stdin, config.AllowUnset())
	name := *configPath
	if name == "-" {
		name = "<stdin>"
	}
	res := checkResult{File: name, Valid: err == nil, Problems: []string{}, Unset: []string{}}
	if cfgErr, ok := errors.AsType[*config.Error](err); ok {
		for _, p := range cfgErr.Problems {
			res.Problems = append(res.Problems, p.Error())
		}
	} else if err != nil {
		return err // the file could not be read
	}
	if cfg != nil {
		res.Unset = append(res.Unset, cfg.Unset...)
		res.Sources, res.Destinations, res.Routes = len(cfg.Sources), len(cfg.Destinations), len(cfg.Routes)
	}
	if *output == "json" {
		if err := writeIndented(stdout, res); err != nil {
			return err
		}
	} else {
		for _, p := range res.Problems {
			fmt.Fprintf(stdout, "%s: %s\n", res.File, p)
		}
		for _, name := range res.Unset {
			fmt.Fprintf(stdout, "%s: note: environment variable %s is not set here; serve will need it\n", res.File, name)
		}
		if res.Valid {
			fmt.Fprintf(stdout, "%s: valid: %d sources, %d destinations, %d routes\n",
				res.File, res.Sources, res.Destinations, res.Routes)
		}
	}
	if !res.Valid {
		return checkFailed{n: len(res.Problems)}
	}
	return nil
}

// checkFailed ends check with status 1: the problems are printed already.
type checkFailed struct{ n int }

func (e checkFailed) Error() string {
	if e.n == 1 {
		return "check: 1 problem"
	}
	return fmt.Sprintf("check: %d problems", e.n)
}

// loadConfig reads the configuration at path ("-": from stdin) and runs every
// check serve runs before it opens the queue: the file's own (config.Load,
// with strong secrets), then what the stages will build from it — each
// source's verifier and each mapping. It returns a *config.Error listing
// every problem.
func loadConfig(path string, stdin io.Reader, opts ...config.Option) (*config.Config, error) {
	opts = append(opts, config.StrongSecrets())
	var (
		cfg *config.Config
		err error
	)
	if path == "-" {
		raw, readErr := io.ReadAll(stdin)
		if readErr != nil {
			return nil, fmt.Errorf("read config from stdin: %w", readErr)
		}
		cfg, err = config.LoadBytes(raw, "<stdin>", ".", opts...)
	} else {
		cfg, err = config.Load(path, opts...)
	}
	if err != nil {
		return nil, err
	}
	var problems []error
	if err := requireAdminToken(cfg); err != nil {
		problems = append(problems, err)
	}
	for i, s := range cfg.Sources {
		if slices.ContainsFunc(s.Verify.AllSecrets(), cfg.IsUnset) {
			continue // its secrets are not known here
		}
		if _, err := ingest.NewVerifier(s.Verify); err != nil {
			problems = append(problems, fmt.Errorf("sources[%d].verify: %w", i, err))
		}
	}
	specs := map[string]string{}
	for i, s := range cfg.Sources {
		specs[s.Mapping] = fmt.Sprintf("sources[%d].mapping", i)
	}
	for i, r := range cfg.Routes {
		if r.Mapping != "" {
			specs[r.Mapping] = fmt.Sprintf("routes[%d].mapping", i)
		}
	}
	for _, spec := range slices.Sorted(maps.Keys(specs)) {
		if _, err := transform.LoadMapping(spec); err != nil {
			problems = append(problems, fmt.Errorf("%s: %w", specs[spec], err))
		}
	}
	if len(problems) > 0 {
		name := path
		if path == "-" {
			name = "<stdin>"
		}
		return nil, &config.Error{File: name, Problems: problems}
	}
	return cfg, nil
}
