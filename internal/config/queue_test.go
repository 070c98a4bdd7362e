package config

import (
	"slices"
	"strings"
	"testing"
)

func TestQueueDefaultsToJetStream(t *testing.T) {
	cfg, err := Parse([]byte("nats: {url: nats://127.0.0.1:4222}\n"))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if cfg.Queue.Kind != QueueJetStream {
		t.Errorf("queue.kind = %q, want %q", cfg.Queue.Kind, QueueJetStream)
	}
}

func TestQueueKafka(t *testing.T) {
	t.Setenv("HR_TEST_BROKERS", "k2:9092, k3:9092")
	cfg, err := Parse([]byte(`queue:
  kind: kafka
  brokers: ["k1:9092", "${HR_TEST_BROKERS}"]
  topic_prefix: staging.hookrelay.
  partitions: 24
  replication: 3
`))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	want := Queue{Kind: QueueKafka, Brokers: []string{"k1:9092", "k2:9092", "k3:9092"},
		TopicPrefix: "staging.hookrelay.", Partitions: 24, Replication: 3}
	if got := cfg.Queue; got.Kind != want.Kind || !slices.Equal(got.Brokers, want.Brokers) ||
		got.TopicPrefix != want.TopicPrefix || got.Partitions != want.Partitions || got.Replication != want.Replication {
		t.Errorf("queue = %+v, want %+v", got, want)
	}
}

func TestQueueErrorsNameLineAndField(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"kafka without brokers", "listen: 127.0.0.1:0\nqueue:\n  kind: kafka\n",
			"line 3: queue.brokers: is required with queue.kind kafka"},
		{"empty broker list", "queue:\n  kind: kafka\n  brokers: []\n",
			"line 3: queue.brokers: is required"},
		{"unknown kind", "queue:\n  kind: rabbitmq\n",
			`line 2: queue.kind: unknown kind "rabbitmq" (jetstream or kafka)`},
		{"broker without port", "queue:\n  kind: kafka\n  brokers:\n    - k1:9092\n    - k2\n",
			`line 5: queue.brokers[1]: "k2": want host:port`},
		{"broker port out of range", "queue: {kind: kafka, brokers: [\"k1:90920\"]}\n",
			`line 1: queue.brokers[0]: "k1:90920": port "90920" is not 1-65535`},
		{"bad topic prefix", "queue:\n  kind: kafka\n  brokers: [k1:9092]\n  topic_prefix: a/b\n",
			`line 4: queue.topic_prefix: "a/b" must be`},
		{"negative partitions", "queue:\n  kind: kafka\n  brokers: [k1:9092]\n  partitions: -1\n",
			"line 4: queue.partitions: must be positive, got -1"},
		{"negative partitions on jetstream", "queue:\n  partitions: -4\n",
			"line 2: queue.partitions: must be positive, got -4"},
		{"negative replication", "queue:\n  kind: kafka\n  brokers: [k1:9092]\n  replication: -2\n",
			"line 4: queue.replication: must be positive, got -2"},
		{"kafka settings on jetstream", "queue:\n  brokers: [k1:9092]\n",
			"queue.kind: is jetstream, which the nats section configures"},
		{"nats settings on kafka", "queue: {kind: kafka, brokers: [k1:9092]}\nnats:\n  url: nats://x:4222\n",
			"line 3: nats: configures JetStream, but queue.kind is kafka"},
		{"misspelt field", "queue:\n  kind: kafka\n  broker: [k1:9092]\n",
			`line 3: unknown field "broker" in queue; did you mean "brokers"?`},
		{"unset variable", "queue:\n  kind: kafka\n  brokers: [\"${HR_UNSET_BROKERS}\"]\n",
			"line 3: environment variable HR_UNSET_BROKERS is not set"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// With Kafka a delivery may wait at most KafkaMaxAge; JetStream has no such
// bound.
func TestMaxAgeOnKafka(t *testing.T) {
	doc := func(kind, maxAge string) string {
		return "queue: {kind: " + kind + ", brokers: [k1:9092]}\n" +
			"destinations:\n  - name: ops\n    url: https://example.com/hook\n    max_age: " + maxAge + "\n"
	}
	if _, err := Parse([]byte(doc("kafka", "144h"))); err != nil {
		t.Errorf("max_age 144h on kafka: %v", err)
	}
	_, err := Parse([]byte(doc("kafka", "145h")))
	if want := "line 5: destinations[0].max_age: 145h0m0s is longer than the 144h0m0s a delivery may wait with queue.kind kafka"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("max_age 145h on kafka: err = %v, want it to contain %q", err, want)
	}
	if _, err := Parse([]byte(strings.Replace(doc("jetstream", "720h"), ", brokers: [k1:9092]", "", 1))); err != nil {
		t.Errorf("max_age 720h on jetstream: %v", err)
	}
}
