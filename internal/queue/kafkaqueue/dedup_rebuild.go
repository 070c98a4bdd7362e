package kafkaqueue

import (
	"context"
	"fmt"
	"time"

	"github.com/hookrelay/hookrelay/internal/queue"
	"github.com/twmb/franz-go/pkg/kgo"
)

// dedupStreams are the streams whose messages carry IDs to deduplicate.
var dedupStreams = [...]string{queue.StreamIn, queue.StreamOut, queue.StreamDead}

// rebuildDedup reads back the dedup window of in, out and dead, so a
// restarted instance still refuses a second copy of what was stored before.
func (q *Queue) rebuildDedup(ctx context.Context) (*dedupIndex, error) {
	d := newDedupIndex(q.opts.Streams.DedupWindow, time.Now)
	since := time.Now().Add(-q.opts.Streams.DedupWindow)
	for _, stream := range dedupStreams {
		topic := q.topic(stream)
		spans, err := q.spansSince(ctx, topic, since)
		if err != nil {
			return nil, fmt.Errorf("rebuild dedup index: %w", err)
		}
		for _, s := range spans {
			err := q.readRange(ctx, topic, s.partition, s.from, s.to, func(r *kgo.Record) {
				if id, ok := headerValue(r, headerID); ok && id != "" {
					d.note(stream, id, seqOf(r.Partition, r.Offset), r.Timestamp)
				}
			})
			if err != nil {
				return nil, fmt.Errorf("rebuild dedup index: %w", err)
			}
		}
	}
	return d, nil
}
