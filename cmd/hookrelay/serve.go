package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"golang.org/x/net/netutil"
	"golang.org/x/sync/errgroup"

	"github.com/hookrelay/hookrelay/deadletter"
	"github.com/hookrelay/hookrelay/dispatch"
	"github.com/hookrelay/hookrelay/ingest"
	"github.com/hookrelay/hookrelay/internal/adminui"
	"github.com/hookrelay/hookrelay/internal/config"
	"github.com/hookrelay/hookrelay/internal/history"
	"github.com/hookrelay/hookrelay/internal/queue"
	"github.com/hookrelay/hookrelay/internal/telemetry"
	"github.com/hookrelay/hookrelay/transform"
)

// roles a process can play; "all" runs every stage.
var roles = map[string]bool{"all": true, "ingest": true, "transform": true, "dispatch": true}

func runServe(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "hookrelay.yaml", "configuration `file`")
	role := fs.String("role", "all", "stage to run: all, ingest, transform or dispatch")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if !roles[*role] {
		return fmt.Errorf("--role %q: want all, ingest, transform or dispatch", *role)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	logger := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))
	cfg, err := config.Load(*configPath)
	if err != nil {
		return err
	}
	return serve(ctx, cfg, *role, logger)
}

// serve runs the configured stages until ctx is cancelled, then drains: ingest
// stops accepting and finishes its requests first, then the stages finish
// what they hold, then the queue is closed (what Send handed over is flushed).
func serve(ctx context.Context, cfg *config.Config, role string, logger *slog.Logger) error {
	// Source secrets, destination URLs and the admin token never reach the log.
	logger = slog.New(telemetry.Redact(logger.Handler(), telemetry.ConfigSecrets(cfg)))
	if err := checkAdminToken(cfg, logger); err != nil {
		return err
	}
	tel, shutdownTelemetry, err := telemetry.Setup(ctx, "hookrelay")
	if err != nil {
		return err
	}
	defer func() {
		flushCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := shutdownTelemetry(flushCtx); err != nil {
			logger.Warn("flush traces", "err", err)
		}
	}()
	setupCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	opened, err := openQueue(setupCtx, cfg, logger)
	if err != nil {
		return err
	}
	// Deferred before the stages start, so it runs after they stopped.
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := opened.close(closeCtx); err != nil {
			logger.Warn("close the queue", "err", err)
		}
	}()
	q := opened.Queue

	rec := history.NewRecorder(q, logger)
	destinations := make([]string, 0, len(cfg.Destinations))
	for _, d := range cfg.Destinations {
		destinations = append(destinations, d.Name)
	}
	tel.Metrics().Preset(destinations)
	tel.Metrics().WatchBacklog(telemetry.QueueBacklog(q, destinations))

	// A stage that ends while the process runs ends the process: not ready
	// at once, then every listener closed and a non-zero exit, so that an
	// orchestrator restarts it. Ingest never answers 202 for events nothing
	// downstream would relay.
	ready := newReadiness(q)
	runCtx, fail := context.WithCancelCause(ctx)
	defer fail(nil)
	stages := newStages(ctx, ready, tel.Metrics(), logger, fail)
	// On every return the stages stop before the queue closes.
	defer stages.stop()
	supervise := stages.run
	if role == "all" || role == "transform" {
		t, err := transform.New(q, cfg, logger, transform.WithHistory(rec), transform.WithTelemetry(tel))
		if err != nil {
			return err
		}
		supervise("transform", t.Run)
		if b, ok := q.(consumerBacklog); ok {
			tel.Metrics().WatchStageBacklog("transform", func(ctx context.Context) (queue.Waiting, error) {
				return b.ConsumerBacklog(ctx, queue.StreamIn, transform.ConsumerName)
			})
		}
	}
	var disp *dispatch.Dispatcher
	if role == "all" || role == "dispatch" {
		disp, err = dispatch.New(setupCtx, q, cfg.Destinations, logger, dispatch.WithHistory(rec), dispatch.WithTelemetry(tel))
		if err != nil {
			return err
		}
		supervise("dispatch", disp.Run)
	}

	servers, serversCtx := errgroup.WithContext(runCtx)
	adminMux := http.NewServeMux()
	adminMux.Handle("GET /metrics", tel.Metrics().Handler())
	adminMux.Handle("/", adminHandler(q, ready, disp, cfg, rec, logger, deadletter.WithTelemetry(tel)))
	admin := &http.Server{Addr: cfg.AdminListen, Handler: adminMux, ReadHeaderTimeout: 10 * time.Second}
	startServer(servers, serversCtx, admin, "admin", logger, 0)
	if role == "all" || role == "ingest" {
		h, err := ingest.New(cfg, q, logger,
			ingest.WithMetrics(tel.Metrics()), ingest.WithTelemetry(tel))
		if err != nil {
			return err
		}
		srv := &http.Server{Addr: cfg.Listen, Handler: tel.HTTPHandler(h), ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout: cfg.ReadTimeout, IdleTimeout: 2 * time.Minute}
		startServer(servers, serversCtx, srv, "ingest", logger, cfg.MaxConnections)
	}
	logger.Info("hookrelay serving", "role", role, "listen", cfg.Listen, "admin_listen", cfg.AdminListen,
		"sources", len(cfg.Sources), "destinations", len(cfg.Destinations), "routes", len(cfg.Routes))

	serveErr := servers.Wait()
	logger.Info("draining")
	stageErr := stages.stop()
	logger.Info("stopped")
	if cause := context.Cause(runCtx); ctx.Err() == nil && cause != nil && !errors.Is(cause, context.Canceled) {
		return cause // a stage failed: that is the reason, not the listeners' shutdown
	}
	return errors.Join(serveErr, stageErr)
}

