package transform

import (
	"strings"
	"testing"

	"github.com/hookrelay/hookrelay/internal/vendors/mapping"
	"github.com/hookrelay/hookrelay/schemas"
)

// TestFallbackSurvivesAPanic: a vendor mapping that panics on a payload
// gives the generic card, with a fact saying so, instead of stopping the
// stage.
func TestFallbackSurvivesAPanic(t *testing.T) {
	m := withFallback(mapping.Mapping{Name: "broken", Map: func(schemas.Event) (Summary, error) { panic("index out of range") }})
	s, err := m(testEvent("src", []byte(`{"title":"still shown"}`)))
	if err != nil {
		t.Fatal(err)
	}
	if s.Title != "src: still shown" || len(s.Facts) == 0 || !strings.Contains(s.Facts[0].Value, panicked) {
		t.Errorf("summary %+v, want the generic card and a fact naming the panic", s)
	}
}
