package kafkaqueue

import (
	"strconv"
	"strings"
	"time"

	"github.com/hookrelay/hookrelay/internal/queue"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Headers hookrelay adds to every record; they never reach Msg.Header.
const (
	headerSubject = "hookrelay-subject"
	headerID      = "hookrelay-id"
	// headerTime is when the message was handed to the producer, in
	// nanoseconds since 1970: Stored.Time. Kafka's own record time is
	// whole milliseconds, too coarse for a Scan that starts at a message's
	// time to leave out the ones stored in the same millisecond before it.
	headerTime = "hookrelay-time"
	// headerDeletes, on a record of an earlier release's deleted topic, is
	// the Seq it deletes (carry.go).
	headerDeletes = "hookrelay-deletes"
)

// keyOf is the record key of subject: its last token, the source,
// destination or event id the stages address by.
func keyOf(subject string) []byte {
	return []byte(subject[strings.LastIndexByte(subject, '.')+1:])
}

// recordOf turns m into the record to produce on topic, stamped now.
func recordOf(topic string, m queue.Msg) *kgo.Record {
	key := m.Subject[strings.LastIndexByte(m.Subject, '.')+1:]
	n := 2
	size := len(key) + len(m.Subject) + len("-9223372036854775808") + len(m.ID)
	for _, vs := range m.Header {
		n += len(vs)
		for _, v := range vs {
			size += len(v)
		}
	}
	if m.ID != "" {
		n++
	}
	// One array holds the key and every header value: one allocation, not
	// one a value (Publish is on ingest's path for every event). Each is
	// capped to its length, so appending to one cannot change the next.
	buf := make([]byte, 0, size)
	take := func(start int) []byte { return buf[start:len(buf):len(buf)] }
	add := func(s string) []byte {
		start := len(buf)
		buf = append(buf, s...)
		return take(start)
	}
	r := &kgo.Record{Topic: topic, Key: add(key), Value: m.Data}
	if r.Value == nil {
		r.Value = []byte{} // a null value is a tombstone on the dead letters' topic
	}
	r.Headers = make([]kgo.RecordHeader, 0, n)
	r.Headers = append(r.Headers, kgo.RecordHeader{Key: headerSubject, Value: add(m.Subject)})
	start := len(buf)
	buf = strconv.AppendInt(buf, time.Now().UnixNano(), 10)
	r.Headers = append(r.Headers, kgo.RecordHeader{Key: headerTime, Value: take(start)})
	if m.ID != "" {
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: headerID, Value: add(m.ID)})
	}
	for k, vs := range m.Header {
		for _, v := range vs {
			r.Headers = append(r.Headers, kgo.RecordHeader{Key: k, Value: add(v)})
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
			s.Key = queue.KeyOf(s.Subject)
		case headerID:
			s.ID = string(h.Value)
		case headerTime:
			if ns, err := strconv.ParseInt(string(h.Value), 10, 64); err == nil {
				s.Time = time.Unix(0, ns)
			}
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

// recordTime is the Stored.Time of r.
func recordTime(r *kgo.Record) time.Time {
	if v, ok := headerValue(r, headerTime); ok {
		if ns, err := strconv.ParseInt(v, 10, 64); err == nil {
			return time.Unix(0, ns)
		}
	}
	return r.Timestamp
}
