package jsqueue

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookrelay/hookrelay/internal/queue"
)

// delivery is a message handed out by a consumer.
type delivery struct {
	msg    jetstream.Msg
	stored queue.Stored
	md     *jetstream.MsgMetadata
}

func newDelivery(m jetstream.Msg) (*delivery, error) {
	md, err := m.Metadata()
	if err != nil {
		return nil, fmt.Errorf("message on %s: metadata: %w", m.Subject(), err)
	}
	s := stored(md.Stream, m.Subject(), md.Sequence.Stream, md.Timestamp, m.Headers(), m.Data())
	return &delivery{msg: m, stored: s, md: md}, nil
}

func (d *delivery) Msg() queue.Stored { return d.stored }
func (d *delivery) Attempt() int      { return int(d.md.NumDelivered) }
func (d *delivery) Behind() uint64    { return d.md.NumPending }

// Ack hands the ack to the server without waiting for its answer: a lost
// ack hands the event out again after the feed's Redeliver, which a feed's
// holder takes (queue.Delivery.Ack). Waiting cost a round trip per event.
func (d *delivery) Ack(context.Context) error {
	if err := d.msg.Ack(); err != nil {
		return fmt.Errorf("ack %s #%d: %w", d.stored.Stream, d.stored.Seq, mapErr(err))
	}
	return nil
}

func (d *delivery) Retry(delay time.Duration) error {
	var err error
	if delay > 0 {
		err = d.msg.NakWithDelay(delay)
	} else {
		err = d.msg.Nak()
	}
	if err != nil {
		return fmt.Errorf("retry %s #%d: %w", d.stored.Stream, d.stored.Seq, mapErr(err))
	}
	return nil
}

func (d *delivery) Drop() error {
	if err := d.msg.Term(); err != nil {
		return fmt.Errorf("drop %s #%d: %w", d.stored.Stream, d.stored.Seq, mapErr(err))
	}
	return nil
}
