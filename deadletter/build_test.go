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
	if m.Key != "ops" || m.ID != "dead.ev1.r.d.0" {
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
