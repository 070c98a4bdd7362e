package jsqueue

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookrelay/hookrelay/internal/queue"
)

// parsePubAck must read what it reads as encoding/json does, and leave
// everything else (errors above all) to decodePubAck.
func TestParsePubAck(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		fast bool // read by parsePubAck
	}{
		{`{"stream":"RELAY_IN","seq":7}`, true},
		{`{"stream":"RELAY_IN", "seq":7,"duplicate":true}`, true},
		{`{"stream":"RELAY_IN","domain":"hub","seq":18446744073709551615,"duplicate":false}`, true},
		{` { "seq" : 3 , "stream" : "RELAY_OUT" } `, true},
		{`{"stream":"RELAY_IN","seq":7,"val":"3"}`, true},
		{`{"stream":"RELAY_IN","seq":7,"batch":"b","count":2}`, false},
		{`{"stream":"RELAY_IN","seq":7,"Duplicate":true}`, false},
		{`{"stream":"RELAY_IN","seq":7,"duplicate":true,"duplicate":false}`, false},
		{`{"stream":"RELAY_IN","seq":"7"}`, false},
		{`{"stream":"RELAY_IN","seq":07}`, false},
		{`{"stream":"\xff","seq":7}`, false},
		{`{"error":{"code":503,"err_code":10077,"description":"maximum messages exceeded"}}`, false},
		{`{"stream":"RELAY_IN","seq":7,"error":{"code":400,"description":"x"}}`, false},
		{`{"stream":"RELAY\u005fIN","seq":7}`, false},
		{`{"stream":"RELAY_IN","seq":18446744073709551616}`, false},
		{`{"stream":"RELAY_IN","seq":7.0}`, false},
		{`{"stream":"RELAY_IN","seq":-7}`, false},
		{`{"stream":"RELAY_IN"}`, false},
		{`{"seq":7}`, false},
		{`{"stream":"","seq":7}`, false},
		{`{"stream":"RELAY_IN","seq":7}x`, false},
		{`{"stream":"RELAY_IN","seq":7`, false},
		{`{"stream":"RELAY_IN","seq":7,}`, false},
		{`{"stream":"RELAY_IN","seq":null}`, false},
		{`{"stream":"RELAY_IN","tags":["a"],"seq":7}`, false},
		{``, false},
		{`[]`, false},
	}
	for _, tt := range tests {
		got, ok := parsePubAck([]byte(tt.in))
		if ok != tt.fast {
			t.Errorf("parsePubAck(%s): ok %v, want %v", tt.in, ok, tt.fast)
		}
		if !ok {
			continue
		}
		want, err := decodePubAck([]byte(tt.in))
		if err != nil || got != want {
			t.Errorf("parsePubAck(%s) = %+v, decodePubAck: %+v, %v", tt.in, got, want, err)
		}
	}
}

// The usual ack is read without allocating: it is read for every event.
func TestParsePubAckAllocatesNothing(t *testing.T) {
	ack := []byte(`{"stream":"RELAY_IN","seq":7,"duplicate":true}`)
	if n := testing.AllocsPerRun(100, func() { _, _ = parsePubAck(ack) }); n != 0 {
		t.Errorf("parsePubAck allocates %v times, want 0", n)
	}
}

func FuzzParsePubAck(f *testing.F) {
	f.Add([]byte(`{"stream":"RELAY_IN","seq":7,"duplicate":true}`))
	f.Add([]byte(`{"error":{"code":503,"description":"x"}}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		got, ok := parsePubAck(in)
		if !ok {
			return
		}
		if want, err := decodePubAck(in); err != nil || got != want {
			t.Fatalf("parsePubAck(%q) = %+v, decodePubAck: %+v, %v", in, got, want, err)
		}
	})
}

// JetStream's own acks take parsePubAck's way, and a publish with a deadline
// ends as one without: stored, deduplicated, refused.
func TestPublishReadsJetStreamsAcks(t *testing.T) {
	t.Parallel()
	q, nc := startQueue(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	for _, dup := range []bool{false, true} {
		nm := &nats.Msg{Subject: queue.InSubject("s"), Data: []byte("x"), Header: nats.Header{}}
		q.expect(nm, queue.StreamIn, "id-1")
		resp, err := nc.RequestMsgWithContext(ctx, nm)
		if err != nil {
			t.Fatal(err)
		}
		a, ok := parsePubAck(resp.Data)
		if !ok || a.Stream != queue.StreamIn || a.Seq != 1 || a.Duplicate != dup {
			t.Errorf("JetStream's ack %s: parsePubAck %+v, %v", resp.Data, a, ok)
		}
	}

	for name, ctx := range map[string]context.Context{"deadline": ctx, "none": context.Background()} {
		m := queue.Msg{Subject: queue.InSubject("s"), Data: []byte("x"), ID: "id-" + name}
		first, err := q.Publish(ctx, m)
		if err != nil || first.Duplicate || first.Stream != queue.StreamIn {
			t.Fatalf("%s: publish: %+v, %v", name, first, err)
		}
		again, err := q.Publish(ctx, m)
		if err != nil || !again.Duplicate || again.Seq != first.Seq {
			t.Errorf("%s: publish again: %+v, %v, want a duplicate of %d", name, again, err, first.Seq)
		}
		big := queue.Msg{Subject: queue.InSubject("s"), Data: bytes.Repeat([]byte("x"), int(nc.MaxPayload())+1)}
		if _, err := q.Publish(ctx, big); !errors.Is(err, queue.ErrTooLarge) {
			t.Errorf("%s: publish oversized: %v, want ErrTooLarge", name, err)
		}
	}

	// An API error: another stream expected than the subject's.
	nm := &nats.Msg{Subject: queue.InSubject("s"), Data: []byte("x"), Header: nats.Header{}}
	q.expect(nm, queue.StreamOut, "")
	_, err := q.publish(ctx, nm)
	if apiErr, ok := errors.AsType[*jetstream.APIError](err); !ok || apiErr.Code != 400 {
		t.Errorf("publish to another stream than expected: %v, want JetStream's API error", err)
	}
}
