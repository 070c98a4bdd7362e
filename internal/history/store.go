package history

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/hookrelay/hookrelay/internal/config"
	"github.com/hookrelay/hookrelay/internal/queue"
	"github.com/hookrelay/hookrelay/schemas"
)

// Errors callers test with errors.Is.
var (
	// ErrNotFound means neither the event nor any history of it is stored
	// (never received, or older than the retention).
	ErrNotFound = errors.New("event not found")
	// ErrInvalid means a request cannot be carried out as given.
	ErrInvalid = errors.New("invalid request")
)

// MaxRecords bounds the history read for one event.
const MaxRecords = 1000

// Store reads RELAY_IN and RELAY_HISTORY, and replays events from source. It
// holds no state of its own: any number of Stores may work at once.
type Store struct {
	history queue.History
	events  queue.Events
	rec     *Recorder
	sources map[string][]string // source → its route names; nil: not checked
	now     func() time.Time
}

// Option configures a Store.
type Option func(*Store)

// WithRecorder records a "replayed" step for every event replayed from
// source. Default none.
func WithRecorder(r *Recorder) Option { return func(s *Store) { s.rec = r } }

// WithConfig makes Replay refuse a source that is not configured or has no
// route, and route names that are not the source's. Default: nothing is
// checked, and transform ignores what it does not know.
func WithConfig(cfg *config.Config) Option {
	return func(s *Store) {
		s.sources = map[string][]string{}
		for _, src := range cfg.Sources {
			s.sources[src.Name] = []string{}
		}
		for _, r := range cfg.Routes {
			s.sources[r.Source] = append(s.sources[r.Source], r.Name)
		}
	}
}

// NewStore returns a Store reading history and events.
func NewStore(history queue.History, events queue.Events, opts ...Option) *Store {
	s := &Store{history: history, events: events, now: time.Now}
	for _, o := range opts {
		o(s)
	}
	return s
}

// History returns the records of one event, in the order the steps
// happened; none (and no error) when nothing was recorded.
func (s *Store) History(ctx context.Context, eventID string) ([]Record, error) {
	recs := []Record{}
	if !ValidEventID(eventID) {
		return recs, fmt.Errorf("%w: %q is not an event id", ErrInvalid, eventID)
	}
	var start time.Time
	if id, err := uuid.Parse(eventID); err == nil && id.Version() == 7 {
		// Every step happens after the event was received, so the scan
		// skips the records of older events.
		start = time.Unix(id.Time().UnixTime()).Add(-historyScanMargin)
	}
	err := s.history.ScanHistory(ctx, eventID, start, func(m queue.Stored) (bool, error) {
		var r Record
		if json.Unmarshal(m.Data, &r) == nil {
			recs = append(recs, r)
		}
		return len(recs) < MaxRecords, nil
	})
	if err != nil {
		return recs, fmt.Errorf("history of %s: %w", eventID, err)
	}
	// Stages in different goroutines and processes publish in the order
	// their records reach the server, not the order things happened.
	slices.SortStableFunc(recs, func(a, b Record) int { return a.At.Compare(b.At) })
	return recs, nil
}

// historyScanMargin allows for the clock of the relay that stamped an event
// id running ahead of the store's, which stamps the records.
const historyScanMargin = time.Minute

// StoredEvent is an event as stored on RELAY_IN. In JSON its body is the
// JSON document it is, or a string when it is not JSON.
type StoredEvent struct {
	// Seq is the event's sequence on RELAY_IN.
	Seq uint64 `json:"seq"`
	// Size is the body's length as received, in bytes.
	Size int `json:"size"`
	schemas.Event
	Body json.RawMessage `json:"body"`
}

func storedEvent(seq uint64, ev schemas.Event) *StoredEvent {
	out := &StoredEvent{Seq: seq, Size: len(ev.Body), Event: ev}
	if json.Valid(ev.Body) {
		out.Body = ev.Body
	} else {
		out.Body, _ = json.Marshal(string(ev.Body)) // a string always encodes
	}
	return out
}

// View is one event with its history.
type View struct {
	ID string `json:"id"`
	// Event is nil when it is no longer (or was never) on RELAY_IN.
	Event   *StoredEvent `json:"event,omitempty"`
	History []Record     `json:"history"`
}

// Get returns the event and its history, or ErrNotFound when neither is stored.
func (s *Store) Get(ctx context.Context, eventID string) (View, error) {
	v := View{ID: eventID}
	recs, err := s.History(ctx, eventID)
	if err != nil {
		return v, err
	}
	v.History = recs
	ev, err := s.event(ctx, eventID, recs)
	if err != nil {
		return v, err
	}
	v.Event = ev
	if ev == nil && len(recs) == 0 {
		return v, fmt.Errorf("event %s: %w", eventID, ErrNotFound)
	}
	if ev != nil && !slices.ContainsFunc(recs, func(r Record) bool { return r.Kind == KindReceived }) {
		v.History = append([]Record{received(ev)}, recs...)
	}
	return v, nil
}

