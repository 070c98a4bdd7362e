package schemas_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/hookrelay/hookrelay/internal/config"
	"github.com/hookrelay/hookrelay/schemas"
)

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// TestExamplesMatchConfigSchema validates every examples/*.yaml against the
// config schema, and loads it with hookrelay's own loader, so the schema and
// the loader agree on every example.
func TestExamplesMatchConfigSchema(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "examples", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Skip("SKIPPING: no examples/*.yaml")
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range envRef.FindAllStringSubmatch(string(raw), -1) {
				v := "example-secret"
				switch {
				case strings.HasSuffix(m[1], "_URL"):
					v = "https://example.webhook.office.com/webhookb2/" + strings.ToLower(m[1])
				case strings.HasSuffix(m[1], "_BROKERS"):
					v = "127.0.0.1:9092"
				}
				t.Setenv(m[1], v)
			}
			var doc any
			if err := yaml.Unmarshal([]byte(os.ExpandEnv(string(raw))), &doc); err != nil {
				t.Fatal(err)
			}
			if err := schemas.ValidateConfig(doc); err != nil {
				t.Errorf("schema: %v", err)
			}
			if _, err := config.Load(file); err != nil {
				t.Errorf("config.Load: %v", err)
			}
		})
	}
}

func TestConfigSchemaRejects(t *testing.T) {
	for _, tc := range []struct{ name, yaml string }{
		{"misspelt field", "sources: [{name: a, verify: {scheme: token, secret: s}, mappng: auto}]"},
		{"unknown mapping", "sources: [{name: a, verify: {scheme: token, secret: s}, mapping: zendsk}]"},
		{"bad format", "destinations: [{name: d, url: https://x.example, format: card}]"},
		{"bad duration", "destinations: [{name: d, url: https://x.example, timeout: 10 seconds}]"},
		{"route without destinations", "routes: [{source: a, to: []}]"},
		{"bad name", "sources: [{name: 'a b', verify: {scheme: token}}]"},
		{"unknown queue kind", "queue: {kind: rabbitmq}"},
		{"kafka without brokers", "queue: {kind: kafka}"},
		{"kafka settings on jetstream", "queue: {brokers: ['k1:9092']}"},
		{"bad topic prefix", "queue: {kind: kafka, brokers: ['k1:9092'], topic_prefix: a/b}"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var doc any
			if err := yaml.Unmarshal([]byte(tc.yaml), &doc); err != nil {
				t.Fatal(err)
			}
			if err := schemas.ValidateConfig(doc); err == nil {
				t.Error("the schema accepted it")
			}
		})
	}
}

// TestConfigSchemaCoversConfig walks config.Config's YAML fields and checks
// each is described by the schema, so a new field cannot go unnoticed.
func TestConfigSchemaCoversConfig(t *testing.T) {
	var root map[string]any
	if err := json.Unmarshal(schemas.ConfigSchema(), &root); err != nil {
		t.Fatal(err)
	}
	resolve := func(node map[string]any) map[string]any {
		if ref, ok := node["$ref"].(string); ok {
			name := strings.TrimPrefix(ref, "#/$defs/")
			node, _ = root["$defs"].(map[string]any)[name].(map[string]any)
		}
		return node
	}
	var walk func(path string, typ reflect.Type, node map[string]any)
	walk = func(path string, typ reflect.Type, node map[string]any) {
		node = resolve(node)
		for typ.Kind() == reflect.Pointer {
			typ = typ.Elem()
		}
		switch {
		case typ == reflect.TypeFor[time.Duration](), typ == reflect.TypeFor[config.Limits]():
			return
		case typ.Kind() == reflect.Slice:
			items, ok := node["items"].(map[string]any)
			if !ok {
				t.Errorf("%s: the schema describes no items", path)
				return
			}
			walk(path+"[]", typ.Elem(), items)
			return
		case typ.Kind() != reflect.Struct:
			return
		}
		if node["additionalProperties"] != false {
			t.Errorf("%s: the schema allows unknown fields; the loader does not", path)
		}
		props, _ := node["properties"].(map[string]any)
		for f := range typ.Fields() {
			tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if tag == "" || tag == "-" {
				continue
			}
			p, ok := props[tag].(map[string]any)
			if !ok {
				t.Errorf("%s.%s is missing from schemas/config.schema.json", path, tag)
				continue
			}
			walk(path+"."+tag, f.Type, p)
		}
	}
	walk("config", reflect.TypeFor[config.Config](), root)

	mapping := resolve(map[string]any{"$ref": "#/$defs/mapping"})
	var names []string
	for _, n := range mapping["anyOf"].([]any)[0].(map[string]any)["enum"].([]any) {
		names = append(names, n.(string))
	}
	if !slices.Equal(names, config.BuiltinMappings()) {
		t.Errorf("schema mappings %v, config.BuiltinMappings %v", names, config.BuiltinMappings())
	}
}
