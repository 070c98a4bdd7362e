package queue

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Stores implements every store (Events, EventFeed, Deliveries, Lanes,
// DeadLetters, SendLog, History) over a backend: it is where hookrelay's
// data meets the backend's streams and subjects, which no stage sees.
type Stores struct {
	q Queue
}

// Over returns the stores kept by backend q.
func Over(q Queue) *Stores { return &Stores{q: q} }

// Backend returns the queue the stores are kept in, for what runs the
// process (readiness, close) rather than a stage.
func (s *Stores) Backend() Queue { return s.q }

// ErrBadKey: a message's key, or the key a read asks for, is not a name
// (empty, or holding a dot, a wildcard or a space).
var ErrBadKey = errors.New("not a valid key: a source, destination or event id is a name without dots, wildcards or spaces")

// ValidKey reports whether key names its own subject: not empty, and no
// dot, wildcard or space, which would name another key's subjects.
func ValidKey(key string) bool {
	return key != "" && !strings.ContainsAny(key, ".*> \t\r\n")
}

// checkKey refuses a key that would name another subject than its own.
func checkKey(key string) error {
	if !ValidKey(key) {
		return fmt.Errorf("key %q: %w", key, ErrBadKey)
	}
	return nil
}

// keyed returns ms with their subjects set from their keys by subject.
func keyed(ms []Msg, subject func(string) string) ([]Msg, error) {
	out := make([]Msg, len(ms))
	for i, m := range ms {
		if err := checkKey(m.Key); err != nil {
			return nil, err
		}
		m.Subject = subject(m.Key)
		out[i] = m
	}
	return out, nil
}

// publishAll stores ms, each on the subject of its key.
func (s *Stores) publishAll(ctx context.Context, ms []Msg, subject func(string) string) ([]PubAck, error) {
	ms, err := keyed(ms, subject)
	if err != nil {
		return nil, err
	}
	return s.q.PublishAll(ctx, ms)
}

// scan scans stream for the subject of key ("" for all of them).
func (s *Stores) scan(ctx context.Context, stream string, subject func(string) string, key string, since time.Time, fn func(Stored) (bool, error)) error {
	filter := subject(">")
	if key != "" {
		if err := checkKey(key); err != nil {
			return err
		}
		filter = subject(key)
	}
	return s.q.Scan(ctx, stream, filter, since, fn)
}

// AppendEvent implements Events.
func (s *Stores) AppendEvent(ctx context.Context, m Msg) (PubAck, error) {
	if err := checkKey(m.Key); err != nil {
		return PubAck{}, err
	}
	m.Subject = InSubject(m.Key)
	return s.q.Publish(ctx, m)
}

// AppendEvents implements Events.
func (s *Stores) AppendEvents(ctx context.Context, ms []Msg) ([]PubAck, error) {
	return s.publishAll(ctx, ms, InSubject)
}

// Event implements Events.
func (s *Stores) Event(ctx context.Context, seq uint64) (Stored, error) {
	return s.q.Get(ctx, StreamIn, seq)
}

// ScanEvents implements Events.
func (s *Stores) ScanEvents(ctx context.Context, source string, since time.Time, fn func(Stored) (bool, error)) error {
	return s.scan(ctx, StreamIn, InSubject, source, since, fn)
}

// FeedEvents implements EventFeed.
func (s *Stores) FeedEvents(ctx context.Context, name string, o FeedOptions) (Consumer, error) {
	return s.q.FeedEvents(ctx, name, o)
}

// Enqueue implements Deliveries.
func (s *Stores) Enqueue(ctx context.Context, ms []Msg) ([]PubAck, error) {
	return s.publishAll(ctx, ms, OutSubject)
}

// Claim implements Lanes.
func (s *Stores) Claim(ctx context.Context) (Claim, error) { return s.q.Claim(ctx) }

// OpenLane implements Lanes.
func (s *Stores) OpenLane(ctx context.Context, destination string, o LaneOptions) (Consumer, error) {
	if err := checkKey(destination); err != nil {
		return nil, err
	}
	return s.q.OpenLane(ctx, destination, o)
}

// Backlog implements Lanes.
func (s *Stores) Backlog(ctx context.Context, destinations []string) (map[string]Waiting, error) {
	return s.q.Backlog(ctx, destinations)
}

// ErrBadDeadLetterID: an id that names no dead letter, neither a key that
// is not a number (this release's) nor a positive number (the sequence of
// one stored by an earlier release).
var ErrBadDeadLetterID = errors.New("not a dead-letter id: a name without dots, wildcards or spaces that is not a number, or the number of a dead letter stored by an earlier release")

// ValidDeadLetterID reports whether id can name a dead letter put now: a key
// (ValidKey) that is not a plain decimal number, which would read as the
// sequence of a dead letter stored by an earlier release.
func ValidDeadLetterID(id string) bool { return ValidKey(id) && !isDecimal(id) }

// earlierDeadLetter is the sequence id names when it is the id of a dead
// letter stored by an earlier release.
func earlierDeadLetter(id string) (uint64, bool) {
	if !isDecimal(id) {
		return 0, false
	}
	seq, err := strconv.ParseUint(id, 10, 64)
	return seq, err == nil && seq > 0
}

func isDecimal(s string) bool { return s != "" && strings.Trim(s, "0123456789") == "" }

// deadLetterID is the id of a stored dead letter: the token after its
// destination, or, for one an earlier release filed under the destination
// alone, its sequence.
func deadLetterID(m Stored) string {
	if id, ok := DeadLetterIDOf(m.Subject); ok {
		return id
	}
	return strconv.FormatUint(m.Seq, 10)
}

// PutDeadLetters implements DeadLetters: each on a subject of its own.
func (s *Stores) PutDeadLetters(ctx context.Context, ms []Msg) ([]PubAck, error) {
	out := make([]Msg, len(ms))
	for i, m := range ms {
		if err := checkKey(m.Key); err != nil {
			return nil, err
		}
		if !ValidDeadLetterID(m.ID) {
			return nil, fmt.Errorf("dead letter of %s named %q: %w", m.Key, m.ID, ErrBadDeadLetterID)
		}
		m.Subject = DeadLetterSubject(m.Key, m.ID)
		out[i] = m
	}
	acks, err := s.q.PublishAll(ctx, out)
	if err != nil {
		return nil, err
	}
	for i := range acks {
		acks[i].Ref = ms[i].ID
	}
	return acks, nil
}

// DeadLetter implements DeadLetters: the last message of relay.dead.*.<id>.
// An id that is a number names a dead letter an earlier release stored: a
// backend that carried it over named it so (Kafka), else it is the message
// at that sequence, on the destination's subject (JetStream).
func (s *Stores) DeadLetter(ctx context.Context, id string) (Stored, error) {
	seq, earlier := earlierDeadLetter(id)
	if !earlier && !ValidDeadLetterID(id) {
		return Stored{}, fmt.Errorf("dead letter %q: %w", id, ErrBadDeadLetterID)
	}
	m, err := s.q.Last(ctx, StreamDead, DeadLetterSubject("*", id))
	if earlier && errors.Is(err, ErrNotFound) {
		m, err = s.q.Get(ctx, StreamDead, seq)
		if err == nil && deadLetterID(m) != id {
			return Stored{}, fmt.Errorf("dead letter %s: %w", id, ErrNotFound)
		}
	}
	if err != nil {
		return Stored{}, err
	}
	m.Ref = deadLetterID(m)
	return m, nil
}

// ScanDeadLetters implements DeadLetters. Dead letters stored by an
// earlier release are filed under relay.dead.<destination>, which no one
// filter covers along with relay.dead.<destination>.*: while a destination
// has any, its scan reads every destination's dead letters and keeps its
// own.
func (s *Stores) ScanDeadLetters(ctx context.Context, destination string, since time.Time, fn func(Stored) (bool, error)) error {
	filter := DeadAll
	if destination != "" {
		if err := checkKey(destination); err != nil {
			return err
		}
		filter = DeadLetterSubject(destination, "*")
		_, err := s.q.Last(ctx, StreamDead, DeadSubject(destination))
		switch {
		case err == nil:
			filter = DeadAll
		case !errors.Is(err, ErrNotFound):
			return fmt.Errorf("look for dead letters of %s stored by an earlier release: %w", destination, err)
		}
	}
	return s.q.Scan(ctx, StreamDead, filter, since, func(m Stored) (bool, error) {
		if destination != "" && m.Key != destination {
			return true, nil
		}
		m.Ref = deadLetterID(m)
		return fn(m)
	})
}

// DeleteDeadLetter implements DeadLetters.
func (s *Stores) DeleteDeadLetter(ctx context.Context, id string) error {
	m, err := s.DeadLetter(ctx, id)
	if err != nil {
		return err
	}
	return s.q.Delete(ctx, m)
}

// RecordSends implements SendLog: a record is the sends' times in Unix
// nanoseconds, 8 bytes big-endian each. Releases before this one wrote one
// send a record, and read only records of one send.
func (s *Stores) RecordSends(destination string, at []time.Time) error {
	if len(at) == 0 {
		return nil
	}
	if err := checkKey(destination); err != nil {
		return err
	}
	data := make([]byte, 0, 8*len(at))
	for _, t := range at {
		data = binary.BigEndian.AppendUint64(data, uint64(t.UnixNano()))
	}
	return s.q.Send(Msg{Subject: SentSubject(destination), Data: data})
}

// Sends implements SendLog.
func (s *Stores) Sends(ctx context.Context, destination string, since time.Time, fn func(string, time.Time) (bool, error)) error {
	err := s.scan(ctx, StreamSent, SentSubject, destination, since, func(m Stored) (bool, error) {
		if len(m.Data)%8 != 0 {
			return true, nil
		}
		for b := m.Data; len(b) > 0; b = b[8:] {
			if more, err := fn(m.Key, time.Unix(0, int64(binary.BigEndian.Uint64(b)))); !more || err != nil {
				return more, err
			}
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("read the send log: %w", err)
	}
	return nil
}

// RecordHistory implements History.
func (s *Stores) RecordHistory(eventID string, data []byte) error {
	if err := checkKey(eventID); err != nil {
		return err
	}
	return s.q.Send(Msg{Subject: HistorySubject(eventID), Data: data})
}

// ScanHistory implements History.
func (s *Stores) ScanHistory(ctx context.Context, eventID string, since time.Time, fn func(Stored) (bool, error)) error {
	if err := checkKey(eventID); err != nil {
		return err
	}
	return s.q.Scan(ctx, StreamHistory, HistorySubject(eventID), since, fn)
}

// The stores Stores implements.
var (
	_ Events      = (*Stores)(nil)
	_ EventFeed   = (*Stores)(nil)
	_ Deliveries  = (*Stores)(nil)
	_ Lanes       = (*Stores)(nil)
	_ DeadLetters = (*Stores)(nil)
	_ SendLog     = (*Stores)(nil)
	_ History     = (*Stores)(nil)
)
