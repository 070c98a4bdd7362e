package dispatch

import (
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/internal/config"
)

// sendAll drives a budget with a fake clock for span and returns send times.
func sendAll(b *budget, start time.Time, span time.Duration) []time.Time {
	var sent []time.Time
	now := start
	for now.Before(start.Add(span)) {
		if w := b.reserve(now); w > 0 {
			now = now.Add(w)
			continue
		}
		sent = append(sent, now)
	}
	return sent
}

// maxIn returns the most sends in any interval of length per.
func maxIn(sent []time.Time, per time.Duration) int {
	best, j := 0, 0
	for i := range sent {
		for sent[i].Sub(sent[j]) >= per {
			j++
		}
		best = max(best, i-j+1)
	}
	return best
}

func TestBudgetNeverExceedsAnyWindow(t *testing.T) {
	tests := []struct {
		name    string
		rate    float64
		burst   int
		windows []Window
		span    time.Duration
		// wantMin is the least number of sends expected over span: the budget
		// must not be needlessly slow either.
		wantMin int
	}{
		{"rate 4 burst 1", 4, 1, nil, 10 * time.Second, 38},
		{"rate 4 burst 4", 4, 4, []Window{{time.Second, 4}}, 10 * time.Second, 38},
		{"teams ladder unlimited rate", 0, 1, teamsLadder(), 3 * time.Hour, 150},
		{"teams ladder with rate 4", 4, 1, teamsLadder(), 2 * time.Minute, 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBudget(tt.rate, tt.burst, tt.windows)
			sent := sendAll(b, time.Unix(1_700_000_000, 0), tt.span)
			if len(sent) < tt.wantMin {
				t.Errorf("sent %d in %v, want at least %d", len(sent), tt.span, tt.wantMin)
			}
			windows := append([]Window{{Per: time.Second, Max: int(tt.rate)}}, tt.windows...)
			if tt.rate == 0 {
				windows = tt.windows
			}
			for _, w := range windows {
				if got := maxIn(sent, w.Per); got > w.Max {
					t.Errorf("%d sends in some %v interval, limit %d", got, w.Per, w.Max)
				}
			}
		})
	}
}

func TestBudgetLeft(t *testing.T) {
	b := newBudget(0, 1, []Window{{Per: time.Second, Max: 4}})
	now := time.Unix(1_700_000_000, 0)
	for range 3 {
		if w := b.reserve(now); w != 0 {
			t.Fatalf("reserve waited %v with budget left", w)
		}
	}
	if got := b.left(now)[0].Left; got != 1 {
		t.Errorf("left = %d, want 1", got)
	}
	if got := b.left(now.Add(2 * time.Second))[0].Left; got != 4 {
		t.Errorf("left after the window = %d, want 4", got)
	}
}

func teamsLadder() []Window {
	return limitsOf(config.Destination{Limits: config.TeamsLimits()})
}

func TestBudgetMergeInheritsAnotherInstancesSends(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	// The previous owner sent 6 in the last 5 seconds; the window allows 6 in 20 s.
	var theirs []time.Time
	for i := range 6 {
		theirs = append(theirs, now.Add(time.Duration(i-6)*800*time.Millisecond))
	}
	b := newBudget(4, 1, []Window{{Per: 20 * time.Second, Max: 6}})
	b.merge(now, theirs)
	wait := b.reserve(now)
	if want := theirs[0].Add(margin(20 * time.Second)).Sub(now); wait != want {
		t.Errorf("first send after takeover waits %v, want %v (until the oldest inherited send leaves the window)", wait, want)
	}
	if got := b.left(now)[0].Left; got != 0 {
		t.Errorf("left = %d after inheriting a full window, want 0", got)
	}
	// Merging our own sends again changes nothing.
	b2 := newBudget(0, 1, []Window{{Per: time.Second, Max: 4}})
	b2.reserve(now)
	b2.merge(now, []time.Time{now})
	if got := b2.left(now)[0].Left; got != 3 {
		t.Errorf("left = %d after merging a send we made ourselves, want 3", got)
	}
}

func TestBudgetExceeds(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	teams := newBudget(4, 1, teamsLadder())
	tests := []struct {
		n     int
		limit time.Duration
		want  bool
	}{
		{10, 30 * time.Second, false}, // 10 at 4/s: under 3 s
		{60, 30 * time.Second, false}, // the 30 s window holds 60
		{61, 30 * time.Second, true},  // the 61st waits for the window
		{101, time.Hour, true},        // the hour holds 100
		{100, 2 * time.Minute, false}, // 60 now, 40 after 30 s
	}
	for _, tt := range tests {
		if got := teams.exceeds(tt.n, now, tt.limit); got != tt.want {
			t.Errorf("exceeds(%d, %v) = %v, want %v", tt.n, tt.limit, got, tt.want)
		}
	}
	if got := teams.left(now)[0].Left; got != 4 {
		t.Errorf("exceeds spent the real budget: %d of 4 left", got)
	}
}

func TestBudgetCountsASlowRequestAtItsAnswer(t *testing.T) {
	// Four sends one at a time; the first takes 600 ms to answer. Teams may
	// have seen it arrive just before the answer, so the fifth may leave only
	// a second after that answer, not a second after the first send began.
	b := newBudget(0, 1, []Window{{Per: time.Second, Max: 4}})
	start := time.Unix(1_700_000_000, 0)
	now := start
	for i := range 4 {
		if w := b.reserve(now); w != 0 {
			t.Fatalf("send %d waited %v", i, w)
		}
		if i == 0 {
			now = now.Add(600 * time.Millisecond)
		} else {
			now = now.Add(10 * time.Millisecond)
		}
		b.settle(now)
	}
	firstAnswer := start.Add(600 * time.Millisecond)
	if w := b.reserve(now); now.Add(w).Before(firstAnswer.Add(time.Second)) {
		t.Errorf("fifth send may leave at +%v, before the first answer +1s (+1.6s)", now.Add(w).Sub(start))
	}
}
