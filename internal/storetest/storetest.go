// Package storetest runs a stage's test on every backend of hookrelay's
// stores, each a real store on loopback: an embedded JetStream
// (internal/natstest) and an in-process Kafka (internal/kafkatest). A stage
// whose behaviour must not depend on the backend runs its tests through
// Each.
package storetest

import (
	"testing"

	"github.com/hookrelay/hookrelay/internal/kafkatest"
	"github.com/hookrelay/hookrelay/internal/natstest"
	"github.com/hookrelay/hookrelay/internal/queue"
	"github.com/hookrelay/hookrelay/internal/queue/kafkaqueue"
)

// Opener opens another relay instance's stores on the test's store; each
// is closed when its t ends.
type Opener func(t testing.TB) *queue.Stores

// backend is a backend's name and how to start an empty store of it for
// one test, stopped when the test ends.
type backend struct {
	name  string
	start func(t testing.TB) Opener
}

func backends() []backend {
	return []backend{
		{"jetstream", func(t testing.TB) Opener {
			env := natstest.Start(t)
			return func(t testing.TB) *queue.Stores { return queue.Over(env.Queue(t)) }
		}},
		{"kafka", func(t testing.TB) Opener {
			env := kafkatest.Start(t)
			return func(t testing.TB) *queue.Stores { return queue.Over(env.Queue(t, kafkaqueue.Options{})) }
		}},
	}
}

// Each runs test once per backend, as a subtest named for it, on an empty
// store of its own.
func Each(t *testing.T, test func(t *testing.T, open Opener)) {
	t.Helper()
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) { test(t, b.start(t)) })
	}
}

// JetStream opens stores on an embedded JetStream of the test's own, for a
// test or benchmark that needs only one backend (say why where it is used).
func JetStream(t testing.TB) *queue.Stores {
	t.Helper()
	return backends()[0].start(t)(t)
}
