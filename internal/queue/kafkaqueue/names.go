package kafkaqueue

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/hookrelay/hookrelay/internal/queue"
)

// namesIndex is where each record key of the dead topic was stored, read
// from the topic and caught up with it before each Last: a dead letter is
// keyed by its id (a subject's last token), one of an earlier release by its
// destination. It holds only positions, a few bytes a dead letter.
type namesIndex struct {
	topic string

	// mu is held while catching up, so concurrent readers share one fetch.
	mu   sync.Mutex
	next map[int32]int64     // each partition's next offset to read
	seqs map[string][]uint64 // each key's records, oldest first
}

func newNamesIndex(topic string) *namesIndex {
	return &namesIndex{topic: topic, next: map[int32]int64{}, seqs: map[string][]uint64{}}
}

// Last reads the last record of stream whose subject matches subject; only
// the dead letters' topic is indexed by key, so stream is StreamDead and
// subject's last token is literal. Records deleted or gone with the
// retention are passed over for the one before them.
func (q *Queue) Last(ctx context.Context, stream, subject string) (queue.Stored, error) {
	what := fmt.Sprintf("read the last of %s", subject)
	if stream != queue.StreamDead || hasWildcard(string(keyOf(subject))) {
		return queue.Stored{}, fmt.Errorf("%s: Kafka finds only dead letters by a name", what)
	}
	seqs, err := q.names.find(ctx, q, string(keyOf(subject)))
	if err != nil {
		return queue.Stored{}, fmt.Errorf("%s: %w", what, err)
	}
	for i := len(seqs) - 1; i >= 0; i-- {
		m, err := q.Get(ctx, stream, seqs[i])
		if errors.Is(err, queue.ErrNotFound) {
			continue
		}
		if err != nil {
			return queue.Stored{}, fmt.Errorf("%s: %w", what, err)
		}
		if subjectMatches(subject, m.Subject) {
			return m, nil
		}
	}
	return queue.Stored{}, fmt.Errorf("%s: %w", what, queue.ErrNotFound)
}

// find catches the index up with the end of every partition of the topic
// and returns the positions of key's records, oldest first.
func (x *namesIndex) find(ctx context.Context, q *Queue, key string) ([]uint64, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for p := range int32(q.partitions[x.topic]) {
		for {
			f, err := q.fetch(ctx, x.topic, p, x.next[p])
			if errors.Is(err, errOutOfRange) {
				// The first records left with the retention: read on from
				// the first one kept (Get passes over the positions known).
				if x.next[p], err = q.startOffset(ctx, x.topic, p); err != nil {
					return nil, err
				}
				continue
			}
			if err != nil {
				return nil, err
			}
			for _, r := range f.records {
				k := string(r.Key)
				x.seqs[k] = append(x.seqs[k], seqOf(r.Partition, r.Offset))
				x.next[p] = r.Offset + 1
			}
			if len(f.records) == 0 || x.next[p] >= f.end {
				break
			}
		}
	}
	return x.seqs[key], nil
}
