package dispatch

import (
	"testing"
	"time"
	"unsafe"
)

func TestTrendCountsPerIntervalAndForgetsOldOnes(t *testing.T) {
	tr := newTrend()
	t0 := time.Date(2026, 12, 4, 3, 0, 10, 0, time.UTC)
	tr.attempt(t0, outcome{verdict: delivered, status: 202})
	tr.attempt(t0, outcome{verdict: retry, status: 429})
	tr.attempt(t0.Add(time.Minute), outcome{verdict: retry, status: 500})
	tr.attempt(t0.Add(time.Minute), outcome{verdict: gone, status: 410})
	tr.deadLettered(t0.Add(time.Minute), 1)
	tr.backlog(t0.Add(time.Minute), 7)
	tr.backlog(t0.Add(time.Minute), 3)

	now := t0.Add(2 * time.Minute)
	h := tr.series(now, TrendHour)
	if len(h.Delivered) != 60 || h.Step != "1m0s" || !h.Start.Equal(time.Date(2026, 12, 4, 2, 3, 0, 0, time.UTC)) {
		t.Fatalf("hour: %d points of %s from %v", len(h.Delivered), h.Step, h.Start)
	}
	// Points 57, 58, 59 are 03:00, 03:01 and 03:02 (now).
	if h.Delivered[57] != 1 || h.Throttled[57] != 1 || h.Failed[57] != 0 {
		t.Errorf("03:00: delivered %d throttled %d failed %d, want 1 1 0", h.Delivered[57], h.Throttled[57], h.Failed[57])
	}
	if h.Failed[58] != 2 || h.DeadLettered[58] != 1 || h.Backlog[58] == nil || *h.Backlog[58] != 7 {
		t.Errorf("03:01: failed %d dead %d backlog %v, want 2 1 7 (the largest seen)", h.Failed[58], h.DeadLettered[58], h.Backlog[58])
	}
	if h.Backlog[57] != nil || h.Delivered[59] != 0 {
		t.Errorf("unsampled backlog %v, now delivered %d: want none, 0", h.Backlog[57], h.Delivered[59])
	}
	d := tr.series(now, TrendDay)
	if len(d.Delivered) != 96 || d.Delivered[95] != 1 || d.Failed[95] != 2 || d.Throttled[95] != 1 {
		t.Errorf("day: %d points, this quarter delivered %d failed %d throttled %d", len(d.Delivered), d.Delivered[95], d.Failed[95], d.Throttled[95])
	}

	// An hour later the minute slots are reused: 03:00's counts are gone
	// from the hour, kept in the day.
	later := t0.Add(time.Hour)
	tr.attempt(later, outcome{verdict: delivered, status: 202})
	h = tr.series(later, TrendHour)
	total := uint32(0)
	for _, v := range h.Delivered {
		total += v
	}
	if total != 1 || h.Throttled[59] != 0 {
		t.Errorf("an hour later: %d delivered in the hour, throttled now %d; want only the new one", total, h.Throttled[59])
	}
	if d := tr.series(later, TrendDay); d.Delivered[95]+d.Delivered[91] != 2 {
		t.Errorf("day keeps both deliveries: %v", d.Delivered[88:])
	}

	var sum Trend = newTrend().series(now, TrendHour)
	sum.add(tr.series(now, TrendHour))
	sum.add(tr.series(now, TrendHour))
	if sum.Failed[58] != 4 || *sum.Backlog[58] != 14 || sum.Backlog[57] != nil {
		t.Errorf("sum: failed %d backlog %v/%v", sum.Failed[58], sum.Backlog[58], sum.Backlog[57])
	}
}

// TestTrendMemoryIsBounded checks the doc's claim: a destination's trend
// takes under 4 KB whatever happens, so 1,000 destinations take under 4 MB.
func TestTrendMemoryIsBounded(t *testing.T) {
	tr := newTrend()
	now := time.Now()
	for i := range 3 * 24 * 60 {
		tr.attempt(now.Add(time.Duration(i)*time.Minute), outcome{verdict: delivered})
		tr.backlog(now.Add(time.Duration(i)*time.Minute), uint64(i))
	}
	size := int(unsafe.Sizeof(*tr)) + (cap(tr.hour.buckets)+cap(tr.day.buckets))*int(unsafe.Sizeof(trendBucket{}))
	if size > 4096 || len(tr.hour.buckets) != 60 || len(tr.day.buckets) != 96 {
		t.Errorf("a trend takes %d bytes in %d+%d buckets, want under 4096 in 60+96", size, len(tr.hour.buckets), len(tr.day.buckets))
	}
}
