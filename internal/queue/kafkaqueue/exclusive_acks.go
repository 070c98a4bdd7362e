package kafkaqueue

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	// ackClockMargin widens the read of the acks markers back in time: the
	// record times of out and acks come from the clocks of their partition
	// leaders, which may differ a little.
	ackClockMargin = time.Minute
	// ackReadTimeout bounds one attempt at reading a partition's markers.
	ackReadTimeout = 30 * time.Second
)

// storeAck makes the ack of e durable: a marker on the acks topic, keyed by
// the destination so it lands on the partition matching e's, waited for on
// every in-sync replica.
func (d *dispatcher) storeAck(ctx context.Context, e *entry) error {
	r := &kgo.Record{
		Topic: d.g.q.topicOfKind(kindAcks),
		Key:   keyOf(e.msg.Subject),
		Value: strconv.AppendUint(nil, e.msg.Seq, 10),
	}
	if err := d.g.q.cl.ProduceSync(ctx, r).FirstErr(); err != nil {
		return failed(fmt.Sprintf("ack %s seq %d: store the ack marker (the delivery may be handed out again after a crash)", e.msg.Subject, e.msg.Seq), err)
	}
	return nil
}

// load reads the acks markers of partition p from the time of its first
// fetched record (at offset first), then hands out what waited meanwhile,
// skipping what the markers name. It retries until it succeeds, p is
// revoked or the dispatcher stops: handing out before would re-send what
// was delivered.
func (d *dispatcher) load(p *partState, first int64, at time.Time) {
	defer d.reads.Done()
	g := d.g
	var acked map[int64]bool
	for delay := 100 * time.Millisecond; ; delay = min(2*delay, 10*time.Second) {
		ctx, cancel := context.WithTimeout(d.ctx, ackReadTimeout)
		var err error
		acked, err = d.readAcks(ctx, p.partition, first, at.Add(-ackClockMargin))
		cancel()
		if err == nil {
			break
		}
		g.mu.Lock()
		gone := p.revoked
		g.mu.Unlock()
		if gone || d.ctx.Err() != nil {
			return
		}
		g.log.Warn("read the acks markers; the partition's records wait", "partition", p.partition, "err", err, "retry_in", delay)
		select {
		case <-d.ctx.Done():
			return
		case <-time.After(delay):
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if p.revoked {
		return
	}
	p.acked, p.loading, p.loaded = acked, false, true
	waiting := p.waiting
	p.waiting = nil
	for _, e := range waiting {
		dq := d.dests[e.msg.Subject]
		dq.loading--
		d.place(e)
		d.prune(dq)
	}
	for subject := range p.spilled {
		d.refill(p, subject)
	}
	g.changed.fire()
}

// readAcks returns the offsets at or after first of out's partition that
// the acks markers stored since since name.
func (d *dispatcher) readAcks(ctx context.Context, outPartition int32, first int64, since time.Time) (map[int64]bool, error) {
	q := d.g.q
	topic := q.topicOfKind(kindAcks)
	// The markers of out's partition p are on acks' partition p when both
	// have as many partitions (as New creates them); otherwise they may be
	// on any.
	parts := []int32{outPartition}
	if n := q.partitions[topic]; n != q.partitions[d.g.topic] {
		parts = parts[:0]
		for i := range int32(n) {
			parts = append(parts, i)
		}
	}
	starts, err := q.adm.ListOffsetsAfterMilli(ctx, since.UnixMilli(), topic)
	if err != nil {
		return nil, failed("list acks offsets", err)
	}
	ends, err := q.adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, failed("list acks end offsets", err)
	}
	from := map[int32]kgo.Offset{}
	until := map[int32]int64{}
	for _, p := range parts {
		s, e, err := offsetRange(starts, ends, topic, p)
		if err != nil {
			return nil, err
		}
		if s < e {
			from[p], until[p] = kgo.NewOffset().At(s), e
		}
	}
	acked := map[int64]bool{}
	if len(from) == 0 {
		return acked, nil
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(q.opts.Brokers...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: from}))
	if err != nil {
		return nil, fmt.Errorf("read acks: client: %w", err)
	}
	defer cl.Close()
	for len(until) > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return nil, failed("read acks", err)
		}
		var ferr error
		fs.EachError(func(_ string, p int32, err error) { ferr = fmt.Errorf("partition %d: %w", p, err) })
		if ferr != nil {
			return nil, failed("read acks", ferr)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset+1 >= until[r.Partition] {
				delete(until, r.Partition)
			}
			seq, err := strconv.ParseUint(string(r.Value), 10, 64)
			if err != nil || partitionOf(seq) != outPartition || offsetOf(seq) < first {
				return
			}
			acked[offsetOf(seq)] = true
		})
	}
	return acked, nil
}

// offsetRange is where reading partition p of topic starts and ends.
func offsetRange(starts, ends kadm.ListedOffsets, topic string, p int32) (start, end int64, err error) {
	s, ok := starts.Lookup(topic, p)
	if !ok || s.Err != nil {
		return 0, 0, fmt.Errorf("acks partition %d: no start offset: %v", p, s.Err)
	}
	e, ok := ends.Lookup(topic, p)
	if !ok || e.Err != nil {
		return 0, 0, fmt.Errorf("acks partition %d: no end offset: %v", p, e.Err)
	}
	start = s.Offset
	if start < 0 {
		start = e.Offset
	}
	return start, e.Offset, nil
}
