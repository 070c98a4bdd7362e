package mapping

import (
	"encoding/json"
	"testing"
)

type inner struct {
	Title Text `json:"title"`
}

type payload struct {
	inner
	ID     Text            `json:"id"`
	Count  int             `json:"count"`
	Ratio  float64         `json:"ratio"`
	Draft  bool            `json:"draft"`
	Labels []Text          `json:"labels"`
	Extra  map[string]Text `json:"extra"`
	Ticket *struct {
		Name Text
	} `json:"ticket"`
	Raw json.RawMessage `json:"raw"`
}

// TestDecodeTakesWhatFits: members of the expected types are read, the
// others leave their fields empty, and only a body that is not JSON fails.
func TestDecodeTakesWhatFits(t *testing.T) {
	var p payload
	doc := `{"title":"hello","ID":42,"count":"7","ratio":0.5,"draft":"yes","labels":["a",{"x":1},3],` +
		`"extra":{"k":"v","n":[1]},"ticket":{"NAME":"T-1"},"raw":{"a":[1,2]}}`
	if err := DecodeJSON([]byte(doc), &p); err != nil {
		t.Fatal(err)
	}
	if p.Title != "hello" || p.ID != "42" || p.Count != 0 || p.Ratio != 0.5 || p.Draft {
		t.Errorf("scalars: %+v", p)
	}
	if len(p.Labels) != 3 || p.Labels[0] != "a" || p.Labels[1] != "" || p.Labels[2] != "3" {
		t.Errorf("labels %q", p.Labels)
	}
	if p.Extra["k"] != "v" || p.Extra["n"] != "" || p.Ticket == nil || p.Ticket.Name != "T-1" || string(p.Raw) != `{"a":[1,2]}` {
		t.Errorf("nested: %+v %+v %s", p.Extra, p.Ticket, p.Raw)
	}
	var q payload
	if err := DecodeJSON([]byte(`{"ticket":"a string","labels":{"not":"an array"},"count":1e400}`), &q); err != nil {
		t.Fatal(err)
	}
	if q.Ticket != nil || q.Labels != nil || q.Count != 0 {
		t.Errorf("mismatched members filled: %+v", q)
	}
	for _, bad := range []string{`{"a":`, `{} {}`, ``} {
		if err := DecodeJSON([]byte(bad), &q); err == nil {
			t.Errorf("DecodeJSON(%q) accepted it", bad)
		}
	}
}
