package broker

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mqttkit/mqtt/mqtt/packet"
)

// closeReason says why a connection ends; it picks the log line and the
// MQTT 5 DISCONNECT reason code the server sends (if any).
type closeReason struct {
	code packet.ReasonCode
	send bool // send a DISCONNECT (MQTT 5, after CONNACK) first
}

var (
	reasonShutdown = closeReason{code: packet.ServerShuttingDown, send: true}
	reasonTakeover = closeReason{code: packet.SessionTakenOver, send: true}
)

// conn is one network connection. Bytes are read into a pooled buffer,
// parsed in place and dispatched to the packet handlers (consume); the
// handlers never write to the socket: they queue control packets (send)
// or messages on the session, and notify starts a writer goroutine that
// exists only while there is something to write (runWriter).
//
// Two read paths feed consume (see doc.go for the measurements):
//   - the event loop (netpoll_linux.go): epoll reports a readable socket and
//     a short-lived goroutine reads what is there, dispatches it and
//     re-arms. An idle connection then holds no goroutine and no buffer.
//   - one goroutine per connection blocked in Read (serveBlocking), for
//     TLS, websockets, other systems and Options.BlockingIO.
//
// Whichever path runs the reader side owns the connection's lifetime and
// ends it with teardown. Lock order: see LOCKS.md.
type conn struct {
	b      *Broker
	nc     net.Conn // nil for an event-loop connection: it owns fd instead
	port   string
	remote string

	// Set by the CONNECT handler before anything is written, then read-only.
	clientID   string
	sess       *Session // written under mu (with the CONNACK); the writer reads it under mu
	authMethod string
	authState  any
	info       ClientInfo

	// Reader state: one reader at a time (the goroutine, or the current
	// event-loop run, which the reading flag admits).
	in      []byte // bytes of a partial packet; nil between packets
	aliasIn map[uint16]string
	will    *Message

	// Writer state: owned by whoever holds the writing token.
	aliasOut map[string]uint16
	ws       *writeScratch // output buffer and PUBLISH; pooled, only while writing

	mu   sync.Mutex // guards ctrl, reason, closing, rf, wf
	ctrl []ctrlPacket

	// Event loop: the poll files the reader (rf) and the writer (wf)
	// borrow while they wait (pollFile); nil the rest of the time.
	rf, wf *os.File

	wmu      sync.Mutex   // held by runWriter while it runs: teardown waits on it
	done     sync.Mutex   // locked from accept until teardown completes (takeover waits on it)
	kaLimit  atomic.Int64 // -1 until CONNECT is handled; then 1.5 × keep alive in ns, 0: none
	lastRead atomic.Int64 // Broker.clock() at the last read
	born     int64        // Broker.clock() at accept
	timedOut atomic.Int32 // timeoutConnect or timeoutKeepAlive, set by the sweep before close
	fd       int32        // socket owned and served by the event loop; -1 with a reader goroutine
	closed   atomic.Bool  // closing, readable without mu
	reading  atomic.Bool  // event loop: a run owns the reader side
	writing  atomic.Bool  // the writing token: held by runWriter, and for good by teardown
	wpending atomic.Bool  // notify() since the writer last looked for work

	// Small fields packed together (set by CONNECT / the reader unless noted).
	window       int32  // outbound inflight window (CONNECT)
	maxOut       uint32 // client's Maximum Packet Size, 0: none
	willDelay    uint32
	expiry       uint32
	inReader     atomic.Bool // the reader is dispatching a batch: it writes what that queues (writeInline)
	aliasOutMax  uint16
	version      byte
	problemInfo  bool // Request Problem Information (MQTT 5), default true
	connAccepted bool
	connectSeen  bool
	normalClose  bool        // DISCONNECT 0x00 received: discard the will
	closing      bool        // under mu
	reason       closeReason // under mu
}

// ctrlPacket is a queued control packet; a nil p is a plain acknowledgement
// (PUBACK, PUBREC, PUBREL, PUBCOMP with reason Success and no properties),
// encoded from first and id without allocating a packet.
type ctrlPacket struct {
	p     packet.Packet
	first byte
	id    uint16
}

const (
	timeoutConnect = 1 + iota
	timeoutKeepAlive
)

