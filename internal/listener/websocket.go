package listener

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// wsListener serves HTTP on a listener, upgrades each request to a websocket (subprotocol
// "mqtt") and hands the upgraded connection out from Accept as a net.Conn carrying binary
// messages. A failed upgrade answers that one request with an HTTP error.
type wsListener struct {
	raw    net.Listener
	tls    *TLSConfig
	ctx    context.Context
	logger *slog.Logger
	srv    *http.Server
	conns  chan net.Conn

	mu      sync.Mutex
	closed  bool
	active  sync.WaitGroup // ServeHTTP calls in progress
	done    chan struct{}
	served  chan struct{} // closed when srv.Serve returns
	closeMu sync.Once
}

func newWebSocket(ctx context.Context, raw net.Listener, tc *TLSConfig, handshakeTimeout time.Duration, logger *slog.Logger) *wsListener {
	l := &wsListener{
		raw:    raw,
		tls:    tc,
		ctx:    ctx,
		logger: logger,
		conns:  make(chan net.Conn),
		done:   make(chan struct{}),
		served: make(chan struct{}),
	}
	l.srv = &http.Server{
		Handler:           l,
		ReadHeaderTimeout: handshakeTimeout,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
	}
	inner := raw
	if tc != nil {
		// The handshake runs in the HTTP server's per-connection goroutine, never in Accept.
		inner = tls.NewListener(raw, tc.Config())
	}
	go func() { // owned by Close, which waits for it
		defer close(l.served)
		_ = l.srv.Serve(inner)
	}()
	return l
}

func (l *wsListener) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	l.active.Add(1)
	l.mu.Unlock()
	defer l.active.Done()

	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		Subprotocols: []string{"mqtt", "mqttv3.1"},
		// Mosquitto does not check the Origin header; browser dashboards on other origins
		// must be able to connect, and MQTT authenticates at CONNECT.
		InsecureSkipVerify: true,
	})
	if err != nil {
		l.logger.Debug("websocket upgrade failed", "remote", r.RemoteAddr, "err", err)
		return
	}
	var nc net.Conn = websocket.NetConn(l.ctx, c, websocket.MessageBinary)
	if r.TLS != nil {
		nc = &wssConn{Conn: nc, state: *r.TLS}
	}
	select {
	case l.conns <- nc:
	case <-l.done:
		_ = nc.Close()
	}
}

func (l *wsListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, &net.OpError{Op: "accept", Net: l.raw.Addr().Network(), Addr: l.raw.Addr(), Err: errClosed}
	case <-l.served:
		return nil, &net.OpError{Op: "accept", Net: l.raw.Addr().Network(), Addr: l.raw.Addr(), Err: errClosed}
	}
}

// Close stops accepting and waits for the HTTP server and pending upgrades. Websocket
// connections already returned by Accept stay open.
func (l *wsListener) Close() error {
	l.closeMu.Do(func() {
		l.mu.Lock()
		l.closed = true
		l.mu.Unlock()
		close(l.done)
		_ = l.srv.Close()
		<-l.served
		l.active.Wait()
	})
	return nil
}

func (l *wsListener) Addr() net.Addr { return l.raw.Addr() }

// Reload re-reads the certificates of a websockets-over-TLS listener.
func (l *wsListener) Reload() error {
	if l.tls == nil {
		return nil
	}
	return l.tls.Reload()
}

// wssConn is a websocket connection that arrived over TLS.
type wssConn struct {
	net.Conn
	state tls.ConnectionState
}

func (c *wssConn) ConnectionState() tls.ConnectionState { return c.state }
