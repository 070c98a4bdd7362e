package queue

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Scan calls fn for the messages of st on subject stored from start on (all
// when start is zero), oldest first, until fn says stop or returns an error,
// up to the stream's last message when the scan began. Messages deleted
// while it runs (a replay, a purge, the retention) end it early rather than
// leave it waiting for them.
func Scan(ctx context.Context, st jetstream.Stream, subject string, start time.Time,
	fn func(jetstream.Msg, *jetstream.MsgMetadata) (more bool, err error)) error {
	info, err := st.Info(ctx)
	if err != nil {
		return fmt.Errorf("read %s: %w", subject, err)
	}
	last := info.State.LastSeq
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}, InactiveThreshold: time.Minute}
	if !start.IsZero() {
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &start
	}
	cons, err := st.OrderedConsumer(ctx, cfg)
	if err != nil {
		return fmt.Errorf("read %s: create consumer: %w", subject, err)
	}
	defer func() {
		// Best effort: the inactive threshold removes it anyway.
		if ci := cons.CachedInfo(); ci != nil {
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
			defer cancel()
			_ = st.DeleteConsumer(dctx, ci.Name)
		}
	}()
	if ci := cons.CachedInfo(); ci != nil && ci.NumPending == 0 {
		return nil
	}
	for {
		batch, err := cons.Fetch(256, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			return fmt.Errorf("read %s: %w", subject, err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			md, err := m.Metadata()
			if err != nil {
				return fmt.Errorf("read %s: metadata: %w", subject, err)
			}
			if md.Sequence.Stream > last {
				return nil
			}
			if more, err := fn(m, md); err != nil || !more {
				return err
			}
			if md.NumPending == 0 || md.Sequence.Stream == last {
				return nil
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return fmt.Errorf("read %s: %w", subject, err)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if n == 0 {
			// The rest may have been deleted since the last message said
			// more were pending.
			ci, err := cons.Info(ctx)
			if err != nil {
				return fmt.Errorf("read %s: consumer info: %w", subject, err)
			}
			if ci.NumPending == 0 {
				return nil
			}
		}
	}
}
