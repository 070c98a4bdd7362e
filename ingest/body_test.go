package ingest_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/ingest"
	"github.com/hookrelay/hookrelay/internal/config"
	"github.com/hookrelay/hookrelay/internal/queue"
	"github.com/hookrelay/hookrelay/internal/storetest"
	"github.com/hookrelay/hookrelay/schemas"
)

// Bodies are read into buffers that go back to a pool once the event is
// stored: events received at once are stored each with its own body, on
// every store.
func TestConcurrentEventsKeepTheirBodies(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, open storetest.Opener) {
		t.Parallel()
		q := open(t)
		cfg := &config.Config{Sources: []config.Source{{Name: "alpha", Verify: config.Verify{Scheme: "token", Secret: "alpha-secret"}}}}
		h, err := ingest.New(cfg, q, nil)
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)

		const senders, each = 8, 25
		want := map[string]bool{}
		var wg sync.WaitGroup
		for s := range senders {
			bodies := make([]string, each)
			for i := range bodies {
				// Of different lengths, so that a body left over
				// from another shows.
				bodies[i] = fmt.Sprintf(`{"sender":%d,"n":%d,"pad":%q}`, s, i, strings.Repeat("x", (s*each+i)%97))
				want[bodies[i]] = true
			}
			wg.Go(func() {
				for _, b := range bodies {
					if got := do(t, http.MethodPost, srv.URL+"/hooks/alpha/alpha-secret", nil, strings.NewReader(b)); got.status != http.StatusAccepted {
						t.Errorf("status %d, want 202", got.status)
					}
				}
			})
		}
		wg.Wait()
		got := map[string]bool{}
		err = q.ScanEvents(t.Context(), "", time.Time{}, func(m queue.Stored) (bool, error) {
			ev, err := schemas.DecodeEvent(m.Header, m.Data)
			if err != nil {
				t.Errorf("stored event: %v", err)
			}
			got[string(ev.Body)] = true
			return true, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Errorf("%d distinct bodies stored, want %d", len(got), len(want))
		}
		for b := range got {
			if !want[b] {
				t.Errorf("stored a body never sent: %s", b)
			}
		}
	})
}
