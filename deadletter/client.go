package deadletter

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Client calls the dead-letter admin API (NewHandler) over HTTP.
type Client struct {
	// BaseURL is the admin listener, e.g. http://127.0.0.1:8081.
	BaseURL string
	// Token, when set, is sent as a bearer token.
	Token string
	// HTTP makes the requests; nil means http.DefaultClient.
	HTTP *http.Client
}

// APIError is an error answer of the admin API. It matches ErrNotFound,
// ErrEmptyFilter and ErrInvalidFilter with errors.Is by status code.
type APIError struct {
	StatusCode int
	Message    string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("admin API: %d %s: %s", e.StatusCode, http.StatusText(e.StatusCode), e.Message)
}

// Is lets callers test an answer with errors.Is(err, ErrNotFound) and friends.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.StatusCode == http.StatusNotFound
	case ErrEmptyFilter:
		return e.StatusCode == http.StatusBadRequest && strings.HasPrefix(e.Message, ErrEmptyFilter.Error())
	case ErrInvalidFilter:
		return e.StatusCode == http.StatusBadRequest
	}
	return false
}

// List returns the dead letters matching f, oldest first, as Store.List does:
// a zero f.Limit means no cap. f.All is not needed to list.
func (c *Client) List(ctx context.Context, f Filter) ([]Entry, error) {
	q := url.Values{}
	for _, id := range f.IDs {
		q.Add("id", id)
	}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("destination", f.Destination)
	set("source", f.Source)
	set("reason", f.Reason)
	if f.Status != 0 {
		q.Set("status", strconv.Itoa(f.Status))
	}
	set("since", formatTime(f.Since))
	set("until", formatTime(f.Until))
	q.Set("limit", strconv.Itoa(f.Limit))
	var out ListResponse
	if err := c.do(ctx, http.MethodGet, "/api/v1/deadletters?"+q.Encode(), nil, &out); err != nil {
		return nil, err
	}
	return out.DeadLetters, nil
}

// Get returns one dead letter; errors.Is(err, ErrNotFound) when it is gone.
func (c *Client) Get(ctx context.Context, id string) (Entry, error) {
	var e Entry
	err := c.do(ctx, http.MethodGet, "/api/v1/deadletters/"+url.PathEscape(id), nil, &e)
	return e, err
}

// Replay replays the dead letters matching f (see Store.Replay).
func (c *Client) Replay(ctx context.Context, f Filter, dryRun bool) (ReplayResult, error) {
	req := actionRequest(f)
	req.DryRun = dryRun
	var out ReplayResponse
	err := c.do(ctx, http.MethodPost, "/api/v1/deadletters/replay", req, &out)
	return out.ReplayResult, err
}

// Purge deletes the dead letters matching f and returns how many it deleted.
func (c *Client) Purge(ctx context.Context, f Filter) (int, error) {
	var out PurgeResponse
	err := c.do(ctx, http.MethodPost, "/api/v1/deadletters/purge", actionRequest(f), &out)
	return out.Purged, err
}

func actionRequest(f Filter) ActionRequest {
	return ActionRequest{
		IDs: f.IDs, Destination: f.Destination, Source: f.Source, Reason: f.Reason, Status: f.Status,
		Since: formatTime(f.Since), Until: formatTime(f.Until), Limit: f.Limit, All: f.All,
	}
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
