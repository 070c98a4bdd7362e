package jsqueue

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookrelay/hookrelay/internal/queue"
)

// Backlog reads RELAY_OUT's per-subject counts in one request: it is a work
// queue, so whatever is stored waits for delivery (the delivery in flight
// included). The oldest of a destination is the first message on its
// subject, one direct read each for the destinations that have any.
func (q *Queue) Backlog(ctx context.Context, destinations []string) (map[string]queue.Waiting, error) {
	st, err := q.stream(queue.StreamOut)
	if err != nil {
		return nil, err
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(queue.OutAll))
	if err != nil {
		return nil, fmt.Errorf("backlog: read %s: %w", queue.StreamOut, mapErr(err))
	}
	counts := make(map[string]uint64, len(info.State.Subjects))
	for subj, n := range info.State.Subjects {
		counts[strings.TrimPrefix(subj, queue.OutSubject(""))] = n
	}
	out := make(map[string]queue.Waiting, len(destinations))
	for _, d := range destinations {
		w := queue.Waiting{Count: counts[d]}
		if w.Count > 0 {
			m, err := st.GetMsg(ctx, info.State.FirstSeq, jetstream.WithGetMsgSubject(queue.OutSubject(d)))
			switch {
			case err == nil:
				w.Oldest = m.Time
			case errors.Is(err, jetstream.ErrMsgNotFound):
				w = queue.Waiting{} // delivered between the two reads
			default:
				return nil, fmt.Errorf("backlog: oldest of %s: %w", d, mapErr(err))
			}
		}
		out[d] = w
	}
	return out, nil
}

// ConsumerBacklog returns what waits for a durable consumer of stream: the
// messages not yet handed out or not yet acked, and when the oldest of them
// was stored. It is how a stalled stage shows: work waiting that grows old.
func (q *Queue) ConsumerBacklog(ctx context.Context, stream, consumer string) (queue.Waiting, error) {
	st, err := q.stream(stream)
	if err != nil {
		return queue.Waiting{}, err
	}
	c, err := st.Consumer(ctx, consumer)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return queue.Waiting{}, nil // not made yet: nothing consumed, nothing counted
	}
	if err != nil {
		return queue.Waiting{}, fmt.Errorf("backlog of %s: %w", consumer, mapErr(err))
	}
	info := c.CachedInfo()
	w := queue.Waiting{Count: info.NumPending + uint64(info.NumAckPending)}
	if w.Count == 0 {
		return w, nil
	}
	m, err := st.GetMsg(ctx, info.AckFloor.Stream+1, jetstream.WithGetMsgSubject(info.Config.FilterSubject))
	switch {
	case err == nil:
		w.Oldest = m.Time
	case errors.Is(err, jetstream.ErrMsgNotFound):
		return queue.Waiting{}, nil // settled between the two reads
	default:
		return queue.Waiting{}, fmt.Errorf("backlog of %s: oldest: %w", consumer, mapErr(err))
	}
	return w, nil
}
