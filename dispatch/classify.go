package dispatch

import (
	"bytes"
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"time"
)

// verdict is what an answer means for a delivery.
type verdict int

const (
	delivered verdict = iota // accepted by the receiver: ack
	retry                    // transient: try again later
	rejected                 // permanent: dead-letter now
	gone                     // the webhook no longer exists: dead-letter, stop trying
)

func (v verdict) String() string {
	return [...]string{"delivered", "retry", "rejected", "gone"}[v]
}

// outcome is one attempt's result.
type outcome struct {
	verdict    verdict
	status     int           // the status the receiver meant (unwrapped from a 200)
	retryAfter time.Duration // the receiver's Retry-After, if any
	excerpt    string        // start of the response body
	err        error         // transport error, if any
}

// teamsWrapped matches the connector service's habit of answering 200 with the
// real error in the body: "Webhook message delivery failed with error:
// Microsoft Teams endpoint returned HTTP error 429 with ContextId …".
var teamsWrapped = regexp.MustCompile(`Microsoft Teams endpoint returned HTTP error (\d{3})`)

// teamsFailed is the prefix of every wrapped failure, with or without a code.
var teamsFailed = []byte("Webhook message delivery failed")

// classify reads an HTTP answer as the receiver means it.
func classify(status int, header http.Header, body []byte, now time.Time) outcome {
	o := outcome{status: status, excerpt: excerpt(body)}
	if status >= 200 && status < 300 && bytes.Contains(body, teamsFailed) {
		o.status = http.StatusInternalServerError
		if m := teamsWrapped.FindSubmatch(body); m != nil {
			o.status, _ = strconv.Atoi(string(m[1]))
		}
	}
	switch s := o.status; {
	case s >= 200 && s < 300:
		o.verdict = delivered
	case s == http.StatusNotFound || s == http.StatusGone:
		o.verdict = gone
	case s == http.StatusRequestTimeout || s == http.StatusTooEarly || s == http.StatusTooManyRequests || s >= 500:
		o.verdict = retry
		o.retryAfter = parseRetryAfter(header.Get("Retry-After"), now)
	default:
		o.verdict = rejected
	}
	return o
}

// maxRetryAfter bounds a receiver's Retry-After: a longer one is read as
// this (a delivery's max_age ends its wait sooner anyway), and seconds too
// many for a time.Duration do not wrap around to no wait at all.
const maxRetryAfter = 24 * time.Hour

// parseRetryAfter reads seconds or an HTTP date, at most maxRetryAfter;
// nonsense reads as zero.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil || errors.Is(err, strconv.ErrRange) {
		// ParseInt saturates a number out of range, and says so.
		if secs < 0 {
			return 0
		}
		return time.Duration(min(secs, int64(maxRetryAfter/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return min(t.Sub(now), maxRetryAfter)
	}
	return 0
}

func excerpt(body []byte) string {
	const limit = 1024
	if len(body) > limit {
		body = body[:limit]
	}
	return string(bytes.ToValidUTF8(body, []byte("?")))
}
