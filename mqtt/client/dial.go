package client

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/coder/websocket"
)

// DialConn opens the network connection named by o.Server (or made by
// o.Dialer) and nothing more: no MQTT is spoken on it. It is the transport
// Dial uses, exported for programs that speak MQTT themselves over the
// connection (the MQTT-SN gateway, the load generator). Only Server,
// Dialer, TLSConfig and LocalAddr are read.
//
// Schemes: tcp:// (or mqtt://, or a bare host:port), tls:// (mqtts://,
// ssl://; ServerName defaults to the host), ws:// and wss:// (subprotocol
// "mqtt"), unix:///path. ctx bounds the dial and the TLS or websocket
// handshake, not the connection's life.
//
// The returned release function frees what the transport holds beyond the
// net.Conn (the websocket adapter's context and idle HTTP connections);
// call it once, after closing the conn. It is never nil when err is nil.
func DialConn(ctx context.Context, o Options) (net.Conn, func(), error) {
	return dialConn(ctx, &o)
}

// dialConn is DialConn without copying Options.
func dialConn(ctx context.Context, o *Options) (net.Conn, func(), error) {
	if o.Dialer != nil {
		c, err := o.Dialer(ctx)
		if err != nil {
			return nil, nil, err
		}
		return c, func() {}, nil
	}
	scheme, addr, err := splitServer(o.Server)
	if err != nil {
		return nil, nil, err
	}
	d := net.Dialer{}
	if o.LocalAddr != "" && scheme != "unix" && o.NetDial == nil {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(o.LocalAddr)}
		if d.LocalAddr.(*net.TCPAddr).IP == nil {
			ips, err := net.DefaultResolver.LookupIP(ctx, "ip", o.LocalAddr)
			if err != nil || len(ips) == 0 {
				if err == nil {
					err = fmt.Errorf("no address")
				}
				return nil, nil, fmt.Errorf("bind address %q: %w", o.LocalAddr, err)
			}
			d.LocalAddr = &net.TCPAddr{IP: ips[0]}
		}
	}
	dial := d.DialContext
	if o.NetDial != nil {
		dial = o.NetDial
	}
	switch scheme {
	case "tcp", "mqtt":
		c, err := dial(ctx, "tcp", addr)
		if err != nil {
			return nil, nil, err
		}
		return c, func() {}, nil
	case "tls", "mqtts", "ssl":
		c, err := dial(ctx, "tcp", addr)
		if err != nil {
			return nil, nil, err
		}
		tc := tls.Client(c, tlsConfigFor(o.TLSConfig, addr))
		if err := tc.HandshakeContext(ctx); err != nil {
			c.Close()
			return nil, nil, &TLSError{Err: err}
		}
		return tc, func() {}, nil
	case "unix":
		c, err := d.DialContext(ctx, "unix", addr)
		if err != nil {
			return nil, nil, err
		}
		return c, func() {}, nil
	case "ws", "wss":
		return dialWebsocket(ctx, o, dial)
	}
	return nil, nil, fmt.Errorf("unsupported server scheme %q in %q (want tcp, tls, ws, wss or unix)", scheme, o.Server)
}

// splitServer returns the scheme and the dial address (host:port, or the
// socket path for unix, or the URL itself for ws/wss).
func splitServer(server string) (scheme, addr string, err error) {
	if server == "" {
		return "", "", fmt.Errorf("no server given")
	}
	if !strings.Contains(server, "://") {
		return "tcp", server, nil
	}
	u, err := url.Parse(server)
	if err != nil {
		return "", "", fmt.Errorf("server %q: %v", server, err)
	}
	scheme = strings.ToLower(u.Scheme)
	switch scheme {
	case "unix":
		p := u.Path
		if p == "" {
			p = u.Opaque
		}
		if u.Host != "" { // unix://relative/path
			p = u.Host + p
		}
		return scheme, p, nil
	case "ws", "wss":
		return scheme, server, nil
	}
	host := u.Host
	if u.Port() == "" {
		port := "1883"
		if scheme == "tls" || scheme == "mqtts" || scheme == "ssl" {
			port = "8883"
		}
		host = net.JoinHostPort(u.Hostname(), port)
	}
	return scheme, host, nil
}

// tlsConfigFor fills in ServerName from the address when the caller did not.
func tlsConfigFor(cfg *tls.Config, addr string) *tls.Config {
	if cfg == nil {
		cfg = &tls.Config{MinVersion: tls.VersionTLS12}
	} else {
		cfg = cfg.Clone()
	}
	if cfg.ServerName == "" && !cfg.InsecureSkipVerify {
		if h, _, err := net.SplitHostPort(addr); err == nil {
			cfg.ServerName = h
		} else {
			cfg.ServerName = addr // a host without a port (wss://host/path)
		}
	}
	return cfg
}

// dialWebsocket connects with the "mqtt" subprotocol [MQTT-6.0.0-3] and
// adapts the websocket to a net.Conn whose writes are binary messages.
func dialWebsocket(ctx context.Context, o *Options, dial func(ctx context.Context, network, addr string) (net.Conn, error)) (net.Conn, func(), error) {
	u, err := url.Parse(o.Server)
	if err != nil {
		return nil, nil, err
	}
	tr := &http.Transport{
		DialContext:     dial,
		TLSClientConfig: tlsConfigFor(o.TLSConfig, u.Host),
		Proxy:           nil,
	}
	if u.Scheme == "wss" && u.Port() == "" {
		u.Host = net.JoinHostPort(u.Hostname(), "443")
	}
	hc := &http.Client{Transport: tr}
	ws, resp, err := websocket.Dial(ctx, u.String(), &websocket.DialOptions{
		HTTPClient:   hc,
		Subprotocols: []string{"mqtt"},
	})
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		tr.CloseIdleConnections()
		return nil, nil, err
	}
	if ws.Subprotocol() != "mqtt" {
		ws.Close(websocket.StatusProtocolError, "mqtt subprotocol required")
		tr.CloseIdleConnections()
		return nil, nil, fmt.Errorf("websocket server %s did not accept the mqtt subprotocol", o.Server)
	}
	// MQTT's own Maximum Packet Size bounds what is read, not the websocket
	// library's default 32 KiB message limit.
	ws.SetReadLimit(-1)
	// The adapter's context lives as long as the connection, not the dial.
	wctx, cancel := context.WithCancel(context.Background())
	nc := websocket.NetConn(wctx, ws, websocket.MessageBinary)
	return nc, func() { cancel(); tr.CloseIdleConnections() }, nil
}
