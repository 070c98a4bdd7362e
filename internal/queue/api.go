package queue

import (
	"context"
	"errors"
	"strings"
	"time"
)

// Queue is the backend the stores are kept in (see Stores); no stage takes
// it. Two implementations exist: jsqueue (NATS JetStream, the default) and
// kafkaqueue (Kafka through franz-go).
//
// Streams are the names above (StreamIn, StreamOut, StreamDead,
// StreamHistory, StreamSent); a message's stream follows from its subject
// (relay.in.… → StreamIn, and so on). A message of StreamDead is named by
// its subject's last token (DeadLetterSubject): a backend may keep only the
// last message of each name (Kafka's compacted topic does). Every method
// that blocks takes a context, and every error says what failed; an error
// that means the store could not be reached in time matches ErrUnavailable.
type Queue interface {
	// Publish stores m on the stream of its subject and returns once the
	// store has it durably. When m.ID is set and a message with the same ID
	// was stored on that stream within the deduplication window, nothing is
	// stored and the ack says Duplicate, with Seq naming the original.
	// Once Publish returned, m.Header is the caller's again, to reuse: an
	// implementation copies what it keeps of it. So is m.Data once Publish
	// returned without error; after an error the store may still be
	// sending it.
	Publish(ctx context.Context, m Msg) (PubAck, error)
	// PublishAll stores every message (each as Publish would) and returns
	// when all are stored, or the first error. The acks are in ms's order.
	PublishAll(ctx context.Context, ms []Msg) ([]PubAck, error)
	// Send hands m to the store without waiting for it to be stored: for
	// records whose loss costs little (history, the sent log). It returns an
	// error only when m cannot even be handed over.
	Send(m Msg) error

	// Get reads the message at seq of stream; ErrNotFound when there is none
	// (never stored, deleted, or expired).
	Get(ctx context.Context, stream string, seq uint64) (Stored, error)
	// Delete removes m, a message read or stored before (its Stream,
	// Subject and Seq); ErrNotFound when it is not there. Only StreamDead's
	// messages are deleted.
	Delete(ctx context.Context, m Stored) error
	// Last reads the last message of stream whose subject matches subject:
	// a full subject, or one with a "*" token before a literal last token,
	// as the dead letters are looked up by id (relay.dead.*.<id>).
	// ErrNotFound when none matches. It is one request to the store: the
	// stores look a message up by name with it.
	Last(ctx context.Context, stream, subject string) (Stored, error)
	// Scan calls fn for the messages of stream whose subject matches subject
	// (a full subject, or one of the …All wildcards), stored at or after
	// start (from the beginning when start is zero), oldest first, until fn
	// returns false or an error, and at the latest up to the last message
	// stored when the scan began. Messages deleted meanwhile are skipped.
	// StreamOut is not scanned: it is a work queue, read only by its
	// consumers (Backlog tells what waits there).
	Scan(ctx context.Context, stream, subject string, start time.Time, fn func(Stored) (more bool, err error)) error

	// EventFeed hands the stored events to transform; Lanes hand each
	// destination's deliveries to dispatch, in order, while this instance
	// owns the destination's partition. A lane costs nothing once stopped,
	// and a destination with nothing waiting needs no lane.
	EventFeed
	// OpenLane starts reading destination's deliveries (see Lanes).
	OpenLane(ctx context.Context, destination string, o LaneOptions) (Consumer, error)
	// Claim takes part, until ctx ends, in sharing StreamOut's partitions
	// between the instances: a destination's deliveries belong to one
	// partition, derived from its name, and one instance at a time owns a
	// partition. It tells which destinations have deliveries waiting here,
	// so that a destination with nothing waiting needs no consumer, no
	// goroutine and no request. One Claim at a time per Queue.
	Claim(ctx context.Context) (Claim, error)
	// Backlog returns, for each of the destinations, how many deliveries
	// wait on StreamOut and when the oldest was stored. An implementation
	// that can only see part of it says so in its documentation.
	Backlog(ctx context.Context, destinations []string) (map[string]Waiting, error)

	// Ready reports whether the store answers now.
	Ready(ctx context.Context) error
	// Close releases the connection; messages handed to Send are flushed
	// first, within ctx.
	Close(ctx context.Context) error
}

// Header carries a message's metadata. Keys are case-sensitive.
type Header map[string][]string

// Get returns the first value of key, or "".
func (h Header) Get(key string) string {
	if vs := h[key]; len(vs) > 0 {
		return vs[0]
	}
	return ""
}

// Set replaces the values of key by value.
func (h Header) Set(key, value string) { h[key] = []string{value} }

// Msg is a message to store.
type Msg struct {
	// Key names what the message belongs to, for the stores (stores.go):
	// an event's source, a delivery's or dead letter's destination, a
	// history record's event. Backends go by Subject, which Stores sets
	// from Key, and set Key on what they read (KeyOf).
	Key     string
	Subject string
	Header  Header
	Data    []byte
	// ID, when set, makes a second message with the same ID on the same
	// stream within the deduplication window a duplicate, not stored again.
	ID string
}

// Stored is a message read back from a stream.
type Stored struct {
	Msg
	Stream string
	// Seq is the message's position on its stream, greater than zero; Get
	// takes it.
	Seq uint64
	// Time is when the store received it.
	Time time.Time
	// Ref is the name a store reads the message back by, set by the stores
	// that name their messages: a dead letter's id (DeadLetters).
	Ref string
}

