package schemas

import (
	"bytes"
	"embed"
	"errors"
	"fmt"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Kinds of document a Validator checks. The card kinds equal the destination
// formats, so a Delivery's Format names the schema its Card must satisfy.
const (
	KindEvent       = "event"
	KindMessageCard = FormatMessageCard
	KindWorkflows   = FormatAdaptive
)

// ErrTooLarge is returned for a card above MaxCardBytes, which Teams refuses
// with 413.
var ErrTooLarge = errors.New("card exceeds Teams' size limit")

//go:embed event.schema.json messagecard.schema.json workflows.schema.json
var schemaFiles embed.FS

// schemaFile maps a kind to its embedded JSON Schema (draft 2020-12).
func schemaFile(kind string) (string, bool) {
	switch kind {
	case KindEvent:
		return "event.schema.json", true
	case KindMessageCard:
		return "messagecard.schema.json", true
	case KindWorkflows:
		return "workflows.schema.json", true
	}
	return "", false
}

// Validator checks documents against hookrelay's JSON Schemas. It is safe for
// concurrent use.
type Validator struct {
	schemas map[string]*jsonschema.Schema
}

// NewValidator compiles the embedded schemas.
func NewValidator() (*Validator, error) {
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	v := &Validator{schemas: map[string]*jsonschema.Schema{}}
	for _, kind := range []string{KindEvent, KindMessageCard, KindWorkflows} {
		name, _ := schemaFile(kind)
		raw, err := schemaFiles.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("read schema %s: %w", name, err)
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		if err != nil {
			return nil, fmt.Errorf("parse schema %s: %w", name, err)
		}
		if err := c.AddResource(name, doc); err != nil {
			return nil, fmt.Errorf("add schema %s: %w", name, err)
		}
		sch, err := c.Compile(name)
		if err != nil {
			return nil, fmt.Errorf("compile schema %s: %w", name, err)
		}
		v.schemas[kind] = sch
	}
	return v, nil
}

// Validate checks doc against the schema of kind (KindEvent, KindMessageCard
// or KindWorkflows). Cards above MaxCardBytes fail with ErrTooLarge.
func (v *Validator) Validate(kind string, doc []byte) error {
	sch, ok := v.schemas[kind]
	if !ok {
		return fmt.Errorf("validate: unknown kind %q", kind)
	}
	if kind != KindEvent && len(doc) > MaxCardBytes {
		return fmt.Errorf("validate %s: %d bytes > %d: %w", kind, len(doc), MaxCardBytes, ErrTooLarge)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return fmt.Errorf("validate %s: not JSON: %w", kind, err)
	}
	if err := sch.Validate(inst); err != nil {
		return fmt.Errorf("validate %s: %w", kind, err)
	}
	return nil
}

// Schema returns the JSON Schema of kind, for documentation and external tools.
func Schema(kind string) ([]byte, error) {
	name, ok := schemaFile(kind)
	if !ok {
		return nil, fmt.Errorf("unknown schema kind %q", kind)
	}
	return schemaFiles.ReadFile(name)
}

// Validate checks doc against the schema of kind with a fresh Validator; code
// that validates many documents should keep one from NewValidator.
func Validate(kind string, doc []byte) error {
	v, err := NewValidator()
	if err != nil {
		return err
	}
	return v.Validate(kind, doc)
}
