package jsqueue_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookrelay/hookrelay/internal/natstest"
	"github.com/hookrelay/hookrelay/internal/queue"
	"github.com/hookrelay/hookrelay/internal/queue/jsqueue"
)

// A renewal of a partition's lease that the store took but whose answer was
// lost leaves the holder with a revision behind the lease's. On a cluster
// the store calls that conflict by another code than on one server; either
// way the holder must not go on renewing with the old revision for ever,
// which left the partition owned by no one and its destinations waiting
// without a word. It takes the lease again.
func TestLeaseRenewalWhoseAnswerWasLostIsTakenAgain(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster of three nats-server processes")
	}
	nodes := natstest.StartProcessCluster(t, 3)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	natstest.WaitJetStream(ctx, t, natstest.URLs(nodes))
	nc, err := nats.Connect(natstest.URLs(nodes))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	q, err := jsqueue.New(ctx, nc, queue.StreamOptions{Replicas: 3}, jsqueue.WithPartitions(1))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = q.Close(context.Background()) }()
	claim, err := q.Claim(ctx)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(ctx, t, "the partition owned", func() bool { return claim.Owns("d") })

	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := js.KeyValue(ctx, "RELAY_LEASES")
	if err != nil {
		t.Fatal(err)
	}
	const key = "partition.0.of.1"
	// The holder's next renewal, stored without the holder learning of it;
	// read and written again should the holder renew in between.
	var lost uint64
	for lost == 0 {
		held, err := kv.Get(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		lost, err = kv.Update(ctx, key, held.Value(), held.Revision())
		if err != nil && !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			t.Fatal(err)
		}
	}
	lostAt := time.Now()
	waitFor(ctx, t, "the lease renewed by its holder after the lost answer", func() bool {
		e, err := kv.Get(ctx, key)
		return err == nil && e.Revision() > lost
	})
	waitFor(ctx, t, "the partition owned again", func() bool { return claim.Owns("d") })
	// The lease holds this instance's own last write, so no one took it: it
	// is taken back within a few heartbeats (3 s apart), not after the 10 s
	// a lease must stay unchanged before another's is taken over, which
	// comes on top of the beat that finds the conflict. 12 s leaves a
	// loaded machine four late beats.
	if took := time.Since(lostAt); took >= 12*time.Second {
		t.Errorf("owned again %v after the lost answer: taken over as another's lease, not back as its own", took.Round(time.Millisecond))
	}
}

// waitFor polls cond every 50 ms until it holds, failing the test when ctx
// ends first.
func waitFor(ctx context.Context, t *testing.T, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("%s: %v", what, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
