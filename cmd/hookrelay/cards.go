package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/hookrelay/hookrelay/internal/adminapi"
	"github.com/hookrelay/hookrelay/internal/config"
	"github.com/hookrelay/hookrelay/internal/history"
	"github.com/hookrelay/hookrelay/schemas"
	"github.com/hookrelay/hookrelay/transform"
)

// renderCard maps ev with the mapping spec and renders the card in format,
// checked as Teams would check it. used names the mapping (auto says which
// it chose).
func renderCard(ev schemas.Event, spec, format string) (card []byte, used string, err error) {
	m, err := transform.LoadMapping(spec)
	if err != nil {
		return nil, "", err
	}
	used = spec
	if spec == config.MappingAuto {
		used = "auto → " + transform.Detect(ev)
	}
	s, err := m(ev)
	if err != nil {
		return nil, used, err
	}
	card, err = transform.RenderSummary(s, format)
	if err != nil {
		return nil, used, err
	}
	if err := schemas.Validate(format, card); err != nil {
		return nil, used, fmt.Errorf("the card would be refused: %w", err)
	}
	return card, used, nil
}

// EventCard is one card an event makes now, for one route and destination.
type EventCard struct {
	Route       string          `json:"route"`
	Destination string          `json:"destination"`
	Format      string          `json:"format"`
	Mapping     string          `json:"mapping"`
	Card        json.RawMessage `json:"card,omitempty"`
	// Error says why no card could be rendered.
	Error string `json:"error,omitempty"`
}

// eventCardsHandler serves GET /api/v1/events/{id}/cards: the stored event
// rendered by each route of its source, with today's mappings, for every
// destination of the route; the page shows them as Teams would. Route
// filters are not applied: the question is what the card looks like.
func eventCardsHandler(store *history.Store, cfg *config.Config, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, err := store.Get(r.Context(), r.PathValue("id"))
		if err != nil {
			status := http.StatusInternalServerError
			switch {
			case errors.Is(err, history.ErrNotFound):
				status = http.StatusNotFound
			case errors.Is(err, history.ErrInvalid):
				status = http.StatusBadRequest
			default:
				logger.ErrorContext(r.Context(), "render an event's cards", "error", err)
			}
			adminapi.WriteError(w, status, err)
			return
		}
		if v.Event == nil {
			adminapi.WriteError(w, http.StatusNotFound, fmt.Errorf("event %s is no longer stored on RELAY_IN: its cards cannot be rendered", v.ID))
			return
		}
		ev := v.Event.Event
		src, _ := cfg.Source(ev.Source)
		cards := []EventCard{}
		for _, route := range cfg.Routes {
			if route.Source != ev.Source {
				continue
			}
			spec := src.Mapping
			if route.Mapping != "" {
				spec = route.Mapping
			}
			for _, name := range route.To {
				c := EventCard{Route: route.Name, Destination: name, Format: schemas.FormatAdaptive}
				if d, ok := cfg.Destination(name); ok {
					c.Format = d.Format
				}
				card, used, err := renderCard(ev, spec, c.Format)
				c.Mapping = used
				if err != nil {
					c.Error = err.Error()
				} else {
					c.Card = card
				}
				cards = append(cards, c)
			}
		}
		adminapi.WriteJSON(w, http.StatusOK, map[string]any{"id": v.ID, "cards": cards})
	})
}
