package dispatch

import (
	"context"
	"hash/fnv"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
)

// Membership splits destinations between relay instances. Every dispatcher
// heartbeats into a small KV bucket; each destination prefers the live
// instance that wins a rendezvous hash, and the others leave it alone. The
// queue's pinned priority group still guarantees that only one instance
// dispatches a destination at a time: membership only decides which one, so
// a stale view costs a short handover delay, never a double send.
type membership struct {
	self   string
	logger *slog.Logger

	mu       sync.Mutex
	seen     map[string]time.Time // member → last heartbeat seen
	changed  chan struct{}        // closed and replaced when the member set changes
	disabled bool                 // the bucket is unavailable: every instance takes every destination
}

// membersBucket is the KV bucket of live dispatchers.
const membersBucket = "RELAY_MEMBERS"

const (
	heartbeatEvery = 3 * time.Second
	memberTimeout  = 10 * time.Second
)

func newMembership(logger *slog.Logger) *membership {
	return &membership{self: uuid.NewString(), logger: logger, seen: map[string]time.Time{}, changed: make(chan struct{})}
}

// run heartbeats and watches the bucket until ctx is cancelled.
func (m *membership) run(ctx context.Context, js jetstream.JetStream) error {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: membersBucket, TTL: time.Minute, Storage: jetstream.MemoryStorage, History: 1,
	})
	if err != nil {
		m.logger.Warn("membership bucket unavailable; this instance competes for every destination", "err", err)
		m.disable()
		return nil
	}
	m.observe(m.self, time.Now())
	watch, err := kv.WatchAll(ctx)
	if err != nil {
		m.logger.Warn("watch members; this instance competes for every destination", "err", err)
		m.disable()
		return nil
	}
	defer func() { _ = watch.Stop() }()
	beat := time.NewTicker(heartbeatEvery)
	defer beat.Stop()
	put := func() {
		if _, err := kv.Put(ctx, m.self, []byte(time.Now().UTC().Format(time.RFC3339Nano))); err != nil && ctx.Err() == nil {
			m.logger.Warn("membership heartbeat", "err", err)
		}
	}
	put()
	for {
		select {
		case <-ctx.Done():
			// Leave at once so the others take over without waiting.
			_ = kv.Delete(context.WithoutCancel(ctx), m.self)
			return nil
		case <-beat.C:
			put()
			m.expire(time.Now())
		case e, ok := <-watch.Updates():
			if !ok {
				return nil
			}
			if e == nil { // the initial values have been delivered
				continue
			}
			if e.Operation() == jetstream.KeyValuePut {
				m.observe(e.Key(), time.Now())
			} else {
				m.forget(e.Key())
			}
		}
	}
}

func (m *membership) disable() {
	m.mu.Lock()
	m.disabled = true
	m.notifyLocked()
	m.mu.Unlock()
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

// prefers reports whether this instance should dispatch the destination, and
// a channel closed when the answer may change.
func (m *membership) prefers(destination string) (bool, <-chan struct{}) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.disabled || len(m.seen) <= 1 {
		return true, m.changed
	}
	best, bestScore := "", uint64(0)
	for member := range m.seen {
		h := fnv.New64a()
		h.Write([]byte(destination))
		h.Write([]byte{0})
		h.Write([]byte(member))
		if s := h.Sum64(); best == "" || s > bestScore || s == bestScore && member > best {
			best, bestScore = member, s
		}
	}
	return best == m.self, m.changed
}
