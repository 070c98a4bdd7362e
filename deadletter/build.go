package deadletter

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/hookrelay/hookrelay/internal/queue"
	"github.com/hookrelay/hookrelay/schemas"
)

// Msg is dl as every stage that gives up on a delivery stores it on
// RELAY_DEAD (transform, when an event cannot become a card; dispatch, when
// a destination will not take one), and as the Store reads it back: keyed by its
// destination, with headers naming the delivery, its event, its
// source and the reason, and an ID that stores one dead letter however often
// the same step is retried, while a replay that dies again is a new one.
// DeadAt is set to now when zero.
func Msg(dl schemas.DeadLetter) (queue.Msg, error) {
	if dl.DeadAt.IsZero() {
		dl.DeadAt = time.Now().UTC()
	}
	data, err := json.Marshal(dl)
	if err != nil {
		return queue.Msg{}, fmt.Errorf("encode dead letter of delivery %s: %w", dl.Delivery.ID, err)
	}
	d := dl.Delivery
	return queue.Msg{
		Key: d.Destination,
		Header: queue.Header{
			queue.HeaderDeliveryID: {d.ID}, queue.HeaderEventID: {d.EventID},
			queue.HeaderSource: {d.Source}, queue.HeaderReason: {dl.Reason},
		},
		Data: data,
		ID:   "dead." + d.ID + "." + strconv.Itoa(d.Replays),
	}, nil
}
