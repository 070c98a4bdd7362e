package deadletter

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/internal/queue"
	"github.com/hookrelay/hookrelay/schemas"
)

// A dead letter is stored under its destination, named in headers, once per
// step: a retry of the same step has the same ID, a replay that dies again
// another; and it reads back as written.
func TestMsg(t *testing.T) {
	dl := schemas.DeadLetter{
		Delivery: schemas.Delivery{ID: "ev1.r.d", EventID: "ev1", Source: "zendesk", Destination: "ops"},
		Reason:   schemas.ReasonRejected, Attempts: 2, LastStatus: 400,
	}
	m, err := Msg(dl)
	if err != nil {
		t.Fatal(err)
	}
	if m.Key != "ops" || m.ID != "ev1:r:d:0" {
		t.Errorf("key %q id %q", m.Key, m.ID)
	}
	for k, want := range map[string]string{queue.HeaderDeliveryID: "ev1.r.d", queue.HeaderEventID: "ev1",
		queue.HeaderSource: "zendesk", queue.HeaderReason: schemas.ReasonRejected} {
		if got := m.Header.Get(k); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	var back schemas.DeadLetter
	if err := json.Unmarshal(m.Data, &back); err != nil {
		t.Fatal(err)
	}
	if back.DeadAt.IsZero() || time.Since(back.DeadAt) > time.Minute || back.Reason != dl.Reason || back.Attempts != 2 {
		t.Errorf("read back %+v", back)
	}
	dl.Delivery.Replays = 1
	if again, _ := Msg(dl); again.ID == m.ID {
		t.Errorf("a replay that dies again has the first one's id %q", again.ID)
	}
}

// A dead letter's ID reads as its delivery id and replays, and is one
// subject token that is not a number; a delivery id that would not map one
// to one gets a hash. Each is a function of the delivery id and replays
// alone.
func TestID(t *testing.T) {
	const uuid = "0193e7a2-5c1d-7f00-8e4a-2b6c9d0e1f3a"
	tests := []struct {
		id      string
		replays int
		want    string
	}{
		{uuid + ".ops-teams", 0, uuid + ":ops-teams:0"},
		{uuid + ".ops-teams", 2, uuid + ":ops-teams:2"},
		{uuid + ".ops.replay-nightly_1", 0, uuid + ":ops:replay-nightly_1:0"},
		{"ev:1.ops", 0, "xxpo26jwqauwppsuqktjtjxvbgu"},
		{"ev:1:ops", 0, "xqrrylqgxrzzwqzjwhn5wqskz2y"},
		{"évé.ops", 0, "x2whaeyrpuvm7mpxxwh3eym25je"},
		{"", 0, "x3m2cn2dya2gsrutjw3ehc4rsfq"},
	}
	seen := map[string]string{}
	for _, tt := range tests {
		got := ID(schemas.Delivery{ID: tt.id, Replays: tt.replays})
		if got != tt.want {
			t.Errorf("ID(%q, %d) = %q, want %q", tt.id, tt.replays, got, tt.want)
		}
		if !queue.ValidDeadLetterID(got) || len(got) > 300 {
			t.Errorf("ID(%q, %d) = %q: not a dead letter's id", tt.id, tt.replays, got)
		}
		if other, ok := seen[got]; ok {
			t.Errorf("ID(%q) = ID(%q) = %q", tt.id, other, got)
		}
		seen[got] = tt.id
	}
}
