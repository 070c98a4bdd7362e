package transform

import (
	"fmt"
	"strings"

	"github.com/hookrelay/hookrelay/internal/config"
	"github.com/hookrelay/hookrelay/internal/vendors"
	"github.com/hookrelay/hookrelay/internal/vendors/generic"
	"github.com/hookrelay/hookrelay/internal/vendors/mapping"
	"github.com/hookrelay/hookrelay/schemas"
)

// Builtin returns the built-in mapping called name: one of
// config.BuiltinMappings, "auto" included. A vendor's mapping never fails
// on valid JSON: should it fail, or panic, on a shape it does not expect,
// the generic card shows the event instead, with a fact saying why.
func Builtin(name string) (Mapping, bool) {
	if name == config.MappingAuto {
		return newAuto(vendors.Mappings()), true
	}
	m, ok := vendors.LookupMapping(name)
	if !ok {
		return nil, false
	}
	return withFallback(m), true
}

// Detect names the built-in mapping auto picks for ev: the first vendor that
// recognises the headers or the body, else "generic".
func Detect(ev schemas.Event) string { return detect(vendors.Mappings(), ev) }

func detect(ms []mapping.Mapping, ev schemas.Event) string {
	p := mapping.NewProbe(ev)
	for _, m := range ms {
		if m.Detect != nil && m.Detect(p) {
			return m.Name
		}
	}
	return generic.Name
}

// Auto maps ev with the built-in mapping Detect picks, falling back to the
// generic mapping as every built-in does.
func Auto(ev schemas.Event) (Summary, error) { return newAuto(vendors.Mappings())(ev) }

// newAuto is Auto over the mappings ms, listed once rather than at every
// event.
func newAuto(ms []mapping.Mapping) Mapping {
	byName := make(map[string]Mapping, len(ms))
	for _, m := range ms {
		byName[m.Name] = withFallback(m)
	}
	return func(ev schemas.Event) (Summary, error) {
		if m, ok := byName[detect(ms, ev)]; ok {
			return m(ev)
		}
		return generic.Map(ev)
	}
}

// withFallback runs a vendor's mapping and shows the event generically when
// it fails: a payload that looks like a vendor's but is not, or a shape the
// mapping did not expect. Only an event the generic mapping cannot show
// either is an error. A mapping that read nothing worth a title gets the
// generic card's.
func withFallback(m mapping.Mapping) Mapping {
	if m.Name == generic.Name {
		return m.Map
	}
	return func(ev schemas.Event) (s Summary, err error) {
		s, err = safely(m.Map, ev)
		if err == nil && strings.TrimSpace(s.Title) != "" {
			return s, nil
		}
		g, gerr := generic.Map(ev)
		if gerr != nil {
			if err == nil {
				return s, nil
			}
			return s, err
		}
		why := "read no title"
		if err != nil {
			why = "failed (" + err.Error() + ")"
		}
		g.Facts = append([]Fact{{Name: "Mapping", Value: fmt.Sprintf("%s %s; shown generically", m.Name, why)}}, g.Facts...)
		return g, nil
	}
}

// panicked starts the error of a mapping that panicked.
const panicked = "mapping panicked"

// safely runs a mapping, turning a panic into an error: a vendor's payload,
// however odd, must not stop the stage.
func safely(m Mapping, ev schemas.Event) (s Summary, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%s: %v", panicked, r)
		}
	}()
	return m(ev)
}

// LoadMapping returns the mapping a source or route names: "auto" or "" (the
// default), a built-in name, or the path of a jq mapping file (ending in
// .jq), which is compiled now.
func LoadMapping(spec string) (Mapping, error) {
	if spec == "" {
		spec = config.MappingAuto
	}
	if config.IsJQMapping(spec) {
		jm, err := LoadJQ(spec)
		if err != nil {
			return nil, err
		}
		return jm.Map, nil
	}
	if m, ok := Builtin(spec); ok {
		return m, nil
	}
	return nil, fmt.Errorf("unknown mapping %q (one of %s, or a path ending in .jq)",
		spec, strings.Join(config.BuiltinMappings(), ", "))
}
