package queue

import (
	"context"
	"time"
)

// The stores are what the stages share, each named for hookrelay's own data.
// A stage takes only the stores it uses: ingest appends events and never
// sees a consumer, dispatch takes lanes of deliveries and never scans
// events. Every store is implemented by Stores over a backend (a Queue).
//
// A message given to a store names its key, the source of an event or the
// destination of a delivery or dead letter, in Msg.Key; where the backend
// keeps it is the store's business. A message read back, or handed out by a
// feed or lane, has its Key set.

// Events keeps the events as vendors sent them, for the retention: ingest
// appends them, the history and replays from source read them.
type Events interface {
	// AppendEvent stores an event of source m.Key and returns once it is
	// stored durably. When m.ID was appended within the deduplication window,
	// nothing is stored and the ack says Duplicate, naming the original.
	AppendEvent(ctx context.Context, m Msg) (PubAck, error)
	// AppendEvents stores every event as AppendEvent does, in one go: a
	// replay from source re-appends what it read.
	AppendEvents(ctx context.Context, ms []Msg) ([]PubAck, error)
	// Event reads the event stored at seq; ErrNotFound when there is none.
	Event(ctx context.Context, seq uint64) (Stored, error)
	// ScanEvents calls fn for the events of source ("" for every source)
	// stored at or after since, oldest first, until fn returns false or an
	// error (see Queue.Scan).
	ScanEvents(ctx context.Context, source string, since time.Time, fn func(Stored) (more bool, err error)) error
}

// EventFeed hands the stored events to transform, each to one instance at a
// time, until it is settled.
type EventFeed interface {
	// FeedEvents starts the feed named name in this instance, or joins it
	// where other instances run it already.
	FeedEvents(ctx context.Context, name string, o FeedOptions) (Consumer, error)
}

// FeedOptions tune an event feed.
type FeedOptions struct {
	// Redeliver is how long an event handed out may stay unsettled before
	// it is handed out again (a JetStream feed; on Kafka an event stays
	// with the member owning its partition until settled).
	Redeliver time.Duration
	// InFlight bounds the events handed out and not yet settled.
	InFlight int
}

// Deliveries keeps the cards waiting for their destinations: transform and
// replays enqueue them, dispatch takes them lane by lane.
type Deliveries interface {
	// Enqueue stores deliveries, each for destination m.Key, and returns
	// when all are stored, or the first error; the acks are in ms's order.
	// A delivery whose m.ID was enqueued within the deduplication window is
	// not stored again.
	Enqueue(ctx context.Context, ms []Msg) ([]PubAck, error)
}

// Lanes is dispatch's side of the deliveries: which destinations this
// instance owns, and each one's deliveries in order.
type Lanes interface {
	// Claim takes part, until ctx ends, in sharing the deliveries'
	// partitions between the instances (see Queue.Claim).
	Claim(ctx context.Context) (Claim, error)
	// OpenLane starts reading destination's deliveries in order, while this
	// instance owns the destination's partition.
	OpenLane(ctx context.Context, destination string, o LaneOptions) (Consumer, error)
	// Backlog returns, for each of the destinations, how many deliveries
	// wait and when the oldest was stored.
	Backlog(ctx context.Context, destinations []string) (map[string]Waiting, error)
}

// LaneOptions tune a destination's lane. A lane has no redelivery
// deadline: what it handed out stays with this instance until settled, or
// until the destination's partition moves (the partition's lease covers
// it).
type LaneOptions struct {
	// Hold is how many deliveries the lane's holder keeps unsettled at
	// most: 1 sends one at a time, in order; more lets a digest gather a
	// backlog's front. Kafka's lanes hand out no more than that unsettled;
	// JetStream's hand out what they are asked for.
	Hold int
}

// DeadLetters keeps what could not be delivered, for SREs to list, inspect,
// replay and purge. A dead letter is named by an id that its writer derives
// from what it is (deadletter.ID), so that whichever stage or instance
// stores it, it is stored once and found by that id; it is never a plain
// number. Dead letters stored by releases before ids were names are named
// by their storage sequence, in decimal, and keep working by it.
type DeadLetters interface {
	// PutDeadLetters stores dead letters, each of destination m.Key, named
	// m.ID (a key, not a number), and returns when all are stored; the
	// acks' Ref is the id. A dead letter is stored once: put again within
	// the deduplication window, the ack says Duplicate; later, JetStream
	// keeps the first (and says Duplicate), Kafka the last.
	PutDeadLetters(ctx context.Context, ms []Msg) ([]PubAck, error)
	// DeadLetter reads the dead letter named id (Stored.Ref); ErrNotFound
	// when there is none, ErrBadDeadLetterID when id cannot name a dead
	// letter.
	DeadLetter(ctx context.Context, id string) (Stored, error)
	// ScanDeadLetters calls fn for the dead letters of destination ("" for
	// every destination) stored at or after since, oldest first (Seq
	// ascending), until fn returns false or an error; each with its Ref.
	ScanDeadLetters(ctx context.Context, destination string, since time.Time, fn func(Stored) (more bool, err error)) error
	// DeleteDeadLetter removes the dead letter named id; ErrNotFound when
	// there is none.
	DeleteDeadLetter(ctx context.Context, id string) error
}

// SendLog records when each destination was sent to, so that the instance
// taking a destination over inherits its budget. It reaches back
// SentRetention.
type SendLog interface {
	// RecordSends logs sends to destination at the times at, as one
	// record, without waiting for the store; it keeps nothing of at. A
	// record lost from the log lets the next owner send as many more than
	// the budget allows as the record held.
	RecordSends(destination string, at []time.Time) error
	// Sends calls fn for each send logged to destination ("" for every
	// destination) in the records stored at or after since, oldest first,
	// until fn returns false or an error. Records it cannot read are
	// skipped.
	Sends(ctx context.Context, destination string, since time.Time, fn func(destination string, at time.Time) (more bool, err error)) error
}

// History keeps a small record of every step of every event, for the admin
// API's event timeline.
type History interface {
	// RecordHistory hands a record of eventID over without waiting for the
	// store: a lost record costs a line of the timeline.
	RecordHistory(eventID string, data []byte) error
	// ScanHistory calls fn for the records of eventID stored at or after
	// since, oldest first, until fn returns false or an error.
	ScanHistory(ctx context.Context, eventID string, since time.Time, fn func(Stored) (more bool, err error)) error
}
