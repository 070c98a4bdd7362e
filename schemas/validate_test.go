package schemas_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/schemas"
)

func newValidator(t *testing.T) *schemas.Validator {
	t.Helper()
	v, err := schemas.NewValidator()
	if err != nil {
		t.Fatalf("NewValidator: %v", err)
	}
	return v
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return b
}

// sharedPayload reads a published example from the team's shared payloads;
// they are never copied into the repository.
func sharedPayload(t *testing.T, name string) []byte {
	t.Helper()
	path := filepath.Join("..", "..", "shared", "payloads", name)
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		t.Skipf("SKIPPING: published example %s is absent; these tests need /work/shared/payloads", path)
	}
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return raw
}

func TestPublishedExamplesValidate(t *testing.T) {
	v := newValidator(t)
	for _, tc := range []struct{ kind, file string }{
		{schemas.KindMessageCard, "teams_messagecard_example_msdocs.json"},
		{schemas.KindWorkflows, "teams_workflows_adaptivecard_envelope_msdocs.json"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			if err := v.Validate(tc.kind, sharedPayload(t, tc.file)); err != nil {
				t.Fatalf("Microsoft's own example is invalid: %v", err)
			}
		})
	}
}

func validAdaptive() schemas.WorkflowsMessage {
	return schemas.WorkflowsMessage{
		Type: schemas.WorkflowsMessageType,
		Attachments: []schemas.WorkflowAttachment{{
			ContentType: schemas.AdaptiveContentType,
			Content: schemas.AdaptiveCard{
				Schema: schemas.AdaptiveSchemaURL, Type: schemas.AdaptiveCardType, Version: schemas.AdaptiveVersion,
				Body: []schemas.AdaptiveElement{
					{Type: schemas.ElementContainer, Style: "attention", Items: []schemas.AdaptiveElement{
						{Type: schemas.ElementTextBlock, Text: "title", Wrap: true},
					}},
					{Type: schemas.ElementFactSet, Facts: []schemas.AdaptiveFact{{Title: "a", Value: "b"}}},
					{Type: schemas.ElementColumnSet, Columns: []schemas.AdaptiveColumn{{
						Type: schemas.ElementColumn, Items: []schemas.AdaptiveElement{{Type: schemas.ElementTextBlock, Text: "c"}},
					}}},
				},
				Actions: []schemas.AdaptiveAction{{Type: schemas.ActionOpenURL, Title: "open", URL: "https://example.com/"}},
				MSTeams: &schemas.MSTeams{Width: "Full"},
			},
		}},
	}
}

func validMessageCard() schemas.MessageCard {
	return schemas.MessageCard{
		Type: schemas.MessageCardType, Context: schemas.MessageCardContext,
		Summary: "s", ThemeColor: "0076D7",
		Sections: []schemas.MessageSection{{
			ActivityTitle: "t", Facts: []schemas.MessageFact{{Name: "n", Value: "v"}}, Markdown: true,
		}},
		PotentialAction: []schemas.MessageCardAction{{
			Type: schemas.ActionOpenURI, Name: "open",
			Targets: []schemas.OpenURITarget{{OS: "default", URI: "https://example.com/"}},
		}},
	}
}

