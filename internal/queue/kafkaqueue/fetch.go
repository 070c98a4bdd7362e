package kafkaqueue

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Get, Scan and the index rebuilds read with raw fetch requests to the
// partition's leader through the one client: a consuming client per call
// would cost a connection and a metadata round trip each time, and one
// shared consuming client cannot serve reads of different offsets at once.

// fetchMaxBytes bounds one partition's answer to a fetch; the broker still
// returns a first batch larger than it whole.
const fetchMaxBytes = 1 << 20

// errOutOfRange: the offset asked for is before the partition's first
// record (gone with the retention) or past its end.
var errOutOfRange = errors.New("offset out of range")

// fetched is one read of a partition.
type fetched struct {
	// records are at or after the offset asked for, in offset order; none
	// when the offset is the end.
	records []*kgo.Record
	// end is the high watermark: the offset the next record will get.
	end int64
	// start is the log start offset: the first record still kept.
	start int64
}

// fetch reads what follows offset of topic's partition, without waiting
// for records not stored yet.
func (q *Queue) fetch(ctx context.Context, topic string, partition int32, offset int64) (fetched, error) {
	return q.fetchUpTo(ctx, topic, partition, offset, fetchMaxBytes)
}

// fetchOne reads the batch holding offset and no more: what Get needs,
// without decoding a megabyte of records after it.
func (q *Queue) fetchOne(ctx context.Context, topic string, partition int32, offset int64) (fetched, error) {
	return q.fetchUpTo(ctx, topic, partition, offset, 1)
}

// fetchUpTo is fetch with maxBytes for the partition's answer.
func (q *Queue) fetchUpTo(ctx context.Context, topic string, partition int32, offset int64, maxBytes int32) (fetched, error) {
	what := fmt.Sprintf("read %s/%d at %d", topic, partition, offset)
	metaAge := time.Duration(0) // kgo's MetadataMinAge
	for attempt := 1; ; attempt++ {
		f, err := q.fetchOnce(ctx, topic, partition, offset, maxBytes, metaAge)
		if err == nil || errors.Is(err, errOutOfRange) || attempt == 3 || !isLeadershipError(err) {
			if err != nil && !errors.Is(err, errOutOfRange) {
				return f, failed(what, err)
			}
			return f, err
		}
		// The cached leader moved: ask again, fresh.
		metaAge = time.Nanosecond
		select {
		case <-ctx.Done():
			return f, failed(what, errors.Join(ctx.Err(), err))
		case <-time.After(time.Duration(attempt) * 50 * time.Millisecond):
		}
	}
}

func isLeadershipError(err error) bool {
	return errors.Is(err, kerr.NotLeaderForPartition) || errors.Is(err, kerr.UnknownTopicOrPartition) ||
		errors.Is(err, kerr.FencedLeaderEpoch) || errors.Is(err, kerr.LeaderNotAvailable) ||
		errors.Is(err, kerr.UnknownTopicID) || errors.Is(err, kerr.ReplicaNotAvailable) ||
		errors.Is(err, errNoLeader)
}

var errNoLeader = errors.New("partition has no leader")

func (q *Queue) fetchOnce(ctx context.Context, topic string, partition int32, offset int64, maxBytes int32, metaAge time.Duration) (fetched, error) {
	leader, topicID, err := q.leaderOf(ctx, topic, partition, metaAge)
	if err != nil {
		return fetched{}, err
	}
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID = -1
	req.MaxWaitMillis = 0
	req.MinBytes = 1
	req.MaxBytes = 4 * fetchMaxBytes
	req.SessionEpoch = -1 // no fetch session: every read stands alone
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = topic, topicID
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = partition, offset, maxBytes
	rp.CurrentLeaderEpoch, rp.LogStartOffset = -1, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)

	kresp, err := q.cl.Broker(int(leader)).RetriableRequest(ctx, req)
	if err != nil {
		return fetched{}, err
	}
	resp := kresp.(*kmsg.FetchResponse)
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return fetched{}, err
	}
	for i := range resp.Topics {
		for j := range resp.Topics[i].Partitions {
			p := &resp.Topics[i].Partitions[j]
			if p.Partition != partition {
				continue
			}
			fp, _ := kgo.ProcessFetchPartition(kgo.ProcessFetchPartitionOpts{
				Offset: offset, Topic: topic, Partition: partition,
			}, p, kgo.DefaultDecompressor(), nil)
			f := fetched{records: fp.Records, end: fp.HighWatermark, start: fp.LogStartOffset}
			if errors.Is(fp.Err, kerr.OffsetOutOfRange) {
				return f, errOutOfRange
			}
			return f, fp.Err
		}
	}
	return fetched{}, fmt.Errorf("fetch answer without partition %d", partition)
}

// leaderOf finds the broker leading topic's partition, from metadata at most
// metaAge old, and the topic's ID (fetch requests name topics by ID from
// version 13 on).
func (q *Queue) leaderOf(ctx context.Context, topic string, partition int32, metaAge time.Duration) (int32, [16]byte, error) {
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	resp, err := q.cl.RequestCachedMetadata(ctx, req, metaAge)
	if err != nil {
		return 0, [16]byte{}, err
	}
	for _, t := range resp.Topics {
		if t.Topic == nil || *t.Topic != topic {
			continue
		}
		if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
			return 0, [16]byte{}, err
		}
		for _, p := range t.Partitions {
			if p.Partition == partition {
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
					return 0, [16]byte{}, err
				}
				if p.Leader < 0 {
					return 0, [16]byte{}, errNoLeader
				}
				return p.Leader, t.TopicID, nil
			}
		}
	}
	return 0, [16]byte{}, kerr.UnknownTopicOrPartition
}

// startOffset is the offset of the first record topic's partition keeps.
func (q *Queue) startOffset(ctx context.Context, topic string, partition int32) (int64, error) {
	offs, err := q.adm.ListStartOffsets(ctx, topic)
	if err != nil {
		return 0, failed("list start offsets of "+topic, err)
	}
	o, ok := offs.Lookup(topic, partition)
	if !ok {
		return 0, failed("list start offsets of "+topic, kerr.UnknownTopicOrPartition)
	}
	if o.Err != nil {
		return 0, failed("list start offsets of "+topic, o.Err)
	}
	return o.Offset, nil
}
