package deadletter

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/internal/storetest"
	"github.com/hookrelay/hookrelay/schemas"
)

// serve starts the admin API over the fixtures on a loopback server.
func serve(t *testing.T, open storetest.Opener) (*httptest.Server, *testStore) {
	t.Helper()
	s := setup(t, open)
	srv := httptest.NewServer(newTestHandler(s.Store))
	t.Cleanup(srv.Close)
	return srv, s
}

// newTestHandler is NewHandler on the tests' fixed clock, so "since=2h" is
// relative to testNow.
func newTestHandler(s *Store) http.Handler {
	return newHandler(s, slog.New(slog.DiscardHandler), func() time.Time { return testNow })
}

func TestClient(t *testing.T) { storetest.Each(t, testClient) }

func testClient(t *testing.T, open storetest.Opener) {
	srv, s := serve(t, open)
	ctx := ctxT(t)
	c := &Client{BaseURL: srv.URL + "/", HTTP: srv.Client()}

	list := []struct {
		name string
		f    Filter
		want []int // fixtures
	}{
		{"default", Filter{}, []int{1, 2, 3, 4, 5}},
		{"destination", Filter{Destination: "ops"}, []int{1, 2, 5}},
		{"source reason status", Filter{Source: "stripe", Reason: "exhausted", Status: 503}, []int{2}},
		{"since until", Filter{Since: testNow.Add(-2 * time.Hour), Until: testNow.Add(-20 * time.Minute)}, []int{2, 3}},
		{"ids", Filter{IDs: s.idsOf(4, 1)}, []int{1, 4}},
		{"limit", Filter{Limit: 1}, []int{1}},
	}
	for _, tt := range list {
		t.Run("list "+tt.name, func(t *testing.T) {
			got, err := c.List(ctx, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			if want := s.idsOf(tt.want...); !slices.Equal(ids(got), want) {
				t.Errorf("List(%+v) = %v, want %v", tt.f, ids(got), want)
			}
		})
	}

	t.Run("get", func(t *testing.T) {
		e, err := c.Get(ctx, s.id(3))
		if err != nil {
			t.Fatal(err)
		}
		want := deadLetter(3, fixtures[2])
		if e.ID != s.id(3) || e.Delivery.ID != want.Delivery.ID || !e.DeadAt.Equal(want.DeadAt) ||
			string(e.Delivery.Card) != string(want.Delivery.Card) {
			t.Errorf("Get(%s) = %+v, want %+v", s.id(3), e, want)
		}
		if _, err := c.Get(ctx, missing); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get(%s) error = %v, want ErrNotFound", missing, err)
		}
	})

	t.Run("empty filter refused", func(t *testing.T) {
		if _, err := c.Replay(ctx, Filter{}, false); !errors.Is(err, ErrEmptyFilter) {
			t.Errorf("Replay(empty) error = %v, want ErrEmptyFilter", err)
		}
		if _, err := c.Purge(ctx, Filter{Limit: 10}); !errors.Is(err, ErrEmptyFilter) {
			t.Errorf("Purge(limit only) error = %v, want ErrEmptyFilter", err)
		}
	})

	t.Run("replay dry run", func(t *testing.T) {
		res, err := c.Replay(ctx, Filter{Destination: "ops"}, true)
		if err != nil {
			t.Fatal(err)
		}
		if !res.DryRun || !slices.Equal(res.Replayed, s.idsOf(1, 2, 5)) {
			t.Errorf("dry run = %+v", res)
		}
		s.noneEnqueued(t, "a dry run")
	})

	t.Run("replay", func(t *testing.T) {
		res, err := c.Replay(ctx, Filter{Destination: "sales"}, false)
		if err != nil {
			t.Fatal(err)
		}
		if res.DryRun || !slices.Equal(res.Replayed, s.idsOf(3)) || len(res.Skipped) != 1 || res.Skipped[0].ID != s.id(4) {
			t.Errorf("replay = %+v, want fixture 3 replayed and 4 skipped", res)
		}
		out := s.taken(t)
		if len(out) != 1 || len(out["sales"]) != 1 {
			t.Fatalf("enqueued %v, want one delivery for sales", out)
		}
		s.checkReplayed(t, out["sales"][0], 3)
	})

	t.Run("purge", func(t *testing.T) {
		n, err := c.Purge(ctx, Filter{Destination: "ops", Since: testNow.Add(-2 * time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if n != 2 {
			t.Errorf("purged %d, want 2", n)
		}
		left, err := c.List(ctx, Filter{})
		if err != nil {
			t.Fatal(err)
		}
		if want := s.idsOf(1, 4); !slices.Equal(ids(left), want) {
			t.Errorf("left %v, want %v", ids(left), want)
		}
	})
}

func TestClientToken(t *testing.T) {
	var got string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Get("Authorization")
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"error":"missing token"}`)
	}))
	t.Cleanup(srv.Close)
	c := &Client{BaseURL: srv.URL, Token: "s3cret"}
	_, err := c.List(ctxT(t), Filter{})
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusUnauthorized || apiErr.Message != "missing token" {
		t.Errorf("error = %v, want an APIError 401 saying missing token", err)
	}
	if got != "Bearer s3cret" {
		t.Errorf("Authorization = %q, want the bearer token", got)
	}
}

func TestHandlerErrors(t *testing.T) { storetest.Each(t, testHandlerErrors) }

func testHandlerErrors(t *testing.T, open storetest.Opener) {
	srv, s := serve(t, open)
	tests := []struct {
		name, method, path, body string
		status                   int
		errHas                   string
	}{
		{"missing", "GET", "/api/v1/deadletters/" + missing, "", 404, "not found"},
		{"bad id", "GET", "/api/v1/deadletters/abc%20d", "", 400, "event id:destination:replays"},
		{"bad id in a filter", "GET", "/api/v1/deadletters?id=evt-1.ops.0", "", 400, "evt-1.ops.0"},
		{"bad max_id", "GET", "/api/v1/deadletters?max_id=evt-1:ops:0", "", 400, "max_id"},
		{"unknown parameter", "GET", "/api/v1/deadletters?destinaton=ops", "", 400, "destinaton"},
		{"bad since", "GET", "/api/v1/deadletters?since=yesterday", "", 400, "yesterday"},
		{"bad status", "GET", "/api/v1/deadletters?status=x", "", 400, "status"},
		{"bad destination", "GET", "/api/v1/deadletters?destination=a.b", "", 400, "a.b"},
		{"unknown reason", "GET", "/api/v1/deadletters?reason=gnoe", "", 400, "gone"},
		{"until before since", "GET", "/api/v1/deadletters?since=1h&until=2h", "", 400, "not after"},
		{"empty replay", "POST", "/api/v1/deadletters/replay", `{}`, 400, "empty filter"},
		{"empty purge", "POST", "/api/v1/deadletters/purge", `{"dry_run":false}`, 400, "empty filter"},
		{"misspelt field", "POST", "/api/v1/deadletters/replay", `{"destinaton":"ops"}`, 400, "destinaton"},
		{"not json", "POST", "/api/v1/deadletters/purge", `ids=1`, 400, "request body"},
		{"bad until in body", "POST", "/api/v1/deadletters/replay", `{"until":"soon"}`, 400, "soon"},
		{"purge dry run", "POST", "/api/v1/deadletters/purge", `{"ids":["` + s.id(1) + `"],"dry_run":true}`, 400, "no dry run"},
		{"wrong method", "DELETE", "/api/v1/deadletters", "", 405, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(ctxT(t), tt.method, srv.URL+tt.path, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if tt.errHas == "" {
				return
			}
			var e ErrorResponse
			if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
				t.Fatalf("error body: %v", err)
			}
			if !strings.Contains(e.Error, tt.errHas) {
				t.Errorf("error %q does not mention %q", e.Error, tt.errHas)
			}
		})
	}
	s.noneEnqueued(t, "refused requests")
	if left, err := s.List(ctxT(t), Filter{}); err != nil || len(left) != len(fixtures) {
		t.Errorf("refused requests left %d dead letters (%v), want %d", len(left), err, len(fixtures))
	}
}

func TestHandlerDurationsAndShape(t *testing.T) { storetest.Each(t, testHandlerDurationsAndShape) }

func testHandlerDurationsAndShape(t *testing.T, open storetest.Opener) {
	srv, s := serve(t, open)
	get := func(path string) map[string]any {
		t.Helper()
		resp, err := srv.Client().Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d", path, resp.StatusCode)
		}
		var v map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}

	// since=2h means two hours before (the fixed) now: fixtures 2..5.
	v := get("/api/v1/deadletters?since=2h&until=" + testNow.Add(-5*time.Minute).Format(time.RFC3339) +
		"&id=" + s.id(2) + "," + s.id(3) + "&id=" + s.id(5))
	if v["count"] != float64(2) {
		t.Errorf("count = %v, want 2 (fixtures 2 and 3 within since/until)", v["count"])
	}

	// One entry reads flat, with the card as JSON rather than base64.
	e := get("/api/v1/deadletters/" + s.id(1))
	for _, k := range []string{"id", "seq", "reason", "attempts", "last_status", "dead_at", "delivery"} {
		if _, ok := e[k]; !ok {
			t.Errorf("entry JSON lacks %q: %v", k, e)
		}
	}
	card, _ := e["delivery"].(map[string]any)["card"].(map[string]any)
	if card["type"] != "message" {
		t.Errorf("card is not shown as JSON: %v", e["delivery"])
	}
}

func TestEntryJSONRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		card []byte
	}{
		{"json card", []byte(`{"type":"message","attachments":[]}`)},
		{"no card", nil},
		{"card that is not json", []byte{0xff, 'x'}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := Entry{ID: "7", Seq: 7, DeadLetter: deadLetter(7, fixtures[0])}
			in.Delivery.Card = tt.card
			data, err := json.Marshal(in)
			if err != nil {
				t.Fatal(err)
			}
			var out Entry
			if err := json.Unmarshal(data, &out); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out.Delivery.Card, tt.card) || out.ID != "7" || out.Reason != in.Reason || out.Delivery.ID != in.Delivery.ID {
				t.Errorf("round trip of %s gave %+v", data, out)
			}
		})
	}
}

func TestHandlerDefaultLimit(t *testing.T) { storetest.Each(t, testHandlerDefaultLimit) }

func testHandlerDefaultLimit(t *testing.T, open storetest.Opener) {
	q := open(t)
	const n = DefaultListLimit + 7
	dls := make([]schemas.DeadLetter, n)
	for i := range dls {
		dls[i] = deadLetter(i, fixture{dest: "ops", reason: "exhausted"})
	}
	putDead(t, q, dls...)
	srv := httptest.NewServer(newTestHandler(NewStore(q, q)))
	t.Cleanup(srv.Close)
	for _, tt := range []struct {
		query string
		want  int
	}{{"", DefaultListLimit}, {"?limit=0", n}, {"?limit=3", 3}} {
		resp, err := srv.Client().Get(srv.URL + "/api/v1/deadletters" + tt.query)
		if err != nil {
			t.Fatal(err)
		}
		var out ListResponse
		err = json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if out.Count != tt.want || len(out.DeadLetters) != tt.want {
			t.Errorf("list%s: count %d (%d entries), want %d", tt.query, out.Count, len(out.DeadLetters), tt.want)
		}
	}
}
