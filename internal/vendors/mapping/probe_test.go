package mapping

import (
	"reflect"
	"testing"

	"github.com/hookrelay/hookrelay/schemas"
)

// TestFormFieldsLenient: a form is read field by field; what url.ParseQuery
// refuses (a '%' escaping nothing, a raw ';') is kept as sent, and the rest
// is decoded.
func TestFormFieldsLenient(t *testing.T) {
	for _, tc := range []struct {
		body string
		want []FormField
	}{
		{"text=disk at 95%&token=t", []FormField{{"text", "disk at 95%"}, {"token", "t"}}},
		{"text=disk+at+95%25&%74oken=t", []FormField{{"text", "disk at 95%"}, {"token", "t"}}},
		{"password=hunter2&msg=a;b", []FormField{{"password", "hunter2"}, {"msg", "a;b"}}},
		{"a=%zz%4&&b&=c", []FormField{{"a", "%zz%4"}, {"b", ""}, {"", "c"}}},
	} {
		ev := schemas.Event{ContentType: "application/x-www-form-urlencoded; charset=utf-8", Body: []byte(tc.body)}
		got, ok := FormFields(ev)
		if !ok || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: fields %q, %v; want %q", tc.body, got, ok, tc.want)
		}
	}
	if _, ok := FormFields(schemas.Event{ContentType: "application/json", Body: []byte("a=b")}); ok {
		t.Error("a JSON body was read as a form")
	}
}
