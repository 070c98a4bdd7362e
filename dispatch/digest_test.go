package dispatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/internal/config"
	"github.com/hookrelay/hookrelay/internal/queue"
	"github.com/hookrelay/hookrelay/internal/storetest"
	"github.com/hookrelay/hookrelay/internal/teamstest"
	"github.com/hookrelay/hookrelay/schemas"
)

// richCard renders event n as a card of the given format, with facts and a link.
func richCard(t *testing.T, format string, n int) []byte {
	t.Helper()
	title := fmt.Sprintf("Ticket #%d updated", 1000+n)
	link := fmt.Sprintf("https://example.zendesk.com/agent/tickets/%d", 1000+n)
	var v any
	switch format {
	case schemas.FormatAdaptive:
		v = schemas.WorkflowsMessage{Type: schemas.WorkflowsMessageType, Attachments: []schemas.WorkflowAttachment{{
			ContentType: schemas.AdaptiveContentType,
			Content: schemas.AdaptiveCard{
				Schema: schemas.AdaptiveSchemaURL, Type: schemas.AdaptiveCardType, Version: schemas.AdaptiveVersion,
				Body: []schemas.AdaptiveElement{
					{Type: schemas.ElementTextBlock, Text: title, Wrap: true, Weight: "Bolder"},
					{Type: schemas.ElementFactSet, Facts: []schemas.AdaptiveFact{{Title: "Priority", Value: "high"}, {Title: "Status", Value: "open"}}},
				},
				Actions: []schemas.AdaptiveAction{{Type: schemas.ActionOpenURL, Title: "Open ticket", URL: link}},
			},
		}}}
	default:
		v = schemas.MessageCard{
			Type: schemas.MessageCardType, Context: schemas.MessageCardContext, Summary: title, Title: title,
			Sections: []schemas.MessageSection{{ActivitySubtitle: "zendesk", Text: "Customer replied.",
				Facts: []schemas.MessageFact{{Name: "Priority", Value: "high"}, {Name: "Status", Value: "open"}}}},
			PotentialAction: []schemas.MessageCardAction{{Type: schemas.ActionOpenURI, Name: "Open ticket",
				Targets: []schemas.OpenURITarget{{OS: "default", URI: link}}}},
		}
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var ticketRE = regexp.MustCompile(`Ticket #(\d+) updated`)

// eventsIn lists the ticket numbers a card carries, in order (each appears in
// a digest's section once; a single card names it in title and summary).
func eventsIn(card []byte) []int {
	var out []int
	for _, m := range ticketRE.FindAllSubmatch(card, -1) {
		n, _ := strconv.Atoi(string(m[1]))
		if n -= 1000; len(out) == 0 || out[len(out)-1] != n {
			out = append(out, n)
		}
	}
	return out
}

func TestDigestCarriesEveryEventOnceInOrder(t *testing.T) {
	for _, format := range []string{schemas.FormatMessageCard, schemas.FormatAdaptive} {
		t.Run(format, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, open storetest.Opener) {
				q := open(t)
				sim := teamstest.NewServer()
				defer sim.Close()
				const events = 40
				publish(t, q, "dg", 0, events, func(d *schemas.Delivery) {
					var n int
					fmt.Sscanf(d.EventID, "ev%d", &n)
					d.Format, d.Card, d.Source = format, richCard(t, format, n), "zendesk"
				})
				on := true
				start(t, q, dest(sim, "dg", func(d *config.Destination) {
					d.Rate, d.Format, d.Limits, d.Digest, d.DigestAfter = 4, format, config.TeamsLimits(), &on, 2*time.Second
				}))

				var got []int
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				for len(got) < events {
					if err := sim.WaitAccepted(ctx, "/dg", len(sim.Accepted("/dg"))+1); err != nil {
						t.Fatalf("%d of %d events arrived: %v", len(got), events, err)
					}
					got = nil
					for _, r := range sim.Accepted("/dg") {
						got = append(got, eventsIn(r.Body)...)
					}
				}
				for i, n := range got {
					if n != i {
						t.Fatalf("events arrived as %v, want 0..%d each once in order", got, events-1)
					}
				}
				validator, err := schemas.NewValidator()
				if err != nil {
					t.Fatal(err)
				}
				digests := 0
				for _, r := range sim.Received("/dg") {
					if !r.Accepted {
						t.Errorf("a request was answered %d", r.Status)
					}
					if err := validator.Validate(format, r.Body); err != nil {
						t.Errorf("invalid %s digest: %v", format, err)
					}
					if n := len(eventsIn(r.Body)); n > 1 {
						digests++
						if want := fmt.Sprintf("%d events from zendesk", n); !regexp.MustCompile(want).Match(r.Body) {
							t.Errorf("digest of %d does not say %q", n, want)
						}
						if !regexp.MustCompile(`tickets/\d+`).Match(r.Body) {
							t.Error("digest lost the events' links")
						}
					}
				}
				if digests == 0 || len(sim.Received("/dg")) >= events {
					t.Errorf("%d requests with %d digests for %d events: the backlog was not coalesced", len(sim.Received("/dg")), digests, events)
				}
				if n := deadCount(t, q); n != 0 {
					t.Errorf("%d dead letters", n)
				}
			})
		})
	}
}

