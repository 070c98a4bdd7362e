package history

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

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
	writeJSON(w, http.StatusOK, v)
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
	writeJSON(w, http.StatusOK, res)
}

// ParseTime reads an RFC 3339 time, or a duration meaning that long before
// now ("2h", "90m"). Empty means no bound (the zero time).
func ParseTime(v string, now time.Time) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return time.Time{}, fmt.Errorf("%w: %q is neither an RFC 3339 time nor a duration like 2h", ErrInvalid, v)
	}
	return now.Add(-d), nil
}

// ErrorResponse is the body of every error answer.
type ErrorResponse struct {
	Error string `json:"error"`
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
	writeJSON(w, status, ErrorResponse{Error: err.Error()})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the client went away; nothing to tell it
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

// APIError is an error answer of the admin API. It matches ErrNotFound and
// ErrInvalid with errors.Is by status code.
type APIError struct {
	StatusCode int
	Message    string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("admin API: %d %s: %s", e.StatusCode, http.StatusText(e.StatusCode), e.Message)
}

// Is lets callers test an answer with errors.Is(err, ErrNotFound) and ErrInvalid.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.StatusCode == http.StatusNotFound
	case ErrInvalid:
		return e.StatusCode == http.StatusBadRequest
	}
	return false
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
	body := ReplayBody{Source: req.Source, Since: formatTime(req.Since), Until: formatTime(req.Until),
		Routes: req.Routes, DryRun: req.DryRun, ID: req.ID}
	var res ReplayResult
	err := c.do(ctx, http.MethodPost, "/api/v1/events/replay", body, &res)
	return res, err
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format(time.RFC3339Nano)
}

func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(c.BaseURL, "/")+path, rd)
	if err != nil {
		return fmt.Errorf("admin API %s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("admin API %s: %w (is hookrelay running? set --admin or HOOKRELAY_ADMIN)", c.BaseURL, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("admin API %s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		var e ErrorResponse
		if json.Unmarshal(data, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(data))
		}
		return &APIError{StatusCode: resp.StatusCode, Message: e.Error}
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("admin API %s %s: decode answer: %w", method, path, err)
	}
	return nil
}
