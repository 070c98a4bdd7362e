package dispatch

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/internal/config"
	"github.com/hookrelay/hookrelay/internal/queue"
	"github.com/hookrelay/hookrelay/internal/storetest"
	"github.com/hookrelay/hookrelay/internal/teamstest"
	"github.com/hookrelay/hookrelay/schemas"
)

// Deliveries for a destination this instance does not know wait until
// their max_age passes, then are dead-lettered with reason removed: those
// expired at once, the next when it expires, with no new delivery to wake
// it. A destination configured before its deliveries expired gets them.
func TestStrayDeliveriesExpireAsRemoved(t *testing.T) {
	storetest.Each(t, testStrayDeliveriesExpireAsRemoved)
}

func testStrayDeliveriesExpireAsRemoved(t *testing.T, open storetest.Opener) {
	q := open(t)
	sim := teamstest.NewServer()
	defer sim.Close()
	expired := func(dl *schemas.Delivery) { dl.NotAfter = time.Now().Add(-time.Minute) }
	publish(t, q, "ghost", 0, 2, expired)
	expiresAt := time.Now().Add(3 * time.Second)
	publish(t, q, "ghost", 2, 3, func(dl *schemas.Delivery) { dl.NotAfter = expiresAt })
	publish(t, q, "late", 0, 1)
	d := start(t, q, dest(sim, "real"))

	waitDead(t, q, "ghost", 3)
	var stored []time.Time
	err := q.ScanDeadLetters(context.Background(), "ghost", time.Time{}, func(m queue.Stored) (bool, error) {
		var dl schemas.DeadLetter
		if err := json.Unmarshal(m.Data, &dl); err != nil {
			return false, err
		}
		if dl.Reason != schemas.ReasonRemoved {
			t.Errorf("dead letter of %s has reason %q, want %q", dl.Delivery.ID, dl.Reason, schemas.ReasonRemoved)
		}
		stored = append(stored, m.Time)
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != 3 {
		t.Fatalf("%d dead letters for ghost, want 3", len(stored))
	}
	if stored[2].Before(expiresAt) {
		t.Errorf("the delivery expiring at %s was dead-lettered at %s, before its max_age passed",
			expiresAt.Format(time.StampMilli), stored[2].Format(time.StampMilli))
	}

	// "late" was swept and found young: configured now, it is delivered.
	storetest.Eventually(t, "late swept", func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		return !d.strays["late"].IsZero()
	})
	if err := d.Reconfigure(context.Background(), []config.Destination{dest(sim, "real"), dest(sim, "late")}); err != nil {
		t.Fatal(err)
	}
	waitAccepted(t, sim, "/late", 1)
	if n := len(deadLetters(t, q, "late")); n != 0 {
		t.Errorf("%d dead letters for late, want none", n)
	}
}
