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

// Attempt counts the hand-outs in this process: after a crash or a
// takeover the count starts at 1 again, as Kafka keeps no delivery count.
func (d *delivery) Attempt() int { return d.n }

// Behind counts the records this instance fetched for the consumer and has
// not handed out yet, when this one was handed out: what the broker holds
// beyond them is not counted.
func (d *delivery) Behind() uint64 { return d.pending }

// Ack settles the record. For an event feed it returns
// at once: the record's offset is committed with the settled prefix of its
// partition within commitInterval, and a crash before that hands it out
// again. For a lane it first stores an acks marker, so a
// crash or takeover never hands the record out again.
func (d *delivery) Ack(ctx context.Context) error { return d.g.ack(ctx, d.e) }

// Retry hands the record back, to be handed out again after delay from
// memory; its offset stays uncommitted meanwhile, so a crash redelivers it.
func (d *delivery) Retry(delay time.Duration) error { return d.g.nak(d.e, delay) }

// Drop settles the record for good, as Ack does but without a marker: a
// malformed record a crash hands out again is terminated again.
func (d *delivery) Drop() error { return d.g.term(d.e) }
