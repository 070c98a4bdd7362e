package kafkaqueue

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hookrelay/hookrelay/internal/queue"
	"github.com/twmb/franz-go/pkg/kgo"
)

// liveFreshness is how stale the dead letters' keys may be while a scan
// runs: a dead letter deleted by another instance during a scan is skipped
// if the scan reaches it at least this long after the delete.
const liveFreshness = 500 * time.Millisecond

// clockMargin is how far a producer's clock may run ahead of the broker's
// without Scan missing records at its start.
const clockMargin = 2 * time.Second

// Scan reads the records of stream's topic from start up to the ends the
// partitions had when it began, oldest first: across partitions (out and sent
// have several) by record time, then partition, then offset. A full subject
// on a keyed topic with several partitions reads only its key's partition,
// computed from the topic's real count. Dead letters replaced or deleted are
// skipped (deadletters.go); one fetched batch per partition is held in
// memory.
func (q *Queue) Scan(ctx context.Context, stream, subject string, start time.Time, fn func(queue.Stored) (bool, error)) error {
	what := fmt.Sprintf("scan %s %s", stream, subject)
	if err := knownStream(stream); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	topic := q.topic(stream)
	if stream == queue.StreamDead {
		if err := q.syncLive(ctx, 0); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
	}
	// Stored.Time is the producer's clock, the offsets' times the broker's:
	// start listing a margin early, then leave out what is before start.
	listFrom := start
	if !start.IsZero() {
		listFrom = start.Add(-clockMargin)
	}
	spans, err := q.spansSince(ctx, topic, listFrom)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if n := q.partitions[topic]; n > 1 && !hasWildcard(subject) {
		owner := partitionFor(keyOf(subject), n)
		spans = slices.DeleteFunc(spans, func(s span) bool { return s.partition != owner })
	}
	cursors := make([]*scanCursor, len(spans))
	for i, s := range spans {
		cursors[i] = &scanCursor{span: s}
	}
	for {
		var next *scanCursor
		for _, c := range cursors {
			if err := q.fill(ctx, stream, topic, c); err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			if len(c.buf) > 0 && (next == nil || before(c.buf[0], next.buf[0])) {
				next = c
			}
		}
		if next == nil {
			return nil
		}
		r := next.buf[0]
		next.buf = next.buf[1:]
		m, ok := storedOf(stream, r)
		if !ok || m.Time.Before(start) || !subjectMatches(subject, m.Subject) ||
			(stream == queue.StreamDead && !q.live.isLive(r.Key, m.Seq)) {
			continue
		}
		if more, err := fn(m); err != nil || !more {
			return err
		}
	}
}

// scanCursor is one partition's place in a scan.
type scanCursor struct {
	span
	buf []*kgo.Record
}

// fill fetches c's next batch when its buffer is empty and records remain.
func (q *Queue) fill(ctx context.Context, stream, topic string, c *scanCursor) error {
	for len(c.buf) == 0 && c.from < c.to {
		if stream == queue.StreamDead {
			if err := q.syncLive(ctx, liveFreshness); err != nil {
				return err
			}
		}
		f, err := q.fetch(ctx, topic, c.partition, c.from)
		if errors.Is(err, errOutOfRange) {
			start, err := q.startOffset(ctx, topic, c.partition)
			if err != nil {
				return err
			}
			if start <= c.from {
				c.from = c.to // nothing left to read
			} else {
				c.from = start
			}
			continue
		}
		if err != nil {
			return err
		}
		if len(f.records) == 0 {
			c.from = c.to
			return nil
		}
		for _, r := range f.records {
			if r.Offset >= c.to {
				c.from = c.to
				break
			}
			c.buf = append(c.buf, r)
			c.from = r.Offset + 1
		}
	}
	return nil
}

// before orders records of different partitions by time, then partition.
func before(a, b *kgo.Record) bool {
	if ta, tb := recordTime(a), recordTime(b); !ta.Equal(tb) {
		return ta.Before(tb)
	}
	if a.Partition != b.Partition {
		return a.Partition < b.Partition
	}
	return a.Offset < b.Offset
}

func hasWildcard(subject string) bool {
	return strings.ContainsAny(subject, "*>")
}

// subjectMatches matches subject against filter as NATS does: tokens split
// by ".", "*" matching one token, a final ">" one or more.
func subjectMatches(filter, subject string) bool {
	for {
		ft, frest, fmore := strings.Cut(filter, ".")
		st, srest, smore := strings.Cut(subject, ".")
		switch {
		case ft == ">" && !fmore:
			return st != ""
		case ft != "*" && ft != st:
			return false
		case !fmore || !smore:
			return fmore == smore
		}
		filter, subject = frest, srest
	}
}
