// Package handshake is how a vendor's folder tells ingest to answer a request
// itself: a URL check, a challenge or a subscription validation is answered,
// never relayed to a channel.
package handshake

import (
	"encoding/json"
	"net/http"
)

// Reply is ingest's whole answer to a handshake.
type Reply struct {
	// Name says which handshake it was, for logs: "slack url_verification".
	Name string
	// Status is the HTTP status (default 200).
	Status int
	// ContentType of Body; empty with an empty body.
	ContentType string
	Body        []byte
}

// Text is a 200 answer with a plain-text body.
func Text(name, body string) Reply {
	return Reply{Name: name, Status: http.StatusOK, ContentType: "text/plain; charset=utf-8", Body: []byte(body)}
}

// JSON is a 200 answer with v as a JSON body.
func JSON(name string, v any) Reply {
	b, err := json.Marshal(v)
	if err != nil {
		// Only values of the vendor folders' own types are passed: a
		// failure is a programming error, answered as one.
		return Reply{Name: name, Status: http.StatusInternalServerError}
	}
	return Reply{Name: name, Status: http.StatusOK, ContentType: "application/json", Body: b}
}

// Empty is a 200 answer without a body.
func Empty(name string) Reply {
	return Reply{Name: name, Status: http.StatusOK}
}

// Write sends r.
func (r Reply) Write(w http.ResponseWriter) {
	if r.ContentType != "" {
		w.Header().Set("Content-Type", r.ContentType)
		w.Header().Set("X-Content-Type-Options", "nosniff")
	}
	status := r.Status
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	_, _ = w.Write(r.Body)
}