// PubAck confirms a publish.
type PubAck struct {
	Stream string
	Seq    uint64
	// Duplicate says the message's ID was stored already (at Seq).
	Duplicate bool
	// Ref is the name the message is read back by, as Stored.Ref.
	Ref string
}

// Consumer hands out the messages of an event feed or of a destination's
// lane.
type Consumer interface {
	// Next waits for the next message until ctx ends (then it returns
	// ctx's error). A lane waits while another instance owns its
	// destination.
	Next(ctx context.Context) (Delivery, error)
	// More returns up to n messages that wait already, waiting at most
	// maxWait for them; none is not an error.
	More(ctx context.Context, n int, maxWait time.Duration) ([]Delivery, error)
	// Owned reports whether this instance receives the consumer's messages
	// now (always true for a feed).
	Owned() bool
	// Stop ends the consumer in this instance: messages it fetched but did
	// not hand out go back to the queue at once. Handed-out messages stay
	// with their holder until settled.
	Stop()
}

// Claim is this instance's share of StreamOut.
type Claim interface {
	// Waiting receives the name of a destination with deliveries waiting
	// in a partition this instance owns while no consumer of it runs here:
	// once the partition is taken (deliveries stored earlier included),
	// when a delivery arrives for it, and when its consumer stops with
	// deliveries left. A name may come more than once, and late: a
	// receiver checks what it is told. The channel is closed when the
	// claim's context ends.
	Waiting() <-chan string
	// Owns reports whether this instance dispatches destination now.
	Owns(destination string) bool
	// OwnedSince is when this instance took destination's partition, which
	// it has owned without a break since: no other instance took it after
	// that, though the previous owner may still finish (and log) a request
	// it had in flight. Zero when this instance does not own it now.
	OwnedSince(destination string) time.Time
}

// Delivery is a message handed out by a Consumer, to be settled once: by
// Ack, Retry or Drop. On JetStream a feed's event is handed out again when
// it is not settled within the feed's Redeliver; a lane's delivery stays
// with its holder while the instance owns the destination.
type Delivery interface {
	Msg() Stored
	// Attempt is the how-many-th time the message is handed out, 1 the
	// first time. A JetStream feed counts across instances; a lane, and
	// Kafka, within this process (a lane: while it stays open), from 1
	// again after a restart: enough to back off by, never a count to settle
	// anything on for good.
	Attempt() int
	// Behind is how many of the consumer's messages waited behind this one
	// when it was handed out, as far as this instance knew: a lane's, its
	// destination's backlog; a feed's, what its reads had seen.
	Behind() uint64
	// Ack settles the message as done: this instance does not hand it out
	// again. It may return before the store has the ack; a crash or a
	// lost ack hands the message out again (a feed's event after the
	// feed's Redeliver on JetStream; on Kafka from the last commit; a
	// delivery to its partition's next owner), so what a holder makes of a
	// message must bear it twice: transform's outputs are deduplicated by
	// id, and dispatch sends at least once.
	Ack(ctx context.Context) error
	// Retry hands the message back, to be handed out again after delay.
	Retry(after time.Duration) error
	// Drop settles the message as never to be handed out again: it is
	// malformed. An event stays stored, for inspection.
	Drop() error
}

// Waiting is a destination's backlog.
type Waiting struct {
	Count  uint64
	Oldest time.Time // zero when Count is zero
}

// Errors a Queue returns, wrapped with what failed.
var (
	// ErrNotFound: no message at that position.
	ErrNotFound = errors.New("message not found")
	// ErrUnavailable: the store could not be reached in time; a caller
	// answering a client says 503.
	ErrUnavailable = errors.New("queue unavailable")
	// ErrFull: the store refuses writes for want of space, on its disk or
	// at its limits. Errors that match it match ErrUnavailable too: the
	// write may succeed once space is freed, so a client is told 503.
	ErrFull = errors.New("queue full: out of space or at its limits")
	// ErrTooLarge: the message exceeds what the store accepts.
	ErrTooLarge = errors.New("message larger than the queue accepts")
)

// StreamOf names the stream a subject belongs to, or "" for a subject
// outside hookrelay's streams.
func StreamOf(subject string) string {
	stream, _ := split(subject)
	return stream
}

// KeyOf is the key a subject names (see Msg.Key): the token after its
// stream's prefix, or "" for a subject outside hookrelay's streams; a dead
// letter's id, the token after it (DeadLetterSubject), is not part of it.
// Backends set a read message's Key with it.
func KeyOf(subject string) string {
	_, key := split(subject)
	return key
}

func split(subject string) (stream, key string) {
	for _, s := range [...]struct{ prefix, stream string }{
		{InSubject(""), StreamIn}, {OutSubject(""), StreamOut}, {DeadSubject(""), StreamDead},
		{HistorySubject(""), StreamHistory}, {SentSubject(""), StreamSent},
	} {
		if len(subject) > len(s.prefix) && subject[:len(s.prefix)] == s.prefix {
			key, _, _ = strings.Cut(subject[len(s.prefix):], ".")
			return s.stream, key
		}
	}
	return "", ""
}
