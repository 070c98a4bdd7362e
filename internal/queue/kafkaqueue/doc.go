// Package kafkaqueue implements queue.Queue on Kafka through franz-go, so the
// stages run on Kafka without knowing it.
//
// Topics: one per stream, named Options.TopicPrefix (default "hookrelay.")
// plus the stream's kind: in, out, deadletters, history, sent. Besides
// them, "acks" holds the durable per-message acks of the lanes. New creates
// whatever is missing:
// out, acks and sent get Options.Partitions partitions (default 12), the
// others one, so Scan and Get stay simple and in order; a Scan of one
// destination's sends reads only its partition (a sent topic created with one
// partition earlier keeps it: placement follows the topic's real count).
// Retention: in and history keep
// InRetention, dead DeadRetention, sent queue.SentRetention, acks 7 days, and
// out keeps everything (a delivery waits until it is delivered). Topics use
// the broker's append time as record timestamp, so a record's time is when
// the store received it and times only grow along a partition.
//
// Records: key = the subject's last token (source, destination, event id,
// or a dead letter's id),
// value = Data, headers = Msg.Header plus hookrelay-subject (the full
// subject), hookrelay-id (Msg.ID when set) and hookrelay-time (when the
// producer was handed the message, in nanoseconds: Stored.Time; Kafka's
// record time is whole milliseconds, too coarse for a Scan starting at one
// message's time to leave out those stored just before it in the same
// millisecond). A record without hookrelay-subject is not a message and is
// skipped everywhere.
//
// Position: Seq = partition<<40 | (offset+1), so Seq > 0 and Get and Delete
// find the partition without a lookup.
//
// Partitioning is ours and explicit: partition = fnv32a(key) % partitions, so
// the dispatcher computes which partition owns a destination exactly as the
// producer placed it.
//
// Lanes: one member per Queue of the group "<prefix>dispatch" reads out and
// sorts its records into per-destination queues in memory (see dispatcher
// in exclusive.go). A destination keeps at most Options.MaxParked records
// in memory, the front of its backlog; the rest wait in Kafka, passed over
// by the reader and read back as the destination drains, and the committed
// offset stays at the first of them. So a parked or throttled destination
// holds back no other on its partition, and its memory is bounded however
// long its backlog.
//
// Producing waits for all in-sync replicas, with the idempotent producer.
// Errors that mean the brokers could not be reached in time match
// queue.ErrUnavailable, records larger than the broker accepts
// queue.ErrTooLarge.
//
// Deduplication by Msg.ID: an index ID → (seq, time) per stream covers the
// dedup window. New rebuilds it by reading back the window of in, out and
// dead. Before a publish with an ID, the index reads on to the end of the
// partition the message goes to (one fetch when nothing is new; concurrent
// publishes share it), so a copy stored earlier by any instance is refused.
// The publish then reserves its ID before producing, so two concurrent
// publishes of one ID in one process store it once. What slips through is a
// copy stored by another instance between that read and the produce (a
// vendor retry arriving at two instances at the same moment): it is stored
// twice, and the consumers hand it out once, skipping a record whose ID
// they handed out within the window (dedupIndex.claimID).
//
// Dead letters (deadletters.go): their topic is compacted and keyed by
// each dead letter's id, so Kafka keeps one record a dead letter; Delete
// produces a tombstone. An index of each key's latest record, caught up
// with the topic's end before each read (one fetch when nothing is new),
// lets Get, Last and Scan pass over what compaction has not removed yet,
// and Last find a dead letter by its id. Only dead letters are deleted.
//
// Upgrade (carry.go): releases before kept dead letters on "dead", keyed by
// destination, and deleted them with markers on "deleted". New carries
// what those hold over to "deadletters" once, each under its old id (its
// Seq there), but what the markers deleted.
package kafkaqueue
