package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/net/netutil"
	"golang.org/x/sync/errgroup"

	"github.com/hookrelay/hookrelay/deadletter"
	"github.com/hookrelay/hookrelay/dispatch"
	"github.com/hookrelay/hookrelay/ingest"
	"github.com/hookrelay/hookrelay/internal/adminui"
	"github.com/hookrelay/hookrelay/internal/buildinfo"
	"github.com/hookrelay/hookrelay/internal/config"
	"github.com/hookrelay/hookrelay/internal/dirlock"
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
	configPath := fs.String("config", "hookrelay.yaml", "configuration `file`; SIGHUP or POST /-/reload re-reads it")
	role := fs.String("role", "all", "stage to run: all, ingest, transform or dispatch")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	watch := fs.Duration("watch-config", 0, "re-read the configuration file this often and reload when it changed "+
		"(0: only on SIGHUP or POST /-/reload); for a Kubernetes ConfigMap, 10s")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if !roles[*role] {
		return badUsage(fmt.Errorf("--role %q: want all, ingest, transform or dispatch", *role))
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return badUsage(fmt.Errorf("--log-level: %w", err))
	}
	logger := newLogger(stderr, level)
	if *watch < 0 {
		return badUsage(fmt.Errorf("--watch-config %v: want a positive interval, or 0", *watch))
	}
	// The digest is taken before the first load: a change written after it,
	// however soon, is one the watch reloads.
	src := configSource{path: *configPath, watch: *watch, loaded: fileDigest(*configPath),
		load: func() (*config.Config, error) { return loadConfig(*configPath, nil) }}
	cfg, err := src.load()
	if err != nil {
		return badUsage(err)
	}
	return serve(ctx, cfg, src, *role, logger)
}

// configSource is where serve re-reads its configuration from.
type configSource struct {
	// load reads and checks the file; nil refuses reloads.
	load func() (*config.Config, error)
	// path is the file watch polls.
	path string
	// watch, when positive, polls the file this often and reloads when its
	// content changed: a Kubernetes ConfigMap volume is updated in place.
	watch time.Duration
	// loaded is the file's digest as it was read at start, from which the
	// watch looks for changes.
	loaded [32]byte
}

// fileDigest is the SHA-256 of the file's content, zero when it cannot be
// read.
func fileDigest(path string) [32]byte {
	raw, err := os.ReadFile(path)
	if err != nil {
		return [32]byte{}
	}
	return sha256.Sum256(raw)
}

// watchFile calls reload whenever the file's content differs from the last
// digest, starting from last, polling every interval until ctx ends. Polling,
// not inotify: a ConfigMap volume swaps a symlink, which file watches miss.
func watchFile(ctx context.Context, path string, last [32]byte, interval time.Duration, reload func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if d := fileDigest(path); d != last {
				last = d
				reload()
			}
		}
	}
}

// newLogger logs JSON lines, durations as people write them ("637ms").
func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Value.Kind() == slog.KindDuration {
				a.Value = slog.StringValue(roundDuration(a.Value.Duration()).String())
			}
			return a
		}}))
}

// roundDuration keeps a duration's three leading digits or so: 637ms, not
// 637.201933ms; 1.5s; 12µs.
func roundDuration(d time.Duration) time.Duration {
	switch {
	case d >= time.Minute:
		return d.Round(time.Second)
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(time.Millisecond)
	default:
		return d.Round(time.Microsecond)
	}
}

