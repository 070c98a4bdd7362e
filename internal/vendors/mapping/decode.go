package mapping

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/hookrelay/hookrelay/schemas"
)

// Decode reads the event's JSON document into v, a pointer to the vendor's
// payload struct, taking what fits: a member of another JSON type than its
// field (a string where an object was expected, an array where a number was)
// leaves that field at its zero value instead of failing the whole payload,
// so a mapping shows what it could read. It fails only when the event
// carries no JSON at all. Members are matched to fields as encoding/json
// does: by the json tag, else the field name, exactly or case-insensitively.
func Decode(ev schemas.Event, vendor string, v any) error {
	doc, ok := JSONDocument(ev)
	if !ok {
		return fmt.Errorf("%s mapping: the body is not JSON", vendor)
	}
	if err := DecodeJSON(doc, v); err != nil {
		return fmt.Errorf("%s mapping: %w", vendor, err)
	}
	return nil
}

// DecodeJSON is Decode for a JSON document: it takes what fits into v, a
// pointer, and fails only when doc is not JSON.
func DecodeJSON(doc []byte, v any) error {
	if !json.Valid(doc) {
		return errors.New("not JSON")
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("decode needs a pointer, got %T", v)
	}
	fill(doc, rv.Elem())
	return nil
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

// fill decodes raw into v as far as their types agree.
func fill(raw json.RawMessage, v reflect.Value) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return
	}
	if v.CanAddr() && v.Addr().Type().Implements(unmarshalerType) {
		if err := v.Addr().Interface().(json.Unmarshaler).UnmarshalJSON(raw); err != nil {
			v.SetZero()
		}
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if raw[0] == 'n' || (v.Type().Elem().Kind() == reflect.Struct && raw[0] != '{') {
			return
		}
		p := reflect.New(v.Type().Elem())
		fill(raw, p.Elem())
		v.Set(p)
	case reflect.Struct:
		var members map[string]json.RawMessage
		if raw[0] != '{' || json.Unmarshal(raw, &members) != nil {
			return
		}
		fillStruct(members, v)
	case reflect.Slice:
		var items []json.RawMessage
		if raw[0] != '[' || json.Unmarshal(raw, &items) != nil {
			return
		}
		s := reflect.MakeSlice(v.Type(), len(items), len(items))
		for i, item := range items {
			fill(item, s.Index(i))
		}
		v.Set(s)
	case reflect.Map:
		var members map[string]json.RawMessage
		if raw[0] != '{' || v.Type().Key().Kind() != reflect.String || json.Unmarshal(raw, &members) != nil {
			return
		}
		m := reflect.MakeMapWithSize(v.Type(), len(members))
		for k, r := range members {
			e := reflect.New(v.Type().Elem()).Elem()
			fill(r, e)
			m.SetMapIndex(reflect.ValueOf(k).Convert(v.Type().Key()), e)
		}
		v.Set(m)
	default:
		// A scalar of another type leaves the zero value.
		if json.Unmarshal(raw, v.Addr().Interface()) != nil {
			v.SetZero()
		}
	}
}

// fillStruct fills a struct's exported fields from an object's members;
// an embedded struct without a tag takes its fields from the same object.
func fillStruct(members map[string]json.RawMessage, v reflect.Value) {
	t := v.Type()
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() && !(sf.Anonymous && sf.Type.Kind() == reflect.Struct) {
			continue
		}
		name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if sf.Anonymous && name == "" && sf.Type.Kind() == reflect.Struct {
			fillStruct(members, v.Field(i))
			continue
		}
		if name == "" {
			name = sf.Name
		}
		if raw, ok := member(members, name); ok {
			fill(raw, v.Field(i))
		}
	}
}

// member finds an object's member by name, exactly or else ignoring case.
func member(members map[string]json.RawMessage, name string) (json.RawMessage, bool) {
	if raw, ok := members[name]; ok {
		return raw, true
	}
	for k, raw := range members {
		if strings.EqualFold(k, name) {
			return raw, true
		}
	}
	return nil, false
}

// Text is a JSON scalar read as text. Vendors send an id as a number in one
// payload and as a string in the next; an object or array reads as "" rather
// than failing the whole payload.
type Text string

// UnmarshalJSON implements json.Unmarshaler.
func (t *Text) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0, b[0] == '{', b[0] == '[', bytes.Equal(b, []byte("null")):
		*t = ""
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*t = Text(s)
	default:
		*t = Text(b)
	}
	return nil
}

func (t Text) String() string { return string(t) }
