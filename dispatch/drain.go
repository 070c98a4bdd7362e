package dispatch

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"time"

	"github.com/hookrelay/hookrelay/internal/config"
	"github.com/hookrelay/hookrelay/internal/pause"
	"github.com/hookrelay/hookrelay/schemas"
)

// Deliveries can wait for a destination that is not configured here: one
// removed from the configuration (its deliveries are drained when that
// happens while hookrelay runs), and one this instance does not know yet or
// no longer knows, a stray: removed while hookrelay was stopped, or added to
// another instance's configuration first, during a rolling change. A stray's
// deliveries are swept once their max_age has passed, as any delivery
// expires, so that they neither wait unseen for ever nor hold back the store
// (Kafka's committed offset stays at the first delivery still waiting on a
// partition, and the markers of what was acked after it are kept a week),
// while a destination added a little later than its deliveries still gets
// them.

// drainIdle is how long drain waits for one more delivery before it ends:
// longer than transform may take over an event it planned with the
// previous configuration.
const drainIdle = 20 * time.Second

// drainRun is a drain running, or run.
type drainRun struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// stop ends the drain and waits for it.
func (r drainRun) stop() {
	r.cancel()
	<-r.done
}

func (r drainRun) running() bool {
	select {
	case <-r.done:
		return false
	default:
		return true
	}
}

// drainLocked runs drain for w's destination under Run's context, until it
// returns or Reconfigure adds the destination back. Called with d.mu held,
// while Run runs.
func (d *Dispatcher) drainLocked(w *worker, drain func(ctx context.Context)) {
	ctx, cancel := context.WithCancel(d.runCtx)
	r := drainRun{cancel: cancel, done: make(chan struct{})}
	if d.draining == nil {
		d.draining = map[string]drainRun{}
	}
	d.draining[w.dest.Name] = r
	d.wg.Go(func() {
		defer close(r.done)
		defer cancel()
		drain(ctx)
	})
}

// stray is the sweeps of one destination that is not configured.
type stray struct {
	running bool        // a sweep runs
	again   bool        // announced while it ran: sweep once more when it ends
	due     time.Time   // when the next sweep is due, once one found a delivery with time left
	timer   *time.Timer // starts it then (stopped when the destination is configured or Run ends)
}

// forgetStraysLocked stops the strays' timers and forgets them, those of
// names when given, else all. Called with d.mu held.
func (d *Dispatcher) forgetStraysLocked(names ...string) {
	for name, st := range d.strays {
		if len(names) > 0 && !slices.Contains(names, name) {
			continue
		}
		if st.timer != nil {
			st.timer.Stop()
		}
		delete(d.strays, name)
	}
}

// sweepLocked sweeps destination, which is not configured and has
// deliveries waiting, unless a drain of it runs or its next sweep is not due
// yet: what passed its max_age is dead-lettered with reason removed, and the
// next sweep is due when the first delivery left expires. A name being
// configured (Reconfigure, between its two changes of the workers) is not
// swept. Called with d.mu held.
func (d *Dispatcher) sweepLocked(destination string) {
	if _, named := d.named[destination]; named || d.runCtx == nil || d.adding[destination] {
		return
	}
	st := d.strays[destination]
	switch {
	case st != nil && st.running:
		st.again = true
		return
	case st != nil && time.Now().Before(st.due):
		return
	case st == nil:
		if r, ok := d.draining[destination]; ok && r.running() {
			return // its removal's drain
		}
	}
	if d.strays == nil {
		d.strays = map[string]*stray{}
	}
	if d.retired == nil {
		d.retired = map[string]*trend{}
	}
	tr, ok := d.retired[destination]
	if !ok {
		tr = newTrend()
		d.retired[destination] = tr
	}
	w := &worker{
		q: d.q, opts: d.opts, logger: d.logger.With("destination", destination),
		// What drain reads of a destination: a lane of one, and how long a
		// dead letter the store refused waits.
		dest: config.Destination{Name: destination, Digest: new(bool), MaxBackoff: config.DefaultMaxBackoff},
		gone: new(atomic.Bool), trend: tr,
	}
	st = &stray{running: true}
	d.strays[destination] = st
	d.drainLocked(w, func(ctx context.Context) {
		due := w.drain(ctx, true)
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.strays[destination] != st {
			return // configured meanwhile
		}
		delete(d.draining, destination)
		st.running = false
		switch {
		case ctx.Err() != nil:
			delete(d.strays, destination)
		case !due.IsZero():
			st.due, st.again = due, false
			st.timer = time.AfterFunc(time.Until(due), func() {
				d.mu.Lock()
				defer d.mu.Unlock()
				if d.strays[destination] == st && !st.running {
					st.due = time.Time{} // due, if the clock says not quite
					d.sweepLocked(destination)
				}
			})
		case st.again:
			delete(d.strays, destination)
			d.sweepLocked(destination)
		default:
			delete(d.strays, destination)
		}
	})
}

// drain dead-letters, with reason removed, the deliveries that wait for a
// destination that is not configured, until none came for drainIdle or ctx
// ends. While another instance still dispatches the destination (its
// configuration not yet reloaded), that one has them. With expiredOnly, drain
// stops at the first delivery whose max_age has not passed, hands it back,
// and returns when it expires.
func (w *worker) drain(ctx context.Context, expiredOnly bool) (due time.Time) {
	cons, err := w.consume(ctx)
	if err != nil {
		return time.Time{} // ctx ended
	}
	defer cons.Stop()
	at := attempts{lastOutcome: outcome{err: errors.New("destination removed from the configuration; replay once it is back")}}
	n := 0
	defer func() {
		if n > 0 {
			w.logger.Info("drained deliveries of a destination not configured", "dead_lettered", n)
		}
	}()
	for {
		next, cancel := context.WithTimeout(ctx, drainIdle)
		msg, err := cons.Next(next)
		cancel()
		switch {
		case ctx.Err() != nil:
			return time.Time{}
		case errors.Is(err, context.DeadlineExceeded):
			return time.Time{}
		case err != nil:
			w.logger.Warn("fetch a delivery of a destination not configured", "err", err)
			if !pause.For(ctx, time.Second) {
				return time.Time{}
			}
			continue
		}
		p, ok := w.decode(msg)
		if !ok {
			continue
		}
		if expiredOnly && time.Now().Before(p.dl.NotAfter) {
			_ = msg.Retry(0)
			w.logger.Warn("deliveries wait for a destination that is not configured: configure it to deliver them, "+
				"or they are dead-lettered with reason removed once their max_age passes", "first_expires", p.dl.NotAfter)
			return p.dl.NotAfter
		}
		if !w.deadLetter(ctx, p.msg, p.dl, at, schemas.ReasonRemoved,
			w.logger.With("delivery_id", p.dl.ID, "event_id", p.dl.EventID)) {
			_ = msg.Retry(w.dest.MaxBackoff)
			continue
		}
		n++
	}
}
