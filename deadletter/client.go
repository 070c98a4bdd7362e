package deadletter

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/hookrelay/hookrelay/internal/adminapi"
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

// APIError is an error answer of the admin API. errors.Is matches it to
// ErrNotFound, ErrEmptyFilter and ErrInvalidFilter by its status code.
type APIError = adminapi.Error

// errorKinds names the sentinel errors an error answer stands for.
func errorKinds(status int, message string) []error {
	switch {
	case status == http.StatusNotFound:
		return []error{ErrNotFound}
	case status == http.StatusBadRequest && strings.HasPrefix(message, ErrEmptyFilter.Error()):
		return []error{ErrEmptyFilter, ErrInvalidFilter}
	case status == http.StatusBadRequest:
		return []error{ErrInvalidFilter}
	}
	return nil
}

// List returns the dead letters matching f, oldest first, as Store.List does:
// a zero f.Limit means no cap. f.All is not needed to list.
func (c *Client) List(ctx context.Context, f Filter) ([]Entry, error) {
	p, err := c.Page(ctx, f, 0, false)
	return p.Entries, err
}

// Page returns a page of the dead letters matching f, as Store.Page does.
func (c *Client) Page(ctx context.Context, f Filter, offset int, newest bool) (Page, error) {
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
	set("since", adminapi.FormatTime(f.Since))
	set("until", adminapi.FormatTime(f.Until))
	if f.MaxSeq != 0 {
		q.Set("max_id", strconv.FormatUint(f.MaxSeq, 10))
	}
	q.Set("limit", strconv.Itoa(f.Limit))
	if offset != 0 {
		q.Set("offset", strconv.Itoa(offset))
	}
	if newest {
		q.Set("order", "newest")
	}
	var out ListResponse
	if err := c.do(ctx, http.MethodGet, "/api/v1/deadletters?"+q.Encode(), nil, &out); err != nil {
		return Page{}, err
	}
	p := Page{Entries: out.DeadLetters, Total: out.Total}
	if out.MaxID != "" {
		p.MaxSeq, _ = strconv.ParseUint(out.MaxID, 10, 64)
	}
	return p, nil
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
	req := ActionRequest{
		IDs: f.IDs, Destination: f.Destination, Source: f.Source, Reason: f.Reason, Status: f.Status,
		Since: adminapi.FormatTime(f.Since), Until: adminapi.FormatTime(f.Until), Limit: f.Limit, All: f.All,
	}
	if f.MaxSeq != 0 {
		req.MaxID = strconv.FormatUint(f.MaxSeq, 10)
	}
	return req
}

func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	api := adminapi.Client{BaseURL: c.BaseURL, Token: c.Token, HTTP: c.HTTP, Kinds: errorKinds}
	return api.Do(ctx, method, path, body, out)
}
