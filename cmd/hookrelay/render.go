package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hookrelay/hookrelay/internal/adminui"
	"github.com/hookrelay/hookrelay/internal/config"
	"github.com/hookrelay/hookrelay/schemas"
)

// headerFlags collects repeated --header 'Name: value' flags.
type headerFlags map[string]string

func (h headerFlags) String() string { return "" }

func (h headerFlags) Set(v string) error {
	name, value, ok := strings.Cut(v, ":")
	if !ok || strings.TrimSpace(name) == "" {
		return fmt.Errorf("%q: want 'Name: value'", v)
	}
	// Canonical, as ingest stores them: X-GitHub-Event becomes X-Github-Event.
	h[textproto.CanonicalMIMEHeaderKey(strings.TrimSpace(name))] = strings.TrimSpace(value)
	return nil
}

// runRender prints the card a payload would become, without a queue: the
// source's mapping (or --route's, or --mapping) renders it in the format of
// the source's first destination (or --format).
func runRender(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("render", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "hookrelay.yaml", "configuration `file`")
	source := fs.String("source", "", "source `name` the payload is posted to (required)")
	file := fs.String("file", "", "payload `file`: the request body as the vendor sends it (required; - reads stdin)")
	format := fs.String("format", "", "messagecard or adaptive (default: the format of the source's first destination)")
	route := fs.String("route", "", "use this route's mapping and first destination's format")
	mapping := fs.String("mapping", "", "use this mapping instead: auto, a built-in name, or a .jq file")
	contentType := fs.String("content-type", "application/json", "the request's Content-Type")
	preview := fs.String("preview", "", "also write the card as Teams would show it to this HTML `file` (works offline)")
	headers := headerFlags{}
	fs.Var(headers, "header", "a request header, 'Name: value' (repeatable), e.g. 'X-GitHub-Event: push'")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: hookrelay render --source NAME --file payload.json [--format messagecard|adaptive] [--header 'Name: value']… [--preview card.html]")
		fmt.Fprintln(stderr, "Prints the card a payload would become (a dry run: no queue, nothing is sent, no secret needed).")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *source == "" || *file == "" {
		fs.Usage()
		return badUsage(errors.New("render: --source and --file are required"))
	}
	// Rendering verifies nothing and sends nothing: the secrets and URLs
	// the file takes from the environment may be unset.
	cfg, err := config.Load(*configPath, config.AllowUnset())
	if err != nil {
		return badUsage(err)
	}
	src, ok := cfg.Source(*source)
	if !ok {
		return badUsage(fmt.Errorf("render: no source %q in %s", *source, *configPath))
	}
	spec, dest := src.Mapping, ""
	for _, r := range cfg.Routes {
		if r.Source != src.Name || (*route != "" && r.Name != *route) {
			continue
		}
		if r.Mapping != "" {
			spec = r.Mapping
		}
		if len(r.To) > 0 {
			dest = r.To[0]
		}
		break
	}
	if *route != "" && dest == "" {
		return badUsage(fmt.Errorf("render: source %q has no route %q", src.Name, *route))
	}
	if *mapping != "" {
		spec = *mapping
	}
	if *format == "" {
		*format = schemas.FormatAdaptive
		if d, ok := cfg.Destination(dest); ok {
			*format = d.Format
			if d.Format == config.FormatAuto {
				// Auto goes by the URL, which is not set: say which is
				// rendered rather than guess silently.
				*format = schemas.FormatAdaptive
				fmt.Fprintf(stderr, "destination %s's format goes by its URL (%s, unset here): rendering %s, as for a Workflows URL (--format messagecard for a connector URL)\n",
					dest, d.URL, *format)
			}
		}
	}
	var body []byte
	if *file == "-" {
		body, err = io.ReadAll(os.Stdin)
	} else {
		body, err = os.ReadFile(*file)
	}
	if err != nil {
		return fmt.Errorf("render: read the payload: %w", err)
	}
	ev := schemas.Event{
		ID: "dry-run", Source: src.Name, ReceivedAt: time.Now().UTC(),
		ContentType: *contentType, Headers: headers, Body: body,
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	card, used, err := renderCard(ev, spec, *format)
	if err != nil {
		return fmt.Errorf("render: %w", err)
	}
	if *preview != "" {
		what := fmt.Sprintf("source %s · mapping %s · %s · %d bytes (limit %d)", src.Name, used, *format, len(card), schemas.MaxCardBytes)
		page, err := adminui.PreviewPage(card, what)
		if err != nil {
			return fmt.Errorf("render: %w", err)
		}
		if err := os.WriteFile(*preview, page, 0o644); err != nil {
			return fmt.Errorf("render: --preview: %w", err)
		}
		abs, _ := filepath.Abs(*preview)
		fmt.Fprintf(stderr, "preview: open file://%s in a browser (re-run render to refresh it)\n", abs)
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, card, "", "  "); err != nil {
		return fmt.Errorf("render: %w", err)
	}
	pretty.WriteByte('\n')
	if _, err := stdout.Write(pretty.Bytes()); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "source %s · mapping %s · %s · %d bytes (limit %d)\n", src.Name, used, *format, len(card), schemas.MaxCardBytes)
	return nil
}
