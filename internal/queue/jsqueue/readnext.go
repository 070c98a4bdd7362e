package jsqueue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookrelay/hookrelay/internal/queue"
)

// Reading one subject without a consumer: a lane reads its destination's
// next deliveries, Scan a subject's messages. When the stream allows direct
// gets (one replica), one direct get reads up to a batch, raw (no JSON, no
// base64), answered on one subscription per Queue. With replicas, a lane
// reads from the stream's leader through the API, one message at a time (any
// replica answers a direct get, and one behind the leader would hand out
// deliveries settled already), and Scan reads through a consumer.

// startAt is where a read starts: at or after sequence seq, or, when seq is
// 0, at the first message stored at or after start.
type startAt struct {
	seq   uint64
	start time.Time
}

// readTimeout bounds one read.
const readTimeout = 5 * time.Second

// readNext reads the next messages of subject on stream from at on, up to n
// of them and about maxBytes; queue.ErrNotFound when there is none. A
// batched direct get also tells how many more of subject were stored when it
// ended (after), a read from the leader does not (-1).
func (q *Queue) readNext(ctx context.Context, stream, subject string, at startAt, n, maxBytes int) (msgs []jetstream.RawStreamMsg, after int64, err error) {
	ctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	req := getRequest{NextFor: subject, Seq: at.seq}
	if at.seq == 0 {
		req.StartTime = &at.start
	}
	if !q.direct(stream) {
		if at.seq == 0 {
			// Only a scan starts at a time, and it reads through a
			// consumer when the stream has no direct gets.
			return nil, -1, fmt.Errorf("read %s: %w: direct gets were turned off; scan again", subject, queue.ErrUnavailable)
		}
		m, err := q.streams[stream].GetMsg(ctx, at.seq, jetstream.WithGetMsgSubject(subject))
		if err != nil {
			return nil, -1, fmt.Errorf("read %s: %w", subject, mapErr(err))
		}
		return []jetstream.RawStreamMsg{*m}, -1, nil
	}
	req.Batch, req.MaxBytes = n, maxBytes
	msgs, after, err = q.directGet(ctx, stream, req)
	if q.directTurnedOff(ctx, stream, err) {
		return q.readNext(ctx, stream, subject, at, n, maxBytes)
	}
	if err != nil {
		return nil, after, fmt.Errorf("read %s: %w", subject, err)
	}
	return msgs, after, nil
}

// readLast reads the last message of subject on stream; queue.ErrNotFound
// when there is none.
func (q *Queue) readLast(ctx context.Context, stream, subject string) (jetstream.RawStreamMsg, error) {
	ctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	req := getRequest{LastFor: subject}
	var m jetstream.RawStreamMsg
	var err error
	if q.direct(stream) {
		var msgs []jetstream.RawStreamMsg
		if msgs, _, err = q.directGet(ctx, stream, req); err == nil {
			m = msgs[0]
		}
	}
	if !q.direct(stream) || q.directTurnedOff(ctx, stream, err) {
		var got *jetstream.RawStreamMsg
		if got, err = q.streams[stream].GetLastMsgForSubject(ctx, subject); err == nil {
			m = *got
		}
		err = mapErr(err)
	}
	if err != nil {
		return jetstream.RawStreamMsg{}, fmt.Errorf("read the last of %s: %w", subject, err)
	}
	return m, nil
}

// direct tells whether stream's messages are read by direct get.
func (q *Queue) direct(stream string) bool {
	st, ok := q.streams[stream]
	return ok && st.CachedInfo().Config.AllowDirect
}

// directTurnedOff tells, after a direct get of stream failed with err for
// want of a responder, whether the stream no longer allows direct gets: an
// instance of an earlier release may have updated it (a rollback while this
// one runs). The stream's configuration is read again, and reads go to the
// leader from then on.
func (q *Queue) directTurnedOff(ctx context.Context, stream string, err error) bool {
	if !errors.Is(err, nats.ErrNoResponders) {
		return false
	}
	if _, ierr := q.streams[stream].Info(ctx); ierr != nil {
		return false
	}
	return !q.direct(stream)
}

// getRequest is JetStream's request for stored messages (JSApiMsgGetRequest).
type getRequest struct {
	Seq       uint64     `json:"seq,omitempty"`
	NextFor   string     `json:"next_by_subj,omitempty"`
	LastFor   string     `json:"last_by_subj,omitempty"`
	StartTime *time.Time `json:"start_time,omitempty"`
	Batch     int        `json:"batch,omitempty"`
	MaxBytes  int        `json:"max_bytes,omitempty"`
}

