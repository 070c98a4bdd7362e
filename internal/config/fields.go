package config

import (
	"fmt"
	"iter"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// checkFields walks the YAML tree against the type it decodes into and
// reports, in terms of the file, every key the type has no field for and
// every value of the wrong kind: YAML's own decoder stops at the first and
// names Go types ("cannot unmarshal !!str into time.Duration").
func checkFields(root *yaml.Node) []error {
	n := root
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return nil
		}
		n = n.Content[0]
	}
	var errs []error
	walkFields(n, reflect.TypeFor[Config](), "", &errs)
	return errs
}

var (
	durationType    = reflect.TypeFor[time.Duration]()
	limitsType      = reflect.TypeFor[Limits]()
	unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()
)

func walkFields(n *yaml.Node, t reflect.Type, path string, errs *[]error) {
	fail := func(n *yaml.Node, format string, args ...any) {
		*errs = append(*errs, fmt.Errorf("line %d: %s: %s", n.Line, path, fmt.Sprintf(format, args...)))
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // an empty value leaves the default
	}
	switch {
	case t == limitsType:
		if n.Kind == yaml.SequenceNode {
			for i, item := range n.Content {
				walkFields(item, reflect.TypeFor[Limit](), fmt.Sprintf("%s[%d]", path, i), errs)
			}
		} else if n.Kind != yaml.ScalarNode {
			fail(n, "write a preset (teams or none) or a list of {per, max}")
		} // a preset's name is checked by Limits.UnmarshalYAML
		return
	case reflect.PointerTo(t).Implements(unmarshalerType):
		return // the type checks itself
	case t == durationType:
		if n.Kind != yaml.ScalarNode {
			fail(n, "is not a duration: write a value such as 10s, 5m or 1h30m")
			return
		}
		if _, err := time.ParseDuration(n.Value); err != nil {
			fail(n, "%q is not a duration: write %s", n.Value, durationHint(n.Value))
		}
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			fail(n, "must be a mapping of %s", strings.Join(fieldNames(t), ", "))
			return
		}
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			key, value := n.Content[i], n.Content[i+1]
			sub := key.Value
			if path != "" {
				sub = path + "." + key.Value
			}
			f, ok := fields[key.Value]
			if !ok {
				msg := fmt.Sprintf("line %d: unknown field %q", key.Line, key.Value)
				if path != "" {
					msg += " in " + path
				}
				if near := nearest(key.Value, fieldNames(t)); near != "" {
					msg += fmt.Sprintf("; did you mean %q?", near)
				} else {
					msg += fmt.Sprintf(" (expected one of: %s)", strings.Join(fieldNames(t), ", "))
				}
				*errs = append(*errs, fmt.Errorf("%s", msg))
				continue
			}
			walkFields(value, f.Type, sub, errs)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			fail(n, "must be a list (write [a, b] or one \"- item\" per line)")
			return
		}
		for i, item := range n.Content {
			walkFields(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i), errs)
		}
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			fail(n, "must be a single value, not a list or mapping (quote it if it holds ': ' or '#')")
		}
	case reflect.Bool:
		var b bool
		if n.Kind != yaml.ScalarNode || n.Decode(&b) != nil {
			fail(n, "%q is not true or false", n.Value)
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if n.Kind != yaml.ScalarNode {
			fail(n, "must be a whole number")
		} else if _, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 64); err != nil {
			fail(n, "%q is not a whole number", n.Value)
		}
	case reflect.Float32, reflect.Float64:
		if n.Kind != yaml.ScalarNode {
			fail(n, "must be a number")
		} else if _, err := strconv.ParseFloat(n.Value, 64); err != nil {
			fail(n, "%q is not a number", n.Value)
		}
	}
}

// durationHint suggests how to write what the user meant: "10 seconds" → 10s.
func durationHint(v string) string {
	units := []struct{ words, unit string }{
		{"milliseconds millisecond msec ms", "ms"}, {"seconds second secs sec s", "s"},
		{"minutes minute mins min m", "m"}, {"hours hour hrs hr h", "h"},
	}
	fields := strings.Fields(strings.ToLower(v))
	if _, err := strconv.ParseFloat(v, 64); err == nil {
		return v + "s (a duration needs its unit: ms, s, m or h)"
	}
	if len(fields) == 2 {
		if _, err := strconv.ParseFloat(fields[0], 64); err == nil {
			for _, u := range units {
				for w := range strings.FieldsSeq(u.words) {
					if fields[1] == w {
						return fields[0] + u.unit
					}
				}
			}
		}
	}
	if strings.HasSuffix(strings.ToLower(v), "d") {
		return "hours, e.g. 24h or 168h (Go durations have no days)"
	}
	return "a number and a unit, e.g. 10s, 500ms, 5m or 1h30m"
}

// yamlFields maps a struct's YAML keys to its fields.
func yamlFields(t reflect.Type) map[string]reflect.StructField {
	out := map[string]reflect.StructField{}
	for name, f := range keyed(t) {
		out[name] = f
	}
	return out
}

// fieldNames lists a struct's YAML keys in declaration order.
func fieldNames(t reflect.Type) []string {
	var out []string
	for name := range keyed(t) {
		out = append(out, name)
	}
	return out
}

// keyed yields a struct's decoded fields with their YAML keys, in
// declaration order.
func keyed(t reflect.Type) iter.Seq2[string, reflect.StructField] {
	return func(yield func(string, reflect.StructField) bool) {
		for f := range t.Fields() {
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "-" || !f.IsExported() {
				continue
			}
			if name == "" {
				name = strings.ToLower(f.Name)
			}
			if !yield(name, f) {
				return
			}
		}
	}
}

// nearest returns the candidate closest to s when it is close enough to be a
// typo (at most a third of its letters differ), else "".
func nearest(s string, candidates []string) string {
	best, bestDist := "", len(s)/3+1
	for _, c := range candidates {
		if d := editDistance(s, c); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
