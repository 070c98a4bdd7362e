package kafkaqueue

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// A destination keeps at most maxDest records in memory. Past that it is
// spilled: the partition's reader passes over its further records, which
// stay in Kafka from the first of them on (spill.from), and goes on for
// the other destinations. Once the destination's queue has drained to half
// the bound, reread reads them back from Kafka up to the bound again; when
// it reaches the reader's position the destination is read live again.
//
// The committed offset stays at the first spilled record meanwhile, so the
// instance that gets the partition next reads the neighbours' records
// after it again, and skips those the acks markers name. The markers are
// kept ackRetention (7 days): a destination spilled longer than that would
// make the next owner of its partition send its neighbours' older
// deliveries again. None waits that long: hookrelay's configuration bounds a
// delivery's max_age with Kafka below it (config.KafkaMaxAge), and dispatch
// dead-letters what waits for a destination it does not know once its
// max_age passed.

// leave reports whether the record of subject at offset is left in Kafka:
// its destination is spilled already, or has maxDest records in memory and
// is spilled from this record on. Called with g.mu held.
func (d *dispatcher) leave(p *partState, subject string, offset int64) bool {
	if s := p.spilled[subject]; s != nil {
		s.left++
		return true
	}
	dq := d.dests[subject]
	if dq == nil || dq.inMemory() < d.maxDest {
		return false
	}
	if p.spilled == nil {
		p.spilled = map[string]*spill{}
	}
	p.spilled[subject] = &spill{from: offset, left: 1}
	d.g.log.Info("destination spilled: its further records wait in Kafka until it drains",
		"subject", subject, "partition", p.partition, "offset", offset, "in_memory", dq.inMemory())
	return true
}

// refill starts reading back subject's records left in Kafka on p, once
// its queue has drained to half the bound and p's acks markers are read.
// Called with g.mu held.
func (d *dispatcher) refill(p *partState, subject string) {
	s := p.spilled[subject]
	if s == nil || s.reading || !p.loaded || p.revoked || p.revoking || d.g.stopping {
		return
	}
	if dq := d.dests[subject]; dq != nil && dq.inMemory() > d.maxDest/2 {
		return
	}
	s.reading = true
	d.reads.Add(1)
	go d.reread(p, subject)
}

// reread reads subject's records left in Kafka on p back into memory until
// the bound is reached or the destination is read live again. It retries a
// failed read until p is taken away or the dispatcher stops.
func (d *dispatcher) reread(p *partState, subject string) {
	defer d.reads.Done()
	g := d.g
	delay := 100 * time.Millisecond
	for {
		g.mu.Lock()
		s := p.spilled[subject]
		if s == nil || p.revoked || p.revoking || g.stopping {
			g.mu.Unlock()
			return
		}
		from := s.from
		g.mu.Unlock()

		ctx, cancel := context.WithTimeout(d.ctx, ackReadTimeout)
		f, err := g.q.fetch(ctx, g.topic, p.partition, from)
		cancel()
		if errors.Is(err, errOutOfRange) && f.start > from {
			// Gone with the retention (out keeps everything unless an
			// operator changed it): nothing left to read before f.start.
			g.log.Warn("records of a spilled destination are gone from Kafka", "subject", subject,
				"partition", p.partition, "from", from, "start", f.start)
			err = nil
		} else if err == nil && (len(f.records) == 0 || f.records[len(f.records)-1].Offset < from) {
			err = fmt.Errorf("no record at offset %d", from)
		}

		g.mu.Lock()
		more := false
		if err == nil && p.spilled[subject] == s && !p.revoked && !p.revoking {
			s.from = max(s.from, f.start)
			more = d.restore(p, subject, s, f.records)
			delay = 100 * time.Millisecond
		}
		if err == nil && !more {
			s.reading = false
			g.mu.Unlock()
			return
		}
		g.mu.Unlock()
		if err != nil {
			g.log.Warn("read back a spilled destination's records; they wait in Kafka", "subject", subject,
				"partition", p.partition, "from", from, "err", err, "retry_in", delay)
			select {
			case <-d.ctx.Done():
				return
			case <-time.After(delay):
			}
			delay = min(2*delay, 10*time.Second)
		}
	}
}

// restore queues subject's records of rs (read from s.from on) that are
// for the lane, up to the bound, and moves s.from past what it read. When
// it reaches what the partition's reader has passed, the destination is
// read live again. It reports whether to read on. Called with g.mu held.
func (d *dispatcher) restore(p *partState, subject string, s *spill, rs []*kgo.Record) bool {
	g := d.g
	dq := d.dest(subject)
	var got []*entry
read:
	for _, r := range rs {
		if r.Offset < s.from {
			continue
		}
		if r.Offset >= p.next {
			break
		}
		m, ok := storedOf(g.stream, r)
		switch {
		case !ok || m.Subject != subject:
		case p.passed[r.Offset]:
			delete(p.passed, r.Offset)
		case dq.inMemory()+len(got) >= d.maxDest:
			break read
		default:
			s.left--
			if g.admit(m) && !p.acked[r.Offset] {
				got = append(got, &entry{part: p, offset: r.Offset, msg: m, dest: dq})
			}
			delete(p.acked, r.Offset)
		}
		s.from = r.Offset + 1
	}
	if s.from >= p.next {
		delete(p.spilled, subject)
		g.log.Info("spilled destination read live again", "subject", subject, "partition", p.partition)
	}
	if len(got) > 0 {
		p.insert(got)
		g.unsettled += len(got)
		dq.entries = append(dq.entries, got...)
		dq.queued += len(got)
		dq.changed.fire()
		d.notice(dq)
	}
	d.prune(dq)
	return p.spilled[subject] == s && dq.inMemory() < d.maxDest
}
