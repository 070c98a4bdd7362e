package history

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/hookrelay/hookrelay/internal/config"
	"github.com/hookrelay/hookrelay/internal/storetest"
)

func TestHandlerAndClient(t *testing.T) {
	// The HTTP layer; the store under it runs on both backends in TestGet
	// and TestReplay.
	q := storetest.JetStream(t)
	cfg := &config.Config{Sources: []config.Source{{Name: "github"}}, Routes: []config.Route{{Name: "gh", Source: "github"}}}
	s := NewStore(q, q, WithConfig(cfg))
	srv := httptest.NewServer(NewHandler(s, nil))
	t.Cleanup(srv.Close)
	c := &Client{BaseURL: srv.URL}
	ctx := ctxT(t)
	ev, seq := storeEvent(t, q, "github", time.Now().UTC().Add(-time.Hour), `{"a":1}`)

	v, err := c.Get(ctx, ev.ID)
	if err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	if v.Event != nil {
		_ = json.Compact(&body, v.Event.Body)
	}
	if v.Event == nil || v.Event.Seq != seq || body.String() != `{"a":1}` || v.Event.Source != "github" {
		t.Errorf("get: %+v", v.Event)
	}
	if _, err := c.Get(ctx, uuid.Must(uuid.NewV7()).String()); !errors.Is(err, ErrNotFound) {
		t.Errorf("get unknown: %v, want ErrNotFound", err)
	}

	res, err := c.Replay(ctx, ReplayRequest{Source: "github", Since: time.Now().Add(-2 * time.Hour), DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if !res.DryRun || res.Count != 1 || res.Events[0].ID != ev.ID {
		t.Errorf("dry run over the client: %+v", res)
	}

	bad := []struct{ name, body, want string }{
		{"misspelt field", `{"source":"github","since":"2h","route":["gh"]}`, "route"},
		{"bad since", `{"source":"github","since":"yesterday"}`, "yesterday"},
		{"no since", `{"source":"github"}`, "since"},
		{"unknown route", `{"source":"github","since":"2h","routes":["nope"]}`, "nope"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := http.Post(srv.URL+"/api/v1/events/replay", "application/json", strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), tt.want) {
				t.Errorf("%d %s, want 400 mentioning %q", resp.StatusCode, b, tt.want)
			}
		})
	}
}
