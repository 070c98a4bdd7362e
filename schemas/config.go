package schemas

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

//go:embed config.schema.json
var configSchema []byte

// ConfigSchema returns the JSON Schema (draft 2020-12) of hookrelay's YAML
// configuration file, for editors and CI linting.
func ConfigSchema() []byte { return bytes.Clone(configSchema) }

// ValidateConfig checks a configuration document, decoded from YAML into
// generic values (maps, slices, strings, numbers, booleans), against
// ConfigSchema. hookrelay's own loader checks more (names that must exist,
// jq that must compile); the schema catches misspelt and misplaced fields.
func ValidateConfig(doc any) error {
	// A round trip through JSON gives the value types the validator expects.
	raw, err := json.Marshal(doc)
	if err != nil {
		return fmt.Errorf("validate config: %w", err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return fmt.Errorf("validate config: %w", err)
	}
	schemaDoc, err := jsonschema.UnmarshalJSON(bytes.NewReader(configSchema))
	if err != nil {
		return fmt.Errorf("parse config schema: %w", err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("config.schema.json", schemaDoc); err != nil {
		return fmt.Errorf("add config schema: %w", err)
	}
	sch, err := c.Compile("config.schema.json")
	if err != nil {
		return fmt.Errorf("compile config schema: %w", err)
	}
	if err := sch.Validate(inst); err != nil {
		return fmt.Errorf("validate config: %w", err)
	}
	return nil
}
