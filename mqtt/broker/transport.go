package broker

import (
	"net"
	"time"
)

// transport carries one connection's bytes. The protocol engine (conn)
// calls it from the writer side and from close; the read side is each
// transport's own loop (or, in process, LocalConn.Send), which feeds
// conn.input or conn.dispatch and ends the connection with teardown.
//
// Four implement it, each embedding its conn in one allocation:
//   - socketConn (transport_socket_linux.go): plain TCP and unix sockets on
//     Linux, a bare descriptor served by the epoll event loop;
//   - tlsConn (transport_tls_linux.go): a socketConn that reads and writes
//     through crypto/tls, for the TLS connections a listener hands over
//     (TLSHandoff), its handshake in a goroutine of its own;
//   - netConn (this file): any net.Conn with one reader goroutine
//     (websockets, TLS that is not handed over, other systems,
//     Options.BlockingIO);
//   - LocalConn (transport_local.go): an in-process client without a
//     socket, for gateways, bridges and the in-process API.
type transport interface {
	// write hands out to the peer; it may wait up to conn.writeTimeout()
	// for room and returns how many bytes were taken.
	write(out []byte) (int, error)
	// writeDone is called when a writer gives its token back: what it
	// borrowed to wait for room can go.
	writeDone()
	// interrupt is called once, by conn.close: a blocked reader must wake
	// now, a blocked writer within a second, and a connection whose read
	// side is idle must get its teardown started.
	interrupt()
	// drainInput makes the read side handle what has arrived and then call
	// conn.drained (takeover).
	drainInput()
	// linger half-closes a connection whose last packet was our
	// DISCONNECT and reads what the client still sends for a moment, so
	// the reason code reaches it instead of a reset.
	linger()
	// release closes the transport after the last write; teardown calls
	// it once, with the error that ended the connection.
	release(err error)
	// netConn is the net.Conn behind the transport for a ConnAuthenticator
	// (e.g. a TLS client certificate), nil where the transport has none.
	netConn() net.Conn
}

// newConn makes the connection for an accepted net.Conn: on the event
// loop when the broker has one and nc is a plain socket or a TLSHandoff
// over one, otherwise with a reader goroutine. start begins serving it;
// call it after the connection is registered with the broker.
func (b *Broker) newConn(nc net.Conn, port string) (c *conn, start func()) {
	if b.poll != nil {
		if h, ok := nc.(TLSHandoff); ok {
			if t, start := newTLSConn(b, h, port); t != nil {
				return &t.conn, start
			}
		}
		if s := newSocketConn(b, nc, port); s != nil {
			return &s.conn, s.start
		}
	}
	n := &netConn{nc: nc}
	n.init(b, n, compactAddr(nc.RemoteAddr()), port)
	tcpProgress(nc)
	return &n.conn, func() { go n.serve() }
}

// netConn serves a net.Conn from one reader goroutine, which owns the
// connection's lifetime. Each write has a deadline of
// conn.writeTimeout().
type netConn struct {
	conn
	nc net.Conn
}

func (n *netConn) serve() {
	n.teardown(n.readLoop())
}

func (n *netConn) readLoop() (err error) {
	defer n.recoverHandler(&err)
	for {
		if _, err := n.input(n.nc.Read); err != nil {
			return err
		}
	}
}

func (n *netConn) write(out []byte) (int, error) {
	n.nc.SetWriteDeadline(time.Now().Add(n.writeTimeout()))
	n.stalled() // a net.Conn shows no progress until Write returns
	defer n.unstalled()
	return n.nc.Write(out)
}

func (n *netConn) writeDone() {}

// drainInput lets the reader goroutine's Read return what is buffered; with
// nothing more within drainWait it times out (readError: drained).
func (n *netConn) drainInput() { n.nc.SetReadDeadline(time.Now().Add(drainWait)) }

// drainWait is how long a connection being taken over may take to
// deliver what its client sent before the new CONNECT.
const drainWait = 20 * time.Millisecond

func (n *netConn) interrupt() {
	n.nc.SetReadDeadline(time.Now())
	n.nc.SetWriteDeadline(time.Now().Add(n.closingWriteBound()))
}

func (n *netConn) release(error) { n.nc.Close() }

func (n *netConn) linger() {
	if cw, ok := n.nc.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite() // TCP; TLS sends close_notify
	}
	n.nc.SetReadDeadline(time.Now().Add(n.b.disconnectLinger()))
	discard(n.nc.Read)
}
func (n *netConn) netConn() net.Conn { return n.nc }
