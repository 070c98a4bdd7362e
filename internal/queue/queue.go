// Package queue is the only thing the stages share: the stores named for
// hookrelay's data (stores.go), each stage taking only the ones it uses,
// and the backend they are kept in, the Queue interface (api.go) with the
// names of its streams, subjects and headers. The backends are jsqueue
// (NATS JetStream, the default) and kafkaqueue (Kafka); Stores (over.go)
// keeps the stores on either, and the stages never know which one runs.
package queue

import (
	"context"
	"errors"
	"strings"
	"time"
)

// Stream names.
const (
	StreamIn   = "RELAY_IN"
	StreamOut  = "RELAY_OUT"
	StreamDead = "RELAY_DEAD"
	// StreamHistory keeps a small record of every step of every event, for
	// the admin API's event timeline (see internal/history).
	StreamHistory = "RELAY_HISTORY"
	// StreamSent logs when each destination was sent to, so that the
	// instance taking a destination over inherits its budget.
	StreamSent = "RELAY_SENT"
)

// Message headers set by hookrelay (besides W3C traceparent; Msg.ID is kept
// by each implementation its own way).
const (
	HeaderEventID    = "Hookrelay-Event-Id"
	HeaderDeliveryID = "Hookrelay-Delivery-Id"
	HeaderSource     = "Hookrelay-Source"
	HeaderReason     = "Hookrelay-Reason"
	// HeaderReplay marks an event re-published to RELAY_IN by a replay from
	// source; its value is the replay's id, which transform adds to the
	// delivery ids so the replay is not dropped as a duplicate.
	HeaderReplay = "Hookrelay-Replay"
	// HeaderReplayRoutes, on a replayed event, names the only routes (comma
	// separated) transform may apply to it.
	HeaderReplayRoutes = "Hookrelay-Replay-Routes"
)

// InSubject is where ingest stores events of a source.
func InSubject(source string) string { return "relay.in." + source }

// OutSubject is where transform stores deliveries for a destination.
func OutSubject(destination string) string { return "relay.out." + destination }

// DeadSubject is where releases before dead-letter ids stored the dead
// letters of a destination, and the prefix of DeadLetterSubject.
func DeadSubject(destination string) string { return "relay.dead." + destination }

// DeadLetterSubject is where the dead letter of destination named id is
// stored: a subject per dead letter, so that the store finds it by its id
// alone (relay.dead.*.<id>).
func DeadLetterSubject(destination, id string) string { return "relay.dead." + destination + "." + id }

// DeadLetterIDOf is the id a dead letter's subject names, and whether it
// names one (DeadLetterSubject; an earlier release's DeadSubject does not).
func DeadLetterIDOf(subject string) (string, bool) {
	rest, ok := strings.CutPrefix(subject, DeadSubject(""))
	if !ok {
		return "", false
	}
	_, id, ok := strings.Cut(rest, ".")
	return id, ok && id != ""
}

// HistorySubject is where the records of one event's history are stored.
func HistorySubject(eventID string) string { return "relay.history." + eventID }

// SentSubject logs sends to a destination.
func SentSubject(destination string) string { return "relay.sent." + destination }

// SentRetention is how far back the sent log reaches: the longest window of
// Teams' ladder (24 h) with a margin.
const SentRetention = 25 * time.Hour

// Wildcards covering every source / destination.
const (
	InAll      = "relay.in.>"
	OutAll     = "relay.out.>"
	DeadAll    = "relay.dead.>"
	HistoryAll = "relay.history.>"
	SentAll    = "relay.sent.>"
)

// MaxDestinations bounds the destinations one relay deployment serves.
const MaxDestinations = 100_000

// StreamOptions tune the streams; zero values take the defaults.
type StreamOptions struct {
	// Replicas is the number of copies in a JetStream cluster (default 1).
	Replicas int
	// InRetention is how long RELAY_IN keeps events for replay, and
	// RELAY_HISTORY their history (default 7 days).
	InRetention time.Duration
	// DedupWindow is how long a vendor delivery id is remembered (default 1 h).
	DedupWindow time.Duration
	// DeadRetention is how long dead letters are kept (default 30 days).
	DeadRetention time.Duration
}

// WithDefaults returns o with its zero values replaced by the defaults, as
// every implementation applies them.
func (o StreamOptions) WithDefaults() StreamOptions {
	if o.Replicas == 0 {
		o.Replicas = 1
	}
	if o.InRetention == 0 {
		o.InRetention = 7 * 24 * time.Hour
	}
	if o.DedupWindow == 0 {
		o.DedupWindow = time.Hour
	}
	if o.DeadRetention == 0 {
		o.DeadRetention = 30 * 24 * time.Hour
	}
	return o
}

// IsUnavailable reports whether err means the store could not be reached in
// time (as opposed to a refusal), so a caller should answer 503.
func IsUnavailable(err error) bool {
	return errors.Is(err, ErrUnavailable) || errors.Is(err, context.DeadlineExceeded)
}
