// Package deadletter reads, replays and purges the dead letters that dispatch
// and transform store on RELAY_DEAD, and serves them on the admin API.
package deadletter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hookrelay/hookrelay/internal/config"
	"github.com/hookrelay/hookrelay/internal/history"
	"github.com/hookrelay/hookrelay/internal/queue"
	"github.com/hookrelay/hookrelay/internal/telemetry"
	"github.com/hookrelay/hookrelay/schemas"
)

// Errors callers test with errors.Is.
var (
	// ErrNotFound means no dead letter has the id (never stored, replayed or
	// purged).
	ErrNotFound = errors.New("dead letter not found")
	// ErrInvalidFilter means a filter field cannot be used as given.
	ErrInvalidFilter = errors.New("invalid filter")
	// ErrEmptyFilter means Replay or Purge was asked to act on every dead
	// letter without Filter.All saying so.
	ErrEmptyFilter = errors.New("empty filter: name ids, a destination or another field, or set all to act on every dead letter")
)

// Entry is one dead letter as stored on RELAY_DEAD.
type Entry struct {
	// ID is the stable id of the entry: its RELAY_DEAD stream sequence as a
	// decimal string.
	ID string `json:"id"`
	// Seq is the same sequence as a number.
	Seq uint64 `json:"seq"`
	// Title is what the card is about (CardTitle), so a list says which
	// alert or ticket did not reach the channel; "" when it has no card.
	Title string `json:"title,omitempty"`
	schemas.DeadLetter
}

// Filter selects dead letters. Zero fields match everything; set fields must
// all match.
type Filter struct {
	// IDs restricts the selection to these entries.
	IDs []string
	// Destination, Source and Reason must equal the dead letter's.
	Destination string
	Source      string
	Reason      string
	// Status must equal the last HTTP status the destination answered.
	Status int
	// Since and Until bound DeadAt: Since <= DeadAt < Until.
	Since, Until time.Time
	// MaxSeq, when not 0, leaves out the entries stored after the one of
	// this sequence (id): what a confirmation counted is what is purged,
	// however many arrive meanwhile. Like Limit, it does not make a filter
	// non-empty.
	MaxSeq uint64
	// Limit caps the number of entries, oldest first; 0 means no cap.
	Limit int
	// All confirms that an otherwise empty filter means every dead letter.
	// Replay and Purge refuse an empty filter without it, so a typo cannot
	// act on everything. Limit alone does not make a filter non-empty.
	All bool
}

// Empty reports whether f selects by nothing at all.
func (f Filter) Empty() bool {
	return len(f.IDs) == 0 && f.Destination == "" && f.Source == "" && f.Reason == "" &&
		f.Status == 0 && f.Since.IsZero() && f.Until.IsZero()
}

func (f Filter) match(e Entry) bool {
	switch {
	case f.Destination != "" && e.Delivery.Destination != f.Destination,
		f.Source != "" && e.Delivery.Source != f.Source,
		f.Reason != "" && e.Reason != f.Reason,
		f.Status != 0 && e.LastStatus != f.Status,
		!f.Since.IsZero() && e.DeadAt.Before(f.Since),
		!f.Until.IsZero() && !e.DeadAt.Before(f.Until),
		f.MaxSeq != 0 && e.Seq > f.MaxSeq:
		return false
	}
	return true
}

