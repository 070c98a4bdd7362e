package deadletter

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hookrelay/hookrelay/internal/adminapi"
	"github.com/hookrelay/hookrelay/internal/queue"
)

// DefaultListLimit caps a list request that names no limit: entries carry
// cards of up to 28 KB each.
const DefaultListLimit = 100

// maxBody bounds a replay or purge request body.
const maxBody = 1 << 20

// NewHandler serves the dead-letter admin API on full paths, so it can be
// mounted as is on the admin mux under /api/v1/deadletters:
//
//	GET  /api/v1/deadletters?destination=&source=&reason=&status=&since=&until=&id=&max_id=&limit=&offset=&order=
//	GET  /api/v1/deadletters/{id}
//	POST /api/v1/deadletters/replay  {"ids":[…],"destination":…,"dry_run":false,"all":false}
//	POST /api/v1/deadletters/purge   {"ids":[…],"destination":…,"all":false}
//
// since and until take RFC 3339 or a duration meaning that long ago ("2h").
// A list without limit returns at most DefaultListLimit entries; limit=0 all.
// It skips offset entries first, lists oldest first or, with order=newest,
// newest first, and says how many match in all (total) and where the newest
// matching one is stored (max_id: its seq), which a replay or purge can pass
// back to act on exactly what was counted. An id is what an entry's id says:
// "<event id>:<destination>:<replays>", or a number for a dead letter stored
// before ids were names.
// Authentication is the admin listener's business, not this handler's.
func NewHandler(s *Store, logger *slog.Logger) http.Handler {
	return newHandler(s, logger, time.Now)
}

func newHandler(s *Store, logger *slog.Logger, now func() time.Time) http.Handler {
	h := &handler{store: s, log: logger, now: now}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/deadletters", h.list)
	mux.HandleFunc("GET /api/v1/deadletters/{id}", h.get)
	mux.HandleFunc("POST /api/v1/deadletters/replay", h.replay)
	mux.HandleFunc("POST /api/v1/deadletters/purge", h.purge)
	return mux
}

type handler struct {
	store *Store
	log   *slog.Logger
	now   func() time.Time
}

// ListResponse is the body of a list answer.
type ListResponse struct {
	DeadLetters []Entry `json:"deadletters"`
	// Count is len(DeadLetters).
	Count int `json:"count"`
	// Total counts every dead letter matching the filter.
	Total int `json:"total"`
	// Offset is the offset asked for.
	Offset int `json:"offset"`
	// MaxID is the newest matching dead letter's seq, in decimal ("" when
	// none): where what the list counted ends, for a replay or purge to
	// pass back (Filter.MaxSeq).
	MaxID string `json:"max_id,omitempty"`
}

// ReplayResponse is the body of a replay answer.
type ReplayResponse struct {
	ReplayResult
	Count int `json:"count"`
}

// PurgeResponse is the body of a purge answer.
type PurgeResponse struct {
	Purged int `json:"purged"`
}

// ActionRequest is the body of a replay or purge request. Unknown fields are
// refused, so a misspelt field cannot widen the selection.
type ActionRequest struct {
	IDs         []string `json:"ids,omitempty"`
	Destination string   `json:"destination,omitempty"`
	Source      string   `json:"source,omitempty"`
	Reason      string   `json:"reason,omitempty"`
	Status      int      `json:"status,omitempty"`
	// Since and Until are RFC 3339 times or durations meaning that long ago.
	Since string `json:"since,omitempty"`
	Until string `json:"until,omitempty"`
	// MaxID leaves out dead letters stored after the one of this seq, a
	// list's max_id (see Filter.MaxSeq).
	MaxID  string `json:"max_id,omitempty"`
	Limit  int    `json:"limit,omitempty"`
	All    bool   `json:"all,omitempty"`
	DryRun bool   `json:"dry_run,omitempty"`
}

var listParams = map[string]bool{
	"id": true, "destination": true, "source": true, "reason": true, "status": true, "since": true,
	"until": true, "max_id": true, "limit": true, "offset": true, "order": true,
}

