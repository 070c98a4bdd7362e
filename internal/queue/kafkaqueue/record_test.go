package kafkaqueue

import (
	"bytes"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/internal/queue"
)

// A record reads back as the message it was made of, and its header values,
// which share one array, stay apart.
func TestRecordOfReadsBack(t *testing.T) {
	t.Parallel()
	m := queue.Msg{
		Subject: queue.InSubject("github"), ID: "github:d-1", Data: []byte(`{"a":1}`),
		Header: queue.Header{queue.HeaderEventID: {"ev-1"}, "Multi": {"a", "b"}, "Empty": {""}},
	}
	before := time.Now()
	r := recordOf("relay-in", m)
	if string(r.Key) != "github" || r.Topic != "relay-in" || !bytes.Equal(r.Value, m.Data) {
		t.Errorf("record %s key %q value %q", r.Topic, r.Key, r.Value)
	}
	for _, h := range r.Headers {
		h.Value = append(h.Value, "-changed"...) // must not reach the next value
	}
	s, ok := storedOf(queue.StreamIn, r)
	if !ok || s.Subject != m.Subject || s.ID != m.ID || !maps.EqualFunc(s.Header, m.Header, slices.Equal) {
		t.Errorf("read back %+v, want %+v", s, m)
	}
	if s.Time.Before(before) || s.Time.After(time.Now()) {
		t.Errorf("time %v, want the time it was made", s.Time)
	}
}
