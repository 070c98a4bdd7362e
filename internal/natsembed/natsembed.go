// Package natsembed runs a nats-server with JetStream inside the process, so a
// new user needs nothing else and tests get a real server in a temp dir.
package natsembed

import (
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Options configure the embedded server.
type Options struct {
	// StoreDir holds JetStream's files. Required.
	StoreDir string
	// Host to listen on for clients; default 127.0.0.1.
	Host string
	// Port to listen on; 0 picks a random free port. Use DontListen to listen
	// on no port at all (in-process connections only).
	Port int
	// DontListen keeps the server off the network: only in-process clients.
	DontListen bool
	// SyncAlways makes every JetStream write wait for an fsync (about 15x
	// slower; survives power loss on one machine).
	SyncAlways bool
	// ServerName names the server (default "hookrelay").
	ServerName string
	// Logger receives the server's notices, warnings and errors (a full
	// disk, a corrupt block). Default: none.
	Logger *slog.Logger
	// LimitCheckEvery is how often the store's limit is set again from the
	// space its file system has left (default 5s); see Server.
	LimitCheckEvery time.Duration
}

// Server is a running embedded nats-server.
//
// JetStream's file store is given a limit that follows the disk: what it
// holds plus what the file system has free, less a reserve. Writes beyond it
// are refused at once ("resource limits exceeded"), before the disk itself
// is full, which would leave a stream with a write error until a restart;
// the limit grows again as soon as space is freed, where nats-server's own
// default (three quarters of the space free at start) would hold for ever,
// and shrinks when another writer takes the space. The limit is the global
// account's: the server's own can only grow while it runs, so it is set to
// the file system's size and left there.
type Server struct {
	ns *server.Server

	stop     chan struct{}
	stopOnce sync.Once
	done     sync.WaitGroup
	storeDir string

	mu       sync.Mutex
	maxStore int64
}

// Start starts the server and waits until it accepts connections.
func Start(o Options) (*Server, error) {
	if o.StoreDir == "" {
		return nil, fmt.Errorf("natsembed: StoreDir is required")
	}
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	port := o.Port
	if port == 0 {
		port = server.RANDOM_PORT
	}
	if o.ServerName == "" {
		o.ServerName = "hookrelay"
	}
	if o.LimitCheckEvery <= 0 {
		o.LimitCheckEvery = 5 * time.Second
	}
	// What the store holds already counts: a store written by an earlier
	// run is never over its limit at start.
	used, err := dirSize(o.StoreDir)
	if err != nil {
		return nil, fmt.Errorf("natsembed: %w", err)
	}
	maxStore, err := storeLimit(o.StoreDir, used)
	if err != nil {
		return nil, fmt.Errorf("natsembed: %w", err)
	}
	diskSize, err := fsSize(o.StoreDir)
	if err != nil {
		return nil, fmt.Errorf("natsembed: %w", err)
	}
	opts := server.Options{
		ServerName:         o.ServerName,
		Host:               o.Host,
		Port:               port,
		DontListen:         o.DontListen,
		JetStream:          true,
		StoreDir:           o.StoreDir,
		SyncAlways:         o.SyncAlways,
		NoSigs:             true,
		NoLog:              o.Logger == nil,
		MaxPayload:         8 * 1024 * 1024,
		JetStreamMaxMemory: 256 << 20,
		JetStreamMaxStore:  max(diskSize, maxStore),
	}
	ns, err := server.NewServer(&opts)
	if err != nil {
		return nil, fmt.Errorf("natsembed: new server: %w", err)
	}
	if o.Logger != nil {
		ns.SetLoggerV2(serverLog{o.Logger.With("component", "nats-server")}, false, false, false)
	}
	go ns.Start()
	if !ns.ReadyForConnections(30 * time.Second) {
		ns.Shutdown()
		return nil, fmt.Errorf("natsembed: server in %s not ready after 30s", o.StoreDir)
	}
	s := &Server{ns: ns, stop: make(chan struct{}), storeDir: o.StoreDir}
	if err := s.setLimit(maxStore); err != nil {
		ns.Shutdown()
		return nil, fmt.Errorf("natsembed: %w", err)
	}
	s.done.Go(func() { s.followDisk(o.LimitCheckEvery) })
	return s, nil
}

// followDisk sets the store's limit again from the disk every interval,
// until Shutdown.
func (s *Server) followDisk(interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			if err := s.CheckLimit(); err != nil {
				s.ns.Warnf("hookrelay: set JetStream's store limit from the free disk space: %v", err)
			}
		}
	}
}

// CheckLimit sets the store's limit from the space the file system has left
// now, at once rather than at the next interval.
func (s *Server) CheckLimit() error {
	select {
	case <-s.stop:
		return nil // shut down: nothing to limit
	default:
	}
	jsz, err := s.ns.Jsz(&server.JSzOptions{})
	if err != nil {
		return fmt.Errorf("read what the store holds: %w", err)
	}
	limit, err := storeLimit(s.storeDir, int64(jsz.Store))
	if err != nil {
		return err
	}
	return s.setLimit(limit)
}

// setLimit makes limit the global account's file store limit.
func (s *Server) setLimit(limit int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if limit == s.maxStore {
		return nil
	}
	err := s.ns.GlobalAccount().UpdateJetStreamLimits(map[string]server.JetStreamAccountLimits{
		"": {MaxMemory: -1, MaxStore: limit, MaxStreams: -1, MaxConsumers: -1, MaxAckPending: -1,
			MemoryMaxStreamBytes: -1, StoreMaxStreamBytes: -1},
	})
	if err != nil {
		return fmt.Errorf("set the store's limit to %d bytes: %w", limit, err)
	}
	s.maxStore = limit
	return nil
}

// MaxStore is the store's limit in bytes now.
func (s *Server) MaxStore() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxStore
}

// ClientURL is the nats:// URL clients dial (empty with DontListen).
func (s *Server) ClientURL() string { return s.ns.ClientURL() }

// Connect opens an in-process client connection (no TCP).
func (s *Server) Connect(opts ...nats.Option) (*nats.Conn, error) {
	opts = append([]nats.Option{nats.InProcessServer(s.ns), nats.Name("hookrelay")}, opts...)
	nc, err := nats.Connect("", opts...)
	if err != nil {
		return nil, fmt.Errorf("natsembed: connect in-process: %w", err)
	}
	return nc, nil
}

// Shutdown stops the server and waits until it has stopped.
func (s *Server) Shutdown() {
	s.stopOnce.Do(func() { close(s.stop) })
	s.done.Wait()
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
}

// serverLog passes nats-server's log lines to slog.
type serverLog struct{ l *slog.Logger }

func (s serverLog) Noticef(format string, v ...any) { s.l.Info(fmt.Sprintf(format, v...)) }
func (s serverLog) Warnf(format string, v ...any)   { s.l.Warn(fmt.Sprintf(format, v...)) }
func (s serverLog) Fatalf(format string, v ...any)  { s.l.Error(fmt.Sprintf(format, v...)) }
func (s serverLog) Errorf(format string, v ...any)  { s.l.Error(fmt.Sprintf(format, v...)) }
func (s serverLog) Debugf(format string, v ...any)  { s.l.Debug(fmt.Sprintf(format, v...)) }
func (s serverLog) Tracef(format string, v ...any)  { s.l.Debug(fmt.Sprintf(format, v...)) }
