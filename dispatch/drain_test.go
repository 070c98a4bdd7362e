package dispatch

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
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
	expiresAt := time.Now().Add(5 * time.Second)
	publish(t, q, "ghost", 2, 3, func(dl *schemas.Delivery) { dl.NotAfter = expiresAt })
	publish(t, q, "late", 0, 1)
	d := start(t, q, dest(sim, "real"))

	// The first sweep dead-letters two and sets the next for when the third
	// expires: nothing else wakes it (on JetStream the store's recount
	// would, in 10 s).
	storetest.Eventually(t, "ghost's next sweep due", func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		st := d.strays["ghost"]
		return st != nil && st.due.Equal(expiresAt)
	})
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
		st := d.strays["late"]
		return st != nil && !st.due.IsZero()
	})
	if err := d.Reconfigure(context.Background(), []config.Destination{dest(sim, "real"), dest(sim, "late")}); err != nil {
		t.Fatal(err)
	}
	waitAccepted(t, sim, "/late", 1)
	if n := len(deadLetters(t, q, "late")); n != 0 {
		t.Errorf("%d dead letters for late, want none", n)
	}
}

// A destination that Reconfigure is adding is not swept as a stray, though
// the claim announces it while Reconfigure waits for a changed destination's
// request in flight: once configured, it has no sweep running or due, and
// gets its deliveries.
func TestDestinationBeingAddedIsNotAStray(t *testing.T) {
	storetest.Each(t, testDestinationBeingAddedIsNotAStray)
}

func testDestinationBeingAddedIsNotAStray(t *testing.T, open storetest.Opener) {
	q := open(t)
	sim := teamstest.NewServer()
	defer sim.Close()
	arrived, release := make(chan struct{}, 1), make(chan struct{})
	held := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		arrived <- struct{}{}
		<-release
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, "1")
	}))
	defer held.Close()
	defer close(release)
	slow := func(c *config.Destination) { c.URL, c.Timeout = held.URL+"/slow", 20*time.Second }
	publish(t, q, "slow", 0, 1)
	publish(t, q, "late", 0, 2)
	d := start(t, q, dest(sim, "slow", slow))
	<-arrived // slow's request is in flight

	reconfigured := make(chan error, 1)
	go func() {
		reconfigured <- d.Reconfigure(context.Background(), []config.Destination{
			dest(sim, "slow", slow, func(c *config.Destination) { c.Rate = 40 }), // changed: waits for the request
			dest(sim, "late"),
		})
	}()
	storetest.Eventually(t, "Reconfigure waiting for slow's request", func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		return d.adding["late"]
	})
	d.wake("late") // the claim's announcement of late's deliveries
	release <- struct{}{}
	if err := <-reconfigured; err != nil {
		t.Fatal(err)
	}
	d.mu.Lock()
	st, r := d.strays["late"], d.draining["late"]
	d.mu.Unlock()
	if st != nil || (r.done != nil && r.running()) {
		t.Errorf("late is configured and still a stray: sweep state %+v, a drain running %v", st, r.done != nil && r.running())
	}
	waitAccepted(t, sim, "/late", 2)
	if n := len(deadLetters(t, q, "late")); n != 0 {
		t.Errorf("%d dead letters for late, want none", n)
	}
}
