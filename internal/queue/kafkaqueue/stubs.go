package kafkaqueue

// Placeholders until the next kq-core commits land the real methods.

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/hookrelay/hookrelay/internal/queue"
)

type deletedIndex struct {
	topic string
	mu    sync.Mutex
}

func newDeletedIndex(topic string) *deletedIndex { return &deletedIndex{topic: topic} }

func (q *Queue) isDeleted(context.Context, string, uint64) (bool, error) { return false, nil }

func (q *Queue) rebuildDedup(context.Context) (*dedupIndex, error) {
	return newDedupIndex(q.opts.Streams.DedupWindow, time.Now), nil
}

func (q *Queue) Publish(context.Context, queue.Msg) (queue.PubAck, error) {
	return queue.PubAck{}, errors.ErrUnsupported
}

func (q *Queue) PublishAll(context.Context, []queue.Msg) ([]queue.PubAck, error) {
	return nil, errors.ErrUnsupported
}

func (q *Queue) Send(queue.Msg) error { return errors.ErrUnsupported }

func (q *Queue) Get(context.Context, string, uint64) (queue.Stored, error) {
	return queue.Stored{}, errors.ErrUnsupported
}

func (q *Queue) Delete(context.Context, string, uint64) error { return errors.ErrUnsupported }

func (q *Queue) Scan(context.Context, string, string, time.Time, func(queue.Stored) (bool, error)) error {
	return errors.ErrUnsupported
}
