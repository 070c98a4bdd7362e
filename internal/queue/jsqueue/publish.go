package jsqueue

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookrelay/hookrelay/internal/queue"
)

// natsMsg builds the NATS message of m, to be stored on stream, in nm (nil:
// a new one), whose header is empty.
func natsMsg(m queue.Msg, nm *nats.Msg) (_ *nats.Msg, stream string, err error) {
	stream = queue.StreamOf(m.Subject)
	if stream == "" {
		return nil, "", fmt.Errorf("publish to %q: subject outside hookrelay's streams", m.Subject)
	}
	if nm == nil {
		nm = &nats.Msg{Header: make(nats.Header, len(m.Header)+2)}
	}
	nm.Subject, nm.Data = m.Subject, m.Data
	// A map of its own, as JetStream's headers are added to it; the values
	// are only read, so they are shared.
	for k, vs := range m.Header {
		nm.Header[k] = vs
	}
	return nm, stream, nil
}

// expect sets the headers that make JetStream deduplicate nm by id (when
// set) and refuse it on any other stream than stream: what the publish
// options WithMsgID and WithExpectStream set, without building options for
// every message.
func (q *Queue) expect(nm *nats.Msg, stream, id string) {
	v, ok := q.expectedStream[stream]
	if !ok {
		v = []string{stream}
	}
	nm.Header[jetstream.ExpectedStreamHeader] = v
	if id != "" {
		nm.Header[jetstream.MsgIDHeader] = []string{id}
	}
	if _, named := queue.DeadLetterIDOf(nm.Subject); named && stream == queue.StreamDead {
		// A dead letter is stored once, however late it is put again
		// (past the deduplication window too): its subject must hold
		// nothing yet (see storedAlready).
		nm.Header[jetstream.ExpectedLastSubjSeqHeader] = noneYet
	}
}

var noneYet = []string{"0"}

// storedAlready tells, after JetStream refused a dead letter with err,
// whether it did because the dead letter's subject holds one already (see
// expect), and returns the ack of a duplicate naming it.
func (q *Queue) storedAlready(ctx context.Context, stream, subject string, err error) (queue.PubAck, bool) {
	var jerr jetstream.JetStreamError
	if stream != queue.StreamDead || !errors.As(err, &jerr) || jerr.APIError() == nil {
		return queue.PubAck{}, false
	}
	if code := jerr.APIError().ErrorCode; code != jetstream.JSErrCodeStreamWrongLastSequence &&
		code != jetstream.JSErrCodeStreamWrongLastSequenceConstant {
		return queue.PubAck{}, false
	}
	m, err := q.readLast(ctx, stream, subject)
	if err != nil {
		return queue.PubAck{}, false
	}
	return queue.PubAck{Stream: stream, Seq: m.Sequence, Duplicate: true}, true
}

func pubAck(a *jetstream.PubAck) queue.PubAck {
	return queue.PubAck{Stream: a.Stream, Seq: a.Sequence, Duplicate: a.Duplicate}
}

// Publish stores m and waits for JetStream's ack.
func (q *Queue) Publish(ctx context.Context, m queue.Msg) (queue.PubAck, error) {
	// The message is the pool's: nothing holds it once the publish
	// returned, and Publish is on ingest's path for every event.
	nm, _ := q.msgs.Get().(*nats.Msg)
	nm, stream, err := natsMsg(m, nm)
	if err != nil {
		return queue.PubAck{}, err
	}
	defer func() {
		clear(nm.Header)
		*nm = nats.Msg{Header: nm.Header}
		q.msgs.Put(nm)
	}()
	q.expect(nm, stream, m.ID)
	a, err := q.publish(ctx, nm)
	if dup, ok := q.storedAlready(ctx, stream, m.Subject, err); ok {
		return dup, nil
	}
	if err != nil {
		return queue.PubAck{}, fmt.Errorf("publish %s (id %q): %w", m.Subject, m.ID, q.written(mapErr(err), len(m.Data)))
	}
	q.written(nil, len(m.Data))
	q.wake(stream, m.Subject, a.Seq)
	return a, nil
}

