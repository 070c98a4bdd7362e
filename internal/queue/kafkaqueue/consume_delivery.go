package kafkaqueue

import (
	"context"
	"time"

	"github.com/hookrelay/hookrelay/internal/queue"
)

// delivery is a record handed out by a consumer of either kind.
type delivery struct {
	g       *groupReader
	e       *entry
	n       int
	pending uint64
}

var _ queue.Delivery = (*delivery)(nil)

func (d *delivery) Msg() queue.Stored { return d.e.msg }

// Delivered counts the hand-outs in this process: after a crash or a
// takeover the count starts at 1 again, as Kafka keeps no delivery count.
func (d *delivery) Delivered() int { return d.n }

// Pending counts the records this instance fetched for the consumer and has
// not handed out yet, when this one was handed out: what the broker holds
// beyond them is not counted.
func (d *delivery) Pending() uint64 { return d.pending }

// Ack settles the record. For a consumer that is not exclusive it returns
// at once: the record's offset is committed with the settled prefix of its
// partition within commitInterval, and a crash before that hands it out
// again. For an exclusive consumer it first stores an acks marker, so a
// crash or takeover never hands the record out again.
func (d *delivery) Ack(ctx context.Context) error { return d.g.ack(ctx, d.e) }

// Nak hands the record back, to be handed out again after delay from
// memory; its offset stays uncommitted meanwhile, so a crash redelivers it.
func (d *delivery) Nak(delay time.Duration) error { return d.g.nak(d.e, delay) }

// InProgress does nothing: a handed-out record belongs to the member that
// owns its partition until settled, there is no ack wait to extend.
func (d *delivery) InProgress() error { return nil }

// Term settles the record for good, as Ack does but without a marker: a
// malformed record a crash hands out again is terminated again.
func (d *delivery) Term() error { return d.g.term(d.e) }