func newConn(b *Broker, nc net.Conn, port string) *conn {
	c := &conn{
		b:           b,
		nc:          nc,
		port:        port,
		remote:      nc.RemoteAddr().String(),
		fd:          -1,
		problemInfo: true,
		born:        b.clock(),
	}
	c.kaLimit.Store(-1)
	c.lastRead.Store(c.born - int64(time.Hour)) // not "hot" (readRun)
	c.done.Lock()
	if b.poll != nil {
		// The event loop keeps a duplicate of the descriptor and closes
		// the net.Conn: its netFD, Go's poll descriptor and two addresses
		// are most of what an idle connection cost (doc.go).
		if fd := ownSocket(nc); fd >= 0 {
			c.fd, c.nc = int32(fd), nil
			c.reading.Store(true) // the first run is started by serveConn
		}
	}
	return c
}

// polled reports whether the event loop serves c (it owns fd, no net.Conn).
func (c *conn) polled() bool { return c.fd >= 0 }

// remoteAddr is the peer's address for ClientInfo.
func (c *conn) remoteAddr() net.Addr {
	if c.nc != nil {
		return c.nc.RemoteAddr()
	}
	if ap, err := netip.ParseAddrPort(c.remote); err == nil {
		return net.TCPAddrFromAddrPort(ap)
	}
	return &net.UnixAddr{Name: c.remote, Net: "unix"}
}

// pollFile returns the file in *slot (c.rf for the reader, c.wf for the
// writer), making it if needed: a duplicate of the socket registered with
// Go's poller, so a busy reader can wait for more bytes and a writer for
// room, with deadlines, as on a net.Conn. It exists only while they wait
// (dropFile); close() sets its deadlines, as it would a net.Conn's.
func (c *conn) pollFile(slot **os.File) (*os.File, error) {
	if f := *slot; f != nil {
		return f, nil
	}
	if c.b.knobs.noPollFiles {
		return nil, syscall.EMFILE
	}
	fd, err := dupSocket(int(c.fd))
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), "")
	c.mu.Lock()
	*slot = f
	closing := c.closing
	c.mu.Unlock()
	if closing { // close() came first: what it would have set
		f.SetReadDeadline(time.Now())
		f.SetWriteDeadline(time.Now().Add(time.Second))
	}
	return f, nil
}

// dropFile closes the poll file in *slot, if any.
func (c *conn) dropFile(slot **os.File) {
	if *slot == nil {
		return
	}
	c.mu.Lock()
	f := *slot
	*slot = nil
	c.mu.Unlock()
	f.Close()
}

// waitDone blocks until the connection's teardown is complete.
func (c *conn) waitDone() {
	c.done.Lock()
	c.done.Unlock()
}

// close asks the connection to end. It is safe from any goroutine and
// idempotent; the first reason wins. teardown sends what is queued, the
// MQTT 5 DISCONNECT (when reason.send) and closes the socket.
func (c *conn) close(r closeReason) {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return
	}
	c.closing = true
	c.reason = r
	c.closed.Store(true)
	rf, wf := c.rf, c.wf
	c.mu.Unlock()
	// Unblock a reader now, and a writer stuck on a peer that does not
	// read within a second.
	if c.nc != nil {
		c.nc.SetReadDeadline(time.Now())
		c.nc.SetWriteDeadline(time.Now().Add(time.Second))
	}
	if rf != nil {
		rf.SetReadDeadline(time.Now())
	}
	if wf != nil {
		wf.SetWriteDeadline(time.Now().Add(time.Second))
	}
	// An idle event-loop connection has no goroutine: start one to end it.
	if c.polled() && c.reading.CompareAndSwap(false, true) {
		go c.readRun()
	}
}

// send queues a control packet (CONNACK, SUBACK, PINGRESP, acks with
// properties, ...).
func (c *conn) send(p packet.Packet) {
	c.queue(ctrlPacket{p: p})
}

// sendAck queues a plain acknowledgement: first is the fixed header's
// first byte (0x40 PUBACK, 0x50 PUBREC, 0x62 PUBREL, 0x70 PUBCOMP).
func (c *conn) sendAck(first byte, id uint16) {
	c.queue(ctrlPacket{first: first, id: id})
}

func (c *conn) queue(cp ctrlPacket) {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return
	}
	c.ctrl = append(c.ctrl, cp)
	c.mu.Unlock()
	c.notify()
}

// notify tells the writer there is work, starting it if none runs.
// While the reader dispatches a batch, it leaves the work to writeInline.
func (c *conn) notify() {
	c.wpending.Store(true)
	if !c.inReader.Load() && c.writing.CompareAndSwap(false, true) {
		go c.runWriter()
	}
}

