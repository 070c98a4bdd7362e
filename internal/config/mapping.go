package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/itchyny/gojq"

	"github.com/hookrelay/hookrelay/internal/markup"
	"github.com/hookrelay/hookrelay/internal/vendors"
	"github.com/hookrelay/hookrelay/schemas"
)

// MappingAuto is the default mapping: it recognises each event's vendor from
// its headers and body, and falls back to the generic mapping.
const MappingAuto = "auto"

// FormatAuto is the default destination format: FormatForURL picks one.
const FormatAuto = "auto"

// MappingEventVar is the jq variable through which a mapping file sees the
// event's envelope: {id, source, received_at, content_type, headers}. The
// mapping's input (.) is the event's JSON document.
const MappingEventVar = "$event"

// BuiltinMappings names the built-in mappings, auto first, then the vendor
// registry's (internal/vendors) in the order auto tries them.
func BuiltinMappings() []string {
	names := []string{MappingAuto}
	for _, m := range vendors.Mappings() {
		names = append(names, m.Name)
	}
	return names
}

// IsJQMapping reports whether a mapping names a jq file rather than a built-in.
func IsJQMapping(mapping string) bool {
	return strings.HasSuffix(mapping, ".jq")
}

// workflowsHosts serve Teams Workflows (Power Automate) webhooks, which take
// Adaptive Cards; connector hosts (*.webhook.office.com) and any other
// receiver get a MessageCard.
var workflowsHosts = []string{".logic.azure.com", ".powerplatform.com", ".powerautomate.com"}

// FormatForURL is the card format format: auto picks for a destination URL:
// adaptive for Workflows hosts, messagecard for legacy connector hosts and
// everything else.
func FormatForURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return schemas.FormatMessageCard
	}
	host := "." + strings.ToLower(u.Hostname())
	for _, h := range workflowsHosts {
		if strings.HasSuffix(host, h) {
			return schemas.FormatAdaptive
		}
	}
	return schemas.FormatMessageCard
}

// mappingPath applies def to an empty mapping and resolves a relative jq
// mapping path against the configuration file's directory.
func (c *Config) mappingPath(mapping, def string) string {
	if mapping == "" {
		return def
	}
	if IsJQMapping(mapping) && !filepath.IsAbs(mapping) && c.Dir != "" {
		return filepath.Join(c.Dir, mapping)
	}
	return mapping
}

// checkMapping accepts a built-in mapping name or a jq file that compiles.
func checkMapping(mapping string) error {
	if IsJQMapping(mapping) {
		_, err := CompileMapping(mapping)
		return err
	}
	if !slices.Contains(BuiltinMappings(), mapping) {
		return fmt.Errorf("unknown mapping %q (one of %s, or a path ending in .jq)",
			mapping, strings.Join(BuiltinMappings(), ", "))
	}
	return nil
}

// CompileMapping reads and compiles a jq mapping file. Its errors name the
// file and, for syntax errors and undefined functions or variables, the line
// and column: "mappings/x.jq:3:7: unexpected token ...".
func CompileMapping(path string) (*gojq.Code, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("mapping %s: %w", path, err)
	}
	q, err := gojq.Parse(string(src))
	if err != nil {
		offset := -1
		if pe, ok := errors.AsType[*gojq.ParseError](err); ok {
			offset = max(pe.Offset-len(pe.Token), 0)
		}
		return nil, fmt.Errorf("mapping %s: %w", position(path, string(src), offset), err)
	}
	code, err := gojq.Compile(q, append(markupFunctions(), gojq.WithVariables([]string{MappingEventVar}))...)
	if err != nil {
		return nil, fmt.Errorf("mapping %s: %w", position(path, string(src), undefinedAt(string(src), err)), err)
	}
	return code, nil
}

// undefinedRE reads the name out of gojq's "function not defined: f/1" and
// "variable not defined: $x", which carry no position.
var undefinedRE = regexp.MustCompile(`not defined: (\$?[A-Za-z_][A-Za-z0-9_:]*)`)

// undefinedAt returns the offset of the first use of the name a compile error
// complains about, or -1.
func undefinedAt(src string, err error) int {
	m := undefinedRE.FindStringSubmatch(err.Error())
	if m == nil {
		return -1
	}
	re := regexp.MustCompile(`(^|[^A-Za-z0-9_$])` + regexp.QuoteMeta(m[1]) + `($|[^A-Za-z0-9_])`)
	loc := re.FindStringSubmatchIndex(src)
	if loc == nil {
		return -1
	}
	return loc[3] // end of the leading boundary: where the name starts
}

// position spells file:line:column for a byte offset into src; just the file
// for a negative offset.
func position(path, src string, offset int) string {
	if offset < 0 {
		return path
	}
	offset = min(offset, len(src))
	before := src[:offset]
	line := strings.Count(before, "\n") + 1
	col := offset - strings.LastIndexByte(before, '\n')
	return fmt.Sprintf("%s:%d:%d", path, line, col)
}

// markupFunctions are the jq functions that escape payload text the way the
// built-in mappings do (internal/markup), for text a mapping writes into a
// whole card: adaptive_text for an Adaptive Card's TextBlock or Fact,
// messagecard_text for a MessageCard's text. Their input is a string, a
// number or a boolean (null gives ""); line breaks become the format's.
func markupFunctions() []gojq.CompilerOption {
	escape := func(name string, e markup.Escaper, sep string) gojq.CompilerOption {
		return gojq.WithFunction(name, 0, 0, func(v any, _ []any) any {
			switch v := v.(type) {
			case nil:
				return ""
			case string:
				return e.Text(v, sep)
			case bool, int, float64, *big.Int, json.Number:
				return e.Text(fmt.Sprint(v), sep)
			}
			return fmt.Errorf("%s cannot be applied to %s: give it a string", name, jqTypeName(v))
		})
	}
	return []gojq.CompilerOption{
		escape("adaptive_text", markup.Adaptive(), "\n\n"),
		escape("messagecard_text", markup.MessageCard(), "\n\n"),
	}
}

// jqTypeName names a jq value's type as jq does.
func jqTypeName(v any) string {
	switch v.(type) {
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return "a value of another type"
}
