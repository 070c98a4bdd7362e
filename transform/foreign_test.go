package transform

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/hookrelay/hookrelay/schemas"
)

// TestZendeskCustomTrigger: a trigger body of the admin's own design, with
// "event" a string beside the ticket object, names the ticket instead of
// failing the mapping.
func TestZendeskCustomTrigger(t *testing.T) {
	m, _ := Builtin("zendesk")
	s, err := m(testEvent("desk", fixture(t, "zendesk", "zendesk_custom_trigger")))
	if err != nil {
		t.Fatalf("zendesk mapping: %v", err)
	}
	for _, want := range []string{"Ticket #90211", "created", "Checkout down for EU customers"} {
		if !strings.Contains(s.Title, want) {
			t.Errorf("title %q does not name %q", s.Title, want)
		}
	}
	for _, f := range s.Facts {
		if f.Name == "Mapping" {
			t.Errorf("fell back to the generic card: %s", f.Value)
		}
	}
}

// TestForeignCards: a card in the destination's format and version passes
// unchanged; a 1.5 Table keeps its rows as text, and the card says what it
// could not carry.
func TestForeignCards(t *testing.T) {
	v := newValidator(t)
	m, _ := Builtin("teams")

	t.Run("table card", func(t *testing.T) {
		body := fixture(t, "teams", "teams_adaptive_table")
		s, err := m(testEvent("tool", body))
		if err != nil {
			t.Fatal(err)
		}
		for _, format := range formats {
			card := string(renderSummary(t, v, s, format))
			for _, want := range []string{"eu-west-1", "91%", "rising", "us-east-2", "84%", "Simplified by hookrelay",
				"Acknowledge", "Action.Execute", "Nightly capacity report", "https://grafana.example.com/d/capacity"} {
				if !strings.Contains(strings.ReplaceAll(card, `\`, ""), want) {
					t.Errorf("%s card lost %q:\n%s", format, want, card)
				}
			}
			if strings.Contains(card, `"Table"`) || strings.Contains(card, `"version":"1.5"`) {
				t.Errorf("%s card still carries 1.5 content:\n%s", format, card)
			}
		}
	})

	t.Run("carried cards pass unchanged", func(t *testing.T) {
		workflows := []byte(`{"type":"message","attachments":[{"contentType":"application/vnd.microsoft.card.adaptive","contentUrl":null,` +
			`"content":{"type":"AdaptiveCard","version":"1.4","body":[{"type":"TextBlock","text":"Deploy **done**","wrap":true},` +
			`{"type":"Image","url":"https://example.com/a.png","altText":"graph"}],` +
			`"actions":[{"type":"Action.OpenUrl","title":"Open","url":"https://example.com/"}]}}]}`)
		bare := []byte(`{"type":"AdaptiveCard","version":"1.2","body":[{"type":"TextBlock","text":"Hello"}]}`)
		for _, tc := range []struct {
			name   string
			body   []byte
			format string
			want   []byte // nil: the body itself
		}{
			{"workflows message 1.4", workflows, schemas.FormatAdaptive, nil},
			{"messagecard", fixture(t, "teams", "teams_messagecard"), schemas.FormatMessageCard, nil},
			{"bare card 1.2, wrapped", bare, schemas.FormatAdaptive,
				[]byte(`{"attachments":[{"content":` + string(bare) + `,"contentType":"application/vnd.microsoft.card.adaptive","contentUrl":null}],"type":"message"}`)},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s, err := m(testEvent("tool", tc.body))
				if err != nil {
					t.Fatal(err)
				}
				card := renderSummary(t, v, s, tc.format)
				want := tc.want
				if want == nil {
					want = tc.body
				}
				if !jsonEqual(t, card, want) {
					t.Errorf("card changed:\n got %s\nwant %s", card, want)
				}
			})
		}
	})

	t.Run("a card that cannot be carried is re-rendered", func(t *testing.T) {
		execute := []byte(`{"type":"AdaptiveCard","version":"1.4","body":[{"type":"TextBlock","text":"Approve the release?"}],` +
			`"actions":[{"type":"Action.Execute","title":"Approve","verb":"approve"}]}`)
		s, err := m(testEvent("tool", execute))
		if err != nil {
			t.Fatal(err)
		}
		card := string(renderSummary(t, v, s, schemas.FormatAdaptive))
		if strings.Contains(card, "Action.Execute\"") || !strings.Contains(card, "Simplified by hookrelay") || !strings.Contains(card, "Approve") {
			t.Errorf("Action.Execute passed, or was dropped silently:\n%s", card)
		}
	})
}

// jsonEqual compares two JSON documents by value.
func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatal(err)
	}
	ja, _ := json.Marshal(x)
	jb, _ := json.Marshal(y)
	return bytes.Equal(ja, jb)
}

// TestSlackSlashCommandCard: the form Slack posts for a slash command
// carries its verification token; the card shows the command, never the
// token, in either format.
func TestSlackSlashCommandCard(t *testing.T) {
	const token = "xyzz0WbapA4vBCDEFasx0q6G"
	ev := testEvent("slack", []byte("token="+token+"&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"+
		"&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fdeploy&text=prod+now"+
		"&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"+
		"&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"))
	ev.ContentType = "application/x-www-form-urlencoded"
	s, err := Auto(ev)
	if err != nil {
		t.Fatal(err)
	}
	v := newValidator(t)
	for _, format := range formats {
		card := string(renderSummary(t, v, s, format))
		if strings.Contains(card, token) || strings.Contains(card, "token=") {
			t.Errorf("%s card shows Slack's token:\n%s", format, card)
		}
		if !strings.Contains(strings.ReplaceAll(card, `\`, ""), "/deploy") {
			t.Errorf("%s card does not name the command:\n%s", format, card)
		}
	}
}
