// Package queue names hookrelay's JetStream streams, subjects and headers,
// creates the streams and scans them. It is the only thing the stages share.
package queue

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
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

// Message headers set by hookrelay (besides nats' Nats-Msg-Id and W3C traceparent).
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

// DeadSubject is where dispatch stores dead letters of a destination.
func DeadSubject(destination string) string { return "relay.dead." + destination }

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

// MaxDestinations bounds the destinations one relay deployment serves: each
// has a consumer on RELAY_OUT.
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

// StreamConfigs returns the configuration of the streams.
func StreamConfigs(o StreamOptions) []jetstream.StreamConfig {
	o = o.WithDefaults()
	return []jetstream.StreamConfig{
		{
			// RELAY_IN is a log, not a work queue: events stay for replay from
			// source after the transform consumer acked them.
			Name: StreamIn, Subjects: []string{InAll}, Storage: jetstream.FileStorage,
			Retention: jetstream.LimitsPolicy, MaxAge: o.InRetention,
			Duplicates: o.DedupWindow, Replicas: o.Replicas,
		},
		{
			// RELAY_OUT is a work queue: a delivery is gone once acked. It has
			// one consumer per destination, and the server's default cap
			// (1000) would refuse the 1001st destination.
			Name: StreamOut, Subjects: []string{OutAll}, Storage: jetstream.FileStorage,
			Retention: jetstream.WorkQueuePolicy, Duplicates: o.DedupWindow, Replicas: o.Replicas,
			MaxConsumers: MaxDestinations,
		},
		{
			Name: StreamDead, Subjects: []string{DeadAll}, Storage: jetstream.FileStorage,
			Retention: jetstream.LimitsPolicy, MaxAge: o.DeadRetention,
			Duplicates: o.DedupWindow, Replicas: o.Replicas,
		},
		{
			// RELAY_HISTORY lives as long as the events it describes. Records
			// carry no Nats-Msg-Id: a repeated step is recorded as it happened.
			Name: StreamHistory, Subjects: []string{HistoryAll}, Storage: jetstream.FileStorage,
			Retention: jetstream.LimitsPolicy, MaxAge: o.InRetention, Replicas: o.Replicas,
		},
		{
			// Only the last sends matter: Teams' largest window holds 1800.
			Name: StreamSent, Subjects: []string{SentAll}, Storage: jetstream.FileStorage,
			Retention: jetstream.LimitsPolicy, MaxAge: SentRetention, MaxMsgsPerSubject: 2048,
			Discard: jetstream.DiscardOld, Replicas: o.Replicas,
		},
	}
}

// EnsureStreams creates the streams, or updates them to the configuration.
func EnsureStreams(ctx context.Context, js jetstream.JetStream, o StreamOptions) error {
	for _, cfg := range StreamConfigs(o) {
		if _, err := js.CreateOrUpdateStream(ctx, cfg); err != nil {
			return fmt.Errorf("ensure stream %s: %w", cfg.Name, err)
		}
	}
	return nil
}

// IsUnavailable reports whether err means the store could not be reached in
// time (as opposed to a refusal), so a caller should answer 503.
func IsUnavailable(err error) bool {
	return errors.Is(err, ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, jetstream.ErrNoStreamResponse) ||
		errors.Is(err, jetstream.ErrJetStreamNotEnabled)
}

// Backlog is what waits on RELAY_OUT, read in one request.
type Backlog struct {
	// Stream is RELAY_OUT, for further reads.
	Stream jetstream.Stream
	// FirstSeq is the stream's first sequence.
	FirstSeq uint64
	// Waiting counts deliveries per destination; RELAY_OUT is a work queue,
	// so whatever is stored waits for delivery (the one in flight included).
	Waiting map[string]uint64
}

// ReadBacklog reads RELAY_OUT's per-destination message counts.
func ReadBacklog(ctx context.Context, js jetstream.JetStream) (Backlog, error) {
	st, err := js.Stream(ctx, StreamOut)
	if err != nil {
		return Backlog{}, fmt.Errorf("stream %s: %w", StreamOut, err)
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(OutAll))
	if err != nil {
		return Backlog{}, fmt.Errorf("stream %s info: %w", StreamOut, err)
	}
	b := Backlog{Stream: st, FirstSeq: info.State.FirstSeq, Waiting: make(map[string]uint64, len(info.State.Subjects))}
	for subj, n := range info.State.Subjects {
		b.Waiting[strings.TrimPrefix(subj, OutSubject(""))] = n
	}
	return b, nil
}
