package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/nats-io/nats.go"

	"github.com/hookrelay/hookrelay/internal/config"
	"github.com/hookrelay/hookrelay/internal/natsembed"
	"github.com/hookrelay/hookrelay/internal/queue"
	"github.com/hookrelay/hookrelay/internal/queue/jsqueue"
	"github.com/hookrelay/hookrelay/internal/queue/kafkaqueue"
)

// openedQueue is the queue the stages share, with what must stop after it.
type openedQueue struct {
	queue.Queue
	// after stops what runs under the queue (the embedded NATS server)
	// once the queue is closed.
	after func()
}

// close closes the queue, then what runs under it.
func (o *openedQueue) close(ctx context.Context) error {
	err := o.Queue.Close(ctx)
	o.after()
	return err
}

// openQueue opens the queue cfg.Queue.Kind names: JetStream (the embedded
// server, or the cluster at nats.url) or Kafka. It creates the streams or
// topics that are missing.
func openQueue(ctx context.Context, cfg *config.Config, logger *slog.Logger) (*openedQueue, error) {
	streams := queue.StreamOptions{Replicas: cfg.NATS.Replicas, InRetention: cfg.Retention.Events}
	switch cfg.Queue.Kind {
	case config.QueueJetStream:
		nc, stopNATS, err := connect(cfg, logger)
		if err != nil {
			return nil, err
		}
		opts := []jsqueue.Option{jsqueue.WithLogger(logger)}
		if cfg.Queue.Partitions > 0 {
			opts = append(opts, jsqueue.WithPartitions(cfg.Queue.Partitions))
		}
		q, err := jsqueue.New(ctx, nc, streams, opts...)
		if err != nil {
			nc.Close()
			stopNATS()
			return nil, fmt.Errorf("%w (is NATS reachable and JetStream enabled?)", err)
		}
		return &openedQueue{Queue: q, after: stopNATS}, nil
	case config.QueueKafka:
		q, err := kafkaqueue.New(ctx, kafkaqueue.Options{
			Brokers:     cfg.Queue.Brokers,
			TopicPrefix: cfg.Queue.TopicPrefix,
			Partitions:  cfg.Queue.Partitions,
			Replication: cfg.Queue.Replication,
			Streams:     queue.StreamOptions{InRetention: cfg.Retention.Events},
			Logger:      logger,
		})
		if err != nil {
			return nil, fmt.Errorf("%w (check queue.brokers: are the brokers reachable from here?)", err)
		}
		logger.Info("kafka queue opened", "brokers", cfg.Queue.Brokers)
		return &openedQueue{Queue: q, after: func() {}}, nil
	default:
		return nil, fmt.Errorf("queue.kind %q: want jetstream or kafka", cfg.Queue.Kind)
	}
}

// connect connects to NATS: the embedded server unless nats.url is set. The
// returned func stops the embedded server, once the connection is closed.
func connect(cfg *config.Config, logger *slog.Logger) (*nats.Conn, func(), error) {
	if cfg.NATS.URL != "" {
		nc, err := nats.Connect(cfg.NATS.URL, nats.Name("hookrelay"), nats.MaxReconnects(-1),
			// No publish is kept in the client while it reconnects: ingest
			// answers 503 at once, and a refused event is never flushed to
			// the store later behind the sender's back.
			nats.ReconnectBufSize(-1),
			nats.DisconnectErrHandler(func(_ *nats.Conn, err error) { logger.Warn("nats disconnected", "err", err) }),
			nats.ReconnectHandler(func(*nats.Conn) { logger.Info("nats reconnected") }))
		if err != nil {
			return nil, nil, fmt.Errorf("connect to NATS: %w (check nats.url)", err)
		}
		return nc, func() {}, nil
	}
	srv, err := natsembed.Start(natsembed.Options{
		StoreDir: filepath.Join(cfg.DataDir, "jetstream"), DontListen: true, SyncAlways: cfg.NATS.SyncAlways,
		Logger: logger,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("embedded NATS in %s: %w", cfg.DataDir, err)
	}
	nc, err := srv.Connect(nats.ReconnectBufSize(-1))
	if err != nil {
		srv.Shutdown()
		return nil, nil, fmt.Errorf("connect to the embedded NATS: %w", err)
	}
	logger.Info("embedded NATS started", "data_dir", cfg.DataDir)
	return nc, srv.Shutdown, nil
}