// wake tells every instance that a delivery was stored at seq for the
// destination of subject (see claimer): once stored, so that a lane woken
// finds it, and with its sequence, so that a lane whose count covers it
// already does not count it twice.
func (q *Queue) wake(stream, subject string, seq uint64) {
	if stream != queue.StreamOut {
		return
	}
	if dest, ok := destinationOf(subject); ok {
		// Lost on a disconnection: RELAY_OUT's counts, read every
		// resyncEvery, find the delivery then.
		_ = q.nc.Publish(wakePrefix+dest, strconv.AppendUint(nil, seq, 10))
	}
}

// publish sends nm and waits for JetStream's ack: what jetstream's
// PublishMsg does, with the usual ack read by parsePubAck instead of
// encoding/json (a third of the client's CPU per publish). What parsePubAck
// does not read, an error above all, is decoded as jetstream decodes it; a
// publish no stream answered (a leader being elected), or one without a
// deadline, is left to jetstream's PublishMsg, its retries and its default
// timeout.
func (q *Queue) publish(ctx context.Context, nm *nats.Msg) (queue.PubAck, error) {
	if _, ok := ctx.Deadline(); !ok {
		return q.publishJS(ctx, nm)
	}
	resp, err := q.nc.RequestMsgWithContext(ctx, nm)
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		// Nothing was stored: sending again is what jetstream's retry
		// does.
		return q.publishJS(ctx, nm)
	case err != nil:
		return queue.PubAck{}, err
	}
	if a, ok := parsePubAck(resp.Data); ok {
		return a, nil
	}
	return decodePubAck(resp.Data)
}

func (q *Queue) publishJS(ctx context.Context, nm *nats.Msg) (queue.PubAck, error) {
	a, err := q.js.PublishMsg(ctx, nm)
	if err != nil {
		return queue.PubAck{}, err
	}
	return pubAck(a), nil
}

// decodePubAck reads a JetStream publish's answer as jetstream's
// PublishMsg does, with the same errors.
func decodePubAck(data []byte) (queue.PubAck, error) {
	var resp struct {
		Error *jetstream.APIError `json:"error"`
		jetstream.PubAck
	}
	if err := json.Unmarshal(data, &resp); err != nil {
		return queue.PubAck{}, jetstream.ErrInvalidJSAck
	}
	if resp.Error != nil {
		return queue.PubAck{}, fmt.Errorf("nats: %w", resp.Error)
	}
	if resp.Stream == "" {
		return queue.PubAck{}, jetstream.ErrInvalidJSAck
	}
	return pubAck(&resp.PubAck), nil
}

// parsePubAck reads JetStream's usual answer to a publish, a flat JSON
// object such as {"stream":"RELAY_IN","seq":7}, with "duplicate":true for a
// duplicate. ok is false for anything else: an error, a key other than the
// ack's own (stream, seq, duplicate, domain, val) or twice the same, a value
// of another type, a string with an escape or outside ASCII.
// decodePubAck reads those.
func parsePubAck(b []byte) (a queue.PubAck, ok bool) {
	i := 0
	skip := func() {
		for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
			i++
		}
	}
	// str reads a string, from its opening quote.
	str := func() ([]byte, bool) {
		if i == len(b) || b[i] != '"' {
			return nil, false
		}
		i++
		start := i
		for ; i < len(b) && b[i] != '"'; i++ {
			if c := b[i]; c == '\\' || c < 0x20 || c >= 0x80 {
				return nil, false
			}
		}
		if i == len(b) {
			return nil, false
		}
		i++
		return b[start : i-1], true
	}
	const (
		seenStream = 1 << iota
		seenSeq
		seenDuplicate
		seenDomain
		seenVal
	)
	seen := 0
	skip()
	if i == len(b) || b[i] != '{' {
		return a, false
	}
	i++
	for {
		skip()
		key, ok := str()
		if !ok {
			return a, false
		}
		skip()
		if i == len(b) || b[i] != ':' {
			return a, false
		}
		i++
		skip()
		var bit int
		switch string(key) {
		case "stream", "domain", "val":
			v, ok := str()
			if !ok {
				return a, false
			}
			bit = seenDomain
			switch string(key) {
			case "stream":
				a.Stream, bit = streamName(v), seenStream
			case "val":
				bit = seenVal
			}
		case "seq":
			start := i
			var n uint64
			for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
				d := uint64(b[i] - '0')
				if n > (math.MaxUint64-d)/10 {
					return a, false
				}
				n = n*10 + d
			}
			if i == start || (b[start] == '0' && i-start > 1) {
				return a, false
			}
			a.Seq, bit = n, seenSeq
		case "duplicate":
			switch {
			case bytes.HasPrefix(b[i:], []byte("true")):
				a.Duplicate, i = true, i+len("true")
			case bytes.HasPrefix(b[i:], []byte("false")):
				a.Duplicate, i = false, i+len("false")
			default:
				return a, false
			}
			bit = seenDuplicate
		default:
			return a, false
		}
		if seen&bit != 0 {
			return a, false
		}
		seen |= bit
		skip()
		if i == len(b) {
			return a, false
		}
		switch b[i] {
		case ',':
			i++
		case '}':
			i++
			skip()
			return a, i == len(b) && seen&(seenStream|seenSeq) == seenStream|seenSeq && a.Stream != ""
		default:
			return a, false
		}
	}
}

