package schemas

import "time"

// Event is what ingest stores on RELAY_IN: one vendor request, verified, with
// its raw body exactly as received.
type Event struct {
	// ID is a UUIDv7, so ids sort by arrival time.
	ID string `json:"id"`
	// Source is the configured source name the request was posted to.
	Source string `json:"source"`
	// ReceivedAt is when ingest accepted the request.
	ReceivedAt time.Time `json:"received_at"`
	// ContentType is the request's Content-Type header, as sent.
	ContentType string `json:"content_type,omitempty"`
	// DeliveryID is the vendor's own id of this delivery, when it sent one; it
	// is the deduplication key.
	DeliveryID string `json:"delivery_id,omitempty"`
	// Verified names the verification scheme that accepted the request.
	Verified string `json:"verified,omitempty"`
	// Handshake names the vendor handshake the request was ("github ping"):
	// stored and answered like any event, it goes to no channel unless its
	// source sets relay_handshakes. Empty for news.
	Handshake string `json:"handshake,omitempty"`
	// Headers are selected request headers (never credentials).
	Headers map[string]string `json:"headers,omitempty"`
	// Body is the raw request body (base64 in JSON).
	Body []byte `json:"body"`
}

// Card formats a destination can receive.
const (
	FormatMessageCard = "messagecard"
	FormatAdaptive    = "adaptive"
)

// Delivery is what transform stores on RELAY_OUT: one rendered card for one
// destination.
type Delivery struct {
	// ID is deterministic (event id and destination), so a transform retry is
	// stored once and a receiver can drop duplicates.
	ID          string `json:"id"`
	EventID     string `json:"event_id"`
	Source      string `json:"source"`
	Route       string `json:"route"`
	Destination string `json:"destination"`
	Format      string `json:"format"`
	// Card is the exact JSON body POSTed to the destination.
	Card      []byte    `json:"card"`
	CreatedAt time.Time `json:"created_at"`
	// NotAfter is when the delivery expires and is dead-lettered instead.
	NotAfter time.Time `json:"not_after"`
	// Replays counts how many times the delivery was replayed from the
	// dead-letter stream.
	Replays int `json:"replays,omitempty"`
}

// Reasons a delivery is dead-lettered.
const (
	ReasonRejected  = "rejected"  // the destination refused it (permanent 4xx)
	ReasonGone      = "gone"      // the destination URL no longer exists
	ReasonExhausted = "exhausted" // retries ran out
	ReasonExpired   = "expired"   // older than the destination's max_age
	ReasonTransform = "transform" // routing or mapping failed
	// ReasonRemoved: the destination was removed from the configuration
	// while the delivery waited; replay it once the destination is back.
	ReasonRemoved = "removed"
)

// DeadLetter is what RELAY_DEAD keeps about a delivery that could not be made.
type DeadLetter struct {
	Delivery     Delivery  `json:"delivery"`
	Reason       string    `json:"reason"`
	Attempts     int       `json:"attempts"`
	LastStatus   int       `json:"last_status,omitempty"`
	LastError    string    `json:"last_error,omitempty"`
	FirstAttempt time.Time `json:"first_attempt,omitempty"`
	LastAttempt  time.Time `json:"last_attempt,omitempty"`
	// ResponseExcerpt is the start of the last response body, at most
	// MaxExcerpt bytes.
	ResponseExcerpt string    `json:"response_excerpt,omitempty"`
	DeadAt          time.Time `json:"dead_at"`
}

// MaxExcerpt bounds DeadLetter.ResponseExcerpt.
const MaxExcerpt = 1024

// MaxCardBytes is the largest card Teams accepts (28 KB).
const MaxCardBytes = 28 * 1024