func TestFailedDigestDeadLettersEachOriginal(t *testing.T) {
	storetest.Each(t, testFailedDigestDeadLettersEachOriginal)
}

func testFailedDigestDeadLettersEachOriginal(t *testing.T, open storetest.Opener) {
	q := open(t)
	sim := teamstest.NewServer()
	defer sim.Close()
	sim.SetFault(teamstest.Fault{Status: 400, Path: "/bad"})
	publish(t, q, "bad", 0, 12, func(d *schemas.Delivery) {
		d.Card, d.Source = richCard(t, schemas.FormatMessageCard, 0), "zendesk"
	})
	on := true
	start(t, q, dest(sim, "bad", func(d *config.Destination) {
		d.Rate, d.Limits, d.Digest, d.DigestAfter = 4, config.TeamsLimits(), &on, time.Second
	}))
	dead := waitDead(t, q, "bad", 12)
	seen := map[string]bool{}
	for _, d := range dead {
		if d.Reason != schemas.ReasonRejected {
			t.Errorf("%s: reason %q, want rejected", d.Delivery.ID, d.Reason)
		}
		seen[d.Delivery.ID] = true
	}
	if len(seen) != 12 {
		t.Errorf("%d distinct dead letters, want each of the 12 originals", len(seen))
	}
	if n := len(sim.Received("/bad")); n >= 12 {
		t.Errorf("%d requests for 12 events: they were not sent as a digest", n)
	}
}

// refuseFirstDeadLetter is a store whose dead letters are refused once, as
// a full RELAY_DEAD would.
type refuseFirstDeadLetter struct {
	*queue.Stores
	refused atomic.Bool
}

func (s *refuseFirstDeadLetter) PutDeadLetters(ctx context.Context, ms []queue.Msg) ([]queue.PubAck, error) {
	if s.refused.CompareAndSwap(false, true) {
		return nil, fmt.Errorf("put dead letter: %w", errors.Join(queue.ErrFull, queue.ErrUnavailable))
	}
	return s.Stores.PutDeadLetters(ctx, ms)
}

// A dead letter the store refuses while a digest's backlog is held hands
// every held delivery back in order: none is sent twice, and the refused
// one is dead-lettered at the next try.
func TestRefusedDeadLetterAmidADigestSendsNothingTwice(t *testing.T) {
	storetest.Each(t, testRefusedDeadLetterAmidADigestSendsNothingTwice)
}

func testRefusedDeadLetterAmidADigestSendsNothingTwice(t *testing.T, open storetest.Opener) {
	s := open(t)
	q := &refuseFirstDeadLetter{Stores: s}
	sim := teamstest.NewServer()
	defer sim.Close()
	const events = 60
	publish(t, s, "dg", 0, 1, func(d *schemas.Delivery) { d.NotAfter = time.Now().Add(-time.Second) }) // expired
	publish(t, s, "dg", 1, events, func(d *schemas.Delivery) {
		n, _ := strconv.Atoi(strings.TrimPrefix(d.EventID, "ev"))
		d.Card = richCard(t, schemas.FormatMessageCard, n)
	})
	on := true
	start(t, q, dest(sim, "dg", func(d *config.Destination) { d.Rate, d.Digest, d.DigestAfter = 4, &on, time.Second }))
	waitDead(t, s, "dg", 1)
	seen := map[int]int{}
	storetest.Eventually(t, "every event delivered", func() bool {
		clear(seen)
		for _, r := range sim.Accepted("/dg") {
			for _, n := range eventsIn(r.Body) {
				seen[n]++
			}
		}
		return len(seen) == events-1
	})
	for n, c := range seen {
		if c > 1 {
			t.Errorf("event %d sent %d times", n, c)
		}
	}
	if !q.refused.Load() {
		t.Error("no dead letter was refused: the test did not test")
	}
}

// workflowsCard is a Workflows message with card as its one attachment.
func workflowsCard(card string) []byte {
	return []byte(`{"type":"message","attachments":[{"contentType":"application/vnd.microsoft.card.adaptive","contentUrl":null,"content":` + card + `}]}`)
}

