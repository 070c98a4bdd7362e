package dispatch

import (
	"slices"
	"sync"
	"time"
)

// Window is one rung of a receiver's rate ladder: at most Max requests in any
// interval of length Per.
type Window struct {
	Per time.Duration
	Max int
}

// budget decides when the next request to one destination may leave.
//
// Receivers count requests in windows whose alignment nobody outside knows,
// so the only safe reading of "N per T" is "at most N in any interval of
// length T" as the receiver sees arrivals. budget therefore keeps, per window,
// the send times of the last Max requests, and lets a request go only when the
// oldest of them is more than Per (plus a margin for network jitter) ago. A
// token bucket (rate, burst) spaces requests on top of the windows.
type budget struct {
	mu       sync.Mutex
	interval time.Duration // 1/rate, stretched by the margin
	burst    int
	tokens   float64
	last     time.Time // when tokens was computed
	windows  []window
}

type window struct {
	Window                 // Per includes the margin
	declared time.Duration // Per as configured
	last     int           // index in sent of the latest send
	sent     []time.Time   // ring of the last Max send times, grown lazily
	next     int
}

// margin stretches every interval so that jitter between our clock and the
// receiver's arrival times cannot squeeze one more request into a window.
func margin(d time.Duration) time.Duration {
	m := d / 50
	if m < 20*time.Millisecond {
		m = 20 * time.Millisecond
	}
	return d + m
}

// bucketMargin stretches the token bucket's interval a little, for clock
// granularity on the receiver's side.
const bucketMargin = 5 * time.Millisecond

func newBudget(rate float64, burst int, windows []Window) *budget {
	b := &budget{burst: max(burst, 1), tokens: float64(max(burst, 1))}
	if rate > 0 {
		// Sends are counted at their answer (settle), which already bounds
		// when the receiver saw them; the bucket keeps only a token margin.
		b.interval = time.Duration(float64(time.Second)/rate) + bucketMargin
	}
	for _, w := range windows {
		if w.Max > 0 && w.Per > 0 {
			b.windows = append(b.windows, window{Window: Window{Per: margin(w.Per), Max: w.Max}, declared: w.Per})
		}
	}
	return b
}

// reserve returns how long to wait before sending at now. When it returns 0
// the send is recorded and the caller must send at once.
func (b *budget) reserve(now time.Time) time.Duration {
	if wait := b.wait(now); wait > 0 {
		return wait
	}
	b.take(now)
	return 0
}

// wait returns how long until the budget allows a send at now; 0: now.
func (b *budget) wait(now time.Time) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	var wait time.Duration
	if b.interval > 0 {
		b.refill(now)
		if b.tokens < 1 {
			wait = time.Duration((1 - b.tokens) * float64(b.interval))
		}
	}
	for i := range b.windows {
		w := &b.windows[i]
		if len(w.sent) < w.Max {
			continue
		}
		// w.sent[w.next] is the oldest of the last Max sends.
		if d := w.sent[w.next].Add(w.Per).Sub(now); d > wait {
			wait = d
		}
	}
	return wait
}

// take records a send at now, which wait allowed.
func (b *budget) take(now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.interval > 0 {
		b.refill(now)
		b.tokens--
	}
	for i := range b.windows {
		w := &b.windows[i]
		if len(w.sent) < w.Max {
			w.sent = append(w.sent, now)
			w.last = len(w.sent) - 1
			continue
		}
		w.sent[w.next] = now
		w.last = w.next
		w.next = (w.next + 1) % w.Max
	}
}

// settle records when the request reserved last was answered. The receiver
// saw it arrive somewhere between the reservation and the answer; counting
// it at the answer keeps every window safe however long the request took,
// where counting it at the start would let a slow request and a fast one
// land closer together than the budget allows.
func (b *budget) settle(answered time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i := range b.windows {
		w := &b.windows[i]
		if len(w.sent) > 0 && answered.After(w.sent[w.last]) {
			w.sent[w.last] = answered
		}
	}
	if answered.After(b.last) {
		b.last = answered // no tokens accrue while a request is out
	}
}

func (b *budget) refill(now time.Time) {
	if b.last.IsZero() {
		b.last = now
		return
	}
	if el := now.Sub(b.last); el > 0 {
		b.tokens = min(float64(b.burst), b.tokens+float64(el)/float64(b.interval))
		b.last = now
	}
}

// merge adds sends made elsewhere (by the instance that owned the
// destination before) to the windows, and spends the token bucket as if the
// latest of them had been ours.
func (b *budget) merge(now time.Time, sends []time.Time) {
	if len(sends) == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for i := range b.windows {
		w := &b.windows[i]
		all := append(append([]time.Time(nil), w.sent...), sends...)
		slices.SortFunc(all, time.Time.Compare)
		all = slices.CompactFunc(all, time.Time.Equal)
		all = slices.DeleteFunc(all, func(t time.Time) bool { return now.Sub(t) >= w.Per })
		if len(all) > w.Max {
			all = all[len(all)-w.Max:]
		}
		// Oldest first, so when the ring is full w.next (0) points at it.
		w.sent, w.next = all, 0
	}
	if b.interval > 0 {
		latest := slices.MaxFunc(sends, time.Time.Compare)
		if el := now.Sub(latest); el < time.Duration(float64(b.interval)*b.tokens) {
			b.tokens = max(float64(el)/float64(b.interval), 0)
			b.last = now
		}
	}
}

// exceeds reports whether sending n requests from now would take longer than
// limit at this budget. It simulates the budget on a copy.
func (b *budget) exceeds(n int, now time.Time, limit time.Duration) bool {
	b.mu.Lock()
	c := &budget{interval: b.interval, burst: b.burst, tokens: b.tokens, last: b.last}
	for _, w := range b.windows {
		w.sent = append([]time.Time(nil), w.sent...)
		c.windows = append(c.windows, w)
	}
	b.mu.Unlock()
	t := now
	for range n {
		for w := c.reserve(t); w > 0; w = c.reserve(t) {
			t = t.Add(w)
		}
		if t.Sub(now) > limit {
			return true
		}
	}
	return false
}

// left reports, per window, how many requests could go now.
func (b *budget) left(now time.Time) []BudgetLeft {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]BudgetLeft, 0, len(b.windows))
	for _, w := range b.windows {
		used := 0
		for _, t := range w.sent {
			if now.Sub(t) < w.Per {
				used++
			}
		}
		out = append(out, BudgetLeft{Per: w.declared.String(), Max: w.Max, Left: w.Max - used})
	}
	return out
}
