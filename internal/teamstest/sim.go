package teamstest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// serveSim answers the control endpoints:
//
//	POST   /_sim/fault     {"status":500,"latency":"2s","for":"30s","path":"/x","count":3}
//	DELETE /_sim/fault     clear all faults
//	POST   /_sim/remove?path=/x  remove a webhook
//	GET    /_sim/received?path=/x  the requests, as a JSON array
//	GET    /_sim/stats?path=/x     counts by status
func (h *Handler) serveSim(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Query().Get("path")
	switch {
	case r.URL.Path == "/_sim/fault" && r.Method == http.MethodPost:
		f, err := decodeFault(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		h.SetFault(f)
		w.WriteHeader(http.StatusNoContent)
	case r.URL.Path == "/_sim/fault" && r.Method == http.MethodDelete:
		h.ClearFaults()
		w.WriteHeader(http.StatusNoContent)
	case r.URL.Path == "/_sim/remove" && r.Method == http.MethodPost:
		if path == "" {
			http.Error(w, "the path query parameter names the webhook to remove", http.StatusBadRequest)
			return
		}
		h.Remove(path)
		w.WriteHeader(http.StatusNoContent)
	case r.URL.Path == "/_sim/received" && r.Method == http.MethodGet:
		recs := h.Received(path)
		out := make([]wireReceived, len(recs))
		for i, rec := range recs {
			out[i] = toWire(rec)
		}
		writeJSON(w, out)
	case r.URL.Path == "/_sim/stats" && r.Method == http.MethodGet:
		st := stats{ByStatus: map[string]int{}}
		for _, rec := range h.Received(path) {
			st.Total++
			if rec.Accepted {
				st.Accepted++
			}
			st.ByStatus[strconv.Itoa(rec.Status)]++
		}
		writeJSON(w, st)
	default:
		http.Error(w, "unknown simulator endpoint "+r.Method+" "+r.URL.Path, http.StatusNotFound)
	}
}

// stats is the answer of GET /_sim/stats.
type stats struct {
	Total    int            `json:"total"`
	Accepted int            `json:"accepted"`
	ByStatus map[string]int `json:"by_status"`
}

// wireReceived is Received as JSON, the body inline when it is JSON.
type wireReceived struct {
	Path       string          `json:"path"`
	At         time.Time       `json:"at"`
	Status     int             `json:"status"`
	Accepted   bool            `json:"accepted"`
	DeliveryID string          `json:"delivery_id,omitempty"`
	Body       json.RawMessage `json:"body"`
}

func toWire(rec Received) wireReceived {
	body := json.RawMessage(rec.Body)
	if !json.Valid(rec.Body) {
		// Refused bodies may be anything; keep them readable as a string.
		body, _ = json.Marshal(string(rec.Body))
	}
	return wireReceived{Path: rec.Path, At: rec.At, Status: rec.Status, Accepted: rec.Accepted, DeliveryID: rec.DeliveryID, Body: body}
}

func decodeFault(r *http.Request) (Fault, error) {
	var in struct {
		Status  int    `json:"status"`
		Latency string `json:"latency"`
		For     string `json:"for"`
		Path    string `json:"path"`
		Count   int    `json:"count"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		return Fault{}, fmt.Errorf("decode fault: %w", err)
	}
	f := Fault{Status: in.Status, Path: in.Path, Count: in.Count}
	for _, d := range []struct {
		name string
		in   string
		out  *time.Duration
	}{{"latency", in.Latency, &f.Latency}, {"for", in.For, &f.For}} {
		if d.in == "" {
			continue
		}
		v, err := time.ParseDuration(d.in)
		if err != nil {
			return Fault{}, fmt.Errorf("fault %s %q: want a duration such as \"2s\": %w", d.name, d.in, err)
		}
		*d.out = v
	}
	if f.Status != 0 && (f.Status < 100 || f.Status > 599) {
		return Fault{}, fmt.Errorf("fault status %d: want an HTTP status code or 0 for latency only", f.Status)
	}
	return f, nil
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(v); err != nil {
		http.Error(w, "encode: "+err.Error(), http.StatusInternalServerError)
	}
}