func TestValidate(t *testing.T) {
	v := newValidator(t)
	mc := func(edit func(*schemas.MessageCard)) []byte {
		c := validMessageCard()
		edit(&c)
		return mustJSON(t, c)
	}
	ac := func(edit func(*schemas.WorkflowsMessage)) []byte {
		m := validAdaptive()
		edit(&m)
		return mustJSON(t, m)
	}
	ev := schemas.Event{ID: "0190", Source: "github", ReceivedAt: time.Now(), Body: []byte(`{"a":1}`)}
	for _, tc := range []struct {
		name  string
		kind  string
		doc   []byte
		valid bool
	}{
		{"event", schemas.KindEvent, mustJSON(t, ev), true},
		{"event without body", schemas.KindEvent, mustJSON(t, schemas.Event{ID: "1", Source: "s", ReceivedAt: time.Now()}), true},
		{"event without id", schemas.KindEvent, []byte(`{"source":"s","received_at":"2026-01-01T00:00:00Z"}`), false},
		{"event bad time", schemas.KindEvent, []byte(`{"id":"1","source":"s","received_at":"yesterday"}`), false},
		{"event bad source", schemas.KindEvent, []byte(`{"id":"1","source":"a.b","received_at":"2026-01-01T00:00:00Z"}`), false},
		{"messagecard", schemas.KindMessageCard, mc(func(*schemas.MessageCard) {}), true},
		{"messagecard text only", schemas.KindMessageCard, mc(func(c *schemas.MessageCard) { c.Summary, c.Text = "", "x" }), true},
		{"messagecard no summary no text", schemas.KindMessageCard, mc(func(c *schemas.MessageCard) { c.Summary = "" }), false},
		{"messagecard empty summary", schemas.KindMessageCard, []byte(`{"@type":"MessageCard","summary":""}`), false},
		{"messagecard wrong type", schemas.KindMessageCard, mc(func(c *schemas.MessageCard) { c.Type = "AdaptiveCard" }), false},
		{"messagecard bad color", schemas.KindMessageCard, mc(func(c *schemas.MessageCard) { c.ThemeColor = "red" }), false},
		{"messagecard fact without value", schemas.KindMessageCard, []byte(`{"@type":"MessageCard","summary":"s","sections":[{"facts":[{"name":"n"}]}]}`), false},
		{"messagecard OpenUri without targets", schemas.KindMessageCard, mc(func(c *schemas.MessageCard) { c.PotentialAction[0].Targets = nil }), false},
		{"messagecard javascript link", schemas.KindMessageCard, mc(func(c *schemas.MessageCard) { c.PotentialAction[0].Targets[0].URI = "javascript:alert(1)" }), false},
		{"messagecard too large", schemas.KindMessageCard, mc(func(c *schemas.MessageCard) { c.Text = strings.Repeat("x", schemas.MaxCardBytes) }), false},
		{"adaptive", schemas.KindWorkflows, ac(func(*schemas.WorkflowsMessage) {}), true},
		{"adaptive 1.0", schemas.KindWorkflows, ac(func(m *schemas.WorkflowsMessage) { m.Attachments[0].Content.Version = "1.0" }), true},
		{"adaptive 1.5", schemas.KindWorkflows, ac(func(m *schemas.WorkflowsMessage) { m.Attachments[0].Content.Version = "1.5" }), false},
		{"adaptive 2.0", schemas.KindWorkflows, ac(func(m *schemas.WorkflowsMessage) { m.Attachments[0].Content.Version = "2.0" }), false},
		{"adaptive 1.4.1", schemas.KindWorkflows, ac(func(m *schemas.WorkflowsMessage) { m.Attachments[0].Content.Version = "1.4.1" }), false},
		{"adaptive no attachments", schemas.KindWorkflows, ac(func(m *schemas.WorkflowsMessage) { m.Attachments = nil }), false},
		{"adaptive wrong content type", schemas.KindWorkflows, ac(func(m *schemas.WorkflowsMessage) { m.Attachments[0].ContentType = "text/plain" }), false},
		{"adaptive unknown element", schemas.KindWorkflows, ac(func(m *schemas.WorkflowsMessage) {
			m.Attachments[0].Content.Body = append(m.Attachments[0].Content.Body, schemas.AdaptiveElement{Type: "Table"})
		}), false},
		{"adaptive nested TextBlock without text", schemas.KindWorkflows, ac(func(m *schemas.WorkflowsMessage) {
			m.Attachments[0].Content.Body[0].Items[0].Text = ""
		}), false},
		{"adaptive OpenUrl without url", schemas.KindWorkflows, ac(func(m *schemas.WorkflowsMessage) { m.Attachments[0].Content.Actions[0].URL = "" }), false},
		{"not JSON", schemas.KindWorkflows, []byte(`{"type":`), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := v.Validate(tc.kind, tc.doc)
			if tc.valid && err != nil {
				t.Fatalf("want valid, got %v\n%s", err, tc.doc)
			}
			if !tc.valid && err == nil {
				t.Fatalf("want invalid, got valid:\n%s", tc.doc)
			}
		})
	}
}

func TestValidateTooLargeIsErrTooLarge(t *testing.T) {
	c := validMessageCard()
	c.Text = strings.Repeat("x", schemas.MaxCardBytes)
	if err := newValidator(t).Validate(schemas.KindMessageCard, mustJSON(t, c)); !errors.Is(err, schemas.ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
}

func TestValidateUnknownKind(t *testing.T) {
	if err := schemas.Validate("slack", []byte(`{}`)); err == nil {
		t.Fatal("unknown kind validated")
	}
}

func TestSchemaServesEmbeddedFiles(t *testing.T) {
	for _, kind := range []string{schemas.KindEvent, schemas.KindMessageCard, schemas.KindWorkflows} {
		raw, err := schemas.Schema(kind)
		if err != nil || !json.Valid(raw) {
			t.Fatalf("Schema(%q) = %d bytes, %v", kind, len(raw), err)
		}
	}
}