// received is the first step of every event's history. Ingest does not
// record it: the stored event says it all, and one write per event fewer
// keeps ingest as fast as a bare publish.
func received(ev *StoredEvent) Record {
	return Record{EventID: ev.ID, At: ev.ReceivedAt, Stage: StageIngest, Kind: KindReceived, Source: ev.Source,
		Seq: ev.Seq, Detail: fmt.Sprintf("verified by %s, %d bytes", ev.Verified, ev.Size)}
}

// eventScanMargin is how far around an event id's time event looks for it
// on RELAY_IN: ids are stamped just before the store, so the scan starts a
// little before (the id's clock and the store's may differ) and finds it
// among the first messages.
const eventScanMargin = 2 * time.Second

// event finds the stored event: at the sequence its received record names,
// else by scanning RELAY_IN around the time in its UUIDv7 id.
func (s *Store) event(ctx context.Context, eventID string, recs []Record) (*StoredEvent, error) {
	for _, r := range recs {
		if r.Kind != KindReceived || r.Seq == 0 {
			continue
		}
		m, err := s.events.Event(ctx, r.Seq)
		if errors.Is(err, queue.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("event %s: read stored event %d: %w", eventID, r.Seq, err)
		}
		if ev, err := schemas.DecodeEvent(m.Header, m.Data); err == nil && ev.ID == eventID {
			return storedEvent(m.Seq, ev), nil
		}
	}
	id, err := uuid.Parse(eventID)
	if err != nil || id.Version() != 7 {
		return nil, nil
	}
	at := time.Unix(id.Time().UnixTime())
	var found *StoredEvent
	err = s.events.ScanEvents(ctx, "", at.Add(-eventScanMargin), func(m queue.Stored) (bool, error) {
		if m.Time.After(at.Add(eventScanMargin)) {
			return false, nil
		}
		if m.Header.Get(queue.HeaderEventID) != eventID || m.Header.Get(queue.HeaderReplay) != "" {
			return true, nil
		}
		if ev, err := schemas.DecodeEvent(m.Header, m.Data); err == nil && ev.ID == eventID {
			found = storedEvent(m.Seq, ev)
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		return nil, fmt.Errorf("event %s: scan the stored events: %w", eventID, err)
	}
	return found, nil
}

// ReplayRequest selects stored events of one source to run through transform
// again.
type ReplayRequest struct {
	// Source is required.
	Source string `json:"source"`
	// Since is required: events received at or after it. Until, if set,
	// excludes events received at or after it.
	Since time.Time `json:"since"`
	Until time.Time `json:"until,omitzero"`
	// Routes, if set, are the only routes the events go through again.
	Routes []string `json:"routes,omitempty"`
	// DryRun only lists the events.
	DryRun bool `json:"dry_run,omitempty"`
	// ID names the replay (letters, digits, '-' and '_'; default: made from
	// the time). The deliveries it makes carry it, so they are not dropped
	// as duplicates of the first ones; the same ID twice replays once.
	ID string `json:"replay_id,omitempty"`
}

// EventSummary names one stored event.
type EventSummary struct {
	ID         string    `json:"id"`
	Seq        uint64    `json:"seq"`
	ReceivedAt time.Time `json:"received_at"`
	Size       int       `json:"size"`
}

// MaxListed bounds ReplayResult.Events; Count counts them all.
const MaxListed = 1000

// ReplayResult says what Replay did, or in a dry run would do.
type ReplayResult struct {
	ID     string         `json:"replay_id"`
	DryRun bool           `json:"dry_run"`
	Count  int            `json:"count"`
	Events []EventSummary `json:"events"`
	// Truncated says Events lists only the first MaxListed of Count.
	Truncated bool `json:"truncated,omitempty"`
}

var replayIDRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

func (s *Store) checkReplay(req ReplayRequest) error {
	switch {
	case req.Source == "" || strings.ContainsAny(req.Source, ".*> \t\r\n"):
		return fmt.Errorf("%w: name the source whose events to replay (got %q)", ErrInvalid, req.Source)
	case req.Since.IsZero():
		return fmt.Errorf("%w: since is required: replay events received since when?", ErrInvalid)
	case !req.Until.IsZero() && !req.Until.After(req.Since):
		return fmt.Errorf("%w: until (%s) is not after since (%s)", ErrInvalid, req.Until.Format(time.RFC3339), req.Since.Format(time.RFC3339))
	case req.ID != "" && !replayIDRE.MatchString(req.ID):
		return fmt.Errorf("%w: replay id %q must be 1-32 letters, digits, '-' or '_'", ErrInvalid, req.ID)
	}
	if s.sources == nil {
		return nil
	}
	routes, ok := s.sources[req.Source]
	switch {
	case !ok:
		return fmt.Errorf("%w: source %q is not configured", ErrInvalid, req.Source)
	case len(routes) == 0:
		return fmt.Errorf("%w: no route takes events of source %q: nothing would be delivered", ErrInvalid, req.Source)
	}
	for _, r := range req.Routes {
		if !slices.Contains(routes, r) {
			return fmt.Errorf("%w: route %q is not a route of source %q (its routes: %s)", ErrInvalid, r, req.Source, strings.Join(routes, ", "))
		}
	}
	return nil
}

// ResendMsgIDPrefix starts the queue.Msg ID of an event re-published by a
// replay from source: resend.<event id>.<replay id>.
const ResendMsgIDPrefix = "resend."

// Replay re-publishes the stored events of req.Source received in
// [Since, Until) to RELAY_IN, marked as replays (queue.HeaderReplay), so
// transform runs them through the current routes and mappings again. Events
// that are themselves replays are not replayed again. The deliveries then go
// through each destination's normal budget.
func (s *Store) Replay(ctx context.Context, req ReplayRequest) (ReplayResult, error) {
	if req.ID == "" {
		req.ID = strconv.FormatInt(s.now().UnixMilli(), 36)
	}
	res := ReplayResult{ID: req.ID, DryRun: req.DryRun, Events: []EventSummary{}}
	if err := s.checkReplay(req); err != nil {
		return res, err
	}
	var batch []queue.Msg
	var batchEvents []schemas.Event
	store := func() error {
		if len(batch) == 0 {
			return nil
		}
		if _, err := s.events.AppendEvents(ctx, batch); err != nil {
			return fmt.Errorf("replay %s: store %d events: %w", req.ID, len(batch), err)
		}
		for _, ev := range batchEvents {
			s.rec.Record(Record{EventID: ev.ID, Stage: StageReplay, Kind: KindReplayed, Source: ev.Source,
				Detail: replayDetail(req)})
		}
		batch, batchEvents = batch[:0], batchEvents[:0]
		return nil
	}
	seen := map[string]bool{}
	// Stored just after it was received, so nothing older than Since (less
	// a margin for clocks) can match.
	err := s.events.ScanEvents(ctx, req.Source, req.Since.Add(-eventScanMargin), func(m queue.Stored) (bool, error) {
		if m.Header.Get(queue.HeaderReplay) != "" {
			return true, nil
		}
		ev, err := schemas.DecodeEvent(m.Header, m.Data)
		if err != nil || seen[ev.ID] {
			return true, nil
		}
		if ev.ReceivedAt.Before(req.Since) || (!req.Until.IsZero() && !ev.ReceivedAt.Before(req.Until)) {
			return true, nil
		}
		seen[ev.ID] = true
		res.Count++
		if len(res.Events) < MaxListed {
			res.Events = append(res.Events, EventSummary{ID: ev.ID, Seq: m.Seq, ReceivedAt: ev.ReceivedAt, Size: len(ev.Body)})
		} else {
			res.Truncated = true
		}
		if req.DryRun {
			return true, nil
		}
		batch = append(batch, resend(m, ev.ID, req))
		batchEvents = append(batchEvents, ev)
		if len(batch) >= replayBatch {
			return true, store()
		}
		return true, nil
	})
	if err != nil {
		return res, err
	}
	return res, store()
}

// replayBatch is how many events Replay stores at once.
const replayBatch = 256

// resend is the stored event m marked as replayed by req, with an id that
// makes the same replay of the same event stored once.
func resend(m queue.Stored, eventID string, req ReplayRequest) queue.Msg {
	out := queue.Msg{Key: m.Key, Header: make(queue.Header, len(m.Header)+2), Data: m.Data,
		ID: ResendMsgIDPrefix + eventID + "." + req.ID}
	for k, vs := range m.Header {
		out.Header[k] = vs
	}
	out.Header.Set(queue.HeaderReplay, req.ID)
	if len(req.Routes) > 0 {
		out.Header.Set(queue.HeaderReplayRoutes, strings.Join(req.Routes, ","))
	}
	return out
}

func replayDetail(req ReplayRequest) string {
	d := "replayed from source (replay " + req.ID + ")"
	if len(req.Routes) > 0 {
		d += " through route " + strings.Join(req.Routes, ", ")
	}
	return d
}
