package jsqueue

// MemberTimeout is how long a member may miss heartbeats before the others
// take its consumers over.
const MemberTimeout = memberTimeout

// WithoutDirectGets turns direct gets off on every stream, as they are with
// replicas: lanes read from the leader, scans through a consumer.
func WithoutDirectGets() Option { return func(o *options) { o.withoutDirect = true } }
