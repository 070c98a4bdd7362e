package kafkaqueue

import (
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/internal/config"
	"github.com/hookrelay/hookrelay/internal/queue"
)

// The ack markers outlive the longest a delivery may wait on Kafka by a
// day: the markers after a partition's first waiting delivery are all kept.
func TestAckMarkersOutliveTheLongestWait(t *testing.T) {
	if ackRetention < config.KafkaMaxAge+24*time.Hour {
		t.Errorf("ack markers are kept %v, and a delivery may wait %v: keep them a day longer", ackRetention, config.KafkaMaxAge)
	}
}

func TestNewCreatesTopics(t *testing.T) {
	c := newCluster(t)
	q := newQueue(t, c, Options{Partitions: 4})
	want := map[string]int{
		"hookrelay.in": 1, "hookrelay.out": 4, "hookrelay.deadletters": 1, "hookrelay.history": 1,
		"hookrelay.sent": 4, "hookrelay.acks": 4,
	}
	for topic, n := range want {
		if got := q.partitions[topic]; got != n {
			t.Errorf("topic %s: %d partitions, want %d", topic, got, n)
		}
	}
	if err := q.Ready(testCtx(t)); err != nil {
		t.Fatalf("Ready: %v", err)
	}
	// A second Queue on the same cluster finds the topics there.
	q2 := newQueue(t, c, Options{Partitions: 8})
	if got := q2.partitions["hookrelay.out"]; got != 4 {
		t.Errorf("second queue sees out with %d partitions, want the 4 it was created with", got)
	}
	if got := q.topic(queue.StreamDead); got != "hookrelay.deadletters" {
		t.Errorf("topic(dead) = %q", got)
	}
}

func TestSeq(t *testing.T) {
	for _, tc := range []struct {
		partition int32
		offset    int64
	}{{0, 0}, {0, 41}, {11, 0}, {11, 1<<40 - 2}, {1<<23 - 1, 7}} {
		seq := seqOf(tc.partition, tc.offset)
		if seq == 0 {
			t.Errorf("seqOf(%d, %d) = 0", tc.partition, tc.offset)
		}
		if p, o := partitionOf(seq), offsetOf(seq); p != tc.partition || o != tc.offset {
			t.Errorf("seqOf(%d, %d) = %d → (%d, %d)", tc.partition, tc.offset, seq, p, o)
		}
	}
}

func TestPartitionForIsStable(t *testing.T) {
	// fnv32a("teams-a") = 3014515699, 3014515699 % 12 = 7. A change here
	// moves destinations between partitions under running deployments.
	if got := partitionFor([]byte("teams-a"), 12); got != 7 {
		t.Errorf("partitionFor(teams-a, 12) = %d, want 7", got)
	}
	if got := partitionFor([]byte("anything"), 1); got != 0 {
		t.Errorf("one partition: got %d", got)
	}
}
