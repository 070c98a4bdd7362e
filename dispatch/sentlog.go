package dispatch

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/hookrelay/hookrelay/internal/queue"
)

// sentLogClockMargin is how much earlier than the budget's last read of the
// log a worker's catch-up read begins: the log's times are the stores' and
// the senders' clocks, not ours. Sends read twice are merged once.
const sentLogClockMargin = 2 * time.Second

// Sends are logged in records of up to sentLogBatch, so a destination
// sending back to back costs the store a record a burst, not one a send. A
// worker writes the sends it has not logged yet when the first of them is
// sentLogEvery old at the next send, when sentLogBatch wait, before it
// settles a delivery with nothing known to wait behind it (the end of a
// burst: a handover waits for that settle), after sentLogIdle without a
// delivery, before it waits for anything (a retry, the budget, a failed
// fetch), when the destination moves to another instance while it holds
// deliveries (before the hand-back the next owner waits for), and when it
// ends. Sends not yet written when the
// process dies are lost from the log: a successor, which takes over at
// least a lease's 10 s later, may send that many more than the budget
// allows in the windows longer than that.
const (
	sentLogEvery = time.Second
	sentLogIdle  = 100 * time.Millisecond
	sentLogBatch = 64
)

// logSend records a send in the send log, so whichever instance owns the
// destination next inherits the budget. Only run's goroutine calls it.
func (w *worker) logSend(at time.Time) {
	w.unlogged = append(w.unlogged, at)
	if len(w.unlogged) >= sentLogBatch || at.Sub(w.unlogged[0]) >= sentLogEvery {
		w.flushSends()
	}
}

// flushSends writes the sends not logged yet, without waiting for the store.
// run calls it before it waits for anything, and when it ends.
func (w *worker) flushSends() {
	if len(w.unlogged) == 0 {
		return
	}
	if err := w.q.RecordSends(w.dest.Name, w.unlogged); err != nil {
		w.logger.Debug("log sends for the budget", "sends", len(w.unlogged), "err", err)
	}
	w.unlogged = w.unlogged[:0]
}

// sentWindow is how far back the destination's logged sends matter: its
// widest window, or 0 when it has no budget to inherit.
func (w *worker) sentWindow() time.Duration {
	widest := time.Duration(0)
	for _, l := range w.dest.Limits {
		widest = max(widest, l.Per)
	}
	if widest == 0 && w.dest.Rate <= 0 {
		return 0
	}
	return margin(min(max(widest, time.Second), queue.SentRetention))
}

// inheritBudget reads the sends logged within the widest window, by this or
// another instance, into the budget. It runs when this worker starts handling
// a destination after a gap long enough for another instance to have owned
// it, unless this instance has owned it without a break since the budget last
// took in the log (budgetCurrent). The budget holds what was logged before
// w.budgetAt, so only what was logged since is read: another instance may
// have sent until it handed the destination over (a rolling restart), and
// that tail is small.
func (w *worker) inheritBudget(ctx context.Context, now time.Time, log *slog.Logger) {
	window := w.sentWindow()
	if window == 0 {
		return
	}
	from := now.Add(-window)
	if since := w.budgetAt.Add(-sentLogClockMargin); since.After(from) {
		from = since
	}
	sends, err := readSent(ctx, w.q, w.dest.Name, from)
	if err != nil {
		log.Warn("read the destination's sent log; the budget starts from this instance's own sends", "err", err)
		return
	}
	w.budget.merge(now, sends)
	w.budgetAt = now
}

// readSent returns the logged sends to a destination since start.
func readSent(ctx context.Context, log queue.SendLog, destination string, start time.Time) ([]time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var out []time.Time
	err := log.Sends(ctx, destination, start, func(_ string, at time.Time) (bool, error) {
		out = append(out, at)
		return true, nil
	})
	if err != nil {
		return nil, fmt.Errorf("sent log of %q: %w", destination, err)
	}
	return out, nil
}

// inheritAll reads the sent log once for every destination at Run's start
// and merges each destination's sends into its worker's budget. Read per
// worker instead, every start would scan the log once per destination; on a
// store that cannot filter by subject (Kafka's sent topic written before it
// was partitioned) each of those scans decodes every destination's sends.
// On failure the workers read their own as before.
func (d *Dispatcher) inheritAll(ctx context.Context, now time.Time) {
	type inheritor struct {
		w      *worker
		window time.Duration
	}
	workers := d.snapshot()
	byName := make(map[string]inheritor, len(workers))
	widest := time.Duration(0)
	for _, w := range workers {
		if window := w.sentWindow(); window > 0 {
			byName[w.dest.Name] = inheritor{w, window}
			widest = max(widest, window)
		}
	}
	if widest == 0 {
		return
	}
	// Longer than one destination's read: it reads them all, and the
	// workers wait for it.
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	sends := make(map[*worker][]time.Time, len(byName))
	err := d.q.Sends(ctx, "", now.Add(-widest), func(destination string, at time.Time) (bool, error) {
		if in, ok := byName[destination]; ok && now.Sub(at) < in.window {
			sends[in.w] = append(sends[in.w], at)
		}
		return true, nil
	})
	if err != nil {
		d.logger.Warn("read the sent log at start; each destination reads its own at its first delivery", "err", err)
		return
	}
	for _, in := range byName {
		in.w.budget.merge(now, sends[in.w])
		in.w.budgetAt = now
	}
}
