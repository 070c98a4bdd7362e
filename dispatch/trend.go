package dispatch

import (
	"sync"
	"time"
)

// Trends are what the admin page draws to say whether things get better:
// per destination, how many attempts were delivered, failed or throttled and
// how many deliveries were dead-lettered, and how large the backlog was, per
// minute over the last hour and per quarter of an hour over the last day.
//
// They live in memory only, counted by this instance as it dispatches: a
// destination another instance owns shows that instance's counts there, and a
// restart starts them afresh (Grafana, on the Prometheus metrics, keeps the
// long view). Memory is fixed per destination that dispatched anything: 60 +
// 96 buckets of 24 bytes, about 3.7 KB, so 1,000 destinations take under
// 4 MB; a ring takes its buckets at its first count.

// The two windows a trend keeps.
const (
	// TrendHour is the last hour, per minute.
	TrendHour = "1h"
	// TrendDay is the last 24 hours, per quarter of an hour.
	TrendDay = "24h"
)

// trendRing is one resolution of a trend: n buckets of step each, the bucket
// of interval i (Unix time / step) at i % n.
type trendRing struct {
	step    time.Duration
	n       int
	buckets []trendBucket // nil until the first count
}

// trendBucket counts one interval. start is the interval's index (Unix time
// / step), so a slot still holding an older interval reads as empty.
type trendBucket struct {
	start                              int32
	delivered, failed, throttled, dead uint32
	backlog                            uint32 // the largest seen, plus one; 0: not sampled
}

// trend is one destination's counts; its methods are safe for concurrent use.
type trend struct {
	mu   sync.Mutex
	hour trendRing
	day  trendRing
}

func newTrend() *trend {
	return &trend{
		hour: trendRing{step: time.Minute, n: 60},
		day:  trendRing{step: 15 * time.Minute, n: 96},
	}
}

// at returns the bucket of t, emptied if it held an older interval.
func (r *trendRing) at(t time.Time) *trendBucket {
	i := int32(t.Unix() / int64(r.step/time.Second))
	if r.buckets == nil {
		r.buckets = make([]trendBucket, r.n)
	}
	b := &r.buckets[int(i)%len(r.buckets)]
	if b.start != i {
		*b = trendBucket{start: i}
	}
	return b
}

// attempt counts one HTTP attempt's outcome: delivered, throttled (429) or
// failed (anything else).
func (t *trend) attempt(now time.Time, o outcome) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, r := range []*trendRing{&t.hour, &t.day} {
		b := r.at(now)
		switch {
		case o.verdict == delivered:
			b.delivered++
		case o.status == 429:
			b.throttled++
		default:
			b.failed++
		}
	}
}

// deadLettered counts n deliveries dead-lettered.
func (t *trend) deadLettered(now time.Time, n int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.hour.at(now).dead += uint32(n)
	t.day.at(now).dead += uint32(n)
}

// backlog records a backlog seen at now; a bucket keeps the largest.
func (t *trend) backlog(now time.Time, n uint64) {
	v := uint32(min(n, 1<<32-2)) + 1
	t.mu.Lock()
	defer t.mu.Unlock()
	if n == 0 && t.hour.buckets == nil {
		return // a destination that never had anything: no memory for its zeros
	}
	for _, r := range []*trendRing{&t.hour, &t.day} {
		if b := r.at(now); v > b.backlog {
			b.backlog = v
		}
	}
}

// Trend is a series of counts, oldest first: point i covers
// [Start + i·Step, Start + (i+1)·Step). The last point is the interval now
// running.
type Trend struct {
	Start time.Time `json:"start"`
	// Step is the length of one point: "1m0s" over the hour, "15m0s" over
	// the day.
	Step string `json:"step"`
	// Delivered, Failed and Throttled count HTTP attempts by their answer:
	// accepted, throttled (429), or anything else (an error status, a
	// timeout, a refused connection).
	Delivered []uint32 `json:"delivered"`
	Failed    []uint32 `json:"failed"`
	Throttled []uint32 `json:"throttled"`
	// DeadLettered counts deliveries stored as dead letters.
	DeadLettered []uint32 `json:"dead_lettered"`
	// Backlog is the largest backlog seen in each interval; null where
	// none was sampled (the sampler runs every BacklogSampleEvery).
	Backlog []*uint32 `json:"backlog"`
}

// series reads a ring up to now.
func (r *trendRing) series(now time.Time) Trend {
	n := r.n
	last := int32(now.Unix() / int64(r.step/time.Second))
	first := last - int32(n) + 1
	out := Trend{
		Start: time.Unix(int64(first)*int64(r.step/time.Second), 0).UTC(), Step: r.step.String(),
		Delivered: make([]uint32, n), Failed: make([]uint32, n), Throttled: make([]uint32, n),
		DeadLettered: make([]uint32, n), Backlog: make([]*uint32, n),
	}
	if r.buckets == nil {
		return out // nothing counted yet
	}
	for k := range n {
		i := first + int32(k)
		b := r.buckets[int(i)%n]
		if b.start != i {
			continue
		}
		out.Delivered[k], out.Failed[k], out.Throttled[k], out.DeadLettered[k] = b.delivered, b.failed, b.throttled, b.dead
		if b.backlog > 0 {
			v := b.backlog - 1
			out.Backlog[k] = &v
		}
	}
	return out
}

func (t *trend) series(now time.Time, window string) Trend {
	t.mu.Lock()
	defer t.mu.Unlock()
	if window == TrendDay {
		return t.day.series(now)
	}
	return t.hour.series(now)
}

// add adds o's counts to s point by point; both cover the same intervals.
// A backlog is summed where either was sampled.
func (s *Trend) add(o Trend) {
	for i := range s.Delivered {
		s.Delivered[i] += o.Delivered[i]
		s.Failed[i] += o.Failed[i]
		s.Throttled[i] += o.Throttled[i]
		s.DeadLettered[i] += o.DeadLettered[i]
		if o.Backlog[i] != nil {
			v := *o.Backlog[i]
			if s.Backlog[i] != nil {
				v += *s.Backlog[i]
			}
			s.Backlog[i] = &v
		}
	}
}
