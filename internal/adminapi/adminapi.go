// Package adminapi is the wire format the admin API's handlers and clients
// share: JSON answers, the error answer, times, and a client that sends the
// bearer token. What each endpoint means stays with its package
// (deadletter, history).
package adminapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// ErrorResponse is the body of every error answer.
type ErrorResponse struct {
	Error string `json:"error"`
}

// WriteJSON answers v, indented, with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the client went away; nothing to tell it
}

// WriteError answers err as an ErrorResponse with status.
func WriteError(w http.ResponseWriter, status int, err error) {
	WriteJSON(w, status, ErrorResponse{Error: err.Error()})
}

// FormatTime is how a time travels in a query or request body: RFC 3339
// with nanoseconds, or empty for the zero time (no bound).
func FormatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format(time.RFC3339Nano)
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
	// As the CLI's tables and the page print times: a space for the T
	// (RFC 3339 allows it), so a time copied from them is taken back.
	if t, err := time.Parse("2006-01-02 15:04:05.999999999Z07:00", v); err == nil {
		return t, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time nor a duration like 2h", v)
	}
	return now.Add(-d), nil
}

// Error is an error answer of the admin API.
type Error struct {
	// StatusCode is the answer's HTTP status.
	StatusCode int
	// Message is the answer's "error", or its whole body when it has none.
	Message string
	// Kinds are the sentinel errors the answer stands for (Client.Kinds),
	// so that callers can test it with errors.Is.
	Kinds []error
}

func (e *Error) Error() string {
	return fmt.Sprintf("admin API: %d %s: %s", e.StatusCode, http.StatusText(e.StatusCode), e.Message)
}

// Unwrap returns Kinds, for errors.Is.
func (e *Error) Unwrap() []error { return e.Kinds }

// Client calls the admin API over HTTP.
type Client struct {
	// BaseURL is the admin listener, e.g. http://127.0.0.1:8081.
	BaseURL string
	// Token, when set, is sent as a bearer token.
	Token string
	// HTTP makes the requests; nil means http.DefaultClient.
	HTTP *http.Client
	// Kinds, when set, names the sentinel errors an error answer stands
	// for; they become Error.Kinds.
	Kinds func(status int, message string) []error
}

// Do sends body (if not nil) as JSON with method to path under BaseURL and
// decodes a 2xx answer into out. Any other answer is an *Error.
func (c *Client) Do(ctx context.Context, method, path string, body, out any) error {
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
		apiErr := &Error{StatusCode: resp.StatusCode, Message: e.Error}
		if c.Kinds != nil {
			apiErr.Kinds = c.Kinds(apiErr.StatusCode, apiErr.Message)
		}
		return apiErr
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("admin API %s %s: decode answer: %w", method, path, err)
	}
	return nil
}
