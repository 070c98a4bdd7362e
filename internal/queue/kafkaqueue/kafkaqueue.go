package kafkaqueue

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/hookrelay/hookrelay/internal/queue"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var _ queue.Queue = (*Queue)(nil)

// Options configure a Queue; zero values take the defaults.
type Options struct {
	// Brokers are the seed brokers, host:port. Required.
	Brokers []string
	// TopicPrefix starts every topic's and consumer group's name (default
	// "hookrelay."), so several relays can share one cluster.
	TopicPrefix string
	// Partitions is how many partitions the out and acks topics get when
	// New creates them (default 12): the most dispatch instances that share
	// the destinations. The other topics have one.
	Partitions int
	// Replication is each topic's replication factor when New creates it
	// (default Streams.Replicas, else 1).
	Replication int
	// Streams sets the retentions and the dedup window.
	Streams queue.StreamOptions
	// MaxParked bounds the records one destination keeps in memory, parked
	// or handed out (default 1 000, also for 0 or less); past it the destination's further
	// records wait in Kafka and are read again once half of those in memory
	// are settled, so a long backlog costs no more memory and holds back no
	// other destination.
	MaxParked int
	// SessionTimeout is how long the consumer groups wait for a silent
	// member before giving its partitions to another (default 10 s).
	SessionTimeout time.Duration
	// Logger receives what cannot be returned (a failed Send). Default
	// slog.Default().
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.TopicPrefix == "" {
		o.TopicPrefix = "hookrelay."
	}
	if o.Partitions == 0 {
		o.Partitions = 12
	}
	o.Streams = o.Streams.WithDefaults()
	if o.Replication == 0 {
		o.Replication = o.Streams.Replicas
	}
	if o.MaxParked <= 0 {
		o.MaxParked = 1_000
	}
	if o.SessionTimeout == 0 {
		o.SessionTimeout = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Queue is queue.Queue on Kafka. Its methods are safe for concurrent use.
type Queue struct {
	opts Options
	log  *slog.Logger
	// cl produces every record (our partitioner, acks from all in-sync
	// replicas, idempotent) and carries the raw fetches of Get and Scan.
	cl  *kgo.Client
	adm *kadm.Client
	// partitions is each topic's partition count, read at New.
	partitions map[string]int
	// topics are the streams' topics, named once: a publish does not
	// build its topic's name again.
	topics map[string]string

	dedup *dedupIndex
	// tails are how far the dedup index has read each partition of in,
	// out and dead; fixed at New.
	tails map[tailKey]*dedupTail
	live  *liveIndex

	// sendFailures counts the Sends the brokers never stored.
	sendFailures atomic.Uint64
	// closed is set by Close: a Send after it cannot be handed over.
	closed atomic.Bool

	// cons is the consumers' shared state (consume.go).
	cons *consumers
}

// New connects to the brokers, creates the missing topics and rebuilds the
// dedup index from the window of in, out and dead. It fails with
// queue.ErrUnavailable when the brokers cannot be reached before ctx ends.
func New(ctx context.Context, opts Options) (*Queue, error) {
	if len(opts.Brokers) == 0 {
		return nil, fmt.Errorf("kafka queue: no brokers")
	}
	opts = opts.withDefaults()
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(opts.Brokers...),
		kgo.RecordPartitioner(keyPartitioner()),
		// Stored means on every in-sync replica; the idempotent producer
		// (kgo's default) keeps a retried batch from being stored twice.
		kgo.RequiredAcks(kgo.AllISRAcks()),
		// A publish waits for its ack, so lingering only adds latency
		// (2 ms measured on kfake with a 2 ms linger, 0.09 ms without);
		// records produced while a request is in flight still share the
		// next one.
		kgo.ProducerLinger(0),
		// A publish whose caller gave up at its deadline fails then (its
		// record's context, see startPublish), even when a broker that went
		// away had been sent it: ingest answered 503, and a record kept and
		// stored once the broker is back would be an event stored after its
		// refusal. The price is kgo's own duplicate-avoidance for that
		// record: a broker that did write it before going away keeps it, and
		// the vendor's retry is then a duplicate of its ID (dedup) or, for
		// an event without one, a second event.
		kgo.AllowIdempotentProduceCancellation(),
		// Past this a record fails and frees its ID's reservation, whatever
		// its caller's deadline.
		kgo.RecordDeliveryTimeout(30*time.Second),
	)
	if err != nil {
		return nil, fmt.Errorf("kafka queue: client: %w", err)
	}
	q := &Queue{opts: opts, log: opts.Logger, cl: cl, adm: kadm.NewClient(cl), topics: make(map[string]string, len(streams))}
	for _, s := range streams {
		q.topics[s] = opts.TopicPrefix + kindOf(s)
	}
	q.live = newLiveIndex(q.topic(queue.StreamDead))
	q.partitions, err = ensureTopics(ctx, cl, q.adm, opts)
	if err == nil {
		_, err = q.rebuildDedup(ctx)
	}
	if err == nil {
		err = q.syncLive(ctx, 0)
	}
	if err == nil {
		err = q.carryOver(ctx)
	}
	if err != nil {
		cl.Close()
		return nil, fmt.Errorf("kafka queue: %w", err)
	}
	q.cons = newConsumers(q)
	return q, nil
}

// topic is the topic of stream.
func (q *Queue) topic(stream string) string {
	if t, ok := q.topics[stream]; ok {
		return t
	}
	return q.opts.TopicPrefix + kindOf(stream)
}

// topicOfKind is the topic of a kind that is not a stream (kindAcks, and
// the earlier release's kindEarlierDead and kindDeleted).
func (q *Queue) topicOfKind(kind string) string { return q.opts.TopicPrefix + kind }

// knownStream checks that stream is one of the queue's.
func knownStream(stream string) error {
	for _, s := range streams {
		if s == stream {
			return nil
		}
	}
	return fmt.Errorf("unknown stream %q", stream)
}

// Ready asks a broker for the in topic's metadata. kadm's Metadata would
// answer from kgo's cache without asking anyone.
func (q *Queue) Ready(ctx context.Context) error {
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(q.topic(queue.StreamIn))
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, q.cl)
	if err == nil && len(resp.Topics) > 0 {
		err = kerr.ErrorForCode(resp.Topics[0].ErrorCode)
	}
	if err != nil {
		return failed("kafka metadata", err)
	}
	return nil
}

// SendFailures counts the messages handed to Send that the brokers never
// stored.
func (q *Queue) SendFailures() uint64 { return q.sendFailures.Load() }

// Close stops the consumers, flushes what Send handed over (within ctx) and
// closes the connections.
func (q *Queue) Close(ctx context.Context) error {
	q.closed.Store(true)
	cerr := q.cons.close(ctx)
	ferr := q.cl.Flush(ctx)
	q.cl.Close()
	if cerr != nil {
		return fmt.Errorf("close consumers: %w", cerr)
	}
	if ferr != nil {
		return failed("flush", ferr)
	}
	return nil
}
