package deadletter

import (
	"crypto/sha256"
	"encoding/base32"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hookrelay/hookrelay/internal/queue"
	"github.com/hookrelay/hookrelay/schemas"
)

// Msg is dl as every stage that gives up on a delivery stores it on
// RELAY_DEAD (transform, when an event cannot become a card; dispatch, when
// a destination will not take one), and as the Store reads it back: keyed by its
// destination, with headers naming the delivery, its event, its
// source and the reason, and named by its ID, which stores one dead letter
// however often the same step is retried, while a replay that dies again is
// a new one. DeadAt is set to now when zero.
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
		ID:   ID(d),
	}, nil
}

// ID names the dead letter of delivery d, derived from what it is, the
// delivery and how many replays it had, so that every stage and instance
// that stores it names it alike, and it is stored once.
//
// It is the delivery id with its dots as colons, then a colon and the
// replays: "<event id>:<destination>:<replays>", or
// "<event id>:<destination>:replay-<replay id>:<replays>" for an event
// replayed from source. An SRE reads in it which event and destination it
// is, and can copy or type it. A colon is a plain character in a NATS
// subject token (the id is one: relay.dead.<destination>.<id>), a Kafka key
// and a URL path, and with one an id is never a number, which names a dead
// letter stored before ids were names.
//
// Mapping dots to colons is one to one only while the delivery id holds no
// colon: ingest's event ids are UUIDs, destinations and replay ids letters,
// digits, '-' and '_'. A delivery id of any other character (an event id
// made elsewhere) names its dead letter "x" and 26 letters and digits of
// the SHA-256 of the delivery id and replays instead: no colon, so no
// readable id is one.
func ID(d schemas.Delivery) string {
	if d.ID != "" && strings.Trim(d.ID, idChars) == "" {
		return strings.ReplaceAll(d.ID, ".", ":") + ":" + strconv.Itoa(d.Replays)
	}
	sum := sha256.Sum256([]byte(d.ID + "\x00" + strconv.Itoa(d.Replays)))
	return "x" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(sum[:16]))
}

// idChars are the characters a delivery id may hold to read as its dead
// letter's ID.
const idChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_."
