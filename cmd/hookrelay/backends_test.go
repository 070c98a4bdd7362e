package main

import (
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/hookrelay/hookrelay/internal/natsembed"
)

// backend is a queue the end-to-end tests run the relay binary on. Every
// end-to-end test runs once per backend, as a subtest named after it.
type backend struct {
	name string
	// own returns the configuration lines of a queue for one relay at a
	// time; a relay restarted on the same configuration and data_dir finds
	// what the killed one stored.
	own func(t *testing.T) string
	// shared starts a queue that several relays share and that outlives
	// them, and returns the configuration lines pointing a relay at it.
	shared func(t *testing.T) string
}

var backends = []backend{
	{name: "jetstream", own: embeddedJetStream, shared: standaloneJetStream},
	{name: "kafka", own: inProcessKafka, shared: inProcessKafka},
}

// eachBackend runs test once per backend.
func eachBackend(t *testing.T, test func(t *testing.T, b backend)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { test(t, b) })
	}
}

// embeddedJetStream is the default: the relay embeds its nats-server, its
// files under data_dir.
func embeddedJetStream(*testing.T) string { return "" }

// standaloneJetStream starts a nats-server with JetStream in this process,
// on a random loopback port, stopped with the test.
func standaloneJetStream(t *testing.T) string {
	t.Helper()
	srv, err := natsembed.Start(natsembed.Options{StoreDir: t.TempDir(), ServerName: "standalone"})
	if err != nil {
		t.Fatalf("start nats-server: %v", err)
	}
	t.Cleanup(srv.Shutdown)
	return fmt.Sprintf("nats: {url: %q}\n", srv.ClientURL())
}

// inProcessKafka starts a one-broker Kafka (kfake) in this process on a
// random loopback port, stopped with the test: a relay killed and restarted
// finds it as it left it.
func inProcessKafka(t *testing.T) string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(0))
	if err != nil {
		t.Fatalf("start kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return fmt.Sprintf("queue: {kind: kafka, brokers: [%q]}\n", c.ListenAddrs()[0])
}
