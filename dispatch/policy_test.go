package dispatch

import (
	"net/http"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/schemas"
)

// The delivery policy, case by case: what a delivery does next from its
// state, the answer, the budget and the breaker.
func TestDecide(t *testing.T) {
	now := time.Date(2026, 12, 4, 3, 0, 0, 0, time.UTC)
	// backoff doubles from 1 s: 1 s, 2 s, 4 s … (jitter is the worker's).
	backoff := func(n int) time.Duration { return time.Second << (n - 1) }
	fresh := func() situation {
		return situation{now: now, notAfter: now.Add(time.Hour), maxAttempts: 3, backoff: backoff}
	}
	answered := func(o outcome) situation {
		s := fresh()
		s.answer = &o
		return s
	}
	with := func(s situation, change func(*situation)) situation { change(&s); return s }
	for _, tc := range []struct {
		name string
		in   situation
		want step
	}{
		{"nothing in the way: send", fresh(), step{action: send}},
		{"max_age passed: dead-letter expired",
			with(fresh(), func(s *situation) { s.now = now.Add(2 * time.Hour) }),
			step{action: deadLetter, reason: schemas.ReasonExpired}},
		{"expired wins over an open breaker",
			with(fresh(), func(s *situation) { s.now, s.breakerWait = now.Add(2*time.Hour), time.Minute }),
			step{action: deadLetter, reason: schemas.ReasonExpired}},
		{"destination gone: dead-letter without asking",
			with(fresh(), func(s *situation) { s.gone = true }),
			step{action: deadLetter, reason: schemas.ReasonGone}},
		{"destination gone, a replay: ask once",
			with(fresh(), func(s *situation) { s.gone, s.replay = true, true }),
			step{action: send}},
		{"breaker open: hold until it lets a probe through",
			with(fresh(), func(s *situation) { s.breakerWait, s.budgetWait = 20*time.Second, time.Second }),
			step{action: hold, wait: 20 * time.Second}},
		{"budget spent: hold until it allows",
			with(fresh(), func(s *situation) { s.budgetWait = 250 * time.Millisecond }),
			step{action: hold, wait: 250 * time.Millisecond}},
		{"delivered: ack", answered(outcome{verdict: delivered, status: 200}), step{action: ack}},
		{"404/410: dead-letter gone", answered(outcome{verdict: gone, status: 410}),
			step{action: deadLetter, reason: schemas.ReasonGone}},
		{"400: dead-letter rejected", answered(outcome{verdict: rejected, status: 400}),
			step{action: deadLetter, reason: schemas.ReasonRejected}},
		{"first 500: retry after the backoff", answered(outcome{verdict: retry, status: 500}),
			step{action: retryLater, wait: time.Second, counted: 1}},
		{"second 500: the backoff doubles",
			with(answered(outcome{verdict: retry, status: 500}), func(s *situation) { s.counted = 1 }),
			step{action: retryLater, wait: 2 * time.Second, counted: 2}},
		{"Retry-After longer than the backoff wins",
			answered(outcome{verdict: retry, status: 503, retryAfter: 30 * time.Second}),
			step{action: retryLater, wait: 30 * time.Second, counted: 1, quiet: 30 * time.Second}},
		{"Teams' wrapped 429 waits at least a second",
			with(answered(outcome{verdict: retry, status: http.StatusTooManyRequests}), func(s *situation) {
				s.backoff = func(int) time.Duration { return 100 * time.Millisecond }
			}),
			step{action: retryLater, wait: time.Second, counted: 1, quiet: time.Second}},
		{"last attempt fails: dead-letter exhausted",
			with(answered(outcome{verdict: retry, status: 500}), func(s *situation) { s.counted = 2 }),
			step{action: deadLetter, reason: schemas.ReasonExhausted, counted: 3}},
		{"last attempt answers Retry-After: dead-letter exhausted, the destination stays quiet",
			with(answered(outcome{verdict: retry, status: 429, retryAfter: 3 * time.Second}), func(s *situation) { s.counted = 2 }),
			step{action: deadLetter, reason: schemas.ReasonExhausted, counted: 3, quiet: 3 * time.Second}},
		{"last attempt answers Teams' wrapped 429: the destination stays quiet a second",
			with(answered(outcome{verdict: retry, status: http.StatusTooManyRequests}), func(s *situation) { s.counted = 2 }),
			step{action: deadLetter, reason: schemas.ReasonExhausted, counted: 3, quiet: time.Second}},
		{"the receiver asked for quiet: hold the next delivery",
			with(fresh(), func(s *situation) { s.quietWait, s.budgetWait = 3*time.Second, time.Second }),
			step{action: hold, wait: 3 * time.Second}},
		{"Retry-After longer than the open breaker: hold for the Retry-After",
			with(fresh(), func(s *situation) { s.breakerWait, s.quietWait = 20*time.Second, time.Minute }),
			step{action: hold, wait: time.Minute}},
		{"max_age ends now: dead-letter expired",
			with(fresh(), func(s *situation) { s.now = now.Add(time.Hour) }),
			step{action: deadLetter, reason: schemas.ReasonExpired}},
		{"Retry-After past max_age: wait until it ends, not longer",
			answered(outcome{verdict: retry, status: 503, retryAfter: 2 * time.Hour}),
			step{action: retryLater, wait: time.Hour, counted: 1, quiet: 2 * time.Hour}},
		{"backoff past max_age: wait until it ends, not longer",
			with(answered(outcome{verdict: retry, status: 500}), func(s *situation) { s.notAfter = now.Add(500 * time.Millisecond) }),
			step{action: retryLater, wait: 500 * time.Millisecond, counted: 1}},
		{"answered after max_age ended: no wait before it is dead-lettered",
			with(answered(outcome{verdict: retry, status: 503, retryAfter: time.Minute}), func(s *situation) { s.now = now.Add(2 * time.Hour) }),
			step{action: retryLater, wait: 0, counted: 1, quiet: time.Minute}},
		{"the receiver's quiet past max_age: hold until it ends, not longer",
			with(fresh(), func(s *situation) { s.quietWait = 24 * time.Hour }),
			step{action: hold, wait: time.Hour}},
		{"open breaker past max_age: hold until it ends, not longer",
			with(fresh(), func(s *situation) { s.breakerWait = 2 * time.Hour }),
			step{action: hold, wait: time.Hour}},
		{"a failed probe does not count, even as the first attempt",
			with(answered(outcome{verdict: retry, status: 500}), func(s *situation) { s.probe = true }),
			step{action: retryLater, wait: 0, counted: 0}},
		{"a failed probe at the last attempt does not exhaust",
			with(answered(outcome{verdict: retry, status: 500}), func(s *situation) { s.probe, s.counted = true, 2 }),
			step{action: retryLater, wait: 2 * time.Second, counted: 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := decide(tc.in); got != tc.want {
				t.Errorf("decide = {%v wait %v reason %q counted %d quiet %v}, want {%v wait %v reason %q counted %d quiet %v}",
					got.action, got.wait, got.reason, got.counted, got.quiet, tc.want.action, tc.want.wait, tc.want.reason, tc.want.counted, tc.want.quiet)
			}
		})
	}
}
