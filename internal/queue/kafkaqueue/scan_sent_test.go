package kafkaqueue

import (
	"fmt"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/internal/queue"
)

// publishSent logs n sends for each destination and returns their acks by
// destination.
func publishSent(t *testing.T, q *Queue, dests []string, n int) map[string][]queue.PubAck {
	t.Helper()
	acks := map[string][]queue.PubAck{}
	for i := range n {
		for _, d := range dests {
			ack, err := q.Publish(testCtx(t), queue.Msg{Subject: queue.SentSubject(d), Data: fmt.Appendf(nil, "%s-%d", d, i)})
			if err != nil {
				t.Fatalf("log a send to %s: %v", d, err)
			}
			acks[d] = append(acks[d], ack)
		}
	}
	return acks
}

// scanSent returns the data Scan hands out for subject, and the partitions
// it came from.
func scanSent(t *testing.T, q *Queue, subject string) ([]string, map[int32]bool) {
	t.Helper()
	var data []string
	parts := map[int32]bool{}
	err := q.Scan(testCtx(t), queue.StreamSent, subject, time.Time{}, func(m queue.Stored) (bool, error) {
		data = append(data, string(m.Data))
		parts[partitionOf(m.Seq)] = true
		return true, nil
	})
	if err != nil {
		t.Fatalf("scan %s: %v", subject, err)
	}
	return data, parts
}

func TestSentIsPartitionedByDestination(t *testing.T) {
	q := newQueue(t, newCluster(t), Options{Partitions: 4})
	dests := []string{"a", "b", "c", "d", "e", "f", "g", "h"}
	acks := publishSent(t, q, dests, 3)

	used := map[int32]bool{}
	for _, d := range dests {
		want := partitionFor([]byte(d), 4)
		for _, ack := range acks[d] {
			if got := partitionOf(ack.Seq); got != want {
				t.Errorf("send to %s stored on partition %d, want %d (out's placement)", d, got, want)
			}
			used[partitionOf(ack.Seq)] = true
		}
		data, parts := scanSent(t, q, queue.SentSubject(d))
		if len(data) != 3 || data[0] != d+"-0" || data[2] != d+"-2" {
			t.Errorf("scan of %s's sends = %q, want its 3 in order", d, data)
		}
		if len(parts) != 1 || !parts[want] {
			t.Errorf("scan of %s's sends read partitions %v, want only %d", d, parts, want)
		}
	}
	if len(used) < 2 {
		t.Errorf("8 destinations' sends on partitions %v: the sent topic is not partitioned", used)
	}
	if all, _ := scanSent(t, q, queue.SentAll); len(all) != 3*len(dests) {
		t.Errorf("scan of every send found %d, want %d", len(all), 3*len(dests))
	}
}

func TestSentTopicCreatedWithOnePartitionKeepsIt(t *testing.T) {
	c := newCluster(t)
	newQueue(t, c, Options{Partitions: 1})
	q := newQueue(t, c, Options{Partitions: 4})
	if got := q.partitions["hookrelay.sent"]; got != 1 {
		t.Fatalf("existing sent topic has %d partitions in the second queue, want the 1 it was created with", got)
	}
	dests := []string{"a", "b", "c", "d"}
	publishSent(t, q, dests, 2)
	for _, d := range dests {
		if data, _ := scanSent(t, q, queue.SentSubject(d)); len(data) != 2 {
			t.Errorf("scan of %s's sends on the one-partition topic = %q, want 2", d, data)
		}
	}
}
