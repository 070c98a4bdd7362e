package jsqueue_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookrelay/hookrelay/internal/natsembed"
	"github.com/hookrelay/hookrelay/internal/natstest"
	"github.com/hookrelay/hookrelay/internal/queue"
	"github.com/hookrelay/hookrelay/internal/queue/jsqueue"
)

// openLane opens dest's lane as dispatch does.
func openLane(ctx context.Context, q *jsqueue.Queue, dest string) (queue.Consumer, error) {
	return q.OpenLane(ctx, dest, queue.LaneOptions{Hold: 1})
}

// feedOptions are the transform-like feed's.
var feedOptions = queue.FeedOptions{Redeliver: 30 * time.Second, InFlight: 16}

func nextSeq(t *testing.T, ctx context.Context, c queue.Consumer) queue.Delivery {
	t.Helper()
	d, err := c.Next(ctx)
	if err != nil {
		t.Fatalf("next: %v", err)
	}
	return d
}

// RELAY_OUT's consumers keep their state in memory: the work queue itself
// says what is left to deliver. A process killed with SIGKILL (page cache
// kept, no fsync) leaves on the stream exactly what was not acked (or
// whose delete the store had not confirmed), the delivery handed out and
// not settled included, and that is what the consumers made again hand
// out.
func TestWorkQueueAfterAKillHoldsWhatWasNotAcked(t *testing.T) {
	if dir := os.Getenv(killChildDir); dir != "" {
		runKilledChild(t, dir)
		return
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run", "^TestWorkQueueAfterAKillHoldsWhatWasNotAcked$")
	cmd.Env = append(os.Environ(), killChildDir+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if sc.Text() == "settled" {
				ready <- true
				return
			}
		}
		ready <- false
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatal("the child ended before it settled its deliveries")
		}
	case <-time.After(time.Minute):
		t.Fatal("the child did not settle its deliveries within a minute")
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	q := startRestartable(t, dir).queue(ctx)
	defer func() { _ = q.Close(ctx) }()
	// Sequences 1 (e) and 2 (d) were acked, 3 (d) handed out and not
	// settled, 4 (e) and 5 (d) never handed out.
	want := map[string][]uint64{"d": {3, 5}, "e": {4}}
	backlog, err := q.Backlog(ctx, []string{"d", "e"})
	if err != nil {
		t.Fatal(err)
	}
	for dest, seqs := range want {
		if n := backlog[dest].Count; n != uint64(len(seqs)) {
			t.Errorf("after the kill %d deliveries wait for %s, want %d", n, dest, len(seqs))
		}
		c, err := openLane(ctx, q, dest)
		if err != nil {
			t.Fatal(err)
		}
		for _, seq := range seqs {
			d := nextSeq(t, ctx, c)
			if d.Msg().Seq != seq {
				t.Errorf("%s handed out #%d after the kill, want #%d", dest, d.Msg().Seq, seq)
			}
			if err := d.Ack(ctx); err != nil {
				t.Fatal(err)
			}
		}
		c.Stop()
	}
}

// killChildDir names the store of the child process the test kills.
const killChildDir = "JSQUEUE_TEST_KILL_DIR"

// runKilledChild stores five deliveries for two destinations, acks two of
// them out of order, holds a third, says "settled" and waits to be killed.
func runKilledChild(t *testing.T, dir string) {
	ctx := context.Background()
	q := startRestartable(t, dir).queue(ctx)
	for i, dest := range []string{"e", "d", "d", "e", "d"} {
		if _, err := q.Publish(ctx, queue.Msg{Subject: queue.OutSubject(dest), Data: fmt.Appendf(nil, "%d", i+1)}); err != nil {
			t.Fatal(err)
		}
	}
	cd, err := openLane(ctx, q, "d")
	if err != nil {
		t.Fatal(err)
	}
	ce, err := openLane(ctx, q, "e")
	if err != nil {
		t.Fatal(err)
	}
	// #2 first: removed from the middle of the stream, then #1, its head.
	for _, c := range []queue.Consumer{cd, ce} {
		if err := nextSeq(t, ctx, c).Ack(ctx); err != nil {
			t.Fatal(err)
		}
		// An ack's delete goes to the store in the background: a kill
		// before the store confirmed it leaves the delivery, to be sent
		// again.
		deletesMade(t, c)
	}
	nextSeq(t, ctx, cd) // #3, held
	fmt.Println("settled")
	<-ctx.Done() // until killed
}

