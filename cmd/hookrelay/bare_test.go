package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookrelay/hookrelay/internal/natsembed"
)

// bareWorkers is how many POSTs the bare relay's delivering consumer has in
// flight: as many as the benchmark has clients, so that neither end waits on
// the other for want of connections.
const bareWorkers = 64

// startBareRelay starts the baseline issue 13 measures hookrelay's whole path
// against: the least a relay with hookrelay's two durable hops does, on the
// same machine and the same kind of store. HTTP in → one JetStream write
// (BARE_IN) → one consumer → a second write (BARE_OUT) → one consumer → HTTP
// POST to receiver → ack. It checks the token in the path and nothing else,
// and its only transform wraps the body in the smallest MessageCard the Teams
// simulator accepts: no envelope, history, limits or per-destination state.
//
// It takes POST /hooks/{source}/s3cret as ingest does and delivers source
// sNNN's events to receiver/dNNN, as BenchmarkWholePath's routes do. Its
// store is an embedded server connected in process, as serve's, or, when
// natsURL is set, that cluster over TCP with streams (and so consumers) of
// replicas. It returns the ingest URL and a function that stops it all.
func startBareRelay(b *testing.B, receiver, natsURL string, replicas int) (ingestURL string, stop func()) {
	b.Helper()
	var stops []func()
	stop = func() {
		for _, f := range slices.Backward(stops) {
			f()
		}
	}
	defer func() {
		if b.Failed() {
			stop()
		}
	}()
	nc := bareConnect(b, natsURL, &stops)
	js, err := jetstream.New(nc)
	if err != nil {
		b.Fatalf("bare relay: jetstream: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stops = append(stops, cancel)
	setup, setupDone := context.WithTimeout(ctx, 30*time.Second)
	defer setupDone()
	var cons [2]jetstream.Consumer
	for i, name := range []string{"BARE_IN", "BARE_OUT"} {
		subject := strings.ToLower(strings.ReplaceAll(name, "_", ".")) + ".>"
		if _, err := js.CreateStream(setup, jetstream.StreamConfig{Name: name, Subjects: []string{subject}, Storage: jetstream.FileStorage, Replicas: replicas}); err != nil {
			b.Fatalf("bare relay: create stream %s: %v", name, err)
		}
		cons[i], err = js.CreateConsumer(setup, name, jetstream.ConsumerConfig{Durable: "relay", AckPolicy: jetstream.AckExplicitPolicy})
		if err != nil {
			b.Fatalf("bare relay: create consumer on %s: %v", name, err)
		}
	}

	// Stage 1: BARE_IN → BARE_OUT, one synchronous write per message.
	forward, err := cons[0].Consume(func(m jetstream.Msg) {
		dest := "d" + strings.TrimPrefix(m.Subject(), "bare.in.s")
		if _, err := js.Publish(ctx, "bare.out."+dest, bareCard(m.Data())); err != nil {
			_ = m.Nak()
			return
		}
		_ = m.Ack()
	})
	if err != nil {
		b.Fatalf("bare relay: consume BARE_IN: %v", err)
	}
	stops = append(stops, func() { stopConsuming(b, "BARE_IN", forward) })

	// Stage 2: BARE_OUT → POST, bareWorkers at a time.
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: bareWorkers}, Timeout: 30 * time.Second}
	jobs := make(chan jetstream.Msg)
	var workers sync.WaitGroup
	stops = append(stops, func() {
		close(jobs)
		workers.Wait()
		client.CloseIdleConnections()
	})
	for range bareWorkers {
		workers.Go(func() {
			for m := range jobs {
				if barePost(ctx, client, receiver+"/"+strings.TrimPrefix(m.Subject(), "bare.out."), m.Data()) {
					_ = m.Ack()
				} else {
					_ = m.Nak()
				}
			}
		})
	}
	deliver, err := cons[1].Consume(func(m jetstream.Msg) {
		select {
		case jobs <- m:
		case <-ctx.Done():
		}
	})
	if err != nil {
		b.Fatalf("bare relay: consume BARE_OUT: %v", err)
	}
	stops = append(stops, func() { stopConsuming(b, "BARE_OUT", deliver) }, cancel)

	ingest := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		source, token, ok := strings.Cut(strings.TrimPrefix(r.URL.Path, "/hooks/"), "/")
		if r.Method != http.MethodPost || !ok || token != "s3cret" {
			http.Error(w, "not a source", http.StatusNotFound)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if _, err := js.Publish(r.Context(), "bare.in."+source, body); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	stops = append(stops, ingest.Close)
	return ingest.URL, stop
}

// bareConnect connects to natsURL, or starts an embedded server and connects
// in process when it is "", and adds what stops it all to stops.
func bareConnect(b *testing.B, natsURL string, stops *[]func()) *nats.Conn {
	b.Helper()
	if natsURL != "" {
		nc, err := nats.Connect(natsURL)
		if err != nil {
			b.Fatalf("bare relay: connect to %s: %v", natsURL, err)
		}
		*stops = append(*stops, nc.Close)
		return nc
	}
	srv, err := natsembed.Start(natsembed.Options{StoreDir: b.TempDir()})
	if err != nil {
		b.Fatalf("bare relay: start nats: %v", err)
	}
	*stops = append(*stops, srv.Shutdown)
	nc, err := srv.Connect()
	if err != nil {
		b.Fatalf("bare relay: %v", err)
	}
	*stops = append(*stops, nc.Close)
	return nc
}

// stopConsuming stops cc and waits, 10 s at most, until its handler has
// returned for the last time.
func stopConsuming(b *testing.B, stream string, cc jetstream.ConsumeContext) {
	cc.Stop()
	select {
	case <-cc.Closed():
	case <-time.After(10 * time.Second):
		b.Errorf("bare relay: %s's consumer did not stop within 10 s", stream)
	}
}

// bareCard wraps an event in the smallest MessageCard the simulator accepts.
func bareCard(event []byte) []byte {
	text, _ := json.Marshal(string(event)) // a string always marshals
	return append(append([]byte(`{"@type":"MessageCard","summary":"event","text":`), text...), '}')
}

// barePost posts one card and reports whether the receiver took it.
func barePost(ctx context.Context, client *http.Client, url string, card []byte) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(card))
	if err != nil {
		return false
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode/100 == 2
}
