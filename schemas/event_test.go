package schemas_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/internal/queue"
	"github.com/hookrelay/hookrelay/schemas"
)

func fullEvent() schemas.Event {
	return schemas.Event{
		ID: "0193a5b2-7c1e-7def-8abc-0123456789ab", Source: "gh",
		ReceivedAt:  time.Date(2026, 12, 4, 9, 1, 2, 345678901, time.UTC),
		ContentType: "application/json", DeliveryID: "d-1", Verified: "github", Handshake: "github ping",
		Headers: map[string]string{"X-Github-Event": "ping", "User-Agent": "GitHub-Hookshot/1"},
		Body:    []byte("{\"zen\":\"Keep it logically awesome.\"}\n\x00\xff"),
	}
}

// TestEventRoundTrip: every field comes back, and the body is the data,
// byte for byte.
func TestEventRoundTrip(t *testing.T) {
	for _, ev := range []schemas.Event{fullEvent(), {ID: "e", Source: "s", ReceivedAt: time.Unix(0, 0).UTC(), Body: []byte("x")}} {
		h := map[string][]string{}
		data := schemas.EncodeEvent(&ev, h)
		if string(data) != string(ev.Body) {
			t.Errorf("data %q, want the body %q", data, ev.Body)
		}
		got, err := schemas.DecodeEvent(h, data)
		if err != nil || !reflect.DeepEqual(got, ev) {
			t.Errorf("DecodeEvent(%v) = %+v, %v; want %+v", h, got, err, ev)
		}
	}
}

// TestEventEarlierFormat reads the JSON envelope earlier releases stored,
// written out here as they wrote it.
func TestEventEarlierFormat(t *testing.T) {
	ev := fullEvent()
	data := []byte(`{"id":"0193a5b2-7c1e-7def-8abc-0123456789ab","source":"gh","received_at":"2026-12-04T09:01:02.345678901Z",` +
		`"content_type":"application/json","delivery_id":"d-1","verified":"github","handshake":"github ping",` +
		`"headers":{"User-Agent":"GitHub-Hookshot/1","X-Github-Event":"ping"},"body":"eyJ6ZW4iOiJLZWVwIGl0IGxvZ2ljYWxseSBhd2Vzb21lLiJ9CgD/"}`)
	h := map[string][]string{queue.HeaderEventID: {ev.ID}, queue.HeaderSource: {ev.Source}}
	got, err := schemas.DecodeEvent(h, data)
	if err != nil || !reflect.DeepEqual(got, ev) {
		t.Errorf("DecodeEvent = %+v, %v; want %+v", got, err, ev)
	}
	if old, _ := json.Marshal(ev); string(old) != string(data) {
		t.Errorf("the fixture is not what encoding/json writes for Event:\n%s\n%s", old, data)
	}
}

func TestEventUnreadable(t *testing.T) {
	for name, tc := range map[string]struct {
		h    map[string][]string
		data string
	}{
		"not JSON, no format":    {nil, "plain text"},
		"JSON without id":        {nil, `{"source":"s","body":"eA=="}`},
		"raw without source":     {map[string][]string{schemas.HeaderEventFormat: {"raw"}, schemas.HeaderEventID: {"e"}}, "x"},
		"raw with a bad time":    {map[string][]string{schemas.HeaderEventFormat: {"raw"}, schemas.HeaderEventID: {"e"}, schemas.HeaderSource: {"s"}, schemas.HeaderReceivedAt: {"yesterday"}}, "x"},
		"a format of the future": {map[string][]string{schemas.HeaderEventFormat: {"cbor"}}, "x"},
	} {
		if ev, err := schemas.DecodeEvent(tc.h, []byte(tc.data)); !errors.Is(err, schemas.ErrEventFormat) {
			t.Errorf("%s: DecodeEvent = %+v, %v; want ErrEventFormat", name, ev, err)
		}
	}
}

// TestEventHeadersAreTheQueues: the envelope's headers that earlier releases
// and other readers look up by queue's names are the same.
func TestEventHeadersAreTheQueues(t *testing.T) {
	if schemas.HeaderEventID != queue.HeaderEventID || schemas.HeaderSource != queue.HeaderSource {
		t.Errorf("event id and source headers %q %q, queue's %q %q",
			schemas.HeaderEventID, schemas.HeaderSource, queue.HeaderEventID, queue.HeaderSource)
	}
}