// directGet makes one direct get of stream: a batch comes as its messages
// then an end-of-batch status, which says how many more match (after; -1
// when not told), a single message alone. queue.ErrNotFound when none
// matches (after 0).
func (q *Queue) directGet(ctx context.Context, stream string, req getRequest) (out []jetstream.RawStreamMsg, after int64, err error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, -1, err
	}
	replies, done, err := q.replies.open(max(req.Batch, 1))
	if err != nil {
		return nil, -1, mapErr(err)
	}
	defer done()
	if err := q.nc.PublishRequest("$JS.API.DIRECT.GET."+stream, replies.inbox, body); err != nil {
		return nil, -1, mapErr(err)
	}
	for {
		var m *nats.Msg
		select {
		case m = <-replies.msgs:
		case <-ctx.Done():
			if len(out) > 0 {
				return out, -1, nil // the rest is read next time
			}
			return nil, -1, mapErr(ctx.Err())
		}
		if len(m.Data) == 0 && m.Header.Get("Status") != "" {
			switch status := m.Header.Get("Status"); status {
			case "204": // end of the batch
				if len(out) == 0 {
					return nil, 0, queue.ErrNotFound
				}
				n, err := strconv.ParseInt(m.Header.Get("Nats-Num-Pending"), 10, 64)
				if err != nil {
					n = -1
				}
				return out, n, nil
			case "404":
				if len(out) > 0 {
					return out, -1, nil
				}
				return nil, 0, queue.ErrNotFound
			case "503":
				return nil, -1, fmt.Errorf("%w: %w", queue.ErrUnavailable, nats.ErrNoResponders)
			default:
				return nil, -1, fmt.Errorf("status %s %s", status, m.Header.Get("Description"))
			}
		}
		rm, err := directGot(m)
		if err != nil {
			return nil, -1, err
		}
		out = append(out, rm)
		if req.Batch == 0 {
			return out, -1, nil
		}
	}
}

// directGot is a message a direct get returned, from its headers.
func directGot(m *nats.Msg) (jetstream.RawStreamMsg, error) {
	seq, err := strconv.ParseUint(m.Header.Get(jetstream.SequenceHeader), 10, 64)
	if err != nil {
		return jetstream.RawStreamMsg{}, fmt.Errorf("direct get: sequence header: %w", err)
	}
	at, err := time.Parse(time.RFC3339Nano, m.Header.Get(jetstream.TimeStampHeaer))
	if err != nil {
		return jetstream.RawStreamMsg{}, fmt.Errorf("direct get: time stamp header: %w", err)
	}
	subject := m.Header.Get(jetstream.SubjectHeader)
	if subject == "" {
		return jetstream.RawStreamMsg{}, errors.New("direct get: no subject header")
	}
	return jetstream.RawStreamMsg{Subject: subject, Sequence: seq, Header: m.Header, Data: m.Data, Time: at}, nil
}

// directReplies takes the answers of direct gets on one subscription, made
// at the first read: a subscription per read would make the server rebuild
// its subject cache at every read.
type directReplies struct {
	nc *nats.Conn

	mu      sync.Mutex
	prefix  string
	sub     *nats.Subscription
	next    uint64
	waiting map[string]chan *nats.Msg
}

// directReply is one read's inbox and the answers to it.
type directReply struct {
	inbox string
	msgs  chan *nats.Msg
}

// open returns a new inbox for up to n messages, and a func to call once its
// answers are read.
func (b *directReplies) open(n int) (directReply, func(), error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.sub == nil {
		b.prefix = nats.NewInbox()
		sub, err := b.nc.Subscribe(b.prefix+".*", b.route)
		if err != nil {
			return directReply{}, nil, err
		}
		b.sub, b.waiting = sub, map[string]chan *nats.Msg{}
	}
	b.next++
	token := strconv.FormatUint(b.next, 36)
	// Room for the whole batch and its end: the subscription never waits.
	r := directReply{inbox: b.prefix + "." + token, msgs: make(chan *nats.Msg, n+2)}
	b.waiting[token] = r.msgs
	return r, func() {
		b.mu.Lock()
		delete(b.waiting, token)
		b.mu.Unlock()
	}, nil
}

func (b *directReplies) route(m *nats.Msg) {
	token := m.Subject[len(b.prefix)+1:]
	b.mu.Lock()
	ch := b.waiting[token]
	b.mu.Unlock()
	if ch == nil {
		return // a read that gave up
	}
	select {
	case ch <- m:
	default: // more than asked for: the read takes what it has
	}
}