// writeInline runs after the reader dispatched a batch: what the batch
// queued (PUBACKs above all) is written from the reader's goroutine when
// no writer runs, without waking another goroutine for it; the socket
// usually takes it at once. It is bounded: the drain stops at the
// session's inflight window.
func (c *conn) writeInline() {
	c.inReader.Store(false)
	if !c.wpending.Load() || !c.writing.CompareAndSwap(false, true) {
		return
	}
	c.wpending.Store(false)
	if c.closed.Load() {
		c.writing.Store(false)
		return
	}
	c.wmu.Lock()
	c.ws = scratchPool.Get().(*writeScratch)
	err := c.drain(c.ws)
	c.releaseScratch()
	c.writing.Store(false)
	c.wmu.Unlock()
	if err != nil {
		c.writeFailed(err)
		return
	}
	if c.wpending.Load() && c.writing.CompareAndSwap(false, true) {
		go c.runWriter()
	}
}

// serveBlocking is the reader goroutine of a connection without the event
// loop; it owns the connection's lifetime.
func (c *conn) serveBlocking() {
	c.teardown(c.readBlocking())
}

func (c *conn) readBlocking() (err error) {
	defer c.recoverHandler(&err)
	for {
		if _, err := c.step(true); err != nil {
			return err
		}
	}
}

// readRun serves the reader side of an event-loop connection from the
// moment epoll reports it readable: it reads what the socket holds and
// dispatches it; while traffic keeps coming (activeLinger) it waits for
// more on Go's own poller, like a reader goroutine would, without holding
// a buffer; once the connection is quiet it re-arms epoll and exits. The
// reading flag (taken by the caller) keeps runs of one connection apart.
func (c *conn) readRun() {
	var rc syscall.RawConn
	var w readWaiter
	ready := w.ready   // one closure per run, not per wait
	var deadline int64 // b.clock() when the read deadline we set fires
	// Only a connection that was already busy lingers: one that sends a
	// packet now and then (CONNECT, PINGREQ) goes straight back to epoll
	// without a deadline, whose runtime timer it would keep for good.
	hot := c.b.clock()-c.lastRead.Load() < int64(c.b.lingerFor())
	for {
		if err := c.readReady(); err != nil {
			c.teardown(err)
			return
		}
		if !hot {
			break
		}
		if rc == nil {
			rc = c.waitConn()
		}
		if rc == nil || !c.waitActive(rc, &w, ready, &deadline) {
			break
		}
	}
	c.dropFile(&c.rf) // before the token: the next run makes its own
	c.reading.Store(false)
	if err := c.b.poll.arm(c); err != nil {
		if c.reading.CompareAndSwap(false, true) {
			c.close(closeReason{})
			c.teardown(err)
		}
		return
	}
	// close() may have missed the flag we just released.
	if c.closed.Load() && c.reading.CompareAndSwap(false, true) {
		c.teardown(c.closeErr())
	}
}

// activeLinger is how long a connection stays on Go's poller after its
// last bytes before it goes back to epoll (and gives up its goroutine).
const activeLinger = 100 * time.Millisecond

func (b *Broker) lingerFor() time.Duration {
	if b.knobs.linger > 0 {
		return b.knobs.linger
	}
	return activeLinger
}

// waitActive waits until the socket is readable while the connection has
// been active within activeLinger. It reports false when it went quiet
// (or closing: the caller's next read sees that).
func (c *conn) waitActive(rc syscall.RawConn, w *readWaiter, ready func(uintptr) bool, deadline *int64) bool {
	for {
		if c.closed.Load() {
			return true // readReady returns the close error
		}
		linger := c.b.lingerFor()
		now := c.b.clock()
		if now-c.lastRead.Load() >= int64(linger) {
			return false
		}
		if *deadline-now < int64(linger)/2 {
			c.rf.SetReadDeadline(time.Now().Add(linger))
			*deadline = now + int64(linger)
			if c.closed.Load() { // close() set its deadline before ours
				return true
			}
		}
		if h := c.b.knobs.hookWait; h != nil {
			h(c)
		}
		w.armed = true
		if rc.Read(ready) == nil {
			return true
		}
		// The deadline passed (or the socket closed): look again.
	}
}

