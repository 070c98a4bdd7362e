// Package kafkatest starts an in-process Kafka (franz-go's kfake) on
// 127.0.0.1 for tests and benchmarks, as natstest does for JetStream: the
// stages and their benchmarks open a kafkaqueue.Queue on it, and a benchmark's
// baseline produces to the same broker with a bare client.
package kafkatest

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookrelay/hookrelay/internal/queue/kafkaqueue"
)

// Env is a running in-process Kafka with one broker.
type Env struct {
	Cluster *kfake.Cluster
}

// Start starts the broker on a random loopback port; it is closed when the
// test ends.
func Start(t testing.TB) *Env {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(0))
	if err != nil {
		t.Fatalf("start kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return &Env{Cluster: c}
}

// Brokers are the addresses to connect to.
func (e *Env) Brokers() []string { return e.Cluster.ListenAddrs() }

// Queue opens a kafkaqueue.Queue on the broker with opts (Brokers is set
// here), as another relay instance would; it is closed when the test ends.
// Call it again for a second instance on the same store.
func (e *Env) Queue(t testing.TB, opts kafkaqueue.Options) *kafkaqueue.Queue {
	t.Helper()
	opts.Brokers = e.Brokers()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	q, err := kafkaqueue.New(ctx, opts)
	if err != nil {
		t.Fatalf("open kafka queue: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = q.Close(ctx) // a test that closed it already gets an error
	})
	return q
}

// Producer creates topic with one partition and returns a bare client that
// produces as kafkaqueue does (acks from all in-sync replicas, idempotent,
// no linger), closed when the test ends: a benchmark's baseline, so that
// what it compares is hookrelay's work, not the broker's speed.
func (e *Env) Producer(t testing.TB, topic string) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(e.Brokers()...),
		kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(0),
	)
	if err != nil {
		t.Fatalf("kafka client: %v", err)
	}
	t.Cleanup(cl.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, topic); err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
	return cl
}
