// Package listener makes the net.Listeners the broker accepts connections from, one kind per
// transport: plain TCP, TLS, websockets (the "mqtt" subprotocol, plain or over TLS) and unix
// sockets. The broker only ever sees net.Conn; what it needs from TLS (the client certificate,
// for use_identity_as_username) it reads with TLSState or PeerIdentity.
//
// TLS handshakes never block Accept: they run on the connection's first Read or Write, bounded
// by Spec.HandshakeTimeout, so a slow or failing client only affects its own connection. A TLS
// connection (TLSConn) is also a broker.TLSHandoff: before its first use the broker may take the
// TCP connection under it and run the handshake itself (same configuration, timeout and error
// explanations), to serve it from its event loop.
// Listeners with TLS implement Reloader: Reload re-reads the certificate, key, CA and CRL files
// and new handshakes use them (SIGHUP); connections already open keep theirs.
package listener

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// Spec says what to listen on and how.
type Spec struct {
	// Name identifies the listener in errors and logs, e.g. "listener 8883 (mosquitto.conf:12)".
	Name string
	// Network is "tcp", "tcp4", "tcp6" or "unix"; Address is "host:port" or a socket path.
	Network string
	Address string
	// Protocol is "mqtt" (default) or "websockets".
	Protocol string
	// BindInterface binds to the address of this network interface instead of Address's host
	// (the first IPv4 address, or IPv6 for tcp6 or when it has no IPv4 address).
	BindInterface string
	// MaxConnections closes connections beyond this many at once, as soon as they are
	// accepted (Mosquitto's max_connections). 0: unlimited.
	MaxConnections int
	// TLS turns on TLS when not nil.
	TLS *TLSSpec
	// HandshakeTimeout bounds a TLS handshake. Default 10 s.
	HandshakeTimeout time.Duration
	// UnixMode, when not 0, is applied to a unix socket file (e.g. 0o660).
	UnixMode fs.FileMode
	// Logger receives per-connection failures (TLS handshakes, websocket upgrades) at debug
	// level. nil: discarded.
	Logger *slog.Logger
}

// Reloader is implemented by listeners whose certificates can be re-read (on SIGHUP).
type Reloader interface {
	Reload() error
}

// Open opens the listener described by s. ctx bounds the websocket connections it hands out
// (they are closed when ctx is done); closing the listener does not close accepted connections.
func Open(ctx context.Context, s Spec) (net.Listener, error) {
	l, err := open(ctx, s)
	if err != nil && s.Name != "" {
		return nil, fmt.Errorf("%s: %w", s.Name, err)
	}
	return l, err
}

func open(ctx context.Context, s Spec) (net.Listener, error) {
	if s.Protocol != "" && s.Protocol != "mqtt" && s.Protocol != "websockets" {
		return nil, fmt.Errorf("unknown protocol %q (want mqtt or websockets)", s.Protocol)
	}
	var tc *TLSConfig
	if s.TLS != nil {
		var err error
		if tc, err = NewTLS(*s.TLS); err != nil {
			return nil, err
		}
	}
	var raw net.Listener
	var err error
	switch s.Network {
	case "unix":
		raw, err = Unix(s.Address, s.UnixMode)
	case "tcp", "tcp4", "tcp6", "":
		raw, err = listenTCP(ctx, s)
	default:
		return nil, fmt.Errorf("unknown network %q (want tcp, tcp4, tcp6 or unix)", s.Network)
	}
	if err != nil {
		return nil, err
	}
	if s.MaxConnections > 0 {
		raw = &limitListener{Listener: raw, sem: make(chan struct{}, s.MaxConnections)}
	}
	timeout := s.HandshakeTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	logger := s.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if s.Protocol == "websockets" {
		return newWebSocket(ctx, raw, tc, timeout, logger), nil
	}
	if tc != nil {
		return &tlsListener{Listener: raw, cfg: tc, timeout: timeout}, nil
	}
	return raw, nil
}

// TCP listens on a TCP address ("host:port"; host empty for all interfaces).
func TCP(addr string) (net.Listener, error) {
	return net.Listen("tcp", addr)
}

func listenTCP(ctx context.Context, s Spec) (net.Listener, error) {
	network := s.Network
	if network == "" {
		network = "tcp"
	}
	addr := s.Address
	if s.BindInterface != "" {
		_, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		host, err := interfaceAddr(s.BindInterface, network)
		if err != nil {
			return nil, err
		}
		addr = net.JoinHostPort(host, port)
	}
	var lc net.ListenConfig
	return lc.Listen(ctx, network, addr)
}

// interfaceAddr returns the address of the interface to bind for network.
func interfaceAddr(name, network string) (string, error) {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return "", fmt.Errorf("bind_interface %q: %w", name, err)
	}
	addrs, err := ifi.Addrs()
	if err != nil {
		return "", fmt.Errorf("bind_interface %q: %w", name, err)
	}
	var v4, v6 string
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		if ipn.IP.To4() != nil {
			if v4 == "" {
				v4 = ipn.IP.String()
			}
		} else if v6 == "" {
			v6 = ipn.IP.String()
			if ipn.IP.IsLinkLocalUnicast() {
				v6 += "%" + name
			}
		}
	}
	switch {
	case network == "tcp6" && v6 != "":
		return v6, nil
	case network != "tcp6" && v4 != "":
		return v4, nil
	case network == "tcp" && v6 != "":
		return v6, nil
	}
	return "", fmt.Errorf("bind_interface %q: the interface has no %s address", name, map[string]string{"tcp4": "IPv4", "tcp6": "IPv6", "tcp": "IP"}[network])
}

// Unix listens on a unix socket at path. A stale socket file (nobody accepting on it) is
// removed first; a live one is an error, and so is any other kind of file there. mode, when
// not 0, is applied to the socket file. Closing the listener removes the file.
func Unix(path string, mode fs.FileMode) (net.Listener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&fs.ModeSocket == 0 {
			return nil, fmt.Errorf("unix socket %s: a file that is not a socket exists there", path)
		}
		c, derr := net.DialTimeout("unix", path, time.Second)
		if derr == nil {
			_ = c.Close()
			return nil, fmt.Errorf("unix socket %s: %w (another process is accepting on it)", path, syscall.EADDRINUSE)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("unix socket %s: removing the stale socket: %w", path, err)
		}
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	if mode != 0 {
		if err := os.Chmod(path, mode); err != nil {
			_ = l.Close()
			return nil, fmt.Errorf("unix socket %s: %w", path, err)
		}
	}
	return l, nil
}

// limitListener closes connections accepted while max are already open.
type limitListener struct {
	net.Listener
	sem chan struct{}
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.sem <- struct{}{}:
			return &limitConn{Conn: c, release: func() { <-l.sem }}, nil
		default:
			_ = c.Close() // over max_connections: refused at once, as Mosquitto does
		}
	}
}

type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// errClosed is returned by Accept after Close.
var errClosed = net.ErrClosed
