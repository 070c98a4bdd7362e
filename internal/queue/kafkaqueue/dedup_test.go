package kafkaqueue

import (
	"context"
	"errors"
	"testing"
	"time"
)

// clock is a settable time for the dedup index.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestClaimID(t *testing.T) {
	c := &clock{t: time.Unix(1_000_000, 0)}
	d := newDedupIndex(time.Hour, c.now)
	const stream = "RELAY_OUT"

	if _, dup := d.claimID(stream, "id", 10, c.t); dup {
		t.Fatal("first record with an ID called a duplicate")
	}
	if _, dup := d.claimID(stream, "id", 10, c.t); dup {
		t.Error("the same record handed out again called a duplicate")
	}
	if orig, dup := d.claimID(stream, "id", 11, c.t); !dup || orig != 10 {
		t.Errorf("second copy: orig %d dup %v, want 10 true", orig, dup)
	}
	if _, dup := d.claimID(stream, "", 12, c.t); dup {
		t.Error("a record without ID called a duplicate")
	}
	if _, dup := d.claimID("RELAY_IN", "id", 11, c.t); dup {
		t.Error("the ID on another stream called a duplicate")
	}
	// A publish of the ID here is refused with the consumed record's seq.
	if _, seq, dup, err := d.reserve(context.Background(), stream, "id"); err != nil || !dup || seq != 10 {
		t.Errorf("reserve a claimed ID: seq %d dup %v err %v", seq, dup, err)
	}
	// Past the window the ID is new again, and old records never duplicate.
	c.t = c.t.Add(2 * time.Hour)
	if _, dup := d.claimID(stream, "id", 20, c.t); dup {
		t.Error("ID past the window called a duplicate")
	}
	if _, dup := d.claimID(stream, "old", 5, c.t.Add(-3*time.Hour)); dup {
		t.Error("record older than the window called a duplicate")
	}
}

func TestReservationWhileConsumerMeetsAnEarlierCopy(t *testing.T) {
	c := &clock{t: time.Unix(1_000_000, 0)}
	d := newDedupIndex(time.Hour, c.now)
	r, _, dup, err := d.reserve(context.Background(), "RELAY_IN", "id")
	if err != nil || dup {
		t.Fatalf("reserve: %v %v", dup, err)
	}
	// Another instance stored the ID at 7; a consumer here meets it while
	// our publish runs.
	if _, dup := d.claimID("RELAY_IN", "id", 7, c.t); dup {
		t.Error("earlier copy called a duplicate")
	}
	if got := r.settle(9, c.t, nil); got != 7 {
		t.Errorf("settle says the ID stands for %d, want 7", got)
	}
	if orig, dup := d.claimID("RELAY_IN", "id", 9, c.t); !dup || orig != 7 {
		t.Errorf("our copy: orig %d dup %v, want 7 true", orig, dup)
	}
}

func TestReserveWaitsForThePendingPublish(t *testing.T) {
	c := &clock{t: time.Unix(1_000_000, 0)}
	d := newDedupIndex(time.Hour, c.now)
	r, _, _, _ := d.reserve(context.Background(), "RELAY_IN", "id")

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, _, _, err := d.reserve(ctx, "RELAY_IN", "id"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("reserve while pending: %v, want to wait until the deadline", err)
	}
	// The first publish fails: the next one gets the ID.
	r.settle(0, time.Time{}, errors.New("refused"))
	r2, _, dup, err := d.reserve(context.Background(), "RELAY_IN", "id")
	if err != nil || dup || r2 == nil {
		t.Fatalf("reserve after a failed publish: %v %v", dup, err)
	}
}
