package jsqueue

// MemberTimeout is how long a member may miss heartbeats before the others
// take its consumers over.
const MemberTimeout = memberTimeout

// WithLeaderReads reads every stream from its leader, one message at a time,
// as a Queue on streams with replicas does.
func WithLeaderReads() Option { return func(o *options) { o.leaderReads = true } }
