package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// tlsConn is a TLS connection served by the event loop (a TLSHandoff from
// the listener). Its handshake runs in a goroutine of its own, over the
// accepted *net.TCPConn (Go's poller, the listener's timeout), so a slow
// or silent client never holds up accept, the loop or anyone else. Then
// the TCPConn is closed and the connection keeps only a duplicate of its
// descriptor, as a socketConn does, and is served like one: readRun reads
// through crypto/tls, which reads the socket through wire.
//
// wire is crypto/tls's net.Conn: its Read reads the non-blocking socket
// and, when it is empty, returns errWouldBlock, a temporary net.Error,
// which crypto/tls passes up without failing the connection (it keeps the
// bytes of a partial record for the next Read; TestCryptoTLSWouldBlock
// pins that down). Its Write is socketConn's write path (TCP_NOTSENT_LOWAT,
// progress noted for the slow-consumer rule, a poll file to wait for room
// within the write timeout): crypto/tls takes a write error as fatal, so
// a write never says "would block", it waits like the plain writer does.
type tlsConn struct {
	socketConn
	tc *tls.Conn
	// hs is what the handshake needs: the accepted connection it runs
	// over (whose deadline is its timeout) and the explanation of its
	// errors; nil once the event loop has the socket. Written under
	// conn.mu by the handshake goroutine, which alone reads it without
	// the lock.
	hs *tlsHandshake
	// wireMu serializes the wire's writes (crypto/tls writes from the
	// writer, and from the reader for alerts and key updates, each under
	// its own lock) with writeDone and release, which drop the poll file
	// a write borrowed (wf).
	wireMu sync.Mutex
	// stallSess is the session whose writer is in write: a wire write that
	// waits for room marks it stalled (Session.slowConsumer).
	stallSess atomic.Pointer[Session]
	// released: release is closing the connection; its close_notify is
	// written only if the socket takes it at once.
	released bool // under wireMu
}

// newTLSConn prepares the event-loop connection for h, or returns nil
// (leaving h alone, to be served as a net.Conn) when h's connection is
// not a plain TCP one, or has been used, or no descriptor is left to
// duplicate. start runs the handshake and then serves the connection.
func newTLSConn(b *Broker, h TLSHandoff, port string) (*tlsConn, func()) {
	raw, cfg, timeout, explain := h.TLSHandoff()
	tcp, ok := raw.(*net.TCPConn)
	if !ok || cfg == nil {
		return nil, nil
	}
	fd := socketFD(tcp)
	if fd < 0 {
		return nil, nil
	}
	dup, err := dupSocket(fd)
	if err != nil {
		return nil, nil
	}
	unix.SetsockoptInt(dup, unix.IPPROTO_TCP, unix.TCP_NOTSENT_LOWAT, notsentLowat)
	if timeout <= 0 {
		timeout = defaultHandshakeTimeout
	}
	// The handshake's bound is a deadline on the TCPConn, set before
	// anyone can close the connection (interrupt sets it to now).
	tcp.SetDeadline(time.Now().Add(timeout))
	t := &tlsConn{hs: &tlsHandshake{raw: tcp, explain: explain}}
	t.fd = int32(dup)
	t.init(b, t, compactAddr(tcp.RemoteAddr()), port)
	t.reading.Store(true) // the handshake's, then its first read run's
	t.tc = tls.Server(tlsWire{t}, cfg)
	return t, t.start
}

// tlsHandshake is what a tlsConn needs while its handshake runs.
type tlsHandshake struct {
	raw     *net.TCPConn
	explain func(error) error
}

// start runs the handshake in a goroutine of its own.
func (t *tlsConn) start() { go t.handshake() }

// handshake runs the server handshake; then it hands the socket to the
// event loop and reads what the client sent with its last handshake
// flight (often the CONNECT). A failed handshake ends the connection with
// its explained error.
//
// Its timeout is the TCPConn's deadline (newTLSConn) rather than a
// context: with a context that can end, crypto/tls starts a goroutine per
// handshake to watch it (and a timer), and waits for that goroutine at
// the end.
func (t *tlsConn) handshake() {
	hs := t.hs
	err := t.tc.Handshake()
	switch {
	case err != nil && t.isClosed():
		err = t.closeErr() // interrupted: the connect timeout, or the broker closing
	case err != nil:
		if errors.Is(err, os.ErrDeadlineExceeded) {
			err = context.DeadlineExceeded // as a context's timeout reads
		}
		if hs.explain != nil {
			err = hs.explain(err)
		}
	}
	if err != nil {
		t.teardown(err)
		return
	}
	t.mu.Lock()
	t.hs = nil // from now on the wire is the descriptor
	t.mu.Unlock()
	hs.raw.Close()
	if err := t.b.poll.add(&t.socketConn); err != nil {
		t.b.log.Error("event loop: cannot watch a connection", "remote", t.remoteStr(), "err", err)
		t.close(closeReason{})
	}
	t.readRun() // crypto/tls may hold records it read with the handshake
}

