package mapping

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
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
// pointer, and fails only when doc is not JSON. The document is parsed once;
// fields are filled from the parsed values.
func DecodeJSON(doc []byte, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("decode needs a pointer, got %T", v)
	}
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var parsed any
	if err := dec.Decode(&parsed); err != nil {
		return errors.New("not JSON")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("not JSON: more than one value")
	}
	fill(parsed, rv.Elem())
	return nil
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

// fill sets v from a parsed JSON value (nil, bool, json.Number, string,
// []any, map[string]any) as far as their types agree; v is left at its zero
// value where they do not.
func fill(val any, v reflect.Value) {
	if v.CanAddr() && v.Addr().Type().Implements(unmarshalerType) {
		// Text and json.RawMessage read the value's JSON themselves.
		raw, err := json.Marshal(val)
		if err != nil || v.Addr().Interface().(json.Unmarshaler).UnmarshalJSON(raw) != nil {
			v.SetZero()
		}
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if val == nil {
			return
		}
		if _, isObject := val.(map[string]any); v.Type().Elem().Kind() == reflect.Struct && !isObject {
			return
		}
		p := reflect.New(v.Type().Elem())
		fill(val, p.Elem())
		v.Set(p)
	case reflect.Struct:
		if members, ok := val.(map[string]any); ok {
			fillStruct(members, v)
		}
	case reflect.Slice:
		items, ok := val.([]any)
		if !ok {
			return
		}
		s := reflect.MakeSlice(v.Type(), len(items), len(items))
		for i, item := range items {
			fill(item, s.Index(i))
		}
		v.Set(s)
	case reflect.Map:
		members, ok := val.(map[string]any)
		if !ok || v.Type().Key().Kind() != reflect.String {
			return
		}
		m := reflect.MakeMapWithSize(v.Type(), len(members))
		for k, member := range members {
			e := reflect.New(v.Type().Elem()).Elem()
			fill(member, e)
			m.SetMapIndex(reflect.ValueOf(k).Convert(v.Type().Key()), e)
		}
		v.Set(m)
	case reflect.String:
		if s, ok := val.(string); ok {
			v.SetString(s)
		}
	case reflect.Bool:
		if b, ok := val.(bool); ok {
			v.SetBool(b)
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if n, ok := val.(json.Number); ok {
			if i, err := strconv.ParseInt(n.String(), 10, 64); err == nil && !v.OverflowInt(i) {
				v.SetInt(i)
			}
		}
	case reflect.Float32, reflect.Float64:
		if n, ok := val.(json.Number); ok {
			if f, err := n.Float64(); err == nil && !v.OverflowFloat(f) {
				v.SetFloat(f)
			}
		}
	}
}

// fillStruct fills a struct's exported fields from an object's members; an
// embedded struct without a tag takes its fields from the same object.
func fillStruct(members map[string]any, v reflect.Value) {
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
		if val, ok := member(members, name); ok {
			fill(val, v.Field(i))
		}
	}
}

// member finds an object's member by name, exactly or else ignoring case.
func member(members map[string]any, name string) (any, bool) {
	if val, ok := members[name]; ok {
		return val, true
	}
	for k, val := range members {
		if strings.EqualFold(k, name) {
			return val, true
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
