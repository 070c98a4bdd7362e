package deadletter

import (
	"bytes"
	"encoding/json"

	"github.com/hookrelay/hookrelay/schemas"
)

// The JSON of an Entry shows the card as the JSON it is rather than base64,
// so an operator can read what was sent.

type deliveryJSON struct {
	schemas.Delivery
	Card json.RawMessage `json:"card,omitempty"`
}

type entryJSON struct {
	ID    string `json:"id"`
	Seq   uint64 `json:"seq"`
	Title string `json:"title,omitempty"`
	schemas.DeadLetter
	Delivery deliveryJSON `json:"delivery"`
}

// MarshalJSON writes the entry flat (id, seq, reason, …, delivery) with the
// card as raw JSON; a card that is not JSON is written as base64 instead.
func (e Entry) MarshalJSON() ([]byte, error) {
	out := entryJSON{ID: e.ID, Seq: e.Seq, Title: e.Title, DeadLetter: e.DeadLetter, Delivery: deliveryJSON{Delivery: e.Delivery}}
	if card := e.Delivery.Card; len(card) > 0 {
		if json.Valid(card) {
			out.Delivery.Card = card
		} else {
			b64, err := json.Marshal(card)
			if err != nil {
				return nil, err
			}
			out.Delivery.Card = b64
		}
	}
	return json.Marshal(out)
}

// UnmarshalJSON reads what MarshalJSON writes, and the plain encoding too.
// A card given as JSON is kept compacted.
func (e *Entry) UnmarshalJSON(data []byte) error {
	var in entryJSON
	if err := json.Unmarshal(data, &in); err != nil {
		return err
	}
	*e = Entry{ID: in.ID, Seq: in.Seq, Title: in.Title, DeadLetter: in.DeadLetter}
	e.Delivery = in.Delivery.Delivery
	e.Delivery.Card = nil
	switch card := bytes.TrimSpace(in.Delivery.Card); {
	case len(card) == 0 || bytes.Equal(card, []byte("null")):
	case card[0] == '"':
		return json.Unmarshal(card, &e.Delivery.Card)
	default:
		// Whoever printed the entry may have indented the card too.
		var buf bytes.Buffer
		if err := json.Compact(&buf, card); err != nil {
			return err
		}
		e.Delivery.Card = buf.Bytes()
	}
	return nil
}
