package kafkaqueue

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hookrelay/hookrelay/internal/queue"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Topic kinds besides the streams'.
const (
	kindAcks = "acks"
	// kindEarlierDead and kindDeleted are where releases before the
	// compacted dead letters' topic kept dead letters and their delete
	// markers; New carries what they hold over once (carry.go) and creates
	// neither.
	kindEarlierDead = "dead"
	kindDeleted     = "deleted"
)

// ackRetention is how long the lanes' ack markers are kept: far longer
// than a takeover can take, so a new owner always finds them, and a day
// longer than a delivery may wait (config.KafkaMaxAge), so that the markers
// after the first delivery waiting on a partition are all there.
const ackRetention = 7 * 24 * time.Hour

// streams are the queue's streams, each with a topic of its own.
var streams = [...]string{queue.StreamIn, queue.StreamOut, queue.StreamDead, queue.StreamHistory, queue.StreamSent}

// kindOf is the topic name's part for stream: RELAY_IN → "in"; the dead
// letters' topic is "deadletters", compacted (deadletters.go), "dead" being
// the earlier release's.
func kindOf(stream string) string {
	if stream == queue.StreamDead {
		return "deadletters"
	}
	return strings.ToLower(strings.TrimPrefix(stream, "RELAY_"))
}

// topicSpec is one topic the queue needs.
type topicSpec struct {
	name       string
	partitions int32
	retention  time.Duration // -1: forever
	// compact keeps the last record of each key (and none after a
	// tombstone) besides the retention.
	compact bool
}

// topicSpecs lists every topic with how New creates it.
func topicSpecs(o Options) []topicSpec {
	s := o.Streams
	return []topicSpec{
		{o.TopicPrefix + kindOf(queue.StreamIn), 1, s.InRetention, false},
		// A delivery waits on out until it is delivered, however long.
		{o.TopicPrefix + kindOf(queue.StreamOut), int32(o.Partitions), -1, false},
		{o.TopicPrefix + kindOf(queue.StreamDead), 1, s.DeadRetention, true},
		{o.TopicPrefix + kindOf(queue.StreamHistory), 1, s.InRetention, false},
		// sent is keyed by destination and placed as out is, so a worker
		// inheriting its destination's budget reads one partition, not every
		// destination's sends.
		{o.TopicPrefix + kindOf(queue.StreamSent), int32(o.Partitions), queue.SentRetention, false},
		// acks is partitioned as out is, by the same key (the destination),
		// so the acks of out's partition p are all on acks' partition p.
		{o.TopicPrefix + kindAcks, int32(o.Partitions), ackRetention, false},
	}
}

// ensureTopics creates the missing topics and returns the partition count
// of every topic, as the brokers have it (a topic created earlier by someone
// else keeps its count).
func ensureTopics(ctx context.Context, cl *kgo.Client, adm *kadm.Client, o Options) (map[string]int, error) {
	specs := topicSpecs(o)
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.name
	}
	existing, err := adm.ListTopics(ctx, names...)
	if err != nil {
		return nil, failed("list topics", err)
	}
	for _, s := range specs {
		if d, ok := existing[s.name]; ok && d.Err == nil {
			continue
		}
		configs := map[string]*string{
			"retention.ms": kadm.StringPtr(strconv.FormatInt(retentionMillis(s.retention), 10)),
			// The record's time is when the store received it: Scan's start
			// and Stored.Time mean that, and times grow along a partition.
			"message.timestamp.type": kadm.StringPtr("LogAppendTime"),
		}
		if s.compact {
			// Kept for the retention, and only the last record of a key.
			configs["cleanup.policy"] = kadm.StringPtr("compact,delete")
		}
		_, err := adm.CreateTopic(ctx, s.partitions, int16(o.Replication), configs, s.name)
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return nil, failed("create topic "+s.name, err)
		}
	}
	// kadm answers from metadata cached for kgo's MetadataMinAge (5 s),
	// which still says the topics just created are missing; and a topic just
	// created may take a moment to show in every broker's metadata.
	cl.PurgeTopicsFromClient(names...)
	for {
		counts, err := partitionCounts(ctx, adm, names)
		if err == nil || !errors.Is(err, kerr.UnknownTopicOrPartition) {
			return counts, err
		}
		select {
		case <-ctx.Done():
			return nil, failed("read topics", errors.Join(ctx.Err(), err))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// partitionCounts reads how many partitions each topic has.
func partitionCounts(ctx context.Context, adm *kadm.Client, names []string) (map[string]int, error) {
	md, err := adm.Metadata(ctx, names...)
	if err != nil {
		return nil, failed("read topics", err)
	}
	counts := make(map[string]int, len(names))
	for _, n := range names {
		d, ok := md.Topics[n]
		switch {
		case !ok:
			return nil, fmt.Errorf("read topic %s: %w", n, kerr.UnknownTopicOrPartition)
		case d.Err != nil:
			return nil, fmt.Errorf("read topic %s: %w", n, d.Err)
		case len(d.Partitions) == 0:
			return nil, fmt.Errorf("read topic %s: no partitions: %w", n, kerr.UnknownTopicOrPartition)
		}
		counts[n] = len(d.Partitions)
	}
	return counts, nil
}

func retentionMillis(d time.Duration) int64 {
	if d < 0 {
		return -1
	}
	return d.Milliseconds()
}
