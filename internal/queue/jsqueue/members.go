package jsqueue

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/hookrelay/hookrelay/internal/pause"
	"github.com/nats-io/nats.go/jetstream"
)

// membership splits the lanes between relay instances. Every
// Queue with a lane heartbeats into a small KV bucket; each
// consumer prefers the live instance that wins a rendezvous hash of its name,
// and the others leave it alone. The pinned priority group still guarantees
// that only one instance receives a consumer's messages at a time:
// membership only decides which one, so a stale view costs a short handover
// delay, never a double delivery.
type membership struct {
	self     string
	logger   *slog.Logger
	replicas int // the bucket's

	mu       sync.Mutex
	seen     map[string]time.Time // member → last heartbeat seen
	changed  chan struct{}        // closed and replaced when the member set changes
	disabled bool                 // the bucket is unavailable: every instance takes every consumer
}

// membersBucket is the KV bucket of live instances.
const membersBucket = "RELAY_MEMBERS"

const (
	heartbeatEvery = 3 * time.Second
	memberTimeout  = 10 * time.Second
)

func newMembership(logger *slog.Logger, replicas int) *membership {
	return &membership{self: uuid.NewString(), logger: logger, replicas: replicas, seen: map[string]time.Time{}, changed: make(chan struct{})}
}

// run takes part in the membership until ctx is cancelled, then leaves. The
// bucket is kept in memory, so a server restart forgets it (a cluster keeps
// it, empty): it is made again then, as when it could not be made at all.
// Meanwhile this instance competes for every lane.
func (m *membership) run(ctx context.Context, js jetstream.JetStream) {
	for {
		err := m.session(ctx, js)
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, errBucketRemade) {
			// Another instance made it first; watch the new one at once.
			continue
		}
		if m.setDisabled(true) {
			m.logger.Warn("membership bucket unavailable; this instance competes for every lane until it is back",
				"err", err, "retry_every", heartbeatEvery)
		}
		if !pause.For(ctx, heartbeatEvery) {
			return
		}
	}
}

// memoryBucket makes (or finds) a bucket of the instances' shared state:
// in memory, the last value of each key only, a key gone a minute after its
// last write, with the streams' replicas so that losing a server loses none.
func memoryBucket(ctx context.Context, js jetstream.JetStream, bucket string, replicas int) (jetstream.KeyValue, error) {
	return js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: bucket, TTL: time.Minute, Storage: jetstream.MemoryStorage, History: 1, Replicas: replicas,
	})
}

// errBucketRemade ends a session whose watch follows a bucket that was made
// again: its watch would wait for revisions the new bucket reaches only much
// later, and see nobody meanwhile.
var errBucketRemade = errors.New("membership bucket made again")

// session heartbeats and watches the bucket until ctx is cancelled (it
// leaves then) or the bucket is gone or made again.
func (m *membership) session(ctx context.Context, js jetstream.JetStream) error {
	kv, err := memoryBucket(ctx, js, membersBucket, m.replicas)
	if err != nil {
		return fmt.Errorf("make bucket %s: %w", membersBucket, err)
	}
	watch, err := kv.WatchAll(ctx)
	if err != nil {
		return fmt.Errorf("watch bucket %s: %w", membersBucket, err)
	}
	defer func() { _ = watch.Stop() }()
	m.observe(m.self, time.Now())
	if m.setDisabled(false) {
		m.logger.Info("membership bucket back; instances split the lanes again")
	}
	beat := time.NewTicker(heartbeatEvery)
	defer beat.Stop()
	// high is the highest revision this session has seen, in the watch or
	// from its own puts. A put stored after all of them that comes back with
	// a revision no higher went into a bucket made again.
	var high uint64
	// put reports an error only when the bucket is gone or made again;
	// others (a reconnection, a timeout) are logged and the next beat tries
	// again.
	put := func() error {
		before := high
		rev, err := kv.Put(ctx, m.self, []byte(time.Now().UTC().Format(time.RFC3339Nano)))
		switch {
		case err == nil && rev <= before:
			return errBucketRemade
		case err == nil:
			high = max(high, rev)
			return nil
		case ctx.Err() != nil:
			return nil
		case bucketGone(ctx, js, membersBucket, err):
			return fmt.Errorf("heartbeat into %s: %w", membersBucket, err)
		}
		m.logger.Warn("membership heartbeat", "err", err)
		return nil
	}
	if err := put(); err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			// Leave at once so the others take over without waiting.
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			_ = kv.Delete(dctx, m.self)
			cancel()
			return nil
		case <-beat.C:
			if err := put(); err != nil {
				return err
			}
			m.expire(time.Now())
		case e, ok := <-watch.Updates():
			if !ok {
				return fmt.Errorf("watch of %s ended", membersBucket)
			}
			if e == nil { // the initial values have been delivered
				continue
			}
			high = max(high, e.Revision())
			if e.Operation() == jetstream.KeyValuePut {
				m.observe(e.Key(), time.Now())
			} else {
				m.forget(e.Key())
			}
		}
	}
}

// setDisabled reports whether it changed the state.
func (m *membership) setDisabled(disabled bool) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.disabled == disabled {
		return false
	}
	m.disabled = disabled
	m.notifyLocked()
	return true
}

func (m *membership) observe(member string, at time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.seen[member]; !ok {
		m.notifyLocked()
	}
	m.seen[member] = at
}

func (m *membership) forget(member string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.seen[member]; ok && member != m.self {
		delete(m.seen, member)
		m.notifyLocked()
	}
}

func (m *membership) expire(now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for member, at := range m.seen {
		if member != m.self && now.Sub(at) > memberTimeout {
			delete(m.seen, member)
			m.notifyLocked()
		}
	}
}

func (m *membership) notifyLocked() {
	close(m.changed)
	m.changed = make(chan struct{})
}

// prefers reports whether this instance should receive the consumer's
// messages, and a channel closed when the answer may change.
func (m *membership) prefers(consumer string) (bool, <-chan struct{}) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.disabled || len(m.seen) <= 1 {
		return true, m.changed
	}
	best, bestScore := "", uint64(0)
	for member := range m.seen {
		h := fnv.New64a()
		h.Write([]byte(consumer))
		h.Write([]byte{0})
		h.Write([]byte(member))
		if s := h.Sum64(); best == "" || s > bestScore || s == bestScore && member > best {
			best, bestScore = member, s
		}
	}
	return best == m.self, m.changed
}
