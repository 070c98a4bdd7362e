package dispatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
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