// consumerBacklog is a queue that tells what waits for one of its consumers
// (jsqueue does).
type consumerBacklog interface {
	ConsumerBacklog(ctx context.Context, stream, consumer string) (queue.Waiting, error)
}

// startServer listens at once (so a bad address fails start-up) and shuts the
// server down gracefully when ctx is cancelled. With maxConns above zero, at
// most that many connections are open at once; more wait to be accepted.
func startServer(g *errgroup.Group, ctx context.Context, srv *http.Server, name string, logger *slog.Logger, maxConns int) {
	ln, err := net.Listen("tcp", srv.Addr)
	if err != nil {
		g.Go(func() error { return fmt.Errorf("%s listener %s: %w", name, srv.Addr, err) })
		return
	}
	if maxConns > 0 {
		ln = netutil.LimitListener(ln, maxConns)
	}
	logger.Info("listening", "listener", name, "addr", ln.Addr().String())
	g.Go(func() error {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("%s listener: %w", name, err)
		}
		return nil
	})
	g.Go(func() error {
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return srv.Shutdown(shutdownCtx)
	})
}

// checkAdminToken refuses to serve the admin API without a token anywhere but
// on loopback, where only this machine's users reach it.
func checkAdminToken(cfg *config.Config, logger *slog.Logger) error {
	if cfg.AdminToken != "" {
		return nil
	}
	host, _, err := net.SplitHostPort(cfg.AdminListen)
	if err != nil {
		return fmt.Errorf("admin_listen %q: %w", cfg.AdminListen, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("admin_token is required when admin_listen (%s) is not a loopback address: "+
			"set admin_token: ${HOOKRELAY_ADMIN_TOKEN} and export a long random HOOKRELAY_ADMIN_TOKEN", cfg.AdminListen)
	}
	logger.Warn("admin API without a token: anyone on this machine can replay and purge dead letters; set admin_token",
		"admin_listen", cfg.AdminListen)
	return nil
}

// adminHandler serves the admin API, the admin page, health and readiness;
// everything but health, readiness, metrics and the static page needs the
// admin token.
func adminHandler(q queue.Queue, ready *readiness, disp *dispatch.Dispatcher, cfg *config.Config,
	rec *history.Recorder, logger *slog.Logger, storeOpts ...deadletter.Option) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.Handle("GET /readyz", ready)
	dl := deadletter.NewHandler(deadletter.NewStore(q, append([]deadletter.Option{deadletter.WithHistory(rec)}, storeOpts...)...), logger)
	mux.Handle("/api/v1/deadletters", dl)
	mux.Handle("/api/v1/deadletters/", dl)
	events := history.NewStore(q, history.WithConfig(cfg), history.WithRecorder(rec))
	mux.Handle("/api/v1/events/", history.NewHandler(events, logger))
	mux.Handle("GET /api/v1/events/{id}/cards", eventCardsHandler(events, cfg, logger))
	page := adminui.Handler()
	mux.Handle(adminui.PagePath, page)
	mux.Handle("GET /{$}", page)
	if disp != nil {
		mux.Handle("GET /api/v1/destinations", disp.Handler())
		mux.Handle("GET /api/v1/trends", disp.Handler())
	}
	return adminui.RequireToken(cfg.AdminToken, mux)
}
