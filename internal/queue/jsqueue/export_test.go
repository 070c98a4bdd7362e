package jsqueue

// MemberTimeout is how long a member may miss heartbeats before the others
// take its consumers over.
const MemberTimeout = memberTimeout
