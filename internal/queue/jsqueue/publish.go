package jsqueue

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookrelay/hookrelay/internal/queue"
)

// natsMsg builds the NATS message of m, to be stored on stream. Its header
// is hdr (nil: a new map) filled with m's.
func natsMsg(m queue.Msg, hdr nats.Header) (nm *nats.Msg, stream string, err error) {
	stream = queue.StreamOf(m.Subject)
	if stream == "" {
		return nil, "", fmt.Errorf("publish to %q: subject outside hookrelay's streams", m.Subject)
	}
	// A map of its own, as JetStream's headers are added to it; the values
	// are only read, so they are shared.
	if hdr == nil {
		hdr = make(nats.Header, len(m.Header)+2)
	}
	nm = &nats.Msg{Subject: m.Subject, Data: m.Data, Header: hdr}
	for k, vs := range m.Header {
		nm.Header[k] = vs
	}
	return nm, stream, nil
}

// expect sets the headers that make JetStream deduplicate nm by id (when
// set) and refuse it on any other stream than stream: what the publish
// options WithMsgID and WithExpectStream set, without building options for
// every message.
func expect(nm *nats.Msg, stream, id string) {
	nm.Header[jetstream.ExpectedStreamHeader] = []string{stream}
	if id != "" {
		nm.Header[jetstream.MsgIDHeader] = []string{id}
	}
}

func pubAck(a *jetstream.PubAck) queue.PubAck {
	return queue.PubAck{Stream: a.Stream, Seq: a.Sequence, Duplicate: a.Duplicate}
}

// Publish stores m and waits for JetStream's ack.
func (q *Queue) Publish(ctx context.Context, m queue.Msg) (queue.PubAck, error) {
	// The header map is the pool's: nothing holds the message once the
	// publish returned, and Publish is on ingest's path for every event.
	hdr, _ := q.headers.Get().(nats.Header)
	defer func() {
		clear(hdr)
		q.headers.Put(hdr)
	}()
	if hdr == nil {
		hdr = make(nats.Header, len(m.Header)+2)
	}
	nm, stream, err := natsMsg(m, hdr)
	if err != nil {
		return queue.PubAck{}, err
	}
	expect(nm, stream, m.ID)
	a, err := q.js.PublishMsg(ctx, nm)
	if err != nil {
		return queue.PubAck{}, fmt.Errorf("publish %s (id %q): %w", m.Subject, m.ID, q.written(mapErr(err), len(m.Data)))
	}
	q.written(nil, len(m.Data))
	q.wake(stream, m.Subject)
	return pubAck(a), nil
}

// wake tells every instance that a delivery was stored for the destination
// of subject (see claimer): once stored, so that a lane woken finds it.
func (q *Queue) wake(stream, subject string) {
	if stream != queue.StreamOut {
		return
	}
	if dest, ok := destinationOf(subject); ok {
		// Lost on a disconnection: RELAY_OUT's counts, read every
		// resyncEvery, find the delivery then.
		_ = q.nc.Publish(wakePrefix+dest, nil)
	}
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
		expect(nm, stream, m.ID)
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
			q.wake(a.Stream, ms[i].Subject)
		case err := <-f.Err():
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
