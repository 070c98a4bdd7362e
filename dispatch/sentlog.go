package dispatch

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"time"

	"github.com/hookrelay/hookrelay/internal/queue"
)

// logSend records a send on RELAY_SENT, so whichever instance owns the
// destination next inherits the budget. It does not wait for the store: a
// send lost from the log at a crash costs at most one request of margin.
func (w *worker) logSend(at time.Time, log *slog.Logger) {
	m := queue.Msg{Subject: queue.SentSubject(w.dest.Name), Data: binary.BigEndian.AppendUint64(nil, uint64(at.UnixNano()))}
	if err := w.q.Send(m); err != nil {
		log.Debug("log send for the budget", "err", err)
	}
}

// inheritBudget reads the sends logged within the widest window, by this or
// another instance, into the budget. It runs when this worker starts handling
// a destination after a gap long enough for another instance to have owned
// it.
func (w *worker) inheritBudget(ctx context.Context, now time.Time, log *slog.Logger) {
	widest := time.Duration(0)
	for _, l := range w.dest.Limits {
		widest = max(widest, l.Per)
	}
	if widest == 0 && w.dest.Rate <= 0 {
		return
	}
	widest = min(max(widest, time.Second), queue.SentRetention)
	sends, err := readSent(ctx, w.q, w.dest.Name, now.Add(-margin(widest)))
	if err != nil {
		log.Warn("read the destination's sent log; the budget starts from this instance's own sends", "err", err)
		return
	}
	w.budget.merge(now, sends)
}

// readSent returns the logged sends to a destination since start.
func readSent(ctx context.Context, q queue.Queue, destination string, start time.Time) ([]time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var out []time.Time
	err := q.Scan(ctx, queue.StreamSent, queue.SentSubject(destination), start, func(m queue.Stored) (bool, error) {
		if len(m.Data) == 8 {
			out = append(out, time.Unix(0, int64(binary.BigEndian.Uint64(m.Data))))
		}
		return true, nil
	})
	if err != nil {
		return nil, fmt.Errorf("sent log of %q: %w", destination, err)
	}
	return out, nil
}
