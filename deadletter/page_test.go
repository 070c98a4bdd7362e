package deadletter

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"slices"
	"strconv"
	"testing"

	"github.com/hookrelay/hookrelay/internal/queue"
	"github.com/hookrelay/hookrelay/internal/storetest"
	"github.com/hookrelay/hookrelay/schemas"
)

func TestPage(t *testing.T) { storetest.Each(t, testPage) }

func testPage(t *testing.T, open storetest.Opener) {
	s := setup(t, open)
	tests := []struct {
		name   string
		f      Filter
		offset int
		newest bool
		want   []int // fixtures
		total  int
		max    int // the fixture whose id is MaxSeq; 0: none
	}{
		{"oldest first", Filter{Limit: 2}, 0, false, []int{1, 2}, 5, 5},
		{"oldest, second page", Filter{Limit: 2}, 2, false, []int{3, 4}, 5, 5},
		{"oldest, last page", Filter{Limit: 2}, 4, false, []int{5}, 5, 5},
		{"newest first", Filter{Limit: 2}, 0, true, []int{5, 4}, 5, 5},
		{"newest, last page", Filter{Limit: 2}, 4, true, []int{1}, 5, 5},
		{"past the end", Filter{Limit: 2}, 9, true, nil, 5, 5},
		{"filtered", Filter{Destination: "ops", Limit: 1}, 1, true, []int{2}, 3, 5},
		{"no cap", Filter{Source: "github"}, 0, true, []int{5, 4, 3, 1}, 4, 5},
		{"bounded by max seq", Filter{MaxSeq: s.seq(3)}, 0, true, []int{3, 2, 1}, 3, 3},
		{"none", Filter{Destination: "nobody"}, 0, true, nil, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := s.Page(ctxT(t), tt.f, tt.offset, tt.newest)
			if err != nil {
				t.Fatal(err)
			}
			var wantMax uint64
			if tt.max != 0 {
				wantMax = s.seq(tt.max)
			}
			if want := s.idsOf(tt.want...); !slices.Equal(ids(p.Entries), want) || p.Total != tt.total || p.MaxSeq != wantMax {
				t.Errorf("Page = %v of %d, max %d; want %v of %d, max %d", ids(p.Entries), p.Total, p.MaxSeq, want, tt.total, wantMax)
			}
		})
	}
}

func TestPurgeUpToMaxSeqLeavesNewerOnes(t *testing.T) {
	storetest.Each(t, testPurgeUpToMaxSeqLeavesNewerOnes)
}

