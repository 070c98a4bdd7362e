// Package jsqueue is the NATS JetStream implementation of queue.Queue, the
// relay's default store.
//
// Every stream of internal/queue is a JetStream stream; a message's ID is its
// Nats-Msg-Id, so the stream's duplicate window deduplicates it. Transform's
// feed is a durable pull consumer of RELAY_IN. RELAY_OUT has no consumer: its
// destinations are read by lanes, in partitions one instance at a time owns
// (see claimer). Lanes and scans read one subject by direct get where the
// stream allows it (readnext.go). A dead letter has a subject of its own,
// relay.dead.<destination>.<id>: it is found by its id alone with a get of
// the last message of relay.dead.*.<id> (Last), and stored once, however
// late it comes again, by expecting its subject to be empty (publish.go).
package jsqueue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookrelay/hookrelay/internal/queue"
)

// Queue stores and consumes hookrelay's messages on JetStream. It is safe for
// concurrent use.
type Queue struct {
	nc      *nats.Conn
	js      jetstream.JetStream
	streams map[string]jetstream.Stream // read-only after New
	logger  *slog.Logger
	// replies takes the answers of direct gets (readnext.go).
	replies *directReplies
	// msgs are NATS messages for Publish, their header maps cleared.
	msgs sync.Pool
	// expectedStream is each stream's Nats-Expected-Stream value, shared
	// by every message (nats.go only reads it).
	expectedStream map[string][]string

	// setup bounds how many consumers are created at once: thousands at
	// once would time out JetStream's API.
	setup chan struct{}

	// life ends at Close; the membership runs within it.
	life context.Context
	end  context.CancelFunc
	// running counts the Queue's goroutines, for Close to wait on; spawn
	// starts them. waited, set under spawning once Close waits, refuses
	// new ones: an ack racing Close would otherwise add to running during
	// its Wait.
	running  sync.WaitGroup
	spawning sync.Mutex
	waited   bool

	// full is set when a write was refused for want of space, until one
	// is taken again; Ready then probes rather than trusting a connection.
	full atomic.Bool
	// refusedSize is the size of the last write refused so: the probe
	// writes as much, as a smaller one may fit where it did not, and only
	// a write as large ends "full".
	refusedSize atomic.Int64
	// probing holds the one probe write at a time; probedAt and probeErr,
	// guarded by it, keep its outcome for probeEvery, so that /readyz
	// polled often writes at most once a second.
	probing  chan struct{}
	probedAt time.Time
	probeErr error

	// partitions spread RELAY_OUT's destinations between instances.
	partitions int
	// replicas is the streams' replicas, and the buckets' that share the
	// partitions: losing one server must not lose the leases.
	replicas int

	mu        sync.Mutex
	members   *membership // started with claims
	claims    *claimer    // started by Claim or the first lane
	consumers map[stopper]struct{}
	closed    bool
}

// stopper is a consumer that Close stops.
type stopper interface{ Stop() }

var _ queue.Queue = (*Queue)(nil)

// Option configures a Queue.
type Option func(*options)

type options struct {
	logger     *slog.Logger
	partitions int
	// withoutDirect turns direct gets off, as with replicas (tests).
	withoutDirect bool
}

// WithPartitions sets how many partitions RELAY_OUT's destinations are
// spread over: the most instances that share dispatch. Every instance of a
// deployment must use the same. Default DefaultPartitions.
func WithPartitions(n int) Option {
	return func(o *options) { o.partitions = n }
}

// WithLogger sets where the queue logs what it recovers from by itself
// (membership trouble, consumer creation retries). Default slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(o *options) { o.logger = l }
}

// closeFlushWait bounds Close (the lanes' deletes, then the flush) when its
// context has no deadline.
const closeFlushWait = 5 * time.Second

// consumerSetupConcurrency bounds how many consumers are created at once.
const consumerSetupConcurrency = 16

