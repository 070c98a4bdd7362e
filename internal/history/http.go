package history

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hookrelay/hookrelay/internal/adminapi"
	"github.com/hookrelay/hookrelay/internal/queue"
)

// NewHandler serves events on the admin API, on full paths:
//
//	GET  /api/v1/events/{id}     the stored event and its history (View)
//	POST /api/v1/events/replay   {"source":…,"since":…,"until":…,"routes":[…],"dry_run":…,"replay_id":…}
//
// since and until take RFC 3339 or a duration meaning that long ago ("2h").
// Authentication is the admin listener's business, not this handler's.
func NewHandler(s *Store, logger *slog.Logger) http.Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	h := &handler{store: s, log: logger, now: time.Now}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/events/{id}", h.get)
	mux.HandleFunc("POST /api/v1/events/replay", h.replay)
	return mux
}

type handler struct {
	store *Store
	log   *slog.Logger
	now   func() time.Time
}

func (h *handler) get(w http.ResponseWriter, r *http.Request) {
	v, err := h.store.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	adminapi.WriteJSON(w, http.StatusOK, v)
}

// ReplayBody is the body of a replay request: ReplayRequest with since and
// until as RFC 3339 times or durations meaning that long ago. Unknown fields
// are refused, so a misspelt field cannot widen the selection.
type ReplayBody struct {
	Source string   `json:"source"`
	Since  string   `json:"since"`
	Until  string   `json:"until,omitempty"`
	Routes []string `json:"routes,omitempty"`
	DryRun bool     `json:"dry_run,omitempty"`
	ID     string   `json:"replay_id,omitempty"`
}

func (h *handler) replay(w http.ResponseWriter, r *http.Request) {
	var body ReplayBody
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		h.fail(w, r, fmt.Errorf("%w: request body: %v", ErrInvalid, err))
		return
	}
	req := ReplayRequest{Source: body.Source, Routes: body.Routes, DryRun: body.DryRun, ID: body.ID}
	var err error
	if req.Since, err = ParseTime(body.Since, h.now()); err != nil {
		h.fail(w, r, fmt.Errorf("since: %w", err))
		return
	}
	if req.Until, err = ParseTime(body.Until, h.now()); err != nil {
		h.fail(w, r, fmt.Errorf("until: %w", err))
		return
	}
	res, err := h.store.Replay(r.Context(), req)
	if err != nil {
		if res.Count > 0 && !req.DryRun {
			err = fmt.Errorf("%w (replay %s re-published %d event(s) before the failure; the same replay_id again replays the rest without repeating them)", err, res.ID, res.Count)
		}
		h.fail(w, r, err)
		return
	}
	if !req.DryRun {
		h.log.InfoContext(r.Context(), "replayed events from source", "source", req.Source, "replay_id", res.ID,
			"count", res.Count, "routes", strings.Join(req.Routes, ","))
	}
	adminapi.WriteJSON(w, http.StatusOK, res)
}

// ParseTime reads an RFC 3339 time, or a duration meaning that long before
// now ("2h", "90m"). Empty means no bound (the zero time). Its errors are
// ErrInvalid.
func ParseTime(v string, now time.Time) (time.Time, error) {
	t, err := adminapi.ParseTime(v, now)
	if err != nil {
		return t, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return t, nil
}

func (h *handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, ErrNotFound):
		status = http.StatusNotFound
	case errors.Is(err, ErrInvalid):
		status = http.StatusBadRequest
	case queue.IsUnavailable(err):
		status = http.StatusServiceUnavailable
	}
	if status >= 500 {
		h.log.ErrorContext(r.Context(), "events admin request", "method", r.Method, "path", r.URL.Path, "error", err)
	}
	adminapi.WriteError(w, status, err)
}

// Client calls the events admin API (NewHandler) over HTTP.
type Client struct {
	// BaseURL is the admin listener, e.g. http://127.0.0.1:8081.
	BaseURL string
	// Token, when set, is sent as a bearer token.
	Token string
	// HTTP makes the requests; nil means http.DefaultClient.
	HTTP *http.Client
}

// errorKinds names the sentinel errors an error answer stands for, so
// that callers can test Client's errors with errors.Is.
func errorKinds(status int, _ string) []error {
	switch status {
	case http.StatusNotFound:
		return []error{ErrNotFound}
	case http.StatusBadRequest:
		return []error{ErrInvalid}
	}
	return nil
}

// Get returns an event and its history; errors.Is(err, ErrNotFound) when
// neither is stored.
func (c *Client) Get(ctx context.Context, eventID string) (View, error) {
	var v View
	err := c.do(ctx, http.MethodGet, "/api/v1/events/"+url.PathEscape(eventID), nil, &v)
	return v, err
}

// Replay replays events from source (see Store.Replay).
func (c *Client) Replay(ctx context.Context, req ReplayRequest) (ReplayResult, error) {
	body := ReplayBody{Source: req.Source, Since: adminapi.FormatTime(req.Since), Until: adminapi.FormatTime(req.Until),
		Routes: req.Routes, DryRun: req.DryRun, ID: req.ID}
	var res ReplayResult
	err := c.do(ctx, http.MethodPost, "/api/v1/events/replay", body, &res)
	return res, err
}

func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	api := adminapi.Client{BaseURL: c.BaseURL, Token: c.Token, HTTP: c.HTTP, Kinds: errorKinds}
	return api.Do(ctx, method, path, body, out)
}