// deletesMade waits until c's lane has made the deletes of what it settled.
func deletesMade(t *testing.T, c queue.Consumer) {
	t.Helper()
	select {
	case <-jsqueue.Drained(c):
	case <-time.After(time.Minute):
		t.Fatal("the lane's deletes not made within a minute")
	}
}

// makeEarlierConsumer makes dest's consumer as versions before the lanes
// did (its state on file, as before the consumers in memory), and returns
// its name.
func makeEarlierConsumer(t *testing.T, ctx context.Context, st jetstream.Stream, dest string) string {
	t.Helper()
	name := "dispatch-" + dest
	if _, err := st.CreateConsumer(ctx, jetstream.ConsumerConfig{
		Durable: name, FilterSubject: queue.OutSubject(dest), AckPolicy: jetstream.AckExplicitPolicy,
	}); err != nil {
		t.Fatalf("make %s as an earlier version did: %v", name, err)
	}
	return name
}

// An earlier release kept one durable consumer per destination on
// RELAY_OUT, file-backed before that; lanes read the subjects themselves.
// The consumers are deleted, and the deliveries they held — handed out and
// unsettled, or waiting — are handed out by the lanes, every one, in order.
func TestConsumersOfAnEarlierReleaseAreRetired(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	env := natstest.Start(t)
	st, err := env.JS.Stream(ctx, queue.StreamOut)
	if err != nil {
		t.Fatal(err)
	}
	const n = 5
	want := map[string][]uint64{}
	for i := range n {
		dest := fmt.Sprintf("r%d", i)
		name := makeEarlierConsumer(t, ctx, st, dest)
		for j := range 2 {
			a, err := env.JS.Publish(ctx, queue.OutSubject(dest), []byte(fmt.Sprint(j)))
			if err != nil {
				t.Fatal(err)
			}
			want[dest] = append(want[dest], a.Sequence)
		}
		// The earlier release had handed the first out when it stopped.
		cons, err := st.Consumer(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cons.Fetch(1); err != nil {
			t.Fatal(err)
		}
	}
	// Two instances start together, and both retire the consumers; one
	// stops before the deliveries are read.
	q, other := env.Queue(t), env.Queue(t)
	for _, q := range []*jsqueue.Queue{q, other} {
		if _, err := q.Claim(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := other.Close(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		dest := fmt.Sprintf("r%d", i)
		c, err := openLane(ctx, q, dest)
		if err != nil {
			t.Fatal(err)
		}
		var got []uint64
		for range 2 {
			d := nextSeq(t, ctx, c)
			got = append(got, d.Msg().Seq)
			if err := d.Ack(ctx); err != nil {
				t.Fatal(err)
			}
		}
		c.Stop()
		if fmt.Sprint(got) != fmt.Sprint(want[dest]) {
			t.Errorf("%s handed out %v, want %v", dest, got, want[dest])
		}
	}
	for {
		var left []string
		for name := range st.ConsumerNames(ctx).Name() {
			if strings.HasPrefix(name, "dispatch-") {
				left = append(left, name)
			}
		}
		if len(left) == 0 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("consumers of the earlier release left: %v", left)
		}
		time.Sleep(50 * time.Millisecond) // deleted in the background; the server tells no one
	}
}

// restartable is an embedded server that a test stops and starts again on
// the same files and port, with queues that reconnect to it.
type restartable struct {
	t           *testing.T
	dir         string
	port        int
	srv         *natsembed.Server
	reconnected chan struct{}
}

// startRestartable starts a server on the files in dir.
func startRestartable(t *testing.T, dir string) *restartable {
	r := &restartable{t: t, dir: dir, reconnected: make(chan struct{}, 16)}
	r.start()
	url := r.srv.ClientURL()
	if _, err := fmt.Sscanf(url[strings.LastIndex(url, ":")+1:], "%d", &r.port); err != nil {
		t.Fatalf("port of %s: %v", url, err)
	}
	return r
}

func (r *restartable) start() {
	r.t.Helper()
	srv, err := natsembed.Start(natsembed.Options{StoreDir: r.dir, Port: r.port})
	if err != nil {
		r.t.Fatalf("start embedded nats: %v", err)
	}
	r.srv = srv
	r.t.Cleanup(srv.Shutdown) // cleanups run after the test's defers closed the queues
}

// queue opens a queue that reconnects at once; the caller closes it.
func (r *restartable) queue(ctx context.Context) *jsqueue.Queue {
	r.t.Helper()
	nc, err := nats.Connect(r.srv.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond),
		nats.ReconnectHandler(func(*nats.Conn) { r.reconnected <- struct{}{} }))
	if err != nil {
		r.t.Fatal(err)
	}
	q, err := jsqueue.New(ctx, nc, queue.StreamOptions{})
	if err != nil {
		nc.Close()
		r.t.Fatal(err)
	}
	return q
}

// restart stops the server, starts it again and waits until the queues
// opened so far reconnected.
func (r *restartable) restart(ctx context.Context, queues int) {
	r.t.Helper()
	r.srv.Shutdown()
	r.start()
	for range queues {
		select {
		case <-r.reconnected:
		case <-ctx.Done():
			r.t.Fatal("no reconnection to the restarted server")
		}
	}
}

// A pull waiting while the consumer disappears goes on: the consumer is made
// again and what is stored afterwards is handed out. A restarted server
// forgets consumers kept in memory; an instance upgrading a consumer, or an
// operator, deletes it. Only the consumer's context or Stop may end Next.
// Dispatch's lanes have no consumer, but a restarted server forgets the
// leases of their partitions (kept in memory): a lane waiting goes on too,
// once its partition is taken again.
func TestAWaitingPullOutlivesItsConsumer(t *testing.T) {
	consumers := []struct {
		kind    string
		lane    bool
		open    func(ctx context.Context, q *jsqueue.Queue) (queue.Consumer, error)
		subject string
	}{
		{"lane", true, func(ctx context.Context, q *jsqueue.Queue) (queue.Consumer, error) { return openLane(ctx, q, "d") },
			queue.OutSubject("d")},
		{"feed", false, func(ctx context.Context, q *jsqueue.Queue) (queue.Consumer, error) {
			return q.FeedEvents(ctx, "transform", feedOptions)
		}, queue.InSubject("s")},
	}
	disappearances := []struct {
		name      string
		disappear func(ctx context.Context, t *testing.T, r *restartable)
	}{
		{"server restarted", func(ctx context.Context, _ *testing.T, r *restartable) {
			r.restart(ctx, 1)
		}},
		{"consumer deleted", func(ctx context.Context, t *testing.T, r *restartable) {
			nc, err := nats.Connect(r.srv.ClientURL())
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			js, err := jetstream.New(nc)
			if err != nil {
				t.Fatal(err)
			}
			if err := js.DeleteConsumer(ctx, queue.StreamIn, "transform"); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, cc := range consumers {
		for _, tc := range disappearances {
			if cc.lane && tc.name == "consumer deleted" {
				continue // a lane has no consumer to delete
			}
			t.Run(cc.kind+"/"+tc.name, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				r := startRestartable(t, t.TempDir())
				q := r.queue(ctx)
				defer func() { _ = q.Close(ctx) }()
				c, err := cc.open(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Stop()
				got := make(chan error, 1)
				var d queue.Delivery
				go func() {
					var err error
					d, err = c.Next(ctx)
					got <- err
				}()
				if cc.lane {
					waitOwned(ctx, t, c)
				} else {
					r.waitPulling(ctx, queue.StreamIn, "transform")
				}
				tc.disappear(ctx, t, r)
				stored, err := q.Publish(ctx, queue.Msg{Subject: cc.subject, Data: []byte("after")})
				if err != nil {
					t.Fatal(err)
				}
				if err := <-got; err != nil {
					t.Fatalf("the pull waiting when the consumer disappeared: %v", err)
				}
				if d.Msg().Seq != stored.Seq {
					t.Errorf("handed out #%d, want #%d", d.Msg().Seq, stored.Seq)
				}
				if err := d.Ack(ctx); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

// waitOwned polls until c's partition is this instance's.
func waitOwned(ctx context.Context, t *testing.T, c queue.Consumer) {
	t.Helper()
	for !c.Owned() {
		if ctx.Err() != nil {
			t.Fatal("the lane's partition never became this instance's")
		}
		time.Sleep(10 * time.Millisecond) // ownership changes tell lanes only
	}
}

// waitPulling polls the server until the consumer has a pull waiting.
func (r *restartable) waitPulling(ctx context.Context, stream, consumer string) {
	r.t.Helper()
	nc, err := nats.Connect(r.srv.ClientURL())
	if err != nil {
		r.t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		r.t.Fatal(err)
	}
	for {
		cons, err := js.Consumer(ctx, stream, consumer)
		if err == nil && cons.CachedInfo().NumWaiting > 0 {
			return
		}
		if ctx.Err() != nil {
			r.t.Fatalf("no pull of %s waiting: %v", consumer, err)
		}
		time.Sleep(10 * time.Millisecond) // the server tells no one when a pull arrives
	}
}

// The membership bucket is kept in memory too: after a restart the
// instances make it again, or take the one another instance made first, and
// go on splitting the exclusive consumers rather than each competing for
// all of them once the members they saw before the restart expire.
func TestMembershipMadeAgainAfterAServerRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r := startRestartable(t, t.TempDir())
	var queues []*jsqueue.Queue
	defer func() {
		for _, q := range queues {
			_ = q.Close(ctx)
		}
	}()
	open := func() []queue.Consumer {
		q := r.queue(ctx)
		queues = append(queues, q)
		var cs []queue.Consumer
		for i := range 12 {
			c, err := openLane(ctx, q, fmt.Sprintf("d%d", i))
			if err != nil {
				t.Fatal(err)
			}
			cs = append(cs, c)
		}
		return cs
	}
	a, b := open(), open()
	split := func(got []int) bool { return got[0] > 0 && got[1] > 0 }
	waitSplit(t, "before the restart", split, a, b)

	members := func() jetstream.KeyValue {
		nc, err := nats.Connect(r.srv.ClientURL())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket: "RELAY_MEMBERS", TTL: time.Minute, Storage: jetstream.MemoryStorage, History: 1,
		})
		if err != nil {
			t.Fatal(err)
		}
		return kv
	}
	// Days of heartbeats, in short: the bucket's revisions run far ahead of
	// what a new bucket reaches soon.
	kv := members()
	for range 500 {
		if _, err := kv.Put(ctx, "someone-else", []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if err := kv.Delete(ctx, "someone-else"); err != nil {
		t.Fatal(err)
	}
	r.srv.Shutdown()
	r.start()
	kv = members() // made by another instance before these two notice
	restarted := time.Now()
	for range 2 {
		select {
		case <-r.reconnected:
		case <-ctx.Done():
			t.Fatal("no reconnection to the restarted server")
		}
	}
	// What each saw before the restart expires after MemberTimeout: the
	// split must still hold then, from heartbeats in the new bucket.
	for time.Since(restarted) < jsqueue.MemberTimeout+4*time.Second {
		time.Sleep(100 * time.Millisecond) // waits out the expiry: nothing to wait on but time
	}
	keys, err := kv.Keys(ctx)
	if err != nil || len(keys) != 2 {
		t.Errorf("members in the bucket after the restart: %v (%v), want both instances", keys, err)
	}
	waitSplit(t, "after the restart", split, a, b)
}

// What waits for a consumer is counted from the store: what it has not
// handed out and what it handed out unsettled, and the oldest is the first
// message not acked.
func TestConsumerBacklog(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	env := natstest.Start(t)
	q := env.Queue(t)
	if w, err := q.ConsumerBacklog(ctx, queue.StreamIn, "transform"); err != nil || w.Count != 0 {
		t.Fatalf("before the consumer exists: %+v %v, want nothing", w, err)
	}
	var stored []queue.PubAck
	for i := range 3 {
		a, err := q.Publish(ctx, queue.Msg{Subject: queue.InSubject("s"), Data: []byte{byte(i)}})
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, a)
	}
	c, err := q.FeedEvents(ctx, "transform", feedOptions)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	first, err := q.Get(ctx, queue.StreamIn, stored[0].Seq)
	if err != nil {
		t.Fatal(err)
	}
	d := nextSeq(t, ctx, c) // handed out, not settled: still waiting
	w, err := q.ConsumerBacklog(ctx, queue.StreamIn, "transform")
	if err != nil || w.Count != 3 || !w.Oldest.Equal(first.Time) {
		t.Fatalf("with one handed out: %+v %v, want 3 waiting since %v", w, err, first.Time)
	}
	if err := d.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	second, err := q.Get(ctx, queue.StreamIn, stored[1].Seq)
	if err != nil {
		t.Fatal(err)
	}
	// Ack does not wait for the server, which takes acks in on the
	// consumer's own goroutine: a read right after it may still count the
	// acked message. Read until the count moves.
	for {
		w, err = q.ConsumerBacklog(ctx, queue.StreamIn, "transform")
		if err != nil || w.Count != 3 || ctx.Err() != nil {
			break
		}
		time.Sleep(10 * time.Millisecond) // the server tells no one when it took an ack
	}
	if err != nil || w.Count != 2 || !w.Oldest.Equal(second.Time) {
		t.Fatalf("after the first acked: %+v %v, want 2 waiting since %v", w, err, second.Time)
	}
}

// A server restart forgets the lease bucket (kept in memory). Each instance
// owns nothing from the moment its connection drops, so the one that makes
// the bucket again and takes leases at once never owns a partition beside
// another that still counted on its lease: no destination is owned by both
// at any moment, and no delivery one holds is handed out by the other while
// the holder owns it.
func TestServerRestartNeverLeavesAPartitionWithTwoOwners(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r := startRestartable(t, t.TempDir())
	open := func() []queue.Consumer {
		q := r.queue(ctx)
		t.Cleanup(func() { _ = q.Close(context.Background()) })
		return openLanes(t, q, 12)
	}
	a := open()
	// Started apart, the two renew out of phase: the one that finds the
	// bucket gone makes it again while the other's renewal is still ahead.
	time.Sleep(1500 * time.Millisecond)
	b := open()
	split := func(got []int) bool { return got[0] > 0 && got[1] > 0 }
	waitSplit(t, "before the restart", split, a, b)

	// Each destination's delivery is held by its owner's lane; the other
	// instance's lane waits for it.
	publisher := r.queue(ctx)
	t.Cleanup(func() { _ = publisher.Close(context.Background()) })
	for i := range a {
		if _, err := publisher.Publish(ctx, queue.Msg{Subject: queue.OutSubject(fmt.Sprintf("d%d", i)), Data: []byte("x")}); err != nil {
			t.Fatal(err)
		}
	}
	twice := make(chan string, len(a))
	for i := range a {
		owner, other := a[i], b[i]
		if !owner.Owned() {
			owner, other = other, owner
		}
		if _, err := owner.Next(ctx); err != nil {
			t.Fatal(err)
		}
		go func() {
			if d, err := other.Next(ctx); err == nil && owner.Owned() {
				twice <- fmt.Sprintf("d%d's delivery #%d", i, d.Msg().Seq)
			}
		}()
	}
	overlaps := make(chan string, len(a))
	watching, watched := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(watched)
		for {
			select {
			case <-watching:
				return
			case <-time.After(time.Millisecond):
			}
			for i := range a {
				if a[i].Owned() && b[i].Owned() {
					select {
					case overlaps <- fmt.Sprintf("d%d", i):
					default:
					}
				}
			}
		}
	}()
	r.restart(ctx, 3)
	// Watched until every partition's lease is in the bucket made again
	// and each destination has one owner: an instance that counted on its
	// old lease would own beside the new holder in between.
	nc, err := nats.Connect(r.srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	for leases := 0; leases < jsqueue.DefaultPartitions; {
		select {
		case <-ctx.Done():
			t.Fatalf("%d of %d leases taken again after the restart", leases, jsqueue.DefaultPartitions)
		case <-time.After(20 * time.Millisecond):
		}
		leases = 0
		if kv, err := js.KeyValue(ctx, "RELAY_LEASES"); err == nil {
			if keys, err := kv.ListKeys(ctx); err == nil {
				for range keys.Keys() {
					leases++
				}
			}
		}
	}
	waitSplit(t, "after the restart", func([]int) bool { return true }, a, b)
	close(watching)
	<-watched
	for len(overlaps) > 0 {
		t.Errorf("%s owned by both instances at once after the restart", <-overlaps)
	}
	for len(twice) > 0 {
		t.Errorf("%s, held by its owner, handed out by the other instance while the owner owned it", <-twice)
	}
}
