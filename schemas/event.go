package schemas

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Event is what ingest stores on RELAY_IN: one vendor request, verified, with
// its raw body exactly as received. EncodeEvent and DecodeEvent say how it is
// stored.
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

// Headers of a message of RELAY_IN that carry an event's envelope. The message
// data is the body, byte for byte as the vendor sent it.
const (
	// HeaderEventFormat names how the event is stored: EventFormatRaw. A
	// message without it is a JSON envelope with the body in base64, as
	// hookrelay stored events until the raw format.
	HeaderEventFormat = "Hookrelay-Event-Format"
	// HeaderEventID is the event's id; queue.HeaderEventID, which the
	// JSON envelope's messages carry as well.
	HeaderEventID = "Hookrelay-Event-Id"
	// HeaderSource is the source's name; queue.HeaderSource.
	HeaderSource = "Hookrelay-Source"
	// HeaderReceivedAt is when ingest accepted the request, RFC 3339 in UTC
	// with nanoseconds.
	HeaderReceivedAt  = "Hookrelay-Received-At"
	HeaderContentType = "Hookrelay-Content-Type"
	// HeaderDeliveryID is the vendor's id of the delivery (on RELAY_OUT,
	// queue.HeaderDeliveryID names hookrelay's own delivery instead).
	HeaderDeliveryID = "Hookrelay-Vendor-Delivery-Id"
	HeaderVerified   = "Hookrelay-Verified"
	HeaderHandshake  = "Hookrelay-Handshake"
	// HeaderRequestPrefix prefixes each selected request header:
	// "Hookrelay-Request-X-Github-Event: push". The prefix keeps a vendor's
	// headers apart from the store's own (traceparent, Nats-Msg-Id).
	HeaderRequestPrefix = "Hookrelay-Request-"
)

// EventFormatRaw is the value of HeaderEventFormat for an event stored as
// its raw body with the envelope in headers.
const EventFormatRaw = "raw"

// EncodeEvent sets ev's envelope in header and returns the message data: the
// body itself, not copied. Empty fields are left out. RequestHeader gives the
// header name of a selected request header.
func EncodeEvent(ev *Event, header map[string][]string) (data []byte) {
	// One array holds every value: one allocation, not one a header.
	values := make([]string, 0, 8+len(ev.Headers))
	set := func(k, v string) {
		if v != "" {
			values = append(values, v)
			header[k] = values[len(values)-1 : len(values) : len(values)]
		}
	}
	set(HeaderEventFormat, EventFormatRaw)
	set(HeaderEventID, ev.ID)
	set(HeaderSource, ev.Source)
	set(HeaderReceivedAt, ev.ReceivedAt.UTC().Format(time.RFC3339Nano))
	set(HeaderContentType, ev.ContentType)
	set(HeaderDeliveryID, ev.DeliveryID)
	set(HeaderVerified, ev.Verified)
	set(HeaderHandshake, ev.Handshake)
	for k, v := range ev.Headers {
		set(RequestHeader(k), v)
	}
	return ev.Body
}

// RequestHeader is the message header that carries the request header name.
func RequestHeader(name string) string { return HeaderRequestPrefix + name }

// ErrEventFormat: a message of RELAY_IN is not an event this release reads.
var ErrEventFormat = errors.New("not a hookrelay event")

// DecodeEvent reads back the event of a message of RELAY_IN, in either of the
// formats hookrelay stored: the raw body with its envelope in header, or (no
// HeaderEventFormat) the JSON envelope of earlier releases. The event's Body
// is data, not copied. An event without id or source is an error.
func DecodeEvent(header map[string][]string, data []byte) (Event, error) {
	var ev Event
	switch format := first(header, HeaderEventFormat); format {
	case "":
		if err := json.Unmarshal(data, &ev); err != nil {
			return Event{}, fmt.Errorf("%w: JSON envelope: %w", ErrEventFormat, err)
		}
	case EventFormatRaw:
		ev = Event{
			ID:          first(header, HeaderEventID),
			Source:      first(header, HeaderSource),
			ContentType: first(header, HeaderContentType),
			DeliveryID:  first(header, HeaderDeliveryID),
			Verified:    first(header, HeaderVerified),
			Handshake:   first(header, HeaderHandshake),
			Body:        data,
		}
		if at := first(header, HeaderReceivedAt); at != "" {
			t, err := time.Parse(time.RFC3339Nano, at)
			if err != nil {
				return Event{}, fmt.Errorf("%w: %s %q: %w", ErrEventFormat, HeaderReceivedAt, at, err)
			}
			ev.ReceivedAt = t
		}
		for k, vs := range header {
			if name, ok := strings.CutPrefix(k, HeaderRequestPrefix); ok && len(vs) > 0 && name != "" {
				if ev.Headers == nil {
					ev.Headers = make(map[string]string, 4)
				}
				ev.Headers[name] = vs[0]
			}
		}
	default:
		return Event{}, fmt.Errorf("%w: format %q unknown (stored by a newer hookrelay? upgrade this instance)", ErrEventFormat, format)
	}
	if ev.ID == "" || ev.Source == "" {
		return Event{}, fmt.Errorf("%w: id or source missing", ErrEventFormat)
	}
	return ev, nil
}

func first(header map[string][]string, key string) string {
	if vs := header[key]; len(vs) > 0 {
		return vs[0]
	}
	return ""
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
