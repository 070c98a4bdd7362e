// Package deadletter reads, replays and purges the dead letters that dispatch
// and transform store on RELAY_DEAD, and serves them on the admin API.
package deadletter

import (
	"cmp"
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
	// ID names the entry for good: "<event id>:<destination>:<replays>"
	// (see ID), or, for a dead letter stored before ids were names, its
	// RELAY_DEAD sequence in decimal.
	ID string `json:"id"`
	// Seq is where the entry is stored, in the order dead letters are
	// stored: what Filter.MaxSeq bounds. It is not an id.
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
	// this Seq (Page.MaxSeq): what a confirmation counted is what is purged,
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
		if err := checkID(id); err != nil {
			return err
		}
	}
	return nil
}

// checkID refuses what cannot be a dead letter's id, saying what one looks
// like.
func checkID(id string) error {
	if queue.ValidDeadLetterID(id) {
		return nil
	}
	if seq, err := strconv.ParseUint(id, 10, 64); err == nil && seq > 0 {
		return nil // a dead letter stored before ids were names
	}
	return fmt.Errorf("%w: %q is not a dead-letter id: copy one from a list, like "+
		"0193e7a2-5c1d-7f00-8e4a-2b6c9d0e1f3a:ops-teams:0 (event id:destination:replays), "+
		"or a number for a dead letter stored before ids were names", ErrInvalidFilter, id)
}

// parseSeq reads a Seq given back (max_id).
func parseSeq(name, v string) (uint64, error) {
	seq, err := strconv.ParseUint(v, 10, 64)
	if err != nil || seq == 0 {
		return 0, fmt.Errorf("%w: %s %q is not a position: pass back the %s a list answered", ErrInvalidFilter, name, v, name)
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
	var ids []string
	var kept []Entry // the page's entries, when known during the scan
	p := Page{Entries: []Entry{}}
	err := s.each(ctx, f, func(e Entry) error {
		i := len(ids)
		ids = append(ids, e.ID)
		p.MaxSeq = max(p.MaxSeq, e.Seq)
		if !newest && i >= offset && (limit == 0 || i < offset+limit) {
			kept = append(kept, e)
		}
		return nil
	})
	if err != nil {
		return Page{}, err
	}
	p.Total = len(ids)
	if !newest {
		if kept != nil {
			p.Entries = kept
		}
		return p, nil
	}
	// Newest first: the page's entries are known only now.
	slices.Reverse(ids)
	if offset >= len(ids) {
		return p, nil
	}
	ids = ids[offset:]
	if limit > 0 && len(ids) > limit {
		ids = ids[:limit]
	}
	for _, id := range ids {
		e, err := s.getEntry(ctx, id)
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
	if err := checkID(id); err != nil {
		return Entry{}, err
	}
	return s.getEntry(ctx, id)
}

func (s *Store) getEntry(ctx context.Context, id string) (Entry, error) {
	m, err := s.dead.DeadLetter(ctx, id)
	if errors.Is(err, queue.ErrNotFound) {
		return Entry{}, fmt.Errorf("dead letter %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Entry{}, fmt.Errorf("get dead letter %s: %w", id, err)
	}
	return decode(m), nil
}

// ReasonUndecodable marks an entry whose stored message is not a dead letter
// JSON: it is listed (with the decode error as LastError) and can be purged,
// but not replayed, so one bad message does not block the others.
const ReasonUndecodable = "undecodable"

func decode(m queue.Stored) Entry {
	e := Entry{ID: m.Ref, Seq: m.Seq}
	if err := json.Unmarshal(m.Data, &e.DeadLetter); err != nil {
		e.DeadLetter = schemas.DeadLetter{Reason: ReasonUndecodable, LastError: "decode dead letter: " + err.Error()}
	}
	// The dead letter was filed under its destination, which names it even
	// when the delivery itself does not (a failed transform).
	if e.Delivery.Destination == "" {
		e.Delivery.Destination = m.Key
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

// eachID visits the entries named, oldest first, each once.
func (s *Store) eachID(ctx context.Context, ids []string, visit func(Entry) (bool, error)) error {
	ids = slices.Compact(slices.Sorted(slices.Values(ids)))
	entries := make([]Entry, 0, len(ids))
	for _, id := range ids {
		e, err := s.getEntry(ctx, id)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		entries = append(entries, e)
	}
	slices.SortFunc(entries, func(a, b Entry) int { return cmp.Compare(a.Seq, b.Seq) })
	for _, e := range slices.CompactFunc(entries, func(a, b Entry) bool { return a.Seq == b.Seq }) {
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
		return visit(decode(m))
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
// is the dead letter's id, so the queue stores one replay of a dead letter
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
	return s.delete(ctx, e.ID)
}

// delete deletes a dead letter; one already gone (a concurrent replay or
// purge got there first) is not an error.
func (s *Store) delete(ctx context.Context, id string) error {
	err := s.dead.DeleteDeadLetter(ctx, id)
	if err == nil || errors.Is(err, queue.ErrNotFound) {
		return nil
	}
	return fmt.Errorf("delete dead letter %s: %w", id, err)
}

// Purge deletes the dead letters matching f and returns how many it deleted.
func (s *Store) Purge(ctx context.Context, f Filter) (int, error) {
	if f.Empty() && !f.All {
		return 0, ErrEmptyFilter
	}
	n := 0
	err := s.each(ctx, f, func(e Entry) error {
		if err := s.delete(ctx, e.ID); err != nil {
			return err
		}
		n++
		return nil
	})
	return n, err
}
