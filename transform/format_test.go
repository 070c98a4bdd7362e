package transform

import (
	"encoding/json"
	"testing"

	"github.com/hookrelay/hookrelay/internal/queue"
	"github.com/hookrelay/hookrelay/internal/storetest"
	"github.com/hookrelay/hookrelay/schemas"
)

// publishEarlierEvent stores ev on RELAY_IN as the releases before the raw
// format did, spelled out here rather than borrowed from the code under
// test: the event as a JSON envelope with the body in base64, and the
// event id and source as the only headers.
func publishEarlierEvent(t *testing.T, q queue.Events, ev schemas.Event, msgID string) {
	t.Helper()
	envelope := map[string]any{
		"id": ev.ID, "source": ev.Source, "received_at": ev.ReceivedAt,
		"content_type": ev.ContentType, "verified": ev.Verified, "headers": ev.Headers,
		"body": ev.Body, // []byte: base64
	}
	if ev.DeliveryID != "" {
		envelope["delivery_id"] = ev.DeliveryID
	}
	if ev.Handshake != "" {
		envelope["handshake"] = ev.Handshake
	}
	data, err := json.Marshal(envelope)
	if err != nil {
		t.Fatal(err)
	}
	if err := newValidator(t).Validate(schemas.KindEvent, data); err != nil {
		t.Fatalf("the earlier envelope does not satisfy event.schema.json: %v", err)
	}
	hdr := queue.Header{queue.HeaderEventID: {ev.ID}, queue.HeaderSource: {ev.Source}}
	publishRaw(t, q, ev.Source, data, msgID, hdr)
}

// TestEventsOfEitherFormat runs the same events through transform stored in
// the raw format and in the JSON envelope of earlier releases, on a real
// store: an upgraded relay finds events the previous release stored,
// and maps them exactly as it maps its own (the GitHub mapping reads the
// event type from a stored header; the handshake goes to no channel).
func TestEventsOfEitherFormat(t *testing.T) {
	issue := event("ev-issue", "github", `{"action":"opened","issue":{"number":7,"title":"Spelling error","html_url":"https://github.com/o/r/issues/7"},"repository":{"full_name":"o/r"},"sender":{"login":"ann"}}`)
	issue.Verified, issue.DeliveryID = "github", "d-1"
	issue.Headers = map[string]string{"X-Github-Event": "issues", "X-Github-Delivery": "d-1"}
	ping := event("ev-ping", "github", `{"zen":"Design for failure.","hook_id":1}`)
	ping.Verified, ping.Handshake = "github", "github ping"
	ping.Headers = map[string]string{"X-Github-Event": "ping"}

	// Either format maps as the raw event does with the header: GitHub's
	// issue card, not a generic one.
	want, err := Auto(issue)
	if err != nil || want.Title == "" {
		t.Fatalf("Auto(issue) = %+v, %v", want, err)
	}
	cards := map[string][]byte{}
	for dest, format := range map[string]string{"ops": schemas.FormatMessageCard, "dev": schemas.FormatAdaptive} {
		if cards[dest], err = RenderSummary(want, format); err != nil {
			t.Fatalf("render the GitHub mapping's card as %s: %v", format, err)
		}
	}

	for _, format := range []struct {
		name    string
		publish func(*testing.T, queue.Events, schemas.Event, string)
	}{
		{"raw", func(t *testing.T, q queue.Events, ev schemas.Event, id string) {
			publishEvent(t, q, ev, id, nil)
		}},
		{"earlier JSON envelope", publishEarlierEvent},
	} {
		t.Run(format.name, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, open storetest.Opener) {
				q := open(t)
				tr := startStage(t, q, `  - {name: all, source: github, to: [ops, dev]}`)
				format.publish(t, q, ping, "in-ping")
				format.publish(t, q, issue, "in-issue")
				waitSettled(t, tr, 2)

				got := deliveries(t, storetest.NewLanes(t, q), destinations...)
				if s := tr.Stats(); s.Events != 2 || s.Handshakes != 1 || s.Malformed != 0 || len(got) != 2 {
					t.Fatalf("stats %+v, deliveries %v: want both events read, the issue delivered to ops and dev", s, got)
				}
				for dest, d := range got {
					if d.EventID != issue.ID || !d.NotAfter.After(issue.ReceivedAt) {
						t.Errorf("%s: delivery %+v", dest, d)
					}
					if string(d.Card) != string(cards[dest]) {
						t.Errorf("%s: card\n%s\nwant the GitHub mapping's\n%s", dest, d.Card, cards[dest])
					}
				}
			})
		})
	}
}