// read is conn.input's reader: what crypto/tls decrypts from what the
// socket holds, errAgain once it needs more than the socket has. It gives
// out at most one record at a time and may hold more that it has already
// read, so the read side reads until errAgain (readReady), not until a
// short read.
func (t *tlsConn) read(p []byte) (int, error) {
	n, err := t.tc.Read(p)
	if n > 0 {
		// An error with data (a partial alert behind it) comes again on
		// the next Read if it is one.
		return n, nil
	}
	if errors.Is(err, errWouldBlock) {
		return 0, errAgain
	}
	return 0, err
}

// write encrypts out and writes it through the wire, for the writer.
func (t *tlsConn) write(out []byte) (int, error) {
	t.stallSess.Store(t.ws.sess)
	n, err := t.tc.Write(out)
	t.stallSess.Store(nil)
	return n, err
}

func (t *tlsConn) writeDone() {
	t.wireMu.Lock()
	t.dropFile(pollWrite)
	t.wireMu.Unlock()
}

// interrupt ends a handshake at once (its goroutine then tears the
// connection down); afterwards it is socketConn's.
func (t *tlsConn) interrupt() {
	t.mu.Lock()
	hs := t.hs
	t.mu.Unlock()
	if hs != nil {
		hs.raw.SetDeadline(time.Now())
		return
	}
	t.socketConn.interrupt()
}

// linger sends close_notify before socketConn's half-close and drain
// (the DISCONNECT before it went out encrypted; what follows is read and
// discarded without decrypting).
func (t *tlsConn) linger() {
	t.tc.CloseWrite()
	t.socketConn.linger()
}

// release closes the connection: close_notify if the socket takes it at
// once (linger may have sent it), then the socket. A connection whose
// handshake did not complete closes its TCPConn and the duplicate.
func (t *tlsConn) release(err error) {
	if t.hs != nil { // the handshake goroutine's teardown
		t.hs.raw.Close()
		closeFD(int(t.fd))
		return
	}
	t.wireMu.Lock()
	t.released = true
	t.wireMu.Unlock()
	t.tc.Close()
	t.writeDone()
	t.socketConn.release(err)
}

// netConn is the *tls.Conn, for a ConnAuthenticator (its ConnectionState
// has the client certificate); only the broker reads or writes it.
func (t *tlsConn) netConn() net.Conn { return t.tc }

// tlsWire is the net.Conn under a tlsConn's *tls.Conn: the accepted
// TCPConn during the handshake, the bare non-blocking descriptor after it.
// It is one pointer, so it sits in the tls.Conn's interface value without
// an allocation of its own.
type tlsWire struct{ t *tlsConn }

// errWouldBlock is the wire's "the socket is empty": a net.Error that is
// temporary and a timeout (as a deadline that has passed), so crypto/tls
// returns it from Read without failing the connection.
var errWouldBlock net.Error = wouldBlock{}

type wouldBlock struct{}

func (wouldBlock) Error() string   { return "tls wire: would block" }
func (wouldBlock) Timeout() bool   { return true }
func (wouldBlock) Temporary() bool { return true }

func (w tlsWire) Read(p []byte) (int, error) {
	t := w.t
	if hs := t.hs; hs != nil {
		return hs.raw.Read(p)
	}
	n, err := readFD(int(t.fd), p)
	switch {
	case err == errAgain:
		return 0, errWouldBlock
	case err != nil:
		return 0, err
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// Write writes all of p or fails: crypto/tls fails the connection on any
// write error, so there is no "would block" here. The writer's writes
// note their progress on its session; a write from the reader (an alert,
// a key update) or from release has no session.
func (w tlsWire) Write(p []byte) (int, error) {
	t := w.t
	if hs := t.hs; hs != nil {
		return hs.raw.Write(p)
	}
	t.wireMu.Lock()
	defer t.wireMu.Unlock()
	if t.released {
		n, err := writeFD(int(t.fd), p)
		if err == nil && n < len(p) {
			err = errAgain
		}
		return n, err
	}
	return t.writeSock(p, t.stallSess.Load())
}

// Close closes the TCPConn while the handshake runs (crypto/tls does when
// the handshake's context ends); afterwards the socket is release's.
func (w tlsWire) Close() error {
	if hs := w.t.hs; hs != nil {
		return hs.raw.Close()
	}
	return nil
}

func (w tlsWire) LocalAddr() net.Addr {
	if hs := w.t.hs; hs != nil {
		return hs.raw.LocalAddr()
	}
	sa, err := unix.Getsockname(int(w.t.fd))
	if err != nil {
		return nil
	}
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return &net.TCPAddr{IP: a.Addr[:], Port: a.Port}
	case *unix.SockaddrInet6:
		return &net.TCPAddr{IP: a.Addr[:], Port: a.Port}
	}
	return nil
}

func (w tlsWire) RemoteAddr() net.Addr { return w.t.info.Remote }

// Deadlines apply to the handshake; afterwards the broker bounds its
// writes itself and never blocks in a read.
func (w tlsWire) SetDeadline(d time.Time) error {
	if hs := w.t.hs; hs != nil {
		return hs.raw.SetDeadline(d)
	}
	return nil
}

func (w tlsWire) SetReadDeadline(d time.Time) error {
	if hs := w.t.hs; hs != nil {
		return hs.raw.SetReadDeadline(d)
	}
	return nil
}

func (w tlsWire) SetWriteDeadline(d time.Time) error {
	if hs := w.t.hs; hs != nil {
		return hs.raw.SetWriteDeadline(d)
	}
	return nil
}