// New creates or updates the streams on nc's JetStream and returns a Queue on
// them. The Queue takes nc over: Close closes it.
func New(ctx context.Context, nc *nats.Conn, so queue.StreamOptions, opts ...Option) (*Queue, error) {
	o := options{logger: slog.Default(), partitions: DefaultPartitions}
	for _, opt := range opts {
		opt(&o)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	streams, err := ensureStreams(ctx, js, so, o.withoutDirect)
	if err != nil {
		return nil, err
	}
	expected := make(map[string][]string, len(streams))
	for name := range streams {
		expected[name] = []string{name}
	}
	life, end := context.WithCancel(context.Background())
	return &Queue{
		nc: nc, js: js, streams: streams, logger: o.logger, partitions: max(o.partitions, 1), replicas: so.Replicas,
		replies:        &directReplies{nc: nc},
		expectedStream: expected,
		setup:          make(chan struct{}, consumerSetupConcurrency),
		probing:        make(chan struct{}, 1),
		life:           life, end: end,
		consumers: map[stopper]struct{}{},
	}, nil
}

// stream returns the handle of one of hookrelay's streams.
func (q *Queue) stream(name string) (jetstream.Stream, error) {
	st, ok := q.streams[name]
	if !ok {
		return nil, fmt.Errorf("stream %q is not one of hookrelay's", name)
	}
	return st, nil
}

// Ready reports whether the connection is up and JetStream answers.
func (q *Queue) Ready(ctx context.Context) error {
	if !q.nc.IsConnected() {
		return fmt.Errorf("nats: %w: not connected (status %s)", queue.ErrUnavailable, q.nc.Status())
	}
	if _, err := q.js.AccountInfo(ctx); err != nil {
		return fmt.Errorf("jetstream account info: %w", mapErr(err))
	}
	if q.full.Load() {
		return q.probe(ctx)
	}
	return nil
}

// probeEvery is how long a probe's outcome stands.
const probeEvery = time.Second

// probe learns whether the store takes writes again after refusing one for
// want of space: nothing else tells when space returns, a write does. One
// probe runs at a time, and its outcome stands for probeEvery.
func (q *Queue) probe(ctx context.Context) error {
	select {
	case q.probing <- struct{}{}:
		defer func() { <-q.probing }()
	case <-ctx.Done():
		return fmt.Errorf("jetstream refuses writes; probe: %w", ctx.Err())
	}
	switch {
	case !q.full.Load():
		return nil // a write meanwhile was taken
	case time.Since(q.probedAt) < probeEvery:
		return q.probeErr
	}
	probe := make([]byte, q.refusedSize.Load())
	_, err := q.js.Publish(ctx, probeSubject, probe)
	if err != nil {
		err = fmt.Errorf("jetstream refuses writes (free disk space under the store, "+
			"shorten retention or purge dead letters): %w", q.written(mapErr(err), len(probe)))
	} else {
		q.written(nil, len(probe))
	}
	q.probedAt, q.probeErr = time.Now(), err
	return err
}

// probeStream and probeSubject are where Ready writes to learn whether the
// store takes writes again.
const (
	probeStream  = "RELAY_PROBE"
	probeSubject = "relay.probe"
)

// written notes how a write of size bytes ended: refused for want of space,
// or taken (err nil). It returns err.
func (q *Queue) written(err error, size int) error {
	switch {
	case err == nil && int64(size) >= q.refusedSize.Load():
		if q.full.Swap(false) {
			q.logger.Info("jetstream takes writes again")
		}
	case errors.Is(err, queue.ErrFull):
		q.refusedSize.Store(int64(min(size, 8<<20)))
		if !q.full.Swap(true) {
			q.logger.Error("jetstream refuses writes for want of space: ingest answers 503 until space is freed",
				"err", err)
		}
	}
	return err
}

// Close stops this Queue's consumers (prefetched messages go back at once),
// leaves the membership so other instances take its lanes over
// without waiting, flushes what Send handed over, and closes the connection.
func (q *Queue) Close(ctx context.Context) error {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return nil
	}
	q.closed = true
	consumers := make([]stopper, 0, len(q.consumers))
	for c := range q.consumers {
		consumers = append(consumers, c)
	}
	claims := q.claims
	q.mu.Unlock()
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, closeFlushWait)
		defer cancel()
	}
	for _, c := range consumers {
		c.Stop()
	}
	if claims != nil {
		claims.drain(ctx) // what the lanes settled, or it is handed out again
	}
	q.end()
	q.spawning.Lock()
	q.waited = true
	q.spawning.Unlock()
	q.running.Wait()
	defer q.nc.Close()
	if err := q.nc.FlushWithContext(ctx); err != nil {
		return fmt.Errorf("flush to nats: %w", mapErr(err))
	}
	return nil
}

// spawn runs f in a goroutine Close waits for, and reports false, running
// nothing, once Close waits: f would find the Queue closed anyway.
func (q *Queue) spawn(f func()) bool {
	q.spawning.Lock()
	defer q.spawning.Unlock()
	if q.waited {
		return false
	}
	q.running.Go(f)
	return true
}

// track registers a consumer for Close; false when the Queue is closed.
func (q *Queue) track(c stopper) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return false
	}
	q.consumers[c] = struct{}{}
	return true
}

func (q *Queue) untrack(c stopper) {
	q.mu.Lock()
	delete(q.consumers, c)
	q.mu.Unlock()
}
