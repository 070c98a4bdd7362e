package kafkaqueue

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookrelay/hookrelay/internal/queue"
)

// The dead letters' topic is compacted, keyed by each dead letter's id (the
// last token of relay.dead.<destination>.<id>): a second record of an id
// replaces the first, and Delete produces a tombstone (the id without a
// value), which the compaction removes with what it deletes. Kafka itself
// keeps one record a dead letter, and none once it is deleted.
//
// Compaction comes late, so readers go by an index of each key's latest
// record, caught up with the topic's end before each read (one fetch when
// nothing is new). A record is live while it is its key's latest and that
// is no tombstone; Get, Last and Scan read live records only.

// liveIndex is each live key's latest record on the dead letters' topic.
type liveIndex struct {
	topic string

	// mu is held while catching up, so concurrent readers share one fetch.
	mu     sync.Mutex
	next   map[int32]int64 // each partition's next offset to read
	latest map[string]uint64
	synced time.Time
	// pruned is when the keys of records retention removed were last
	// dropped (prune).
	pruned time.Time
	// carried is, for each partition of the earlier dead topic, the offset
	// after the last record carried over from it (carry.go).
	carried map[int32]int64
}

func newLiveIndex(topic string) *liveIndex {
	// pruned now: the first catch-up reads from each partition's log start,
	// so there is nothing the retention removed to drop yet, and start-up
	// needs no request for it.
	return &liveIndex{topic: topic, next: map[int32]int64{}, latest: map[string]uint64{}, carried: map[int32]int64{},
		pruned: time.Now()}
}

// syncLive reads the records stored since the last catch-up, unless that
// is less than maxAge ago.
func (q *Queue) syncLive(ctx context.Context, maxAge time.Duration) error {
	x := q.live
	x.mu.Lock()
	defer x.mu.Unlock()
	if maxAge > 0 && time.Since(x.synced) < maxAge {
		return nil
	}
	started := time.Now()
	for p := range int32(q.partitions[x.topic]) {
		err := q.readOn(ctx, x.topic, p, x.next[p], func(r *kgo.Record) error {
			x.add(r)
			x.next[p] = r.Offset + 1
			return nil
		})
		if err != nil {
			return fmt.Errorf("read the dead letters' keys: %w", err)
		}
	}
	x.synced = started
	if time.Since(x.pruned) >= pruneEvery {
		q.prune(ctx)
	}
	return nil
}

// pruneEvery is how often syncLive drops the keys of records that
// retention removed.
const pruneEvery = 10 * time.Minute

// prune drops from the index the keys whose latest record is gone with the
// retention, which writes no tombstone: the index would otherwise keep
// every dead letter's key stored while the process runs. Called with mu
// held; a failure waits for the next catch-up.
func (q *Queue) prune(ctx context.Context) {
	x := q.live
	starts, err := q.adm.ListStartOffsets(ctx, x.topic)
	if err != nil {
		return
	}
	for key, seq := range x.latest {
		if s, ok := starts.Lookup(x.topic, partitionOf(seq)); ok && s.Err == nil && offsetOf(seq) < s.Offset {
			delete(x.latest, key)
		}
	}
	x.pruned = time.Now()
}

// add indexes r. Called with mu held.
func (x *liveIndex) add(r *kgo.Record) {
	key := string(r.Key)
	if p, ok := carriedPartition(key); ok {
		if next, err := strconv.ParseInt(string(r.Value), 10, 64); err == nil {
			x.carried[p] = max(x.carried[p], next)
		}
		return
	}
	if r.Value == nil {
		delete(x.latest, key)
		return
	}
	x.latest[key] = seqOf(r.Partition, r.Offset)
}

// isLive reports whether the record of key at seq is live, as of the last
// catch-up.
func (x *liveIndex) isLive(key []byte, seq uint64) bool {
	latest, ok := x.latestOf(string(key))
	return ok && latest == seq
}

// latestOf is key's live record, as of the last catch-up.
func (x *liveIndex) latestOf(key string) (uint64, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	seq, ok := x.latest[key]
	return seq, ok
}

// Last reads the live record of the dead letters' topic keyed by subject's
// last token, when its subject matches subject: the topic is keyed by
// dead-letter id, which is how the stores look one up. No other topic is
// keyed by name.
func (q *Queue) Last(ctx context.Context, stream, subject string) (queue.Stored, error) {
	what := fmt.Sprintf("read the last of %s", subject)
	key := string(keyOf(subject))
	if stream != queue.StreamDead || hasWildcard(key) {
		return queue.Stored{}, fmt.Errorf("%s: Kafka finds only dead letters by a name", what)
	}
	if err := q.syncLive(ctx, 0); err != nil {
		return queue.Stored{}, fmt.Errorf("%s: %w", what, err)
	}
	seq, ok := q.live.latestOf(key)
	if !ok {
		return queue.Stored{}, fmt.Errorf("%s: %w", what, queue.ErrNotFound)
	}
	m, err := q.getAt(ctx, stream, q.live.topic, partitionOf(seq), offsetOf(seq))
	if err == nil && !subjectMatches(subject, m.Subject) {
		err = queue.ErrNotFound
	}
	if err != nil {
		return queue.Stored{}, fmt.Errorf("%s: %w", what, err)
	}
	return m, nil
}

// Delete produces a tombstone of the dead letter m: its key without a
// value, when m is the key's live record after a catch-up with the topic's
// end (one fetch when nothing is new), so a dead letter read by Last or
// Scan is deleted without reading it again. One that retention removed
// since it was read (no tombstone says so) gets a tombstone, without
// ErrNotFound. Only dead letters are deleted.
func (q *Queue) Delete(ctx context.Context, m queue.Stored) error {
	what := fmt.Sprintf("delete %s seq %d", m.Stream, m.Seq)
	if m.Stream != queue.StreamDead {
		return fmt.Errorf("%s: Kafka deletes only dead letters", what)
	}
	if err := q.syncLive(ctx, 0); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	key := keyOf(m.Subject)
	if !q.live.isLive(key, m.Seq) {
		return fmt.Errorf("%s: %w", what, queue.ErrNotFound)
	}
	rec := &kgo.Record{Topic: q.live.topic, Key: key}
	if err := q.cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
		return failed(what, err)
	}
	x := q.live
	x.mu.Lock()
	if x.latest[string(key)] == m.Seq {
		delete(x.latest, string(key))
	}
	x.mu.Unlock()
	return nil
}
