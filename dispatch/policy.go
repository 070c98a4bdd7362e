package dispatch

import (
	"net/http"
	"time"

	"github.com/hookrelay/hookrelay/schemas"
)

// The delivery policy: what a delivery does next, decided from its state
// alone. The worker carries the answer out (it sends, waits, acks or
// dead-letters) and decides nothing itself.

// action is what a delivery does next.
type action int

const (
	send       action = iota // try the destination now
	hold                     // wait step.wait (the breaker, the receiver, the budget), then decide again
	retryLater               // the attempt failed: wait step.wait, then decide again
	ack                      // delivered
	deadLetter               // give up, for step.reason
)

func (a action) String() string {
	return [...]string{"send", "hold", "retry later", "ack", "dead-letter"}[a]
}

// step is a decision: the action, how long to wait first (hold and
// retryLater), why (deadLetter), the failed attempts that count towards
// max_attempts after it, and, after an answer, how long the destination
// takes no request at all.
type step struct {
	action  action
	wait    time.Duration
	reason  string
	counted int
	// quiet is how long from the answer the receiver asked not to be sent
	// anything (its Retry-After; Teams' 429 at least a second), whatever
	// this delivery does next: the next delivery waits for it too, also
	// after this one was dead-lettered.
	quiet time.Duration
}

// situation is all a decision reads.
type situation struct {
	now      time.Time
	notAfter time.Time // the delivery's max_age ends then: no wait lasts past it
	// gone: the destination answered as a removed webhook earlier. A replay
	// asks it once more, and its success resumes the destination.
	gone, replay bool
	// breakerWait is how long the open breaker still refuses; quietWait
	// how long the receiver still asked not to be sent anything (a step's
	// quiet, whichever delivery it answered); budgetWait how long until the
	// budget allows a send. Zero: now.
	breakerWait, quietWait, budgetWait time.Duration

	// answer is the outcome of the attempt just made; nil before sending.
	answer *outcome
	// probe: the answer is a half-open breaker's probe. Its failure says
	// the destination is down, not that the delivery is bad: it does not
	// count towards max_attempts.
	probe bool
	// counted failed attempts before answer, of maxAttempts.
	counted, maxAttempts int
	// backoff is the wait after the n-th counted failure, before the
	// receiver's Retry-After.
	backoff func(n int) time.Duration
}

// decide is the delivery policy.
func decide(s situation) step {
	if s.answer != nil {
		return decideAnswer(s)
	}
	switch {
	case !s.now.Before(s.notAfter):
		return step{action: deadLetter, reason: schemas.ReasonExpired, counted: s.counted}
	case s.gone && !s.replay:
		return step{action: deadLetter, reason: schemas.ReasonGone, counted: s.counted}
	case s.breakerWait > 0 || s.quietWait > 0:
		return step{action: hold, wait: s.untilExpiry(max(s.breakerWait, s.quietWait)), counted: s.counted}
	case s.budgetWait > 0:
		return step{action: hold, wait: s.untilExpiry(s.budgetWait), counted: s.counted}
	}
	return step{action: send, counted: s.counted}
}

// decideAnswer decides after an attempt.
func decideAnswer(s situation) step {
	o := s.answer
	counted := s.counted
	switch o.verdict {
	case delivered:
		return step{action: ack, counted: counted}
	case gone:
		return step{action: deadLetter, reason: schemas.ReasonGone, counted: counted}
	case rejected:
		return step{action: deadLetter, reason: schemas.ReasonRejected, counted: counted}
	}
	if !s.probe {
		counted++
	}
	quiet := o.retryAfter
	if o.status == http.StatusTooManyRequests {
		// Teams' wrapped 429 carries no Retry-After; its shortest window
		// is one second.
		quiet = max(quiet, time.Second)
	}
	if counted >= s.maxAttempts {
		return step{action: deadLetter, reason: schemas.ReasonExhausted, counted: counted, quiet: quiet}
	}
	wait := quiet
	if counted > 0 {
		wait = max(wait, s.backoff(counted))
	}
	return step{action: retryLater, wait: s.untilExpiry(wait), counted: counted, quiet: quiet}
}

// untilExpiry cuts a wait at the delivery's max_age, so that the decision
// after it dead-letters the delivery as expired in time rather than a
// Retry-After (or an open breaker) later.
func (s situation) untilExpiry(wait time.Duration) time.Duration {
	return max(min(wait, s.notAfter.Sub(s.now)), 0)
}
