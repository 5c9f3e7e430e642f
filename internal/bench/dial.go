package bench

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

// dial opens the transport named by server: tcp://host:port (or a bare host:port),
// tls://host:port, ws://host:port/path, wss://host:port/path or unix:///path.
//
// mqtt/client has the same transports, but its dialer is unexported and returns a
// *client.Client after the MQTT handshake; bench needs the raw net.Conn to speak MQTT with
// mqtt/packet on the hot path. If client ever exports its transport dialer, use it here.
func dial(ctx context.Context, server string, tlsCfg *tls.Config) (net.Conn, func(), error) {
	noop := func() {}
	scheme, rest, found := strings.Cut(server, "://")
	if !found {
		scheme, rest = "tcp", server
	}
	var d net.Dialer
	switch strings.ToLower(scheme) {
	case "tcp", "mqtt":
		c, err := d.DialContext(ctx, "tcp", rest)
		if err == nil {
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetNoDelay(true)
			}
		}
		return c, noop, err
	case "tls", "mqtts", "ssl":
		c, err := d.DialContext(ctx, "tcp", rest)
		if err != nil {
			return nil, nil, err
		}
		cfg := tlsConfigFor(tlsCfg, rest)
		tc := tls.Client(c, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			c.Close()
			return nil, nil, err
		}
		return tc, noop, nil
	case "unix":
		c, err := d.DialContext(ctx, "unix", rest)
		return c, noop, err
	case "ws", "wss":
		u, err := url.Parse(server)
		if err != nil {
			return nil, nil, err
		}
		tr := &http.Transport{DialContext: d.DialContext, TLSClientConfig: tlsConfigFor(tlsCfg, u.Host)}
		ws, resp, err := websocket.Dial(ctx, server, &websocket.DialOptions{
			HTTPClient:   &http.Client{Transport: tr},
			Subprotocols: []string{"mqtt"},
		})
		if resp != nil && resp.Body != nil {
			resp.Body.Close()
		}
		if err != nil {
			tr.CloseIdleConnections()
			return nil, nil, err
		}
		ws.SetReadLimit(-1)
		wctx, cancel := context.WithCancel(context.Background())
		nc := websocket.NetConn(wctx, ws, websocket.MessageBinary)
		return nc, func() { cancel(); tr.CloseIdleConnections() }, nil
	}
	return nil, nil, fmt.Errorf("unsupported transport %q in %q (want tcp, tls, ws, wss or unix)", scheme, server)
}

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
			cfg.ServerName = addr
		}
	}
	return cfg
}