func (h *handler) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f, err := h.queryFilter(q)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	offset, err := atoi("offset", q.Get("offset"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	order := q.Get("order")
	if order != "" && order != "oldest" && order != "newest" {
		h.fail(w, r, fmt.Errorf("%w: order %q: choose oldest or newest", ErrInvalidFilter, order))
		return
	}
	p, err := h.store.Page(r.Context(), f, offset, order == "newest")
	if err != nil {
		h.fail(w, r, err)
		return
	}
	resp := ListResponse{DeadLetters: p.Entries, Count: len(p.Entries), Total: p.Total, Offset: offset}
	if p.MaxSeq != 0 {
		resp.MaxID = strconv.FormatUint(p.MaxSeq, 10)
	}
	adminapi.WriteJSON(w, http.StatusOK, resp)
}

// maxSeq reads a max_id: the Seq of the newest entry a list counted (not
// an id: ids are names, in no order).
func maxSeq(v string) (uint64, error) {
	if v == "" {
		return 0, nil
	}
	return parseSeq("max_id", v)
}

func (h *handler) queryFilter(q url.Values) (Filter, error) {
	for k := range q {
		if !listParams[k] {
			return Filter{}, fmt.Errorf("%w: unknown parameter %q", ErrInvalidFilter, k)
		}
	}
	var f Filter
	for _, v := range q["id"] {
		for id := range strings.SplitSeq(v, ",") {
			if id = strings.TrimSpace(id); id != "" {
				f.IDs = append(f.IDs, id)
			}
		}
	}
	f.Destination, f.Source, f.Reason = q.Get("destination"), q.Get("source"), q.Get("reason")
	var err error
	if f.Status, err = atoi("status", q.Get("status")); err != nil {
		return Filter{}, err
	}
	if f.Limit, err = atoi("limit", q.Get("limit")); err != nil {
		return Filter{}, err
	}
	if !q.Has("limit") {
		f.Limit = DefaultListLimit
	}
	if f.MaxSeq, err = maxSeq(q.Get("max_id")); err != nil {
		return Filter{}, err
	}
	if f.Since, err = ParseTime(q.Get("since"), h.now()); err != nil {
		return Filter{}, err
	}
	if f.Until, err = ParseTime(q.Get("until"), h.now()); err != nil {
		return Filter{}, err
	}
	return f, nil
}

func atoi(name, v string) (int, error) {
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%w: %s %q is not a non-negative number", ErrInvalidFilter, name, v)
	}
	return n, nil
}

// ParseTime reads an RFC 3339 time, or a duration meaning that long before
// now ("2h", "90m"). Empty means no bound (the zero time). Its errors are
// ErrInvalidFilter.
func ParseTime(v string, now time.Time) (time.Time, error) {
	t, err := adminapi.ParseTime(v, now)
	if err != nil {
		return t, fmt.Errorf("%w: %w", ErrInvalidFilter, err)
	}
	return t, nil
}

func (h *handler) get(w http.ResponseWriter, r *http.Request) {
	e, err := h.store.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	adminapi.WriteJSON(w, http.StatusOK, e)
}

func (h *handler) readAction(w http.ResponseWriter, r *http.Request) (ActionRequest, Filter, error) {
	var req ActionRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return req, Filter{}, fmt.Errorf("%w: request body: %v", errBadRequest, err)
	}
	f := Filter{
		IDs: req.IDs, Destination: req.Destination, Source: req.Source, Reason: req.Reason,
		Status: req.Status, Limit: req.Limit, All: req.All,
	}
	var err error
	if f.MaxSeq, err = maxSeq(req.MaxID); err != nil {
		return req, Filter{}, err
	}
	if f.Since, err = ParseTime(req.Since, h.now()); err != nil {
		return req, Filter{}, err
	}
	if f.Until, err = ParseTime(req.Until, h.now()); err != nil {
		return req, Filter{}, err
	}
	return req, f, nil
}

func (h *handler) replay(w http.ResponseWriter, r *http.Request) {
	req, f, err := h.readAction(w, r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	res, err := h.store.Replay(r.Context(), f, req.DryRun)
	if err != nil {
		// Some may have been replayed before the failure: say which.
		if len(res.Replayed) > 0 && !req.DryRun {
			err = fmt.Errorf("%w (replayed before the failure: %s)", err, strings.Join(res.Replayed, ","))
		}
		h.fail(w, r, err)
		return
	}
	if !req.DryRun && len(res.Replayed) > 0 {
		h.log.InfoContext(r.Context(), "replayed dead letters", "count", len(res.Replayed), "skipped", len(res.Skipped))
	}
	adminapi.WriteJSON(w, http.StatusOK, ReplayResponse{ReplayResult: res, Count: len(res.Replayed)})
}

func (h *handler) purge(w http.ResponseWriter, r *http.Request) {
	req, f, err := h.readAction(w, r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if req.DryRun {
		h.fail(w, r, fmt.Errorf("%w: purge has no dry run; list with the same filter instead", errBadRequest))
		return
	}
	n, err := h.store.Purge(r.Context(), f)
	if err != nil {
		if n > 0 {
			err = fmt.Errorf("%w (purged before the failure: %d)", err, n)
		}
		h.fail(w, r, err)
		return
	}
	h.log.InfoContext(r.Context(), "purged dead letters", "count", n)
	adminapi.WriteJSON(w, http.StatusOK, PurgeResponse{Purged: n})
}

var errBadRequest = errors.New("bad request")

// ErrorResponse is the body of every error answer.
type ErrorResponse = adminapi.ErrorResponse

func (h *handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, ErrNotFound):
		status = http.StatusNotFound
	case errors.Is(err, ErrInvalidFilter), errors.Is(err, ErrEmptyFilter), errors.Is(err, errBadRequest):
		status = http.StatusBadRequest
	case queue.IsUnavailable(err):
		status = http.StatusServiceUnavailable
	}
	if status >= 500 {
		h.log.ErrorContext(r.Context(), "dead-letter admin request", "method", r.Method, "path", r.URL.Path, "error", err)
	}
	adminapi.WriteError(w, status, err)
}
