package config

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
)

// Queue kinds.
const (
	// QueueJetStream stores the streams in NATS JetStream: the embedded
	// server, or the cluster at nats.url.
	QueueJetStream = "jetstream"
	// QueueKafka stores them in Kafka topics on queue.brokers.
	QueueKafka = "kafka"
)

// Queue selects where the stages store and consume their messages.
type Queue struct {
	// Kind is jetstream (default; configured by the nats section) or kafka.
	Kind string `yaml:"kind"`
	// Brokers are the Kafka seed brokers, host:port (kind kafka, required).
	// An item may hold several, comma separated, so that one ${ENV} can
	// carry the whole list.
	Brokers []string `yaml:"brokers"`
	// TopicPrefix starts every topic's and consumer group's name, so
	// several relays can share one cluster (kind kafka; default
	// "hookrelay.").
	TopicPrefix string `yaml:"topic_prefix"`
	// Partitions the destinations are spread over, each owned by one
	// dispatch instance at a time: the most instances that share them. Kind
	// kafka: of the deliveries topic when hookrelay creates it (default
	// 12); kind jetstream: every instance must use the same (default 16).
	Partitions int `yaml:"partitions"`
	// Replication factor of the topics hookrelay creates (kind kafka;
	// default 1; 3 on a cluster of three brokers or more).
	Replication int `yaml:"replication"`
}

// topicPrefixRE keeps the prefix within Kafka's legal topic characters,
// leaving room for the longest suffix within its 249-character limit.
var topicPrefixRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,200}$`)

func (q *Queue) applyDefaults() {
	if q.Kind == "" {
		q.Kind = QueueJetStream
	}
	var brokers []string
	for _, b := range q.Brokers {
		for _, one := range strings.Split(b, ",") {
			if one = strings.TrimSpace(one); one != "" {
				brokers = append(brokers, one)
			}
		}
	}
	q.Brokers = brokers
}

// validate checks the queue section against the nats one: each configures
// one kind, and a setting of the other kind is a mistake worth naming.
func (q Queue) validate(nats NATS, fail func(path, format string, args ...any), isUnset func(string) bool) {
	switch q.Kind {
	case QueueJetStream:
		if len(q.Brokers) > 0 || q.TopicPrefix != "" || q.Replication != 0 {
			fail("queue.kind", "is jetstream, which the nats section configures: brokers, topic_prefix "+
				"and replication are for kind kafka (set queue.kind: kafka, or remove them)")
		}
		if q.Partitions < 0 {
			fail("queue.partitions", "must be positive, got %d", q.Partitions)
		}
	case QueueKafka:
		if len(q.Brokers) == 0 {
			fail("queue.brokers", "is required with queue.kind kafka: list the seed brokers as host:port")
		}
		for i, b := range q.Brokers {
			if err := checkBroker(b); err != nil && !isUnset(b) {
				fail(fmt.Sprintf("queue.brokers[%d]", i), "%q: %v", b, err)
			}
		}
		if q.TopicPrefix != "" && !topicPrefixRE.MatchString(q.TopicPrefix) {
			fail("queue.topic_prefix", "%q must be 1-200 letters, digits, '.', '-' or '_'", q.TopicPrefix)
		}
		if q.Partitions < 0 {
			fail("queue.partitions", "must be positive, got %d", q.Partitions)
		}
		if q.Replication < 0 {
			fail("queue.replication", "must be positive, got %d", q.Replication)
		}
		if nats != (NATS{}) {
			fail("nats", "configures JetStream, but queue.kind is kafka: remove the nats section")
		}
	default:
		fail("queue.kind", "unknown kind %q (jetstream or kafka)", q.Kind)
	}
}

// checkBroker accepts host:port with a port in range.
func checkBroker(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return errors.New("want host:port")
	}
	if host == "" {
		return errors.New("has no host")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("port %q is not 1-65535", port)
	}
	return nil
}
