package ingest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestWriteAccepted holds the hand-written answer to what encoding/json
// writes for the same fields, escapes included.
func TestWriteAccepted(t *testing.T) {
	type accepted struct {
		ID        string `json:"id,omitempty"`
		Duplicate bool   `json:"duplicate,omitempty"`
		Handshake string `json:"handshake,omitempty"`
	}
	for _, tc := range []accepted{
		{ID: "0193a5b2-7c1e-7def-8abc-0123456789ab"},
		{ID: "0193a5b2-7c1e-7def-8abc-0123456789ab", Duplicate: true},
		{Duplicate: true},
		{},
		{ID: "0193a5b2-7c1e-7def-8abc-0123456789ab", Handshake: "github ping"},
		{ID: `odd "id" \ with <html> & ünïcode` + "\x01\u2028", Duplicate: true, Handshake: "tab\there"},
	} {
		rec := httptest.NewRecorder()
		writeAccepted(rec, tc.ID, tc.Duplicate, tc.Handshake)
		want, err := json.Marshal(tc)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, '\n')
		if got := rec.Body.String(); got != string(want) {
			t.Errorf("answer for %+v = %q, want %q", tc, got, want)
		}
		if rec.Code != http.StatusAccepted || rec.Header().Get("Content-Type") != "application/json" {
			t.Errorf("answer for %+v: status %d, headers %v", tc, rec.Code, rec.Header())
		}
		var back accepted
		if err := json.Unmarshal(rec.Body.Bytes(), &back); err != nil || back != tc {
			t.Errorf("answer %q reads back as %+v (%v), want %+v", rec.Body, back, err, tc)
		}
	}
}
