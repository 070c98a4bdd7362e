package kafkaqueue

import (
	"strings"

	"github.com/hookrelay/hookrelay/internal/queue"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Headers hookrelay adds to every record; they never reach Msg.Header.
const (
	headerSubject = "hookrelay-subject"
	headerID      = "hookrelay-id"
	// headerDeletes, on a record of the deleted topic, is the Seq it deletes.
	headerDeletes = "hookrelay-deletes"
)

// keyOf is the record key of subject: its last token, the source,
// destination or event id the stages address by.
func keyOf(subject string) []byte {
	return []byte(subject[strings.LastIndexByte(subject, '.')+1:])
}

// recordOf turns m into the record to produce on topic.
func recordOf(topic string, m queue.Msg) *kgo.Record {
	r := &kgo.Record{Topic: topic, Key: keyOf(m.Subject), Value: m.Data}
	n := 1
	for _, vs := range m.Header {
		n += len(vs)
	}
	if m.ID != "" {
		n++
	}
	r.Headers = make([]kgo.RecordHeader, 0, n)
	r.Headers = append(r.Headers, kgo.RecordHeader{Key: headerSubject, Value: []byte(m.Subject)})
	if m.ID != "" {
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: headerID, Value: []byte(m.ID)})
	}
	for k, vs := range m.Header {
		for _, v := range vs {
			r.Headers = append(r.Headers, kgo.RecordHeader{Key: k, Value: []byte(v)})
		}
	}
	return r
}

// storedOf turns a record of stream's topic back into a message; ok is false
// for a record that is not a message (it has no subject).
func storedOf(stream string, r *kgo.Record) (s queue.Stored, ok bool) {
	s = queue.Stored{Stream: stream, Seq: seqOf(r.Partition, r.Offset), Time: r.Timestamp}
	s.Data = r.Value
	for _, h := range r.Headers {
		switch h.Key {
		case headerSubject:
			s.Subject, ok = string(h.Value), true
		case headerID:
			s.ID = string(h.Value)
		default:
			if s.Header == nil {
				s.Header = queue.Header{}
			}
			s.Header[h.Key] = append(s.Header[h.Key], string(h.Value))
		}
	}
	return s, ok
}

// headerValue is the first value of key among r's headers, and whether there
// is one.
func headerValue(r *kgo.Record, key string) (string, bool) {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value), true
		}
	}
	return "", false
}