// readWaiter makes syscall.RawConn.Read a plain wait for readability.
// RawConn.Read starts by forgetting what Go's poller knew of the socket
// (runtime pollReset), so bytes that arrived after our last read, and
// that the poller had already seen, would not wake the wait: it slept
// until the linger deadline. The first call therefore looks at the socket
// (a one-byte MSG_PEEK) and waits only when it is empty; the next one,
// after the poller saw data, says "done".
type readWaiter struct {
	armed bool
	peek  [1]byte
}

func (w *readWaiter) ready(fd uintptr) bool {
	if w.armed {
		w.armed = false
		return !socketEmpty(int(fd), w.peek[:])
	}
	return true
}

// waitConn is what a lingering run waits on: its poll file.
func (c *conn) waitConn() syscall.RawConn {
	f, err := c.pollFile(&c.rf)
	if err != nil {
		return nil
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

// readReady reads until the socket is drained. It returns nil when it is,
// or the error that ends the connection.
func (c *conn) readReady() (err error) {
	defer c.recoverHandler(&err)
	for {
		if c.closed.Load() {
			return c.closeErr()
		}
		switch drained, err := c.step(false); err {
		case nil:
			if drained {
				return nil
			}
		case errAgain:
			return nil
		default:
			return err
		}
	}
}

// recoverHandler turns a panic in a handler into the end of this
// connection only.
func (c *conn) recoverHandler(err *error) {
	if p := recover(); p != nil {
		c.b.log.Error("internal error handling client, closing its connection",
			"client", c.clientID, "remote", c.remote, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		c.close(closeReason{code: packet.ImplementationSpecificError, send: true})
		*err = fmt.Errorf("panic: %v", p)
	}
}

const readBufSize = 16 << 10

// readPool holds the read buffers: a connection has one only while a read
// is being parsed (memory follows traffic, not connections).
var readPool = sync.Pool{New: func() any { b := make([]byte, readBufSize); return &b }}

var errAgain = errors.New("would block")

// step reads once (blocking: through net.Conn; otherwise a non-blocking
// read of the socket, errAgain when empty) and dispatches the complete
// packets. It returns whether a non-blocking read got less than it asked
// for (the socket was empty then: no need to read again to see EAGAIN)
// and the error that ends the connection (already mapped by
// readError/handlerError), or errAgain.
func (c *conn) step(blocking bool) (drained bool, err error) {
	if cap(c.in) > readBufSize {
		// A packet larger than a pool buffer: read straight into its own.
		p := c.in[len(c.in):cap(c.in)]
		n, err := c.read(p, blocking)
		if n > 0 {
			drained = n < len(p)
			c.in = c.in[:len(c.in)+n]
			if len(c.in) == cap(c.in) {
				pkt := c.in
				c.in = nil
				c.inReader.Store(true)
				_, err := c.consume(pkt)
				c.writeInline()
				if err != nil {
					return drained, err
				}
			}
			return drained, nil
		}
		return false, c.readFailed(err)
	}
	bp := readPool.Get().(*[]byte)
	buf := *bp
	k := copy(buf, c.in)
	n, err := c.read(buf[k:], blocking)
	if n <= 0 {
		readPool.Put(bp)
		return false, c.readFailed(err)
	}
	drained = n < len(buf)-k
	c.in = nil
	c.inReader.Store(true)
	rest, perr := c.consume(buf[:k+n])
	c.writeInline()
	if len(rest) > 0 && perr == nil {
		c.keep(rest)
	}
	readPool.Put(bp)
	return drained, perr
}

// keep saves the bytes of a partial packet until more arrive, sized for
// the whole packet when its header says it is larger than a pool buffer.
func (c *conn) keep(rest []byte) {
	size := len(rest)
	if _, remaining, hn, err := packet.ParseHeader(rest); err == nil && hn+remaining > readBufSize {
		size = hn + remaining
	}
	c.in = append(make([]byte, 0, size), rest...)
}

func (c *conn) read(p []byte, blocking bool) (int, error) {
	var n int
	var err error
	switch {
	case c.nc != nil:
		n, err = c.nc.Read(p)
	case !blocking:
		n, err = readFD(int(c.fd), p)
	default: // the AUTH exchange (readPacket)
		var f *os.File
		if f, err = c.pollFile(&c.rf); err == nil {
			n, err = f.Read(p)
		}
	}
	if n > 0 {
		c.lastRead.Store(c.b.clock())
		c.b.stats.bytesRecv.Add(int64(n))
	}
	return n, err
}

func (c *conn) readFailed(err error) error {
	if err == errAgain {
		if c.closed.Load() {
			return c.closeErr()
		}
		return errAgain
	}
	if err == nil || err == io.EOF {
		err = io.EOF
		if len(c.in) > 0 {
			err = io.ErrUnexpectedEOF
		}
	}
	return c.readError(err)
}

// consume decodes and dispatches the complete packets at the start of
// buf and returns the bytes of a trailing partial packet. PUBLISH is
// decoded in place (its handler copies topic and payload once into the
// Message); other packets get their own copy, since handlers and hooks
// may keep parts of them.
func (c *conn) consume(buf []byte) ([]byte, error) {
	maxIn := int(c.b.opts.MaxPacketSize)
	if maxIn <= 0 {
		maxIn = packet.DefaultMaxPacketSize
	}
	for len(buf) > 0 {
		first, remaining, hn, err := packet.ParseHeader(buf)
		if err == packet.ErrIncomplete {
			return buf, nil
		}
		if err != nil {
			return nil, c.readError(err)
		}
		if err := packet.CheckFlags(c.version, first); err != nil {
			return nil, c.readError(err)
		}
		if hn+remaining > maxIn {
			return nil, c.readError(&packet.Error{Code: packet.PacketTooLarge,
				Msg: fmt.Sprintf("%v: packet of %d bytes exceeds the maximum packet size %d", packet.Type(first>>4), hn+remaining, maxIn)})
		}
		if len(buf) < hn+remaining {
			return buf, nil
		}
		body := buf[hn : hn+remaining : hn+remaining]
		buf = buf[hn+remaining:]
		typ := packet.Type(first >> 4)
		if typ != packet.PUBLISH {
			body = bytes.Clone(body)
		}
		p, err := packet.Decode(c.version, first, body)
		if err != nil {
			return nil, c.readError(err)
		}
		c.b.stats.msgsRecv.Add(1)
		if typ == packet.CONNECT && len(buf) > 0 {
			// The MQTT 5 AUTH exchange reads on (readPacket) from c.in.
			c.in = bytes.Clone(buf)
			buf = nil
		}
		err = c.dispatch(p)
		if typ == packet.CONNECT {
			buf, c.in = c.in, nil
		}
		if err != nil {
			return nil, c.handlerError(err)
		}
		if c.closed.Load() {
			return nil, c.closeErr()
		}
	}
	return nil, nil
}

// readPacket reads one packet synchronously, for the MQTT 5 AUTH exchange
// inside CONNECT. It blocks in net.Conn.Read in both read paths (the
// event loop does not re-arm the socket until the handler returns).
func (c *conn) readPacket() (packet.Packet, error) {
	// What the handler queued (the AUTH challenge) goes out before we wait
	// for the answer; the batch goes on writing inline afterwards.
	c.writeInline()
	defer c.inReader.Store(true)
	maxIn := int(c.b.opts.MaxPacketSize)
	if c.nc != nil {
		c.nc.SetReadDeadline(time.Time{})
	} else if c.rf != nil {
		c.rf.SetReadDeadline(time.Time{}) // not the linger deadline
	}
	if c.closed.Load() {
		return nil, c.closeErr()
	}
	for {
		if len(c.in) > 0 {
			if _, remaining, hn, err := packet.ParseHeader(c.in); err == nil && len(c.in) >= hn+remaining {
				pkt := c.in[:hn+remaining]
				if rest := c.in[hn+remaining:]; len(rest) > 0 {
					c.in = bytes.Clone(rest)
				} else {
					c.in = nil
				}
				return packet.ReadPacket(bytes.NewReader(pkt), c.version, maxIn)
			} else if err != nil && err != packet.ErrIncomplete {
				return nil, err
			}
		}
		var tmp [512]byte
		n, err := c.read(tmp[:], true)
		if n > 0 {
			c.in = append(c.in, tmp[:n]...)
			continue
		}
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
}

// closeErr is the reader's error once close() was called: the timeout
// the sweep found, or errClosed.
func (c *conn) closeErr() error {
	switch c.timedOut.Load() {
	case timeoutConnect:
		return errConnectTimeout
	case timeoutKeepAlive:
		return errKeepAlive
	}
	return errClosed
}

var (
	errClosed         = errors.New("connection closed by the server")
	errNormal         = errors.New("client disconnected")
	errConnectFirst   = errors.New("first packet was not CONNECT")
	errConnectTimeout = errors.New("no CONNECT within the connect timeout")
)

// readError maps a read or decode error onto the close reason.
func (c *conn) readError(err error) error {
	if c.closed.Load() {
		return c.closeErr()
	}
	var pe *packet.Error
	var rc packet.ReasonCode
	if !c.connectSeen && packet.ReasonOf(err) == packet.UnsupportedProtocolVersion {
		// Answer in the 3.1.1 format: CONNACK return code 1 [MQTT-3.1.2-2].
		c.version = packet.V311
		c.send(&packet.Connack{ReasonCode: packet.UnsupportedProtocolVersion})
		c.close(closeReason{})
		return err
	}
	switch {
	case errors.As(err, &pe):
		c.close(closeReason{code: pe.Code, send: true})
		return err
	case errors.As(err, &rc):
		c.close(closeReason{code: rc, send: true})
		return err
	case errors.Is(err, os.ErrDeadlineExceeded):
		if !c.connectSeen {
			return errConnectTimeout
		}
		c.close(closeReason{code: packet.KeepAliveTimeout, send: true})
		return errKeepAlive
	}
	return err
}

var errKeepAlive = errors.New("keep alive timeout")

func (c *conn) handlerError(err error) error {
	if err == errNormal || err == errNormalWithWill {
		c.close(closeReason{})
		return err
	}
	if c.closed.Load() {
		return err
	}
	c.close(closeReason{code: packet.ReasonOf(err), send: true})
	return err
}

// dispatch calls the handler for p. A returned error closes the
// connection; its reason code (packet.ReasonOf) goes into DISCONNECT.
func (c *conn) dispatch(p packet.Packet) error {
	if !c.connectSeen {
		cp, ok := p.(*packet.Connect)
		if !ok {
			return errConnectFirst // [MQTT-3.1.0-1]
		}
		c.connectSeen = true
		return c.handleConnect(cp)
	}
	switch p := p.(type) {
	case *packet.Publish:
		return c.handlePublish(p)
	case *packet.Puback:
		return c.handlePuback(p)
	case *packet.Pubrec:
		return c.handlePubrec(p)
	case *packet.Pubrel:
		return c.handlePubrel(p)
	case *packet.Pubcomp:
		return c.handlePubcomp(p)
	case *packet.Subscribe:
		return c.handleSubscribe(p)
	case *packet.Unsubscribe:
		return c.handleUnsubscribe(p)
	case *packet.Pingreq:
		c.send(&packet.Pingresp{})
		return nil
	case *packet.Disconnect:
		return c.handleDisconnect(p)
	case *packet.Auth:
		return c.handleAuth(p)
	case *packet.Connect:
		return &packet.Error{Code: packet.ProtocolError, Msg: "second CONNECT"} // [MQTT-3.1.0-2]
	default:
		// CONNACK, SUBACK, UNSUBACK, PINGRESP are server-to-client only.
		return &packet.Error{Code: packet.ProtocolError, Msg: fmt.Sprintf("unexpected packet type %d from a client", p.Type())}
	}
}

// writeScratch is what a running writer needs; pooled, so an idle
// connection holds none of it.
type writeScratch struct {
	ctrl []ctrlPacket
	msgs []delivery
	out  []byte
	pub  packet.Publish
}

var scratchPool = sync.Pool{New: func() any { return &writeScratch{out: make([]byte, 0, 4096)} }}

// flushAt is how many encoded bytes the writer gathers before a write.
const flushAt = 64 << 10

// runWriter drains control packets, retransmissions and queued messages,
// encoding them into one buffer and writing it when it is full or nothing
// is left, so a burst costs one syscall per 64 KiB. It holds the writing
// token (notify) and wmu; it exits when there is nothing left to do.
func (c *conn) runWriter() {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.ws = scratchPool.Get().(*writeScratch)
	for {
		c.wpending.Store(false)
		if c.closed.Load() { // teardown writes what is left
			break
		}
		if err := c.drain(c.ws); err != nil {
			c.writeFailed(err)
			break
		}
		if c.wpending.Load() {
			continue
		}
		// Give the scratch back before the token: the next holder
		// (another writer, or teardown) uses c.ws.out.
		c.releaseScratch()
		c.writing.Store(false)
		if !c.wpending.Load() || !c.writing.CompareAndSwap(false, true) {
			return
		}
		c.ws = scratchPool.Get().(*writeScratch)
	}
	c.releaseScratch()
	c.writing.Store(false)
}

func (c *conn) releaseScratch() {
	c.dropFile(&c.wf)
	ws := c.ws
	c.ws = nil
	if cap(ws.out) > 1<<20 {
		ws.out = make([]byte, 0, 4096) // do not pool a huge packet's buffer
	}
	ws.out = ws.out[:0]
	ws.pub = packet.Publish{} // keep no message alive from the pool
	scratchPool.Put(ws)
}

// drain writes everything the connection may send now.
func (c *conn) drain(ws *writeScratch) error {
	for {
		c.mu.Lock()
		ws.ctrl = append(ws.ctrl[:0], c.ctrl...)
		clear(c.ctrl)
		if cap(c.ctrl) > 64 {
			c.ctrl = nil // a burst's queue is not kept by an idle connection
		} else {
			c.ctrl = c.ctrl[:0]
		}
		sess := c.sess // set with the CONNACK, so messages never precede it
		c.mu.Unlock()
		ws.msgs = sess.takeForSend(c, ws.msgs[:0])
		if len(ws.ctrl) == 0 && len(ws.msgs) == 0 {
			break
		}
		for i := range ws.ctrl {
			if err := c.writeCtrl(&ws.ctrl[i]); err != nil {
				return err
			}
			ws.ctrl[i] = ctrlPacket{}
		}
		for i := range ws.msgs {
			if err := c.writeDelivery(&ws.msgs[i]); err != nil {
				return err
			}
			ws.msgs[i] = delivery{}
		}
	}
	return c.flush()
}

// flush writes the encoded packets.
func (c *conn) flush() error {
	if len(c.ws.out) == 0 {
		return nil
	}
	out := c.ws.out
	c.ws.out = c.ws.out[:0]
	if c.fd >= 0 {
		// Usually the socket takes it all at once: no deadline (a
		// runtime timer per connection) is needed for that.
		n, err := writeFD(int(c.fd), out)
		c.b.stats.bytesSent.Add(int64(n))
		if err != nil && err != errAgain {
			return err
		}
		if out = out[n:]; len(out) == 0 {
			return nil
		}
	}
	d := c.b.opts.WriteTimeout
	if c.closed.Load() {
		d = time.Second
	}
	var w io.Writer = c.nc
	if c.nc == nil {
		// The socket is full: wait for room on Go's poller.
		f, err := c.pollFile(&c.wf)
		if err != nil { // out of descriptors (EMFILE): poll by sleeping
			return c.writeSlow(out, d)
		}
		if c.closed.Load() {
			d = time.Second // close() may have set its deadline before ours
		}
		f.SetWriteDeadline(time.Now().Add(d))
		w = f
	} else {
		c.nc.SetWriteDeadline(time.Now().Add(d))
	}
	n, err := w.Write(out)
	c.b.stats.bytesSent.Add(int64(n))
	return err
}

// writeSlow writes out to the bare socket without a poll file (none could
// be made): non-blocking writes with sleeps in between, within d of no
// progress (a second once the connection is closing).
func (c *conn) writeSlow(out []byte, d time.Duration) error {
	pause := time.Millisecond
	last := time.Now()
	for len(out) > 0 {
		n, err := writeFD(int(c.fd), out)
		c.b.stats.bytesSent.Add(int64(n))
		if err != nil && err != errAgain {
			return err
		}
		out = out[n:]
		now := time.Now()
		if n > 0 {
			last, pause = now, time.Millisecond
			continue
		}
		if c.closed.Load() {
			d = min(d, time.Second)
		}
		if now.Sub(last) >= d {
			return os.ErrDeadlineExceeded
		}
		time.Sleep(pause)
		pause = min(2*pause, 20*time.Millisecond)
	}
	return nil
}

// wrote is called after a packet was appended to c.ws.out.
func (c *conn) wrote() error {
	c.b.stats.msgsSent.Add(1)
	if len(c.ws.out) >= flushAt {
		return c.flush()
	}
	return nil
}

func (c *conn) writeFailed(err error) {
	c.b.log.Debug("write failed", "client", c.clientID, "err", err)
	c.close(closeReason{})
}

// teardown ends the connection; the reader side calls it once, with the
// error that ended it. It takes the writing token for good (no writer
// runs after it), sends what is queued and the MQTT 5 DISCONNECT, closes
// the socket, and detaches the session.
func (c *conn) teardown(err error) {
	c.close(closeReason{}) // no-op if already closing
	for !c.writing.CompareAndSwap(false, true) {
		c.wmu.Lock() // wait for the running writer
		c.wmu.Unlock()
		runtime.Gosched()
	}
	c.finish()
	c.dropFile(&c.rf)
	if c.polled() {
		c.b.poll.remove(c)
		closeFD(int(c.fd))
	} else {
		c.nc.Close()
	}
	c.in = nil
	c.cleanup(err)
	c.b.removeConn(c)
	c.done.Unlock()
	c.b.wg.Done()
}

// finish flushes what is queued for the socket (acks, CONNACK with an
// error code) and the MQTT 5 DISCONNECT, under a short deadline.
func (c *conn) finish() {
	c.mu.Lock()
	ctrl := c.ctrl
	c.ctrl = nil
	r := c.reason
	c.mu.Unlock()
	c.ws = scratchPool.Get().(*writeScratch)
	defer c.releaseScratch()
	for i := range ctrl {
		if c.writeCtrl(&ctrl[i]) != nil {
			return
		}
	}
	// [MQTT-4.13.1-1]: 3.x has no server DISCONNECT; MQTT 5 gets one only
	// after a successful CONNACK and only with an error reason.
	if r.send && c.version == packet.V5 && c.connAccepted && r.code >= 0x80 {
		d := &packet.Disconnect{ReasonCode: r.code}
		if c.writePacket(d) != nil {
			return
		}
	}
	c.flush()
}

// writeCtrl encodes a queued control packet.
func (c *conn) writeCtrl(cp *ctrlPacket) error {
	if cp.p != nil {
		return c.writePacket(cp.p)
	}
	c.ws.out = append(c.ws.out, cp.first, 2, byte(cp.id>>8), byte(cp.id))
	return c.wrote()
}

// writePacket encodes p into the output buffer, honouring the client's
// Maximum Packet Size for packets other than PUBLISH by dropping the
// reason string and user properties first [MQTT-3.1.2-25].
func (c *conn) writePacket(p packet.Packet) error {
	if c.maxOut > 0 && packet.Size(p, c.version) > int(c.maxOut) {
		stripOptional(p)
		if packet.Size(p, c.version) > int(c.maxOut) {
			return nil // cannot be sent at all; drop it
		}
	}
	var err error
	c.ws.out, err = packet.Append(c.ws.out, p, c.version)
	if err != nil {
		c.b.log.Error("encoding failed", "client", c.clientID, "type", p.Type(), "err", err)
		return nil
	}
	return c.wrote()
}

// stripOptional removes the reason string and user properties, which
// the server may omit when the packet would be too large.
func stripOptional(p packet.Packet) {
	var pr *packet.Properties
	switch p := p.(type) {
	case *packet.Connack:
		pr = &p.Properties
	case *packet.Puback:
		pr = &p.Properties
	case *packet.Pubrec:
		pr = &p.Properties
	case *packet.Pubrel:
		pr = &p.Properties
	case *packet.Pubcomp:
		pr = &p.Properties
	case *packet.Suback:
		pr = &p.Properties
	case *packet.Unsuback:
		pr = &p.Properties
	case *packet.Disconnect:
		pr = &p.Properties
	case *packet.Auth:
		pr = &p.Properties
	default:
		return
	}
	pr.ReasonString = ""
	pr.User = nil
}

// cleanup runs after both goroutines stopped: logs, will, session detach.
func (c *conn) cleanup(err error) {
	if c.sess == nil {
		if err != nil && err != errClosed && !errors.Is(err, io.EOF) {
			c.b.log.Info("Client " + c.remote + " disconnected: " + err.Error() + ".")
		}
		return
	}
	c.b.stats.clientsConnected.Add(-1)
	switch {
	case err == errNormal || err == errNormalWithWill:
		c.b.log.Info("Client " + c.clientID + " disconnected.")
	case err == errKeepAlive:
		c.b.log.Info("Client " + c.clientID + " has exceeded timeout, disconnecting.")
	case err == errClosed:
		c.mu.Lock()
		r := c.reason
		c.mu.Unlock()
		if r.code == packet.SessionTakenOver {
			c.b.log.Info("Client " + c.clientID + " already connected, closing old connection.")
		} else {
			c.b.log.Info("Client " + c.clientID + " disconnected.")
		}
	case errors.Is(err, io.EOF):
		c.b.log.Info("Client " + c.clientID + " closed its connection.")
	default:
		c.b.log.Info("Client " + c.clientID + " disconnected due to protocol error: " + err.Error() + ".")
	}
	c.b.detach(c)
}
