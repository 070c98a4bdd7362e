package transform

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookrelay/hookrelay/schemas"
)

// decodeJSON decodes doc keeping numbers as written.
func decodeJSON(t *testing.T, doc []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("fixture is not JSON: %v", err)
	}
	return v
}

// clone copies a decoded JSON value, so that a mutation leaves the original
// as it was.
func clone(v any) any {
	switch c := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(c))
		for k, e := range c {
			out[k] = clone(e)
		}
		return out
	case []any:
		out := make([]any, len(c))
		for i, e := range c {
			out[i] = clone(e)
		}
		return out
	}
	return v
}

// paths lists the place of every value in v, the root first: object keys
// (string) and array indexes (int) from the root down.
func paths(v any, prefix []any, out *[][]any) {
	*out = append(*out, prefix)
	switch c := v.(type) {
	case map[string]any:
		for k, child := range c {
			paths(child, append(append([]any{}, prefix...), k), out)
		}
	case []any:
		for i, child := range c {
			paths(child, append(append([]any{}, prefix...), i), out)
		}
	}
}

// edit returns root with the value at path replaced by f(value); f's
// second result true removes it from its object or array instead.
func edit(root any, path []any, f func(any) (any, bool)) any {
	if len(path) == 0 {
		v, remove := f(root)
		if remove {
			return nil
		}
		return v
	}
	switch c := root.(type) {
	case map[string]any:
		k := path[0].(string)
		if len(path) == 1 {
			if v, remove := f(c[k]); remove {
				delete(c, k)
			} else {
				c[k] = v
			}
			return c
		}
		c[k] = edit(c[k], path[1:], f)
		return c
	case []any:
		i := path[0].(int)
		if len(path) == 1 {
			if v, remove := f(c[i]); remove {
				return append(c[:i:i], c[i+1:]...)
			} else {
				c[i] = v
			}
			return c
		}
		c[i] = edit(c[i], path[1:], f)
		return c
	}
	return root
}

// mutations returns every one-step mutation of a JSON document: each value
// (the root included) swapped for each other JSON type, nulled, removed
// from its object or array, and nested one level deeper in an object and
// in an array.
func mutations(t *testing.T, doc []byte) [][]byte {
	t.Helper()
	orig := decodeJSON(t, doc)
	var all [][]any
	paths(orig, nil, &all)
	kinds := []any{"mutated text", json.Number("42"), true, nil, map[string]any{}, []any{}}
	var out [][]byte
	for _, p := range all {
		var fs []func(any) (any, bool)
		for _, k := range kinds {
			fs = append(fs, func(any) (any, bool) { return k, false })
		}
		fs = append(fs,
			func(v any) (any, bool) { return nil, true },
			func(v any) (any, bool) { return map[string]any{"nested": v}, false },
			func(v any) (any, bool) { return []any{v}, false },
		)
		for _, f := range fs {
			b, err := json.Marshal(edit(clone(orig), p, f))
			if err != nil {
				t.Fatalf("encode mutation: %v", err)
			}
			out = append(out, b)
		}
	}
	return out
}

// mutationFixture is a vendor's fixture and the mapping it is for.
type mutationFixture struct {
	name, mapping string
	headers       map[string]string
	body          []byte
}

// mutationFixtures are the golden cases' fixtures and, when present, the
// published vendor samples in ../shared/payloads with the mapping auto picks.
func mutationFixtures(t *testing.T) []mutationFixture {
	t.Helper()
	var out []mutationFixture
	for _, tc := range goldenCases {
		out = append(out, mutationFixture{tc.fixture, tc.mapping, tc.headers, fixture(t, tc.mapping, tc.fixture)})
	}
	files, _ := filepath.Glob(filepath.Join(sharedPayloads, "*.json"))
	if len(files) == 0 {
		t.Logf("!!! the published vendor samples in %s are absent: mutating hookrelay's own fixtures only !!!", sharedPayloads)
	}
	for _, f := range files {
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Base(f)
		out = append(out, mutationFixture{name, Detect(testEvent("vendor", body)), nil, body})
	}
	return out
}

// TestMappingsSurviveEveryMutation mutates every fixture every way
// (mutations) and maps each mutation with the fixture's built-in mapping:
// the vendor's mapping never panics, the built-in (which falls back to the
// generic card where the vendor's cannot read the payload) never fails on
// valid JSON, and the card is valid and at most 28 KB in both formats.
func TestMappingsSurviveEveryMutation(t *testing.T) {
	v := newValidator(t)
	valid := map[string]bool{} // cards already validated: most mutations repeat one
	fixtures := mutationFixtures(t)
	total, failures := 0, 0
	for _, fx := range fixtures {
		m, ok := Builtin(fx.mapping)
		if !ok {
			t.Fatalf("%s: no mapping %q", fx.name, fx.mapping)
		}
		for i, body := range mutations(t, fx.body) {
			total++
			ev := testEvent("src", body)
			ev.Headers = fx.headers
			fail := func(format string, args ...any) {
				failures++
				if failures <= 20 {
					t.Errorf("%s mutation %d (%s): %s", fx.name, i, cutBody(body), fmt.Sprintf(format, args...))
				}
			}
			s, err := m(ev)
			if err != nil {
				fail("the built-in %s mapping failed: %v", fx.mapping, err)
				continue
			}
			// The built-in survives a panic of the vendor's mapping by
			// falling back, and says so in a fact: a panic is still a bug.
			if len(s.Facts) > 0 && s.Facts[0].Name == "Mapping" && strings.Contains(s.Facts[0].Value, panicked) {
				fail("the %s mapping panicked: %s", fx.mapping, s.Facts[0].Value)
				continue
			}
			for _, format := range formats {
				card, err := RenderSummary(s, format)
				switch {
				case err != nil:
					fail("render %s: %v", format, err)
				case len(card) > schemas.MaxCardBytes:
					fail("%s card of %d bytes", format, len(card))
				case valid[format+string(card)]:
				default:
					if err := v.Validate(format, card); err != nil {
						fail("%s card invalid: %v", format, err)
					} else {
						valid[format+string(card)] = true
					}
				}
			}
		}
	}
	t.Logf("%d mutations of %d fixtures rendered in both formats (%d distinct cards), %d failures",
		total, len(fixtures), len(valid), failures)
	if failures > 0 {
		t.Fatalf("%d of %d mutations failed", failures, total)
	}
}

// cutBody shortens a mutated body for a failure message.
func cutBody(b []byte) string {
	s := string(b)
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return strings.ReplaceAll(s, "\n", " ")
}