// A digest reads cards through hookrelay's card types; a card passed
// through with more than they know (as the teams mapping passes Workflows
// cards) goes alone, and the digest stops before it: the cards around it
// are still coalesced.
func TestDigestStopsAtACardItCannotCarry(t *testing.T) {
	passed := workflowsCard(`{"$schema":"http://adaptivecards.io/schemas/adaptive-card.json","type":"AdaptiveCard","version":"1.4","body":[
		{"type":"TextBlock","text":"Ticket #1002 updated","wrap":true},
		{"type":"Image","url":"https://example.com/chart.png","altText":"chart"},
		{"type":"RichTextBlock","inlines":[{"type":"TextRun","text":"urgent","color":"Attention"}]},
		{"type":"Input.Text","id":"reply","placeholder":"Reply"},
		{"type":"ActionSet","actions":[{"type":"Action.Submit","title":"Send","data":{"op":"reply"}}]}],
		"actions":[{"type":"Action.ShowCard","title":"More","card":{"type":"AdaptiveCard","body":[{"type":"TextBlock","text":"more"}]}}]}`)
	for _, tc := range []struct {
		name, format string
		card         []byte
		want         bool
	}{
		{"hookrelay's adaptive card", schemas.FormatAdaptive, richCard(t, schemas.FormatAdaptive, 0), true},
		{"hookrelay's MessageCard", schemas.FormatMessageCard, richCard(t, schemas.FormatMessageCard, 0), true},
		{"defaults spelled out", schemas.FormatAdaptive, workflowsCard(`{"type":"AdaptiveCard","version":"1.4","body":[
			{"type":"TextBlock","text":"t","wrap":false,"isSubtle":false,"maxLines":0,"spacing":""}],"actions":[]}`), true},
		{"a Workflows card with images, rich text, inputs and other actions", schemas.FormatAdaptive, passed, false},
		{"an Image alone", schemas.FormatAdaptive, workflowsCard(`{"type":"AdaptiveCard","version":"1.4","body":[
			{"type":"Image","url":"https://example.com/a.png"}]}`), false},
		{"an Action.Submit without data", schemas.FormatAdaptive, workflowsCard(`{"type":"AdaptiveCard","version":"1.4","body":[],
			"actions":[{"type":"Action.Submit","title":"Go"}]}`), false},
		{"a second attachment", schemas.FormatAdaptive, []byte(`{"type":"message","attachments":[
			{"contentType":"application/vnd.microsoft.card.adaptive","content":{"type":"AdaptiveCard","version":"1.4","body":[]}},
			{"contentType":"application/vnd.microsoft.card.adaptive","content":{"type":"AdaptiveCard","version":"1.4","body":[]}}]}`), false},
		{"a MessageCard with an image and an HttpPOST", schemas.FormatMessageCard, []byte(`{"@type":"MessageCard","@context":"https://schema.org/extensions",
			"summary":"s","sections":[{"activityImage":"https://example.com/a.png","text":"t"}],
			"potentialAction":[{"@type":"HttpPOST","name":"Ack","target":"https://example.com/ack","body":"{}"}]}`), false},
		{"not JSON", schemas.FormatAdaptive, []byte(`{`), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := carried(tc.format, tc.card); got != tc.want {
				t.Errorf("carried = %v, want %v", got, tc.want)
			}
		})
	}

	held := make([]pending, 5)
	for i := range held {
		held[i].dl = schemas.Delivery{Source: "teams", Format: schemas.FormatAdaptive, Card: richCard(t, schemas.FormatAdaptive, i),
			NotAfter: time.Now().Add(time.Hour)}
	}
	held[2].dl.Card = passed
	now := time.Now()
	for _, tc := range []struct {
		from, want int
	}{{0, 2}, {2, 0}, {3, 2}} {
		if got := digestRun(held[tc.from:], now); got != tc.want {
			t.Errorf("digest from delivery %d carries %d, want %d", tc.from, got, tc.want)
		}
	}
	validator, err := schemas.NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	card, n, err := buildDigest(schemas.FormatAdaptive, "teams", [][]byte{held[0].dl.Card, held[1].dl.Card})
	if err != nil || n != 2 {
		t.Fatalf("digest of the first two: %d cards, %v", n, err)
	}
	if err := validator.Validate(schemas.FormatAdaptive, card); err != nil {
		t.Errorf("invalid digest: %v", err)
	}
	if got := eventsIn(card); !slices.Equal(got, []int{0, 1}) {
		t.Errorf("digest carries events %v, want [0 1]", got)
	}
}
