package transform

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookrelay/hookrelay/internal/nodetest"
	"github.com/hookrelay/hookrelay/schemas"
)

// parsedCard is what tools/vendorjs/adaptivecards.mjs says of one card.
type parsedCard struct {
	Name     string   `json:"name"`
	Problems []string `json:"problems"`
}

// TestMicrosoftParser runs every golden Adaptive Card, the cards of the
// published vendor samples, a generic card of a payload with empty values,
// and the card examples/mappings/card.jq writes for a hostile payload
// through Microsoft's own adaptivecards library at version 1.4: any warning
// or error it reports fails the test.
func TestMicrosoftParser(t *testing.T) {
	type input struct {
		Name string          `json:"name"`
		Card json.RawMessage `json:"card"`
	}
	var cards []input
	goldens, err := filepath.Glob(filepath.Join("..", "internal", "vendors", "*", "testdata", "golden", "*.adaptive.json"))
	if err != nil || len(goldens) == 0 {
		t.Fatalf("no golden Adaptive Cards found (%v)", err)
	}
	for _, g := range goldens {
		raw, err := os.ReadFile(g)
		if err != nil {
			t.Fatal(err)
		}
		cards = append(cards, input{"golden " + filepath.Base(g), raw})
	}
	samples, _ := filepath.Glob(filepath.Join(sharedPayloads, "*.json"))
	if len(samples) == 0 {
		t.Logf("!!! the published vendor samples in %s are absent: parsing hookrelay's own cards only !!!", sharedPayloads)
	}
	for _, f := range samples {
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		s, err := Auto(testEvent("vendor", body))
		if err != nil {
			t.Fatal(err)
		}
		card, err := RenderSummary(s, schemas.FormatAdaptive)
		if err != nil {
			t.Fatal(err)
		}
		cards = append(cards, input{"sample " + filepath.Base(f), card})
	}
	empty, err := Render(testEvent("src", []byte(`{"title":"t","blank":"","spaces":"   ","none":null,"ok":"yes"}`)), schemas.FormatAdaptive)
	if err != nil {
		t.Fatal(err)
	}
	cards = append(cards, input{"generic card with empty values", empty}, input{"card.jq on a hostile payload", cardJQHostile(t)})

	// A control the parser must refuse: the 1.5 card with a Table as its
	// tool sent it, which the teams mapping simplifies.
	const control = "control: the 1.5 Table card as sent"
	cards = append(cards, input{control, fixture(t, "teams", "teams_adaptive_table")})

	var results []parsedCard
	nodetest.Run(t, "adaptivecards.mjs", cards, &results)
	if len(results) != len(cards) {
		t.Fatalf("the parser answered for %d of %d cards", len(results), len(cards))
	}
	for _, r := range results {
		if r.Name == control {
			if len(r.Problems) == 0 {
				t.Errorf("the parser found nothing wrong with a 1.5 Table card: it is not checking")
			}
			continue
		}
		if len(r.Problems) > 0 {
			t.Errorf("%s: Microsoft's parser says:\n  %s", r.Name, strings.Join(r.Problems, "\n  "))
		}
	}
	t.Logf("%d cards parsed at Adaptive Cards 1.4 without a warning", len(results)-1)
}