func (f Filter) validate() error {
	if f.Destination != "" && strings.ContainsAny(f.Destination, ".*> \t\r\n") {
		return fmt.Errorf("%w: destination %q is not a destination name", ErrInvalidFilter, f.Destination)
	}
	if f.Limit < 0 {
		return fmt.Errorf("%w: limit %d is negative", ErrInvalidFilter, f.Limit)
	}
	if f.Reason != "" && !slices.Contains(Reasons, f.Reason) {
		return fmt.Errorf("%w: reason %q is not one of %s", ErrInvalidFilter, f.Reason, strings.Join(Reasons, ", "))
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Until.After(f.Since) {
		return fmt.Errorf("%w: until (%s) is not after since (%s)", ErrInvalidFilter,
			f.Until.Format(time.RFC3339), f.Since.Format(time.RFC3339))
	}
	for _, id := range f.IDs {
		if _, err := parseID(id); err != nil {
			return err
		}
	}
	return nil
}

func parseID(id string) (uint64, error) {
	seq, err := strconv.ParseUint(id, 10, 64)
	if err != nil || seq == 0 {
		return 0, fmt.Errorf("%w: id %q is not a dead-letter id (a positive decimal number)", ErrInvalidFilter, id)
	}
	return seq, nil
}

// Reasons are the reasons a filter can name: the schemas' reasons and
// ReasonUndecodable.
var Reasons = []string{
	schemas.ReasonRejected, schemas.ReasonGone, schemas.ReasonExhausted,
	schemas.ReasonExpired, schemas.ReasonTransform, schemas.ReasonRemoved, ReasonUndecodable,
}

// Store lists, replays and purges dead letters. It holds no state of its
// own, so any number of Stores (in any number of processes) may work at once.
type Store struct {
	dead       queue.DeadLetters
	deliveries queue.Deliveries
	now        func() time.Time
	history    *history.Recorder
	tel        *telemetry.Telemetry
}

// Option configures a Store.
type Option func(*Store)

// WithHistory records every replay in the replayed event's history. Default
// none.
func WithHistory(r *history.Recorder) Option {
	return func(s *Store) { s.history = r }
}

// NewStore returns a Store of the dead letters in dead, replaying them as
// deliveries.
func NewStore(dead queue.DeadLetters, deliveries queue.Deliveries, opts ...Option) *Store {
	s := &Store{dead: dead, deliveries: deliveries, now: time.Now}
	for _, o := range opts {
		o(s)
	}
	return s
}

// List returns the dead letters matching f, oldest first.
func (s *Store) List(ctx context.Context, f Filter) ([]Entry, error) {
	entries := []Entry{}
	err := s.each(ctx, f, func(e Entry) error {
		entries = append(entries, e)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return entries, nil
}

// Page is one page of the dead letters matching a filter.
type Page struct {
	Entries []Entry
	// Total counts every dead letter matching the filter.
	Total int
	// MaxSeq is the newest matching entry's sequence (0 when none
	// matches): a Filter with it as MaxSeq selects what Total counted.
	MaxSeq uint64
}

// Page returns the dead letters matching f from offset on, at most f.Limit
// of them (0: all), oldest first or, with newest, newest first; and how many
// match in all. It reads every matching entry to count them, but keeps only
// the page's.
func (s *Store) Page(ctx context.Context, f Filter, offset int, newest bool) (Page, error) {
	if offset < 0 {
		return Page{}, fmt.Errorf("%w: offset %d is negative", ErrInvalidFilter, offset)
	}
	limit := f.Limit
	f.Limit = 0
	var seqs []uint64
	var kept []Entry // the page's entries, when known during the scan
	err := s.each(ctx, f, func(e Entry) error {
		i := len(seqs)
		seqs = append(seqs, e.Seq)
		if !newest && i >= offset && (limit == 0 || i < offset+limit) {
			kept = append(kept, e)
		}
		return nil
	})
	if err != nil {
		return Page{}, err
	}
	p := Page{Entries: []Entry{}, Total: len(seqs)}
	if len(seqs) > 0 {
		p.MaxSeq = slices.Max(seqs)
	}
	if !newest {
		if kept != nil {
			p.Entries = kept
		}
		return p, nil
	}
	// Newest first: the page's positions are known only now.
	slices.Reverse(seqs)
	if offset >= len(seqs) {
		return p, nil
	}
	seqs = seqs[offset:]
	if limit > 0 && len(seqs) > limit {
		seqs = seqs[:limit]
	}
	for _, seq := range seqs {
		e, err := s.getEntry(ctx, seq)
		if errors.Is(err, ErrNotFound) {
			continue // replayed or purged since the scan
		}
		if err != nil {
			return Page{}, err
		}
		p.Entries = append(p.Entries, e)
	}
	return p, nil
}

// Get returns one dead letter, or ErrNotFound.
func (s *Store) Get(ctx context.Context, id string) (Entry, error) {
	seq, err := parseID(id)
	if err != nil {
		return Entry{}, err
	}
	return s.getEntry(ctx, seq)
}

func (s *Store) getEntry(ctx context.Context, seq uint64) (Entry, error) {
	m, err := s.dead.DeadLetter(ctx, seq)
	if errors.Is(err, queue.ErrNotFound) {
		return Entry{}, fmt.Errorf("dead letter %d: %w", seq, ErrNotFound)
	}
	if err != nil {
		return Entry{}, fmt.Errorf("get dead letter %d: %w", seq, err)
	}
	return decode(m.Key, m.Seq, m.Data), nil
}

// ReasonUndecodable marks an entry whose stored message is not a dead letter
// JSON: it is listed (with the decode error as LastError) and can be purged,
// but not replayed, so one bad message does not block the others.
const ReasonUndecodable = "undecodable"

func decode(destination string, seq uint64, data []byte) Entry {
	e := Entry{ID: strconv.FormatUint(seq, 10), Seq: seq}
	if err := json.Unmarshal(data, &e.DeadLetter); err != nil {
		e.DeadLetter = schemas.DeadLetter{Reason: ReasonUndecodable, LastError: "decode dead letter: " + err.Error()}
	}
	// The dead letter was filed under its destination, which names it even
	// when the delivery itself does not (a failed transform).
	if e.Delivery.Destination == "" {
		e.Delivery.Destination = destination
	}
	e.Title = CardTitle(e.Delivery.Card)
	return e
}

// each calls fn for every entry matching f, oldest first, up to f.Limit. It
// only visits entries stored before it started, so a replayed delivery that
// is dead-lettered again meanwhile is not replayed twice by one call.
func (s *Store) each(ctx context.Context, f Filter, fn func(Entry) error) error {
	if err := f.validate(); err != nil {
		return err
	}
	n := 0
	visit := func(e Entry) (more bool, err error) {
		if !f.match(e) {
			return true, nil
		}
		if err := fn(e); err != nil {
			return false, err
		}
		n++
		return f.Limit == 0 || n < f.Limit, nil
	}
	if len(f.IDs) > 0 {
		return s.eachID(ctx, f.IDs, visit)
	}
	return s.eachScan(ctx, f, visit)
}

func (s *Store) eachID(ctx context.Context, ids []string, visit func(Entry) (bool, error)) error {
	seqs := make([]uint64, 0, len(ids))
	for _, id := range ids {
		seq, _ := parseID(id) // validated by Filter.validate
		seqs = append(seqs, seq)
	}
	slices.Sort(seqs)
	for _, seq := range slices.Compact(seqs) {
		e, err := s.getEntry(ctx, seq)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if more, err := visit(e); err != nil || !more {
			return err
		}
	}
	return nil
}

// skewMargin allows for the clock of the process that stamped DeadAt running
// ahead of the store's, when Since is used to skip old messages.
const skewMargin = 5 * time.Minute

func (s *Store) eachScan(ctx context.Context, f Filter, visit func(Entry) (bool, error)) error {
	var start time.Time
	if !f.Since.IsZero() {
		// A dead letter is stored after it is stamped, so nothing older than
		// Since (less the margin) can match.
		start = f.Since.Add(-skewMargin)
	}
	return s.dead.ScanDeadLetters(ctx, f.Destination, start, func(m queue.Stored) (bool, error) {
		if f.MaxSeq != 0 && m.Seq > f.MaxSeq {
			return false, nil
		}
		return visit(decode(m.Key, m.Seq, m.Data))
	})
}

// Skip is a dead letter Replay left alone, and why.
type Skip struct {
	ID     string `json:"id"`
	Reason string `json:"reason"`
}

// ReplayResult says what Replay did (or, in a dry run, would do).
type ReplayResult struct {
	// Replayed are the ids re-published to RELAY_OUT and removed from RELAY_DEAD.
	Replayed []string `json:"replayed"`
	// Skipped are the matching ids that cannot be replayed.
	Skipped []Skip `json:"skipped,omitempty"`
	// DryRun is true when nothing was changed.
	DryRun bool `json:"dry_run"`
}

// ReplayMsgIDPrefix starts the queue.Msg ID of a replayed delivery; the rest
// is the dead letter's sequence, so the queue stores one replay of a dead letter
// however many replays of it race.
const ReplayMsgIDPrefix = "replay."

// Replay re-publishes the delivery of every dead letter matching f to
// RELAY_OUT and deletes the dead letter. The delivery gets a fresh lifetime as
// long as its first one (config.DefaultMaxAge when it had none) and one more
// replay counted; dispatch counts attempts afresh. A dead letter already replayed by a concurrent call counts as
// replayed. With dryRun, Replay only reports what it would do.
func (s *Store) Replay(ctx context.Context, f Filter, dryRun bool) (ReplayResult, error) {
	res := ReplayResult{Replayed: []string{}, DryRun: dryRun}
	if f.Empty() && !f.All {
		return res, ErrEmptyFilter
	}
	err := s.each(ctx, f, func(e Entry) error {
		switch {
		case e.Reason == ReasonUndecodable:
			res.Skipped = append(res.Skipped, Skip{ID: e.ID, Reason: "the stored dead letter cannot be decoded; purge it"})
			return nil
		case e.Reason == schemas.ReasonTransform && len(e.Delivery.Card) == 0:
			res.Skipped = append(res.Skipped, Skip{ID: e.ID, Reason: "no card was rendered; replay from source after fixing the mapping"})
			return nil
		case len(e.Delivery.Card) == 0:
			res.Skipped = append(res.Skipped, Skip{ID: e.ID, Reason: "it holds no card to send"})
			return nil
		}
		if !dryRun {
			if err := s.replay(ctx, e); err != nil {
				return err
			}
		}
		res.Replayed = append(res.Replayed, e.ID)
		return nil
	})
	return res, err
}

func (s *Store) replay(ctx context.Context, e Entry) error {
	ctx, span := s.replaySpan(ctx, e)
	defer span.End()
	d := e.Delivery
	now := s.now().UTC()
	d.Replays++
	life := d.NotAfter.Sub(d.CreatedAt)
	if d.NotAfter.IsZero() || d.CreatedAt.IsZero() || life <= 0 {
		// Created already expired (a backlog older than max_age) or without a
		// deadline: dispatch would expire it again at once.
		life = config.DefaultMaxAge
	}
	d.NotAfter = now.Add(life)
	d.CreatedAt = now
	data, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("dead letter %s: encode delivery: %w", e.ID, err)
	}
	msg := queue.Msg{Key: d.Destination, Header: queue.Header{}, Data: data, ID: ReplayMsgIDPrefix + e.ID}
	msg.Header.Set(queue.HeaderDeliveryID, d.ID)
	if d.EventID != "" {
		msg.Header.Set(queue.HeaderEventID, d.EventID)
	}
	if d.Source != "" {
		msg.Header.Set(queue.HeaderSource, d.Source)
	}
	_, pub := s.tel.StartPublish(ctx, queue.OutSubject(d.Destination), msg.Header, telemetry.AttrDeliveryID.String(d.ID),
		telemetry.AttrDestination.String(d.Destination))
	acks, err := s.deliveries.Enqueue(ctx, []queue.Msg{msg})
	telemetry.EndSpan(pub, err)
	if err != nil {
		telemetry.EndSpan(span, err)
		return fmt.Errorf("dead letter %s: enqueue for %s: %w", e.ID, d.Destination, err)
	}
	if !acks[0].Duplicate {
		s.tel.Metrics().Replay(d.Destination)
		s.history.Record(history.Record{EventID: d.EventID, At: now, Stage: history.StageDeadLetter,
			Kind: history.KindReplayed, Source: d.Source, Route: d.Route, Destination: d.Destination,
			DeliveryID: d.ID, Detail: fmt.Sprintf("dead letter %s (%s) replayed", e.ID, e.Reason)})
	}
	return s.delete(ctx, e.Seq)
}

// delete deletes a dead letter; one already gone (a concurrent replay or
// purge got there first) is not an error.
func (s *Store) delete(ctx context.Context, seq uint64) error {
	err := s.dead.DeleteDeadLetter(ctx, seq)
	if err == nil || errors.Is(err, queue.ErrNotFound) {
		return nil
	}
	return fmt.Errorf("delete dead letter %d: %w", seq, err)
}

// Purge deletes the dead letters matching f and returns how many it deleted.
func (s *Store) Purge(ctx context.Context, f Filter) (int, error) {
	if f.Empty() && !f.All {
		return 0, ErrEmptyFilter
	}
	n := 0
	err := s.each(ctx, f, func(e Entry) error {
		if err := s.delete(ctx, e.Seq); err != nil {
			return err
		}
		n++
		return nil
	})
	return n, err
}
