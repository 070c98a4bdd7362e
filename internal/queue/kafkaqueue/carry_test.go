package kafkaqueue

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookrelay/hookrelay/internal/queue"
)

// earlierRelease writes topics as a release before the compacted dead
// letters' topic did: dead letters on hookrelay.dead keyed by destination,
// delete markers on hookrelay.deleted.
type earlierRelease struct {
	t  *testing.T
	cl *kgo.Client
}

func newEarlierRelease(t *testing.T, c *kfake.Cluster) *earlierRelease {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.RecordPartitioner(keyPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	for _, topic := range []string{"hookrelay.dead", "hookrelay.deleted"} {
		if _, err := kadm.NewClient(cl).CreateTopic(testCtx(t), 1, 1, nil, topic); err != nil {
			t.Fatalf("create %s: %v", topic, err)
		}
	}
	return &earlierRelease{t: t, cl: cl}
}

// dead stores a dead letter of dest as the earlier release did and returns
// its id there: its Seq, in decimal.
func (e *earlierRelease) dead(dest, data string) string {
	e.t.Helper()
	rec := recordOf("hookrelay.dead", queue.Msg{Subject: queue.DeadSubject(dest), Data: []byte(data), ID: "dead." + data})
	if err := e.cl.ProduceSync(testCtx(e.t), rec).FirstErr(); err != nil {
		e.t.Fatal(err)
	}
	return strconv.FormatUint(seqOf(rec.Partition, rec.Offset), 10)
}

// delete stores the earlier release's marker deleting the dead letter id.
func (e *earlierRelease) delete(id string) {
	e.t.Helper()
	rec := &kgo.Record{Topic: "hookrelay.deleted", Key: []byte(queue.StreamDead),
		Headers: []kgo.RecordHeader{{Key: headerDeletes, Value: []byte(id)}}}
	if err := e.cl.ProduceSync(testCtx(e.t), rec).FirstErr(); err != nil {
		e.t.Fatal(err)
	}
}

// The dead letters of an earlier release are carried over to the compacted
// topic at start, under their old ids, but for those its markers deleted;
// they are listed, read and deleted by those ids, in the order stored and
// before the new ones. A second start carries nothing twice, and only what
// the earlier release stored since.
func TestCarryOver(t *testing.T) {
	c := newCluster(t)
	earlier := newEarlierRelease(t, c)
	one := earlier.dead("ops", "one")
	deleted := earlier.dead("ops", "deleted")
	two := earlier.dead("ops", "two")
	dev := earlier.dead("dev", "dev's")
	earlier.delete(deleted)

	q := newQueue(t, c, Options{})
	s := queue.Over(q)
	ctx := testCtx(t)
	if _, err := s.PutDeadLetters(ctx, []queue.Msg{{Key: "ops", ID: "ev:ops:0", Data: []byte("new")}}); err != nil {
		t.Fatal(err)
	}
	list := func(s *queue.Stores, dest string) []string {
		t.Helper()
		var out []string
		err := s.ScanDeadLetters(ctx, dest, time.Time{}, func(m queue.Stored) (bool, error) {
			out = append(out, m.Ref+"="+string(m.Data))
			return true, nil
		})
		if err != nil {
			t.Fatalf("scan dead letters of %q: %v", dest, err)
		}
		return out
	}
	want := []string{one + "=one", two + "=two", "ev:ops:0=new"}
	if got := list(s, "ops"); !slices.Equal(got, want) {
		t.Fatalf("dead letters of ops: %q, want %q", got, want)
	}
	if m, err := s.DeadLetter(ctx, dev); err != nil || string(m.Data) != "dev's" || m.Key != "dev" || m.Ref != dev {
		t.Errorf("dead letter %s: %q of %q named %q, %v; want dev's", dev, m.Data, m.Key, m.Ref, err)
	}
	if _, err := s.DeadLetter(ctx, deleted); err == nil {
		t.Errorf("dead letter %s, deleted by the earlier release, carried over", deleted)
	}
	if err := s.DeleteDeadLetter(ctx, one); err != nil {
		t.Fatalf("delete %s: %v", one, err)
	}

	three := earlier.dead("ops", "three") // an instance of the earlier release, during the upgrade
	end := func() int64 {
		t.Helper()
		ends, err := q.adm.ListEndOffsets(ctx, q.live.topic)
		if err != nil {
			t.Fatal(err)
		}
		o, _ := ends.Lookup(q.live.topic, 0)
		return o.Offset
	}
	before := end()
	again := queue.Over(newQueue(t, c, Options{}))
	if got := end(); got != before+2 {
		t.Errorf("a second start stored %d records, want the one the earlier release stored since and how far it carried", got-before)
	}
	want = []string{two + "=two", "ev:ops:0=new", three + "=three"}
	if got := list(again, "ops"); !slices.Equal(got, want) {
		t.Errorf("dead letters of ops after a second start: %q, want %q", got, want)
	}
	if got := list(again, ""); len(got) != 4 {
		t.Errorf("every dead letter after a second start: %q, want 4", got)
	}
	if _, err := again.DeadLetter(ctx, one); err == nil {
		t.Errorf("dead letter %s, deleted after it was carried, is back", one)
	}

	// The last one carried is deleted, and compaction takes it and its
	// tombstone away: a third start does not carry it again.
	if err := again.DeleteDeadLetter(ctx, three); err != nil {
		t.Fatal(err)
	}
	if _, err := again.PutDeadLetters(ctx, []queue.Msg{{Key: "ops", ID: "ev2:ops:0", Data: []byte("newer")}}); err != nil {
		t.Fatal(err)
	}
	alter, err := q.adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "delete.retention.ms", Value: kadm.StringPtr("0")}}, q.live.topic)
	if err == nil {
		_, err = alter.On(q.live.topic, nil)
	}
	if err != nil {
		t.Fatalf("alter delete.retention.ms: %v", err)
	}
	c.Compact()
	third := queue.Over(newQueue(t, c, Options{}))
	want = []string{two + "=two", "ev:ops:0=new", "ev2:ops:0=newer"}
	if got := list(third, "ops"); !slices.Equal(got, want) {
		t.Errorf("dead letters of ops after compaction and a third start: %q, want %q", got, want)
	}
}
