// Package natsembed runs a nats-server with JetStream inside the process, so a
// new user needs nothing else and tests get a real server in a temp dir.
package natsembed

import (
	"fmt"
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
}

// Server is a running embedded nats-server.
type Server struct {
	ns *server.Server
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
	opts := &server.Options{
		ServerName:         o.ServerName,
		Host:               o.Host,
		Port:               port,
		DontListen:         o.DontListen,
		JetStream:          true,
		StoreDir:           o.StoreDir,
		SyncAlways:         o.SyncAlways,
		NoSigs:             true,
		NoLog:              true,
		MaxPayload:         8 * 1024 * 1024,
		JetStreamMaxMemory: 256 << 20,
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("natsembed: new server: %w", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(30 * time.Second) {
		ns.Shutdown()
		return nil, fmt.Errorf("natsembed: server in %s not ready after 30s", o.StoreDir)
	}
	return &Server{ns: ns}, nil
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
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
}