// streamName is name as a string, one of hookrelay's streams' names
// without allocating.
func streamName(name []byte) string {
	for _, s := range [...]string{queue.StreamIn, queue.StreamOut, queue.StreamDead, queue.StreamHistory, queue.StreamSent} {
		if string(name) == s {
			return s
		}
	}
	return string(name)
}

// PublishAll publishes every message asynchronously and then waits for all
// acks: one round trip's latency for the batch, not one per message.
func (q *Queue) PublishAll(ctx context.Context, ms []queue.Msg) ([]queue.PubAck, error) {
	futures := make([]jetstream.PubAckFuture, 0, len(ms))
	for _, m := range ms {
		nm, stream, err := natsMsg(m, nil)
		if err != nil {
			return nil, err
		}
		q.expect(nm, stream, m.ID)
		f, err := q.js.PublishMsgAsync(nm)
		if err != nil {
			return nil, fmt.Errorf("publish %s (id %q): %w", m.Subject, m.ID, mapErr(err))
		}
		futures = append(futures, f)
	}
	acks := make([]queue.PubAck, len(ms))
	for i, f := range futures {
		select {
		case a := <-f.Ok():
			acks[i] = pubAck(a)
			q.wake(a.Stream, ms[i].Subject, a.Sequence)
		case err := <-f.Err():
			if dup, ok := q.storedAlready(ctx, queue.StreamOf(ms[i].Subject), ms[i].Subject, err); ok {
				acks[i] = dup
				continue
			}
			return nil, fmt.Errorf("store %s (id %q): %w", ms[i].Subject, ms[i].ID, q.written(mapErr(err), len(ms[i].Data)))
		case <-ctx.Done():
			return nil, fmt.Errorf("store %s (id %q): %w", ms[i].Subject, ms[i].ID, mapErr(ctx.Err()))
		}
	}
	largest := 0
	for _, m := range ms {
		largest = max(largest, len(m.Data))
	}
	q.written(nil, largest)
	return acks, nil
}

// Send publishes m on core NATS: the stream stores it without an ack, so a
// message sent while JetStream is away is lost, which Send's callers accept.
func (q *Queue) Send(m queue.Msg) error {
	nm, _, err := natsMsg(m, nil)
	if err != nil {
		return err
	}
	switch {
	case m.ID != "":
		nm.Header.Set(jetstream.MsgIDHeader, m.ID)
	case len(nm.Header) == 0:
		nm.Header = nil // a plain PUB, as the history recorder sent before
	}
	if err := q.nc.PublishMsg(nm); err != nil {
		return fmt.Errorf("send %s: %w", m.Subject, mapErr(err))
	}
	return nil
}

// destinationOf is the destination whose deliveries' subject is subject.
func destinationOf(subject string) (string, bool) {
	prefix := queue.OutSubject("")
	if len(subject) <= len(prefix) || subject[:len(prefix)] != prefix {
		return "", false
	}
	dest := subject[len(prefix):]
	for _, r := range dest {
		if r == '*' || r == '>' || r == '.' {
			return "", false
		}
	}
	return dest, true
}
