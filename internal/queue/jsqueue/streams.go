package jsqueue

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookrelay/hookrelay/internal/queue"
)

// StreamConfigs returns the configuration of hookrelay's streams.
func StreamConfigs(o queue.StreamOptions) []jetstream.StreamConfig {
	o = o.WithDefaults()
	// Lanes and scans read the next messages of a subject directly: raw,
	// without the API's JSON and base64, several at once. Only with one
	// replica: any replica answers a direct get, and one behind the leader
	// hands out deliveries settled already (a lane deletes by sequence what
	// it read) or leaves out sends a takeover must count. With replicas,
	// reads go to the leader (readnext.go).
	direct := o.Replicas <= 1
	return []jetstream.StreamConfig{
		{
			// RELAY_IN is a log, not a work queue: events stay for replay from
			// source after the transform consumer acked them.
			Name: queue.StreamIn, Subjects: []string{queue.InAll}, Storage: jetstream.FileStorage,
			Retention: jetstream.LimitsPolicy, MaxAge: o.InRetention,
			Duplicates: o.DedupWindow, Replicas: o.Replicas, AllowDirect: direct,
		},
		{
			// RELAY_OUT is a work queue: a delivery is gone once settled. Its
			// lanes read it without a consumer; MaxConsumers stays as an
			// earlier release set it (one consumer per destination then).
			Name: queue.StreamOut, Subjects: []string{queue.OutAll}, Storage: jetstream.FileStorage,
			Retention: jetstream.WorkQueuePolicy, Duplicates: o.DedupWindow, Replicas: o.Replicas,
			MaxConsumers: queue.MaxDestinations, AllowDirect: direct,
		},
		{
			Name: queue.StreamDead, Subjects: []string{queue.DeadAll}, Storage: jetstream.FileStorage,
			Retention: jetstream.LimitsPolicy, MaxAge: o.DeadRetention,
			Duplicates: o.DedupWindow, Replicas: o.Replicas, AllowDirect: direct,
		},
		{
			// RELAY_HISTORY lives as long as the events it describes. Records
			// carry no ID: a repeated step is recorded as it happened.
			Name: queue.StreamHistory, Subjects: []string{queue.HistoryAll}, Storage: jetstream.FileStorage,
			Retention: jetstream.LimitsPolicy, MaxAge: o.InRetention, Replicas: o.Replicas,
			AllowDirect: direct,
		},
		{
			// RELAY_PROBE holds the last message readiness wrote to learn
			// whether the store takes writes again after refusing them, for
			// a minute.
			Name: probeStream, Subjects: []string{probeSubject}, Storage: jetstream.FileStorage,
			Retention: jetstream.LimitsPolicy, MaxMsgs: 1, MaxAge: time.Minute, Discard: jetstream.DiscardOld,
			Replicas: o.Replicas,
		},
		{
			// Only the last sends matter: Teams' largest window holds 1800,
			// and config refuses a window of more than
			// config.JetStreamMaxWindowSends (2000) below this.
			Name: queue.StreamSent, Subjects: []string{queue.SentAll}, Storage: jetstream.FileStorage,
			Retention: jetstream.LimitsPolicy, MaxAge: queue.SentRetention, MaxMsgsPerSubject: 2048,
			Discard: jetstream.DiscardOld, Replicas: o.Replicas, AllowDirect: direct,
		},
	}
}

// EnsureStreams creates the streams, or updates them to the configuration:
// for tools and tests that need the streams without a Queue.
func EnsureStreams(ctx context.Context, js jetstream.JetStream, o queue.StreamOptions) error {
	_, err := ensureStreams(ctx, js, o, false)
	return err
}

// ensureStreams creates the streams, or updates them to the configuration
// (without direct gets when withoutDirect), and returns their handles by
// name.
func ensureStreams(ctx context.Context, js jetstream.JetStream, o queue.StreamOptions, withoutDirect bool) (map[string]jetstream.Stream, error) {
	streams := map[string]jetstream.Stream{}
	for _, cfg := range StreamConfigs(o) {
		cfg.AllowDirect = cfg.AllowDirect && !withoutDirect
		st, err := js.CreateOrUpdateStream(ctx, cfg)
		if err != nil {
			return nil, fmt.Errorf("ensure stream %s: %w", cfg.Name, mapErr(err))
		}
		streams[cfg.Name] = st
	}
	return streams, nil
}