// serve runs the configured stages until ctx is cancelled, then drains: ingest
// stops accepting and finishes its requests first, then the stages finish
// what they hold, then the queue is closed (what Send handed over is flushed).
// src says how SIGHUP, POST /-/reload and the watch re-read the
// configuration.
func serve(ctx context.Context, cfg *config.Config, src configSource, role string, logger *slog.Logger) error {
	// A SIGHUP reloads; caught from the start, it never ends the process.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	// Source secrets, destination URLs and the admin token never reach the
	// log, those of a reloaded configuration included.
	secrets := telemetry.NewSecrets(telemetry.ConfigSecrets(cfg))
	logger = slog.New(telemetry.RedactSecrets(logger.Handler(), secrets))
	if err := checkAdminToken(cfg, logger); err != nil {
		return badUsage(err)
	}
	if cfg.Queue.Kind == config.QueueJetStream && cfg.NATS.URL == "" {
		lock, err := dirlock.Acquire(cfg.DataDir)
		if err != nil {
			return err
		}
		defer lock.Release()
	}
	// Every listener is bound before anything starts, so a taken port fails
	// at once, and "serving" means serving.
	adminLn, err := listen("admin", cfg.AdminListen, 0)
	if err != nil {
		return err
	}
	defer adminLn.Close()
	var ingestLn net.Listener
	if role == "all" || role == "ingest" {
		if ingestLn, err = listen("ingest", cfg.Listen, cfg.MaxConnections); err != nil {
			return err
		}
		defer ingestLn.Close()
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
	info := buildinfo.Read()
	tel.Metrics().BuildInfo(info.Version, info.Revision, info.GoVersion)
	tel.Metrics().ConfigLoaded(true, false, time.Now())
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
	stores := queue.Over(opened.Queue)

	r := &relayer{stores: stores, role: role, logger: logger, tel: tel, secrets: secrets, load: src.load,
		rec: history.NewRecorder(stores, logger), adminListen: cfg.AdminListen}
	r.cfg.Store(cfg)
	tel.Metrics().WatchBacklog(func(ctx context.Context) ([]telemetry.Backlog, error) {
		return telemetry.QueueBacklog(stores, destinationNames(r.cfg.Load()))(ctx)
	})

	// A stage that ends while the process runs ends the process: not ready
	// at once, then every listener closed and a non-zero exit, so that an
	// orchestrator restarts it. Ingest never answers 202 for events nothing
	// downstream would relay.
	ready := newReadiness(opened.Queue)
	runCtx, fail := context.WithCancelCause(ctx)
	defer fail(nil)
	stages := newStages(ctx, ready, tel.Metrics(), logger, fail)
	// On every return the stages stop before the queue closes.
	defer stages.stop()
	supervise := stages.run
	if role == "all" || role == "transform" {
		r.transform, err = transform.New(stores, stores, stores, cfg, logger, transform.WithHistory(r.rec), transform.WithTelemetry(tel))
		if err != nil {
			return err
		}
		supervise("transform", r.transform.Run)
		if b, ok := opened.Queue.(consumerBacklog); ok {
			tel.Metrics().WatchStageBacklog("transform", func(ctx context.Context) (queue.Waiting, error) {
				return b.ConsumerBacklog(ctx, queue.StreamIn, transform.FeedName)
			})
		}
	}
	if role == "all" || role == "dispatch" {
		r.dispatch, err = dispatch.New(setupCtx, stores, cfg.Destinations, logger, dispatch.WithHistory(r.rec), dispatch.WithTelemetry(tel))
		if err != nil {
			return err
		}
		supervise("dispatch", r.dispatch.Run)
	}
	r.ready = ready
	if err := r.build(cfg); err != nil {
		return err
	}

	servers, serversCtx := errgroup.WithContext(runCtx)
	adminMux := http.NewServeMux()
	adminMux.Handle("GET /metrics", tel.Metrics().Handler())
	adminMux.Handle("/", &r.admin)
	startServer(servers, serversCtx, adminLn, &http.Server{Handler: adminMux, ReadHeaderTimeout: 10 * time.Second}, "admin", logger)
	if ingestLn != nil {
		// An idle keep-alive holds one of max_connections: closed after
		// 30 s, so that idle vendors cannot keep busy ones out for long.
		srv := &http.Server{Handler: tel.HTTPHandler(r.ingest), ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout: cfg.ReadTimeout, IdleTimeout: 30 * time.Second}
		startServer(servers, serversCtx, ingestLn, srv, "ingest", logger)
	}
	servers.Go(func() error {
		for {
			select {
			case <-serversCtx.Done():
				return nil
			case <-hup:
				_ = r.reload(serversCtx, "SIGHUP")
			}
		}
	})
	if src.watch > 0 && src.load != nil {
		servers.Go(func() error {
			watchFile(serversCtx, src.path, src.loaded, src.watch, func() { _ = r.reload(serversCtx, "file changed") })
			return nil
		})
	}
	logger.Info("hookrelay serving", "role", role, "version", info.Version, "listen", cfg.Listen, "admin_listen", cfg.AdminListen,
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

func destinationNames(cfg *config.Config) []string {
	out := make([]string, 0, len(cfg.Destinations))
	for _, d := range cfg.Destinations {
		out = append(out, d.Name)
	}
	return out
}

// consumerBacklog is a queue that tells what waits for one of its consumers
// (jsqueue does).
type consumerBacklog interface {
	ConsumerBacklog(ctx context.Context, stream, consumer string) (queue.Waiting, error)
}

// listen binds a listener, saying which one failed and what to do. With
// maxConns above zero, at most that many connections are open at once; more
// wait to be accepted.
func listen(name, addr string, maxConns int) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s listener %s: %w (is another process using it? set %s)", name, addr, err, listenField(name))
	}
	if maxConns > 0 {
		ln = netutil.LimitListener(ln, maxConns)
	}
	return ln, nil
}

func listenField(name string) string {
	if name == "admin" {
		return "admin_listen"
	}
	return "listen"
}

// startServer serves on ln and shuts the server down gracefully when ctx is
// cancelled.
func startServer(g *errgroup.Group, ctx context.Context, ln net.Listener, srv *http.Server, name string, logger *slog.Logger) {
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
// on loopback, where only this machine's users reach it, and warns there.
func checkAdminToken(cfg *config.Config, logger *slog.Logger) error {
	if err := requireAdminToken(cfg); err != nil || cfg.AdminToken != "" {
		return err
	}
	logger.Warn("admin API without a token: anyone on this machine can replay and purge dead letters; set admin_token",
		"admin_listen", cfg.AdminListen)
	return nil
}

// requireAdminToken is checkAdminToken's refusal, which check reports too.
func requireAdminToken(cfg *config.Config) error {
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
	return nil
}

// relayer is what serve runs, as far as a reload changes it.
type relayer struct {
	stores    *queue.Stores
	role      string
	logger    *slog.Logger
	tel       *telemetry.Telemetry
	secrets   *telemetry.Secrets
	rec       *history.Recorder
	load      func() (*config.Config, error)
	transform *transform.Transformer // nil unless the role runs it
	dispatch  *dispatch.Dispatcher   // nil unless the role runs it
	ready     *readiness

	cfg    atomic.Pointer[config.Config] // in force
	ingest *ingest.Handler               // nil unless the role runs it
	// adminListen is where the admin API listens: as started, whatever a
	// reload says (a new address applies at the next start).
	adminListen string
	admin       swapHandler
	// reloading keeps reloads one at a time.
	reloading sync.Mutex
}

// swapHandler serves with the handler set last: a request in progress
// finishes with the one it started with.
type swapHandler struct{ h atomic.Pointer[http.Handler] }

func (s *swapHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	(*s.h.Load()).ServeHTTP(w, r)
}
func (s *swapHandler) set(h http.Handler) { s.h.Store(&h) }

// build makes the handlers for cfg: ingest's, or applies cfg's sources to
// it, and the admin API's.
func (r *relayer) build(cfg *config.Config) error {
	if r.role == "all" || r.role == "ingest" {
		if r.ingest != nil {
			if err := r.ingest.Reconfigure(cfg); err != nil {
				return err
			}
		} else {
			h, err := ingest.New(cfg, r.stores, r.logger, ingest.WithMetrics(r.tel.Metrics()), ingest.WithTelemetry(r.tel))
			if err != nil {
				return err
			}
			r.ingest = h
		}
	}
	r.admin.set(r.adminHandler(cfg, deadletter.WithTelemetry(r.tel)))
	return nil
}

// reload re-reads the configuration file and applies it: a file that fails
// check is refused and the running configuration stays. Settings a reload
// cannot change (listeners, data_dir, queue, admin listener) are logged as
// needing a restart; the rest applies at once.
func (r *relayer) reload(ctx context.Context, trigger string) error {
	r.reloading.Lock()
	defer r.reloading.Unlock()
	log := r.logger.With("trigger", trigger)
	refuse := func(err error) error {
		r.tel.Metrics().ConfigLoaded(false, true, time.Now())
		log.Error("configuration reload refused; the running configuration stays", "err", err)
		return err
	}
	if r.load == nil {
		return refuse(errors.New("this relay was started without a configuration file to re-read"))
	}
	next, err := r.load()
	if err != nil {
		return refuse(err)
	}
	// The token is judged against the listener that keeps running: a
	// reload that drops it and moves admin_listen to loopback would
	// otherwise open the running one on every interface.
	running := *next
	running.AdminListen = r.adminListen
	if err := checkAdminToken(&running, log); err != nil {
		return refuse(err)
	}
	prev := r.cfg.Load()
	// Secrets first: the stages may log the new ones from now on.
	r.secrets.Add(telemetry.ConfigSecrets(next))
	// What dispatch would refuse is refused before any stage changes: no
	// event is routed with a configuration that is then refused.
	if r.dispatch != nil {
		if err := r.dispatch.Check(ctx, next.Destinations); err != nil {
			return refuse(err)
		}
	}
	// Transform first: a removed destination gets no new deliveries before
	// dispatch drains it, and an added one may wait a moment for its worker.
	undo := func() {}
	if r.transform != nil {
		if undo, err = r.transform.Reconfigure(next); err != nil {
			return refuse(err)
		}
	}
	if r.dispatch != nil {
		// Checked above; refused now only if a name's address changed since.
		if err := r.dispatch.Reconfigure(ctx, next.Destinations); err != nil {
			undo()
			return refuse(err)
		}
	}
	if err := r.build(next); err != nil {
		return refuse(err) // not reached: check built the same verifiers
	}
	r.cfg.Store(next)
	r.tel.Metrics().ConfigLoaded(true, true, time.Now())
	if restart := needsRestart(prev, next); len(restart) > 0 {
		log.Warn("configuration reloaded, but these settings apply only after a restart", "settings", restart)
	}
	log.Info("configuration reloaded", "sources", len(next.Sources), "destinations", len(next.Destinations),
		"routes", len(next.Routes))
	return nil
}

// needsRestart names the settings that differ between a and b and that only
// a restart applies.
func needsRestart(a, b *config.Config) []string {
	var out []string
	check := func(name string, changed bool) {
		if changed {
			out = append(out, name)
		}
	}
	check("listen", a.Listen != b.Listen)
	check("admin_listen", a.AdminListen != b.AdminListen)
	check("data_dir", a.DataDir != b.DataDir)
	check("queue", fmt.Sprint(a.Queue) != fmt.Sprint(b.Queue))
	check("nats", a.NATS != b.NATS)
	check("retention", a.Retention != b.Retention)
	check("max_body", a.MaxBody != b.MaxBody)
	check("max_body_memory", a.MaxBodyMemory != b.MaxBodyMemory)
	check("max_connections", a.MaxConnections != b.MaxConnections)
	check("read_timeout", a.ReadTimeout != b.ReadTimeout)
	check("publish_timeout", a.PublishTimeout != b.PublishTimeout)
	return out
}

// adminHandler is the admin API of cfg with POST /-/reload, behind the
// admin token like the rest of the API.
func (r *relayer) adminHandler(cfg *config.Config, storeOpts ...deadletter.Option) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST /-/reload", adminui.RequireToken(cfg.AdminToken, http.HandlerFunc(
		func(w http.ResponseWriter, req *http.Request) {
			if err := r.reload(req.Context(), "POST /-/reload"); err != nil {
				http.Error(w, "configuration reload refused; the running configuration stays: "+err.Error(),
					http.StatusInternalServerError)
				return
			}
			_, _ = io.WriteString(w, "configuration reloaded\n")
		})))
	mux.Handle("/", adminHandler(r.stores, r.ready, r.dispatch, cfg, r.rec, r.logger, storeOpts...))
	return mux
}

// adminHandler serves the admin API, the admin page, health and readiness;
// everything but health, readiness, metrics and the static page needs the
// admin token.
func adminHandler(stores *queue.Stores, ready *readiness, disp *dispatch.Dispatcher, cfg *config.Config,
	rec *history.Recorder, logger *slog.Logger, storeOpts ...deadletter.Option) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.Handle("GET /readyz", ready)
	dl := deadletter.NewHandler(deadletter.NewStore(stores, stores, append([]deadletter.Option{deadletter.WithHistory(rec)}, storeOpts...)...), logger)
	mux.Handle("/api/v1/deadletters", dl)
	mux.Handle("/api/v1/deadletters/", dl)
	events := history.NewStore(stores, stores, history.WithConfig(cfg), history.WithRecorder(rec))
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
