package adminapi

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestClientDo(t *testing.T) {
	errGone := errors.New("gone")
	mux := http.NewServeMux()
	mux.HandleFunc("POST /echo", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer s3cret" || r.Header.Get("Content-Type") != "application/json" {
			WriteError(w, http.StatusUnauthorized, errors.New("no token"))
			return
		}
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})
	mux.HandleFunc("GET /gone", func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, http.StatusNotFound, errors.New("it went"))
	})
	mux.HandleFunc("GET /plain", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "upstream down", http.StatusBadGateway)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	kinds := func(status int, _ string) []error {
		if status == http.StatusNotFound {
			return []error{errGone}
		}
		return nil
	}
	c := &Client{BaseURL: srv.URL + "/", Token: "s3cret", HTTP: srv.Client(), Kinds: kinds}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)

	var out map[string]int
	if err := c.Do(ctx, http.MethodPost, "/echo", map[string]int{"n": 7}, &out); err != nil || out["n"] != 7 {
		t.Errorf("echo: %v, %v; want n=7", out, err)
	}

	tests := []struct {
		name, path string
		status     int
		message    string
		is         error
	}{
		{"error answer", "/gone", http.StatusNotFound, "it went", errGone},
		{"plain text answer", "/plain", http.StatusBadGateway, "upstream down", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := c.Do(ctx, http.MethodGet, tt.path, nil, &out)
			apiErr, ok := errors.AsType[*Error](err)
			if !ok || apiErr.StatusCode != tt.status || apiErr.Message != tt.message {
				t.Fatalf("error = %v, want an *Error %d saying %q", err, tt.status, tt.message)
			}
			if got := errors.Is(err, errGone); got != (tt.is != nil) {
				t.Errorf("errors.Is(err, errGone) = %v, want %v", got, tt.is != nil)
			}
		})
	}
}

func TestParseTime(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in      string
		want    time.Time
		wantErr bool
	}{
		{"", time.Time{}, false},
		{"2h", now.Add(-2 * time.Hour), false},
		{"2026-02-28T10:00:00.5Z", time.Date(2026, 2, 28, 10, 0, 0, 5e8, time.UTC), false},
		// As the CLI's tables and the page print them.
		{"2026-02-28 10:00:00Z", time.Date(2026, 2, 28, 10, 0, 0, 0, time.UTC), false},
		{"2026-02-28 10:00:00.123Z", time.Date(2026, 2, 28, 10, 0, 0, 123e6, time.UTC), false},
		{"2026-02-28 10:00:00", time.Time{}, true}, // no zone: not a time to guess
		{"-1h", time.Time{}, true},
		{"yesterday", time.Time{}, true},
	}
	for _, tt := range tests {
		got, err := ParseTime(tt.in, now)
		if (err != nil) != tt.wantErr || !got.Equal(tt.want) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestFormatTimeRoundTrip(t *testing.T) {
	now := time.Now()
	for _, want := range []time.Time{{}, now, now.Add(-time.Hour).In(time.FixedZone("x", 3600))} {
		got, err := ParseTime(FormatTime(want), now)
		if err != nil || !got.Equal(want) {
			t.Errorf("ParseTime(FormatTime(%v)) = %v, %v", want, got, err)
		}
	}
}
