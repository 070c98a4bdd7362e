package jsqueue

import "github.com/hookrelay/hookrelay/internal/queue"

// MemberTimeout is how long a member may miss heartbeats before the others
// take its consumers over.
const MemberTimeout = memberTimeout

// WithoutDirectGets turns direct gets off on every stream, as they are with
// replicas: lanes read from the leader, scans through a consumer.
func WithoutDirectGets() Option { return func(o *options) { o.withoutDirect = true } }

// Drained returns a channel closed once c's lane has made the deletes of
// what it settled (closed already when none is on its way).
func Drained(c queue.Consumer) <-chan struct{} {
	l := c.(*lane)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.drained == nil {
		done := make(chan struct{})
		close(done)
		return done
	}
	return l.drained
}