func testPurgeUpToMaxSeqLeavesNewerOnes(t *testing.T, open storetest.Opener) {
	s := setup(t, open)
	// Counted: 4 match. One more arrives before the operator confirms.
	p, err := s.Page(ctxT(t), Filter{Source: "github", Limit: 1}, 0, true)
	if err != nil {
		t.Fatal(err)
	}
	late := putDead(t, s.q, deadLetter(6, fixture{dest: "ops", source: "github", reason: schemas.ReasonGone}))[0]
	n, err := s.Purge(ctxT(t), Filter{Source: "github", MaxSeq: p.MaxSeq})
	if err != nil {
		t.Fatal(err)
	}
	if n != p.Total {
		t.Errorf("purged %d, want the %d counted", n, p.Total)
	}
	left, err := s.List(ctxT(t), Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{s.id(2), late}; !slices.Equal(ids(left), want) {
		t.Errorf("left %v, want the stripe one and the late one: %v", ids(left), want)
	}
}

func TestCardTitle(t *testing.T) {
	long := make([]byte, 300)
	for i := range long {
		long[i] = 'x'
	}
	tests := []struct{ name, card, want string }{
		{"messagecard title", `{"@type":"MessageCard","title":"Disk full on db-1","summary":"s","text":"t"}`, "Disk full on db-1"},
		{"messagecard summary", `{"@type":"MessageCard","summary":"Build #12 failed","text":"t"}`, "Build #12 failed"},
		{"messagecard section", `{"@type":"MessageCard","sections":[{"activityTitle":"Ticket 42"}],"text":"t"}`, "Ticket 42"},
		{"messagecard text", `{"@type":"MessageCard","text":"just text\non two lines"}`, "just text on two lines"},
		{"workflows", `{"type":"message","attachments":[{"contentType":"application/vnd.microsoft.card.adaptive","content":{"type":"AdaptiveCard","body":[{"type":"Container","items":[{"type":"TextBlock","text":"[FIRING] HighLatency","size":"Large"}]},{"type":"TextBlock","text":"second"}]}}]}`, "[FIRING] HighLatency"},
		{"column", `{"type":"AdaptiveCard","body":[{"type":"ColumnSet","columns":[{"type":"Column","items":[{"type":"Image","url":"x"},{"type":"TextBlock","text":"in a column"}]}]}]}`, "in a column"},
		{"long", `{"@type":"MessageCard","title":"` + string(long) + `"}`, string(long[:MaxTitle-len("…")]) + "…"},
		{"not json", `nope`, ""},
		{"none", ``, ""},
		{"no text", `{"type":"message","attachments":[{"content":{"body":[{"type":"Image"}]}}]}`, ""},
	}
	for _, tt := range tests {
		if got := CardTitle([]byte(tt.card)); got != tt.want {
			t.Errorf("%s: CardTitle = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestListAnswerCarriesTitleTotalAndPage(t *testing.T) {
	storetest.Each(t, testListAnswerCarriesTitleTotalAndPage)
}

func testListAnswerCarriesTitleTotalAndPage(t *testing.T, open storetest.Opener) {
	q := open(t)
	dls := make([]schemas.DeadLetter, 7)
	for i := range dls {
		dl := deadLetter(i, fixture{dest: "ops", reason: schemas.ReasonRejected, status: 400})
		dl.Delivery.Card = []byte(`{"@type":"MessageCard","summary":"alert ` + strconv.Itoa(i) + `"}`)
		dl.ResponseExcerpt = "Bad Request"
		dls[i] = dl
	}
	acks := putDeadAcks(t, q, dls...)
	var stored []string // the fixtures' ids
	for _, a := range acks {
		stored = append(stored, a.Ref)
	}
	srv := httptest.NewServer(newTestHandler(NewStore(q, q)))
	t.Cleanup(srv.Close)
	resp, err := srv.Client().Get(srv.URL + "/api/v1/deadletters?limit=3&offset=1&order=newest")
	if err != nil {
		t.Fatal(err)
	}
	var raw struct {
		DeadLetters []map[string]any `json:"deadletters"`
		Count       int              `json:"count"`
		Total       int              `json:"total"`
		Offset      int              `json:"offset"`
		MaxID       string           `json:"max_id"`
	}
	err = json.NewDecoder(resp.Body).Decode(&raw)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if maxID := strconv.FormatUint(acks[6].Seq, 10); raw.Count != 3 || raw.Total != 7 || raw.Offset != 1 || raw.MaxID != maxID {
		t.Fatalf("count %d total %d offset %d max_id %q, want 3 7 1 %s", raw.Count, raw.Total, raw.Offset, raw.MaxID, maxID)
	}
	first := raw.DeadLetters[0]
	if first["id"] != stored[5] || first["title"] != "alert 5" || first["response_excerpt"] != "Bad Request" {
		t.Errorf("first of the page: id %v title %v answer %v; want %s, alert 5, Bad Request", first["id"], first["title"], first["response_excerpt"], stored[5])
	}
	c := &Client{BaseURL: srv.URL}
	maxSeq := acks[3].Seq
	p, err := c.Page(ctxT(t), Filter{Limit: 2, MaxSeq: maxSeq}, 0, true)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{stored[3], stored[2]}; !slices.Equal(ids(p.Entries), want) || p.Total != 4 || p.MaxSeq != maxSeq || p.Entries[0].Title != "alert 3" {
		t.Errorf("client page %v of %d max %d, title %q; want %v of 4 max %d, alert 3", ids(p.Entries), p.Total, p.MaxSeq, p.Entries[0].Title, want, maxSeq)
	}
	for _, q := range []string{"?order=up", "?offset=-1", "?max_id=x"} {
		resp, err := srv.Client().Get(srv.URL + "/api/v1/deadletters" + q)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Errorf("list%s: %d, want 400", q, resp.StatusCode)
		}
	}
}

// BenchmarkPageOf10000 lists the admin page's first page, newest first, of
// 10,000 dead letters: every list scans them all to count them.
func BenchmarkPageOf10000(b *testing.B) {
	// What a page costs is the scan, measured on the default backend.
	q := storetest.JetStream(b)
	card := []byte(`{"type":"message","attachments":[{"contentType":"application/vnd.microsoft.card.adaptive","content":{"type":"AdaptiveCard","version":"1.4","body":[{"type":"TextBlock","text":"an alert of a typical size, with a few facts below it","size":"Medium","weight":"Bolder"},{"type":"FactSet","facts":[{"title":"severity","value":"critical"},{"title":"host","value":"db-1.example.com"},{"title":"runbook","value":"https://runbooks.example.com/disk-full"}]}]}}]}`)
	msgs := make([]queue.Msg, 0, 500)
	for i := range 10_000 {
		dl := deadLetter(i, fixture{dest: fmt.Sprintf("d%d", i%100), source: "github", reason: schemas.ReasonExhausted, status: 503})
		dl.Delivery.Card = card
		data, err := json.Marshal(dl)
		if err != nil {
			b.Fatal(err)
		}
		msgs = append(msgs, queue.Msg{Key: dl.Delivery.Destination, Data: data})
		if len(msgs) == cap(msgs) {
			if _, err := q.PutDeadLetters(context.Background(), msgs); err != nil {
				b.Fatal(err)
			}
			msgs = msgs[:0]
		}
	}
	s := NewStore(q, q)
	b.ResetTimer()
	for b.Loop() {
		p, err := s.Page(context.Background(), Filter{Limit: 50}, 0, true)
		if err != nil || p.Total != 10_000 || len(p.Entries) != 50 {
			b.Fatalf("page: %d of %d, %v", len(p.Entries), p.Total, err)
		}
	}
}
