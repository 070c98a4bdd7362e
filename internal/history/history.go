// Package history keeps the timeline of every event — received, routed, each
// delivery attempt, dead-lettered, replayed, delivered — as small records on
// the RELAY_HISTORY stream, and reads events back from RELAY_IN for the admin
// API: one event with its timeline, and replays from source.
//
// Recording is best effort by design: a Recorder publishes without waiting
// for the queue to store the record, so a slow or unreachable store never delays or fails the
// stage that records; a record may then be lost, an event never is.
package history

import (
	"encoding/json"
	"log/slog"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/hookrelay/hookrelay/internal/queue"
)

// Kind is what happened to an event at one step.
type Kind string

// The kinds of record, in the order they usually happen.
const (
	// KindReceived: ingest stored the event on RELAY_IN.
	KindReceived Kind = "received"
	// KindRouted: transform stored a delivery for one destination.
	KindRouted Kind = "routed"
	// KindFiltered: transform found no route for the event.
	KindFiltered Kind = "filtered"
	// KindAttempt: dispatch made one HTTP request that did not deliver.
	KindAttempt Kind = "attempt"
	// KindDelivered: the destination accepted the card, at the record's
	// attempt.
	KindDelivered Kind = "delivered"
	// KindDeadLettered: a delivery was stored on RELAY_DEAD.
	KindDeadLettered Kind = "dead_lettered"
	// KindReplayed: a dead letter, or the event from source, was replayed.
	KindReplayed Kind = "replayed"
)

// Stages that record.
const (
	StageIngest     = "ingest"
	StageTransform  = "transform"
	StageDispatch   = "dispatch"
	StageDeadLetter = "deadletter"
	// StageReplay is a replay from source (re-publishing stored events).
	StageReplay = "replay"
)

// Record is one step of one event. Records are small: Detail is cut to
// MaxDetail bytes.
type Record struct {
	EventID string    `json:"event_id"`
	At      time.Time `json:"at"`
	Stage   string    `json:"stage"`
	Kind    Kind      `json:"kind"`
	// Source is the event's source (received, replayed from source).
	Source string `json:"source,omitempty"`
	// Seq is the event's sequence on RELAY_IN (received), so the admin API
	// can show the stored event without a scan.
	Seq         uint64 `json:"seq,omitempty"`
	Route       string `json:"route,omitempty"`
	Destination string `json:"destination,omitempty"`
	DeliveryID  string `json:"delivery_id,omitempty"`
	// Attempt counts the HTTP requests made for one delivery, from 1.
	Attempt int `json:"attempt,omitempty"`
	// Status is the HTTP status the destination meant (attempt, delivered,
	// dead_lettered).
	Status int `json:"status,omitempty"`
	// Detail says the rest in words: the verification scheme and size, an
	// error, the start of a response, a dead-letter reason.
	Detail string `json:"detail,omitempty"`
}

// MaxDetail bounds Record.Detail.
const MaxDetail = 512

// Recorder appends records to RELAY_HISTORY. Its methods are safe for
// concurrent use, and a nil *Recorder records nothing, so a stage can hold
// one whether or not history is wanted.
type Recorder struct {
	store   queue.History
	log     *slog.Logger
	now     func() time.Time
	dropped atomic.Uint64
}

// NewRecorder returns a Recorder keeping records in store. A nil logger
// discards logs.
func NewRecorder(store queue.History, logger *slog.Logger) *Recorder {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Recorder{store: store, log: logger, now: time.Now}
}

// Record appends rec to its event's history, stamping At when zero. It never
// blocks on the store: the record is handed over with RecordHistory, which does
// not wait for the store's acknowledgement, and a record that cannot be
// handed over is counted in Dropped and forgotten.
func (r *Recorder) Record(rec Record) {
	if r == nil {
		return
	}
	if !ValidEventID(rec.EventID) {
		r.drop("event id is not a subject token", rec)
		return
	}
	if rec.At.IsZero() {
		rec.At = r.now().UTC()
	}
	rec.Detail = cut(rec.Detail, MaxDetail)
	data, err := json.Marshal(rec)
	if err != nil {
		r.drop(err.Error(), rec)
		return
	}
	if err := r.store.RecordHistory(rec.EventID, data); err != nil {
		r.drop(err.Error(), rec)
	}
}

func (r *Recorder) drop(why string, rec Record) {
	if n := r.dropped.Add(1); n&(n-1) == 0 {
		// Logged at the 1st, 2nd, 4th, 8th… drop: a store outage must not
		// turn into a log flood.
		r.log.Warn("history record dropped", "event_id", rec.EventID, "kind", rec.Kind, "dropped", n, "error", why)
	}
}

// Dropped says how many records were not handed to the queue.
func (r *Recorder) Dropped() uint64 {
	if r == nil {
		return 0
	}
	return r.dropped.Load()
}

// ValidEventID reports whether id can name a history subject: a non-empty
// subject token (hookrelay's event ids are UUIDs).
func ValidEventID(id string) bool {
	return len(id) <= 128 && queue.ValidKey(id)
}

// cut shortens s to at most n bytes without splitting a rune, marking the cut.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const mark = "…"
	s = s[:n-len(mark)]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + mark
}
