package kafkaqueue

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// span is the offsets [from, to) of one partition to read.
type span struct {
	partition int32
	from, to  int64
}

// spansSince lists, for each partition of topic, the records stored at or
// after since (all kept records when since is zero) up to the end now.
func (q *Queue) spansSince(ctx context.Context, topic string, since time.Time) ([]span, error) {
	ends, err := q.adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, failed("list end offsets of "+topic, err)
	}
	var starts kadm.ListedOffsets
	if since.IsZero() {
		starts, err = q.adm.ListStartOffsets(ctx, topic)
	} else {
		starts, err = q.adm.ListOffsetsAfterMilli(ctx, since.UnixMilli(), topic)
	}
	if err != nil {
		return nil, failed("list offsets of "+topic, err)
	}
	var spans []span
	for p, end := range ends[topic] {
		if end.Err != nil {
			return nil, failed(fmt.Sprintf("list end offset of %s/%d", topic, p), end.Err)
		}
		start, ok := starts.Lookup(topic, p)
		if !ok || start.Err != nil {
			return nil, failed(fmt.Sprintf("list offsets of %s/%d", topic, p), start.Err)
		}
		from := start.Offset
		if from < 0 { // no record at or after since
			from = end.Offset
		}
		if from < end.Offset {
			spans = append(spans, span{p, from, end.Offset})
		}
	}
	return spans, nil
}
