package broker

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
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

// conn is one client connection's protocol state: decoded packets in
// (input, dispatch), packets out (the writer encodes control packets and
// the session's messages into one buffer and hands it to the transport).
// The handlers never touch the network: they queue control packets (send)
// or messages on the session, and notify starts a writer goroutine that
// exists only while there is something to write (runWriter).
//
// What carries the bytes is the transport (transport.go), embedded with
// the conn in one allocation: the epoll event loop on a bare descriptor
// (transport_socket_linux.go, with TLS: transport_tls_linux.go), a
// net.Conn with a reader goroutine (transport.go: websockets,
// Options.BlockingIO) or the in-process LocalConn (transport_local.go). Whichever runs the reader
// side owns the connection's lifetime and ends it with teardown. Lock
// order: see LOCKS.md.
type conn struct {
	b *Broker
	t transport

	// Set by the CONNECT handler before anything is written, then read-only.
	sess *Session   // written under mu (with the CONNACK); the writer reads it under mu
	info ClientInfo // Listener is set at accept, the rest by CONNECT (ClientID: the session's id)
	x    *connExtra // what few connections use (enhanced auth, topic aliases, a will); nil without
	acks *ackQueue  // acknowledgements waiting for the store (under mu), nil until one does

	// Reader state: one reader at a time (the transport guarantees it).
	// in holds the bytes of a partial packet; nil between packets. A
	// pointer, not a slice: 16 bytes less on every idle connection, for
	// a 24-byte allocation per read that ends inside a packet.
	in *[]byte
	// rb: the state of the read being handled (handleBytes to
	// afterBatch); nil between reads.
	rb *readBatch

	// Writer state: owned by whoever holds the writing token.
	ws *writeScratch // output buffer and PUBLISH; pooled, only while writing

	mu sync.Mutex // guards ctrl, reason, closing (and the socket transport's poll files)
	// ctrl: the control packets waiting for the writer (acknowledgements,
	// CONNACK, PINGRESP), in order; nil while none is. Pooled (ctrlPool):
	// the writer takes the queue and gives it back, so an idle connection
	// holds 8 bytes, not a slice's 24 and an array.
	ctrl *[]ctrlPacket

	wmu  sync.Mutex // held by runWriter while it runs: teardown waits on it
	done sync.Mutex // locked from accept until teardown completes (takeover waits on it)
	// kaLimit is -1 - the Broker.clock() by which CONNECT must be handled
	// (the sweep's connect timeout: ConnectTimeout after accept, sooner
	// for a refused packet's rest, awaitRefusedRest) until it is, then
	// 1.5 × keep alive in ns, 0: none.
	kaLimit  atomic.Int64
	lastRead atomic.Int64  // Broker.clock() at the last read
	st       atomic.Uint32 // st* bits: the connection's tokens and flags, in one word
	// lastWrite is Broker.clockMicros() at the last write to the
	// transport (write coalescing, coalesce.go).
	lastWrite atomic.Int32

	// Small fields packed together (set by CONNECT / the reader unless
	// noted). What only MQTT 5 or a will needs is in connExtra.
	slot         int32  // its index in Broker.conns (connSet), under Broker.mu
	since        uint32 // Broker.clock() at accept in whole seconds (ConnectedSince)
	window       uint16 // outbound inflight window (CONNECT: Receive Maximum, at most 65,535)
	shard        uint8  // which stats shard this connection counts in
	version      byte
	problemInfo  bool // Request Problem Information (MQTT 5), default true
	connAccepted bool
	connectSeen  bool
	inOwned      bool        // dispatching a buffer of its own, never reused: payloads may alias it
	onLoop       bool        // the reader is the event loop's goroutine (readInline; leaveLoop)
	normalClose  bool        // DISCONNECT 0x00 received: discard the will
	trusted      bool        // in-process subscription without an identity: no auth, no ACL
	closing      bool        // under mu
	fed          uint8       // fed* bits: whom this read's messages were queued for (the reader's; backlog.go)
	reason       closeReason // under mu
	// deferred: how many batches in a row left their output to the next
	// read's (afterBatch); the reader's.
	deferred uint8
}

// connExtra is what few connections use, kept apart so that an idle
// 3.1.1 connection without a will does not carry it (32 bytes each). It
// is made while the CONNECT is handled (extra), before the connection
// has a writer or a session, and never replaced: other goroutines read
// conn.x without a lock. Topic aliases get one for every MQTT 5
// connection that may use them (the CONNACK's Topic Alias Maximum, the
// client's), so the reader and the writer never make it.
type connExtra struct {
	auth     *authState        // MQTT 5 enhanced authentication (§4.12), nil without
	aliasIn  map[uint16]string // the reader's: topic aliases the client set
	aliasOut map[string]uint16 // the writer's: topic aliases the broker set
	will     *Message          // nil: none, or discarded
	// refused: how the connection ends once skip more bytes (the rest of
	// a first packet over MaxConnectSize, refused) are read and
	// discarded (refuseOversize), by connectBy (Broker.clock()) at the
	// latest; the reader's.
	refused   error
	skip      int
	connectBy int64
	// Set by CONNECT: the will's delay in seconds (MQTT 5 Will Delay
	// Interval), the client's Maximum Packet Size (0: none) and Topic
	// Alias Maximum (how many aliases the broker may set).
	willDelay   uint32
	maxOut      uint32
	aliasOutMax uint16
}

// maxOut is the client's Maximum Packet Size, 0: none [MQTT-3.1.2-24].
func (c *conn) maxOut() uint32 {
	if c.x == nil {
		return 0
	}
	return c.x.maxOut
}

// willDelay is the will's delay in seconds, 0: none.
func (c *conn) willDelay() uint32 {
	if c.x == nil {
		return 0
	}
	return c.x.willDelay
}

// aliasOutMax is how many topic aliases the broker may set, 0: none.
func (c *conn) aliasOutMax() uint16 {
	if c.x == nil {
		return 0
	}
	return c.x.aliasOutMax
}

// extra returns c.x, making it; only while the CONNECT is handled (or
// refused, before anyone writes).
func (c *conn) extra() *connExtra {
	if c.x == nil {
		c.x = new(connExtra)
	}
	return c.x
}

// authSt is the connection's enhanced authentication state, nil without.
func (c *conn) authSt() *authState {
	if c.x == nil {
		return nil
	}
	return c.x.auth
}

// willMsg is the connection's will, nil without.
func (c *conn) willMsg() *Message {
	if c.x == nil {
		return nil
	}
	return c.x.will
}

// ctrlPacket is a queued control packet; a nil p is a plain acknowledgement
// (PUBACK, PUBREC, PUBREL, PUBCOMP with reason Success and no properties),
// encoded from first and id without allocating a packet.
type ctrlPacket struct {
	p     packet.Packet
	first byte
	id    uint16
}

// Bits of conn.fed.
const (
	fedSession uint8 = 1 << iota // a session that is not backlogged
	fedBacklog                   // a backlogged session (flagBacklog), slow or not
)

// Bits of conn.st.
const (
	// stClosed: close was called (readable without mu; closing is under it).
	stClosed uint32 = 1 << iota
	// stWriting: the writing token, held by runWriter or writeInline, and
	// for good by teardown.
	stWriting
	// stPending: notify was called since the writer last looked for work.
	stPending
	// stInReader: the reader is dispatching a batch; it writes what that
	// queues itself (writeInline).
	stInReader
	// timeoutConnect, timeoutKeepAlive: why the sweep closed it.
	timeoutConnect
	timeoutKeepAlive
	// stDrain: taken over; the reader handles what has arrived, then the
	// connection closes with SessionTakenOver (takeover).
	stDrain
	// stAdmitted: counted against its listener's MaxConnections
	// (Broker.admit), set before the connection starts.
	stAdmitted
	// stWriteTimeout: closed because the socket took no bytes for
	// WriteTimeout (the client stopped reading).
	stWriteTimeout
	// stPauseSpent: the reader has paused long for backlogged
	// subscribers (backlog.go) and does not pause again until a read
	// feeds none. Set and cleared by the reader only.
	stPauseSpent
	// stPeerGone: a write failed because the client had closed or reset
	// its socket (logged as "closed its connection", not "disconnected").
	stPeerGone
)

// takeover ends a connection whose client id a new connection takes
// [MQTT-3.1.4-3]: what it has already received is handled first, so a
// DISCONNECT sent just before the new CONNECT counts (no will; its
// Session Expiry Interval applies), then it closes with 0x8E.
func (c *conn) takeover() {
	if c.st.Or(stDrain)&stDrain == 0 {
		c.t.drainInput()
	}
}

// drained is called by a reader that has read all its transport holds:
// a connection being taken over closes now.
func (c *conn) drained() error {
	if c.st.Load()&stDrain != 0 {
		c.close(reasonTakeover)
		return c.closeErr()
	}
	return nil
}

func (c *conn) isClosed() bool { return c.st.Load()&stClosed != 0 }

// tryWriting takes the writing token; it reports whether it got it.
func (c *conn) tryWriting() bool { return c.st.Or(stWriting)&stWriting == 0 }

// setTimedOut records why the sweep closes the connection, once.
func (c *conn) setTimedOut(why uint32) {
	for {
		old := c.st.Load()
		if old&(timeoutConnect|timeoutKeepAlive) != 0 || c.st.CompareAndSwap(old, old|why) {
			return
		}
	}
}

// timedOutBy is timeoutConnect, timeoutKeepAlive or 0.
func (c *conn) timedOutBy() uint32 { return c.st.Load() & (timeoutConnect | timeoutKeepAlive) }

// init prepares a new connection served by transport t; remote is the
// peer's address as logged, port the listener's (ClientInfo.Listener).
func (c *conn) init(b *Broker, t transport, remote net.Addr, port string) {
	c.b, c.t = b, t
	c.info.Remote = remote
	c.info.Listener = port
	c.problemInfo = true
	born := b.clock()
	c.since = uint32(born / int64(time.Second))
	c.shard = uint8(b.shardSeq.Add(1) % statShards)
	c.kaLimit.Store(-1 - (born + int64(b.opts.ConnectTimeout)))
	c.lastRead.Store(born - int64(time.Hour)) // not "hot" (the socket transport's linger)
	c.done.Lock()
}

// waitDone blocks until the connection's teardown is complete.
func (c *conn) waitDone() {
	c.done.Lock()
	c.done.Unlock()
}

// close asks the connection to end. It is safe from any goroutine and
// idempotent; the first reason wins. The transport is interrupted (a
// blocked reader wakes, a blocked writer gets a second), and the reader
// side's teardown sends what is queued, the MQTT 5 DISCONNECT (when
// reason.send) and closes the transport.
func (c *conn) close(r closeReason) {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return
	}
	c.closing = true
	c.reason = r
	c.st.Or(stClosed)
	c.mu.Unlock()
	c.t.interrupt()
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
	c.pushCtrlLocked(cp)
	c.mu.Unlock()
	c.notify()
}

// pushCtrlLocked queues cp for the writer; under mu.
func (c *conn) pushCtrlLocked(cp ctrlPacket) {
	if c.ctrl == nil {
		c.ctrl = ctrlPool.Get().(*[]ctrlPacket)
	}
	*c.ctrl = append(*c.ctrl, cp)
}

// takeCtrlLocked takes the queued control packets, appended to dst;
// under mu. The queue goes back to ctrlPool (not one a burst grew past
// 64 packets).
func (c *conn) takeCtrlLocked(dst []ctrlPacket) []ctrlPacket {
	q := c.ctrl
	if q == nil {
		return dst
	}
	c.ctrl = nil
	dst = append(dst, *q...)
	clear(*q)
	if cap(*q) <= 64 {
		*q = (*q)[:0]
		ctrlPool.Put(q)
	}
	return dst
}

var ctrlPool = sync.Pool{New: func() any { q := make([]ctrlPacket, 0, 8); return &q }}

// notify tells the writer there is work, starting it if none runs.
// While the reader dispatches a batch, it leaves the work to writeInline.
func (c *conn) notify() {
	if old := c.st.Or(stPending); old&(stInReader|stWriting) == 0 && c.tryWriting() {
		c.b.work.spawn(c, (*conn).runWriter)
	}
}

// writeInline runs after the reader dispatched a batch: what the batch
// queued (PUBACKs above all) is written from the reader's goroutine when
// no writer runs, without waking another goroutine for it; the socket
// usually takes it at once. It is bounded: the drain stops at the
// session's inflight window.
func (c *conn) writeInline() {
	c.st.And(^stInReader)
	if !(c.st.Load()&stPending != 0) || !c.tryWriting() {
		return
	}
	c.st.And(^stPending)
	if c.isClosed() {
		c.st.And(^stWriting)
		return
	}
	c.wmu.Lock()
	c.ws = scratchPool.Get().(*writeScratch)
	c.ws.onLoop = c.onLoop
	err := c.drain(c.ws)
	c.releaseScratch()
	c.st.And(^stWriting)
	c.wmu.Unlock()
	if err != nil {
		c.writeFailed(err)
		return
	}
	if (c.st.Load()&stPending != 0) && c.tryWriting() {
		c.b.work.spawn(c, (*conn).runWriter)
	}
}

// leaveLoop is called by the reader before what may wait or take long
// (an Authenticator, retained messages for a SUBSCRIBE, a socket with no
// room): if it runs on the event loop's goroutine (readInline), another
// goroutine becomes the loop and this one goes on as an ordinary reader.
func (c *conn) leaveLoop() {
	if c.onLoop {
		c.onLoop = false
		c.b.poll.handoff(c)
	}
}

// recoverHandler turns a panic in a handler into the end of this
// connection only.
func (c *conn) recoverHandler(err *error) {
	if p := recover(); p != nil {
		if h := c.b.knobs.panicked; h != nil {
			h(p)
		}
		c.b.log.Error("internal error handling client, closing its connection",
			"client", c.info.ClientID, "remote", c.remoteStr(), "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		c.close(closeReason{code: packet.ImplementationSpecificError, send: true})
		*err = fmt.Errorf("panic: %v", p)
	}
}

// readBufSize is the read buffer of a connection served by a reader
// goroutine (netConn: websockets, Options.BlockingIO), which holds it
// while blocked in Read. loopReadSize is the event loop's, held only
// while a read is parsed: large enough that one read takes a publisher's
// window of 1 KiB messages (20, about 21 KB, as mqtt bench and mosquitto_pub
// keep in flight). 16 KiB split such a window in two reads, each with its
// own PUBACK write and wake-up of the publisher (fan-in 1 KiB QoS 1, 4
// publishers: 38,000 PUBACK writes for 400,000 messages).
const (
	readBufSize  = 16 << 10
	loopReadSize = 32 << 10
)

// pubPool holds the Publish values PUBLISH packets are decoded into.
var pubPool = sync.Pool{New: func() any { return new(packet.Publish) }}

// readPool and loopReadPool hold the read buffers: a connection has one
// only while a read is being parsed (memory follows traffic, not
// connections), or, served by a reader goroutine, blocked in Read.
var (
	readPool     = sync.Pool{New: func() any { b := make([]byte, readBufSize); return &b }}
	loopReadPool = sync.Pool{New: func() any { b := make([]byte, loopReadSize); return &b }}
)

// errAgain is a transport's "nothing to read (or no room to write) now".
var errAgain = errors.New("would block")

// input reads once through rd and dispatches the complete packets; the
// bytes of a trailing partial packet stay in c.in. It returns whether rd
// got less than it asked for (a non-blocking socket is empty then) and
// the error that ends the connection (mapped by readError/handlerError),
// or errAgain when rd had nothing.
//
// Memory follows the bytes that arrived, never the length a header
// announces: a read lands in a pooled buffer (32 KiB on the event loop,
// 16 KiB for a reader goroutine); a large partial packet (largePartial)
// grows in c.in by reading what arrives straight into it (growIn). The
// buffer goes back to its pool once the packets are handled, before the
// reader writes what they queued (its socket may be full) or pauses for
// a backlogged subscriber.
func (c *conn) input(rd func([]byte) (int, error)) (drained bool, err error) {
	pool, size := &loopReadPool, loopReadSize
	_, blocking := c.t.(*netConn)
	if blocking {
		pool, size = &readPool, readBufSize
	}
	// A full read's output may wait for the next read's (afterBatch),
	// which on a non-blocking socket returns at once; a reader goroutine's
	// next Read may wait for the client, which may be waiting for it.
	deferOK := !blocking
	if c.in != nil && (len(*c.in) > size/2 || cap(*c.in) > size) {
		// A large packet in progress: read straight into it, and parse
		// only once it is complete. It grows as bytes arrive (growIn),
		// so it holds at most twice what arrived, or what arrived and
		// two read buffers, and is copied once overall, not once per
		// read.
		in := growIn(c.takeIn(), size)
		room := in[len(in):cap(in)]
		n, err := rd(room)
		if n <= 0 {
			c.putBackIn(in)
			c.writeDeferred()
			return false, c.readFailed(err)
		}
		c.noteRead(n)
		in = in[:len(in)+n]
		if _, remaining, hn, err := packet.ParseHeader(in); err == nil && len(in) < hn+remaining {
			return n < len(room), c.keepIn(in)
		}
		// The room past the packet (growIn's rounding up to the
		// allocator's size) took the start of the next one: on a full
		// read it goes into a buffer of its own too, so a stream of large
		// packets is read about one read per packet.
		more := 0
		if n == len(room) {
			more = size
		}
		c.inOwned = true // in is this packet's own: its payload need not be copied
		pause, err := c.handleBytes(in, more)
		c.inOwned = false
		c.afterBatch(pause, err == nil && more > 0 && deferOK)
		return n < len(room), err
	}
	bp := pool.Get().(*[]byte)
	buf := *bp
	k := 0
	if c.in != nil {
		k = copy(buf, *c.in)
	}
	n, err := rd(buf[k:])
	if n <= 0 {
		pool.Put(bp)
		c.writeDeferred()
		return false, c.readFailed(err)
	}
	c.noteRead(n)
	c.takeIn()
	more := 0 // a full read: the socket may hold the rest of a partial packet
	if n == len(buf)-k {
		more = size
	}
	pause, err := c.handleBytes(buf[:k+n], more)
	pool.Put(bp) // before anything that may wait: a full socket, a pause
	c.afterBatch(pause, err == nil && more > 0 && deferOK)
	return n < len(buf)-k, err
}

// growIn makes room in a large partial packet (largePartial, with read
// buffers of size bytes) for the bytes still missing: at most
// max(len(in), 2*size) more, so it holds at most twice what arrived, or
// what arrived and two read buffers. Two, not one as before: a 64 KiB
// payload's packet is a few bytes over two of them, and one growth that
// takes it all saves a second allocation and copy of the packet (fan-in
// of 64 KiB payloads: the reader's copies and zeroing were 12% of the
// broker's CPU with a copy into a 32 KiB buffer, then one into the grown
// packet).
func growIn(in []byte, size int) []byte {
	missing := size
	if _, remaining, hn, err := packet.ParseHeader(in); err == nil && hn+remaining > len(in) {
		missing = hn + remaining - len(in)
	}
	if cap(in)-len(in) < min(missing, size) {
		in = slices.Grow(in, min(missing, max(len(in), 2*size)))
	}
	return in
}

// largePartial reports whether a partial packet is read into a buffer of
// its own (growIn) rather than through read buffers of size bytes: it
// holds more than half of one, or its header announces more than one.
func largePartial(in []byte, size int) bool {
	if len(in) > size/2 {
		return true
	}
	_, remaining, hn, err := packet.ParseHeader(in)
	return err == nil && hn+remaining > size
}

// dispatchBytes consumes data (complete packets, then maybe a partial
// one, which is copied to c.in) and writes what the handlers queued
// (handleBytes, afterBatch).
func (c *conn) dispatchBytes(data []byte) error {
	pause, err := c.handleBytes(data, 0)
	c.afterBatch(pause, false)
	return err
}

// handleBytes consumes data: it dispatches the complete packets and
// copies a trailing partial one to c.in; nothing refers to data after
// it. pause reports that the packets were handled without error, so the
// reader may pause if they fed a backlogged subscriber (afterBatch).
//
// more > 0 says the read filled its buffer of that size, so the rest of
// a partial packet is likely waiting in the socket: a large one
// (largePartial; input then reads the rest straight into c.in) is copied
// with room for it (growIn), one allocation and one copy instead of a
// copy now, another into the next read's buffer and a growth after it.
// Otherwise only its bytes are kept: a connection that stops mid-packet
// holds what it sent.
func (c *conn) handleBytes(data []byte, more int) (pause bool, _ error) {
	c.st.Or(stInReader)
	if c.rb == nil {
		c.rb = batchPool.Get().(*readBatch)
	}
	rest, err := c.consume(data)
	if err != nil {
		return false, err
	}
	if len(rest) > 0 {
		if more > 0 && largePartial(rest, more) {
			// slices.Grow of a full slice copies rest and zeroes only the room.
			return true, c.keepIn(growIn(rest[:len(rest):len(rest)], more))
		}
		return true, c.keepIn(append(make([]byte, 0, len(rest)), rest...))
	}
	return true, nil
}

// afterBatch ends the dispatch of a read: it writes what the packets
// queued (writeInline), then pauses the reader after a read that fed a
// backlogged subscriber (c.throttle, waitBacklog); a read that fed none
// ends a publisher's episode of pauses.
//
// full says the read filled its buffer, so the reader reads again at
// once: the output of a read of large packets (maxDeferredPackets) then
// waits for that read's batch (up to maxDeferredBatches in a row, and
// never over a pause), so that a
// publisher streaming large messages gets its PUBACKs a few to a write,
// not one write each. Fan-in of 64 KiB payloads at QoS 1: one PUBACK
// write per message was 9% of the broker's CPU, and each woke its
// publisher. stInReader stays set meanwhile, so a notify leaves the
// writing to this reader; a read that finds nothing writes it
// (writeDeferred), and teardown writes the control packets in any case.
func (c *conn) afterBatch(pause, full bool) {
	var throttle *Session
	packets := 0
	if rb := c.rb; rb != nil {
		throttle, packets = rb.throttle, rb.packets
		rb.throttle, rb.packets = nil, 0
		c.rb = nil
		batchPool.Put(rb)
	}
	if full && packets <= maxDeferredPackets && throttle == nil && c.deferred < maxDeferredBatches {
		c.deferred++
	} else {
		c.deferred = 0
		c.writeInline()
	}
	switch {
	case throttle != nil && pause:
		c.waitBacklog(throttle)
	case c.st.Load()&stPauseSpent != 0 && c.fed == fedSession:
		// A read whose messages went to sessions, none of them
		// backlogged, slow or not: the episode is over. (Not one that
		// completed no message, nor one that fed only slow sessions:
		// else each session that became backlogged after the long
		// pause marked the others slow would hold the publisher in turn.)
		c.st.And(^stPauseSpent)
	}
	c.fed = 0
}

// maxDeferredBatches bounds how many full reads in a row leave their
// output to the next one (afterBatch): 8 reads are 256-512 KiB of input.
const maxDeferredBatches = 8

// maxDeferredPackets: only a read that completed at most this many
// packets (large ones: a full read of 64 KiB messages completes one or
// none) leaves its output to the next read. A full read of small
// messages writes its PUBACKs at once: held back, they stall publishers
// whose windows they reopen (fan-in of 1 KiB messages at QoS 1 lost
// 5-10% of its throughput).
const maxDeferredPackets = 2

// writeDeferred writes what batches left for the next read (afterBatch)
// when that read brings nothing.
func (c *conn) writeDeferred() {
	if c.deferred > 0 {
		c.deferred = 0
		c.writeInline()
	}
}

// takeIn takes the partial packet out of c.in. Until CONNECT is
// accepted, c.in counts against Options.MaxPendingConnectBytes, the
// budget of every unauthenticated connection together.
func (c *conn) takeIn() []byte {
	if c.in == nil {
		return nil
	}
	in := *c.in
	c.in = nil
	if !c.connAccepted && len(in) > 0 {
		c.b.pendingConnect.Add(-int64(len(in)))
	}
	return in
}

// setIn keeps in as the partial packet (none when empty).
func (c *conn) setIn(in []byte) {
	if len(in) == 0 {
		c.in = nil
		return
	}
	c.in = &in
}

// putBackIn undoes takeIn when nothing arrived.
func (c *conn) putBackIn(in []byte) {
	c.setIn(in)
	if !c.connAccepted && len(in) > 0 {
		c.b.pendingConnect.Add(int64(len(in)))
	}
}

// keepIn keeps a partial packet for the next read; past the budget of
// unauthenticated bytes the connection is closed.
func (c *conn) keepIn(in []byte) error {
	c.setIn(in)
	if !c.connAccepted && c.b.pendingConnect.Add(int64(len(in))) > c.b.opts.MaxPendingConnectBytes {
		c.b.log.Warn("Client " + c.logAddr() + " closed: the connections still sending their CONNECT hold more than " + strconv.FormatInt(c.b.opts.MaxPendingConnectBytes, 10) + " bytes together (too many slow or incomplete CONNECTs)")
		c.close(closeReason{})
		return errPendingBudget
	}
	return nil
}

func (c *conn) noteRead(n int) {
	c.lastRead.Store(c.b.clock())
	c.b.stats.add(c.shard, statBytesRecv, int64(n))
}

func (c *conn) readFailed(err error) error {
	if err == errAgain {
		if c.isClosed() {
			return c.closeErr()
		}
		return errAgain
	}
	if err == nil || err == io.EOF {
		err = io.EOF
		if c.in != nil {
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
func (c *conn) consume(buf []byte) (rest []byte, err error) {
	if x := c.x; x != nil && x.refused != nil {
		// The rest of a refused first packet (refuseOversize): dropped
		// as it arrives, held nowhere.
		if len(buf) < x.skip {
			x.skip -= len(buf)
			c.awaitRefusedRest()
			return nil, nil
		}
		return nil, c.endRefused()
	}
	if !c.connectSeen {
		start := buf
		defer func() {
			if err != nil && !c.connectSeen {
				err = c.explainFirst(start, err)
			}
		}()
	}
	maxIn := int(c.b.opts.MaxPacketSize)
	if maxIn <= 0 {
		maxIn = packet.DefaultMaxPacketSize
	}
	// PUBLISH packets are decoded into one pooled Publish per batch: the
	// handlers keep nothing of it, and a Publish is 344 bytes, two thirds
	// of what a QoS 0 message allocated (fan-in QoS 0: allocation and GC
	// were a third of the broker's CPU).
	var pub *packet.Publish
	// Plain acknowledgements (PUBACK, PUBREC, PUBREL, PUBCOMP of a packet
	// id alone, as every 3.1.1 client and MQTT 5 on success sends them)
	// are read into one pooled Puback too: allocated and copied per
	// packet they were a fifth of the broker's allocations per QoS 1
	// message and three fifths of its bytes.
	var ack *packet.Puback
	defer func() {
		if pub != nil {
			*pub = packet.Publish{}
			pubPool.Put(pub)
		}
		if ack != nil {
			*ack = packet.Puback{}
			ackPool.Put(ack)
		}
	}()
	for len(buf) > 0 {
		if !c.connectSeen && packet.Type(buf[0]>>4) != packet.CONNECT {
			// Said before the rest of its header is read or it is traced:
			// whatever else it is, it is not the CONNECT that must come
			// first [MQTT-3.1.0-1].
			return nil, c.readError(errConnectFirst)
		}
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
		if !c.connAccepted && hn+remaining > c.b.opts.MaxConnectSize {
			return nil, c.refuseOversize(first, buf, hn, remaining)
		}
		if len(buf) < hn+remaining {
			return buf, nil
		}
		body := buf[hn : hn+remaining : hn+remaining]
		buf = buf[hn+remaining:]
		var p packet.Packet
		if packet.Type(first>>4) == packet.PUBLISH {
			if pub == nil {
				pub = pubPool.Get().(*packet.Publish)
			}
			p, err = pub, packet.DecodePublish(pub, c.version, first, body)
		} else if id := plainAckID(first, body); id != 0 {
			if ack == nil {
				ack = ackPool.Get().(*packet.Puback)
			}
			*ack = packet.Puback{PacketID: id}
			switch packet.Type(first >> 4) {
			case packet.PUBACK:
				p = ack
			case packet.PUBREC:
				p = (*packet.Pubrec)(ack)
			case packet.PUBREL:
				p = (*packet.Pubrel)(ack)
			default:
				p = (*packet.Pubcomp)(ack)
			}
		} else {
			p, err = packet.Decode(c.version, first, bytes.Clone(body))
		}
		if err != nil {
			return nil, c.readError(err)
		}
		c.b.stats.add(c.shard, statMsgsRecv, 1)
		if c.b.trace.Load() {
			c.traceIn(p)
		}
		c.rb.packets++
		err = c.dispatch(p)
		// Only the first packet owns a buffer read for it (inOwned):
		// those that came in its spare room are copied, so a small
		// retained or queued message never keeps a large buffer alive.
		c.inOwned = false
		if err != nil {
			return nil, c.handlerError(err)
		}
		if c.isClosed() {
			return nil, c.closeErr()
		}
	}
	return nil, nil
}

// readBatch is the state of one read's dispatch, from handleBytes to
// afterBatch; pooled, so an idle connection holds none.
type readBatch struct {
	// throttle: a session this read's messages were queued for that is
	// far behind (flagBacklog); the reader pauses after the read.
	throttle *Session
	route    routeMemo
	packets  int // how many packets the read completed (afterBatch)
}

var batchPool = sync.Pool{New: func() any { return new(readBatch) }}

// refuseOversize refuses a first packet larger than MaxConnectSize (buf
// starts with its header, hn bytes, announcing remaining more): memory
// follows bytes, and before CONNECT is accepted only a few, so it is
// refused before it arrives. An MQTT 5 client is told: CONNACK 0x95
// Packet too large [MQTT-3.2.2-8], as for any CONNECT refused; a 3.x
// client, which has no such code, is closed.
//
// The client is usually still writing that packet. Closing the socket
// with its bytes unread would reset the connection: the client's write
// fails (EPIPE, a reset; over TLS, whose records go out one by one, as a
// rule) and it never reads the CONNACK. So the rest of the packet is read
// and dropped first (consume), and the connection ends with the refusal
// when it has all arrived or the client closes (readError). That is
// bounded: in bytes by the length the packet announced and by
// maxRefusedRest (a packet that announces more is closed at once, as
// before); in time by the sweep's connect timeout, which stays in force
// until CONNECT is accepted and which awaitRefusedRest brings forward to
// a moment (lingerAfterDisconnect) after the last bytes that came. Nothing
// is kept (each read's buffer goes back to its pool) and no goroutine
// waits for the bytes: the event loop reads them as they come.
func (c *conn) refuseOversize(first byte, buf []byte, hn, remaining int) error {
	why := fmt.Sprintf("%v of %d bytes exceeds the %d-byte limit for a packet before CONNECT is accepted", packet.Type(first>>4), hn+remaining, c.b.opts.MaxConnectSize)
	var refused error = &packet.Error{Code: packet.PacketTooLarge, Msg: why}
	v5 := connectV5(first, buf[hn:])
	if v5 {
		c.version = packet.V5
		c.b.log.Info("Client " + clientLabel("", c.logAddr()) + " refused: " + why + ".")
		refused = errRejected{code: packet.PacketTooLarge}
	}
	rest := hn + remaining - len(buf)
	lim := c.kaLimit.Load() // < 0: the connect timeout applies (always, before CONNACK)
	drain := rest > 0 && rest <= maxRefusedRest && lim < 0
	if drain {
		x := c.extra()
		x.refused, x.skip, x.connectBy = refused, rest, -1-lim
		c.awaitRefusedRest()
	}
	if v5 {
		c.send(&packet.Connack{ReasonCode: packet.PacketTooLarge}) // written after this read (afterBatch)
	}
	if drain {
		return nil
	}
	return c.endRefusal(refused)
}

// maxRefusedRest is the most of a refused first packet that is read and
// discarded so that its client gets the refusal (refuseOversize).
const maxRefusedRest = 1 << 20

// awaitRefusedRest gives the rest of a refused packet a moment more to
// come: the sweep closes the connection (as for a connect timeout) if
// nothing arrives within it, and at the connect timeout whatever comes.
func (c *conn) awaitRefusedRest() {
	c.kaLimit.Store(-1 - min(c.x.connectBy, c.b.clock()+int64(c.b.disconnectLinger())))
}

// endRefused ends a connection whose refused first packet's rest was
// being discarded: it has all arrived, or the client closed or the
// connect timeout struck first.
func (c *conn) endRefused() error {
	err := c.x.refused
	c.x.refused, c.x.skip = nil, 0
	return c.endRefusal(err)
}

// endRefusal ends the connection with refuseOversize's refusal: MQTT 5's
// errRejected (logged, CONNACK sent), or 3.x's Packet too large.
func (c *conn) endRefusal(err error) error {
	if _, v5 := err.(errRejected); v5 {
		return err
	}
	return c.readError(err)
}

// ackPool holds the Puback values plain acknowledgements are read into
// (consume); handlers keep nothing of them.
var ackPool = sync.Pool{New: func() any { return new(packet.Puback) }}

// plainAckID is the packet id of a PUBACK, PUBREC, PUBREL or PUBCOMP
// whose body is the packet id alone (flags already checked), as
// packet.Decode reads it: reason Success, no properties. It is 0 for
// anything else, packet id 0 included (an error Decode reports).
func plainAckID(first byte, body []byte) uint16 {
	if len(body) != 2 {
		return 0
	}
	switch packet.Type(first >> 4) {
	case packet.PUBACK, packet.PUBREC, packet.PUBREL, packet.PUBCOMP:
		return uint16(body[0])<<8 | uint16(body[1])
	}
	return 0
}

// closeErr is the reader's error once close() was called: the timeout
// the sweep found, or errClosed.
func (c *conn) closeErr() error {
	if c.x != nil && c.x.refused != nil {
		return c.x.refused // the rest of a refused packet did not come in time (awaitRefusedRest)
	}
	switch c.timedOutBy() {
	case timeoutConnect:
		return errConnectTimeout
	case timeoutKeepAlive:
		return errKeepAlive
	}
	if c.st.Load()&stWriteTimeout != 0 {
		return errWriteTimeout
	}
	return errClosed
}

var (
	errClosed         = errors.New("connection closed by the server")
	errNormal         = errors.New("client disconnected")
	errConnectFirst   = &packet.Error{Code: packet.ProtocolError, Msg: "first packet was not CONNECT"} // [MQTT-3.1.0-1]
	errConnectTimeout = errors.New("no CONNECT within the connect timeout")
	errKeepAlive      = errors.New("keep alive timeout")
	errWriteTimeout   = errors.New("the client stopped reading: its socket took nothing within the write timeout")
	errPendingBudget  = errors.New("too many bytes pending before CONNECT")
	// errLocalClose ends a LocalConn its client closed; it is an io.EOF,
	// as a network client closing its socket.
	errLocalClose = fmt.Errorf("in-process client closed the connection: %w", io.EOF)
)

// readError maps a read or decode error onto the close reason.
func (c *conn) readError(err error) error {
	if c.isClosed() {
		return c.closeErr()
	}
	if c.x != nil && c.x.refused != nil {
		// The client closed (or broke) the connection while the rest of
		// its refused packet was being discarded: it ends as refused.
		return c.endRefused()
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
		if c.st.Load()&stDrain != 0 {
			return c.drained() // netConn.drain's deadline: all read
		}
		if !c.connectSeen {
			return errConnectTimeout
		}
		c.close(closeReason{code: packet.KeepAliveTimeout, send: true})
		return errKeepAlive
	}
	return err
}

func (c *conn) handlerError(err error) error {
	if err == errNormal || err == errNormalWithWill {
		c.close(closeReason{})
		return err
	}
	if c.isClosed() {
		return err
	}
	c.close(closeReason{code: packet.ReasonOf(err), send: true})
	return err
}

// dispatch calls the handler for p. A returned error closes the
// connection; its reason code (packet.ReasonOf) goes into DISCONNECT.
func (c *conn) dispatch(p packet.Packet) error {
	if c.onLoop {
		switch p.(type) {
		case *packet.Publish, *packet.Puback, *packet.Pubrec, *packet.Pubrel, *packet.Pubcomp, *packet.Pingreq, *packet.Unsubscribe:
			if a := c.authSt(); a != nil && a.pending != nil {
				c.leaveLoop()
			}
		default: // SUBSCRIBE (retained messages), AUTH (the Authenticator), the end
			c.leaveLoop()
		}
	}
	if !c.connectSeen {
		cp, ok := p.(*packet.Connect)
		if !ok {
			return errConnectFirst // [MQTT-3.1.0-1]
		}
		c.connectSeen = true
		return c.handleConnect(cp)
	}
	if a := c.authSt(); a != nil && a.pending != nil {
		return c.continueAuth(p)
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
	sess *Session // the session being drained: transports mark its stall
	// vec: the large payloads written from their Messages instead of
	// copied into out (writeDelivery, vectored): vec[i].p follows
	// out[:vec[i].at]; vecLen is their bytes. bufs is flush's list of
	// buffers for the transport.
	vec    []vecPart
	vecLen int
	bufs   [][]byte
	// onLoop: writeInline on the event loop's goroutine; a write that
	// must wait for room leaves the loop first (leaveLoop).
	onLoop bool
}

// vecPart is a payload that follows the output buffer's first at bytes.
type vecPart struct {
	at int
	p  []byte
}

// vecMin is the smallest payload a socket connection's writer sends from
// its Message with writev (vectored) rather than copying it behind its
// header into the output buffer. Fan-in of 64 KiB payloads at QoS 1: the
// copy (packet.Append's memmove) was 6.5% of the broker's CPU and grew the
// pooled buffer to the packet's size after every collection. Smaller
// payloads are cheaper to copy than to give an iovec each: many of them
// share one write.
const vecMin = 16 << 10

// vecFlushAt is how many payload bytes in ws.vec make the writer write
// (flushAt counts the output buffer's), and vecParts how many payloads:
// a write of several large messages costs the kernel what they cost one
// by one, but one system call and one wake-up of the reader instead of
// several (fan-in of 64 KiB payloads: 2,200 writes for 8,000 messages
// instead of 8,000, and broker CPU 0.42 s a run instead of 0.54, medians
// of 5 alternating runs). It holds no memory: the payloads are the queued
// Messages'. vecParts keeps a flush within maxIovecs buffers (a header
// and a payload each, and what follows).
const (
	vecFlushAt = 256 << 10
	vecParts   = 16
)

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
		c.st.And(^stPending)
		if c.isClosed() { // teardown writes what is left
			break
		}
		if err := c.drain(c.ws); err != nil {
			c.writeFailed(err)
			break
		}
		if c.st.Load()&stPending != 0 {
			continue
		}
		// Give the scratch back before the token: the next holder
		// (another writer, or teardown) uses c.ws.out.
		c.releaseScratch()
		c.st.And(^stWriting)
		if !(c.st.Load()&stPending != 0) || !c.tryWriting() {
			return
		}
		c.ws = scratchPool.Get().(*writeScratch)
	}
	c.releaseScratch()
	c.st.And(^stWriting)
}

func (c *conn) releaseScratch() {
	c.t.writeDone()
	ws := c.ws
	c.ws = nil
	if cap(ws.out) > 1<<20 {
		ws.out = make([]byte, 0, 4096) // do not pool a huge packet's buffer
	}
	ws.out = ws.out[:0]
	ws.pub = packet.Publish{} // keep no message alive from the pool
	clear(ws.vec)             // flush cleared them; a failed write may not have run it
	ws.vec, ws.vecLen = ws.vec[:0], 0
	ws.sess = nil
	ws.onLoop = false
	scratchPool.Put(ws)
}

// drain writes everything the connection may send now.
func (c *conn) drain(ws *writeScratch) error {
	for {
		c.mu.Lock()
		ws.ctrl = c.takeCtrlLocked(ws.ctrl[:0])
		sess := c.sess // set with the CONNACK, so messages never precede it
		c.mu.Unlock()
		ws.sess = sess
		var sync bool
		ws.msgs, sync = sess.takeForSend(c, ws.msgs[:0])
		if len(ws.ctrl) == 0 && len(ws.msgs) == 0 {
			break
		}
		if sync {
			c.b.syncStore() // QoS 2 packet ids are on disk before their PUBLISH leaves
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

// flush hands the encoded packets to the transport, which has
// WriteTimeout (a second once the connection is closing) to take them.
func (c *conn) flush() error {
	if len(c.ws.out) == 0 && len(c.ws.vec) == 0 {
		return nil
	}
	out := c.ws.out
	c.ws.out = c.ws.out[:0]
	var n int
	var err error
	if len(c.ws.vec) > 0 {
		n, err = c.flushVec(out)
	} else {
		n, err = c.t.write(out)
	}
	c.lastWrite.Store(c.b.clockMicros())
	c.b.stats.add(c.shard, statBytesSent, int64(n))
	return err
}

// flushVec writes out with the payloads in ws.vec between its parts, in
// one writev (writeBufs) and forgets the payloads.
func (c *conn) flushVec(out []byte) (int, error) {
	ws := c.ws
	bufs := ws.bufs[:0]
	at := 0
	for i := range ws.vec {
		v := &ws.vec[i]
		if v.at > at {
			bufs = append(bufs, out[at:v.at])
		}
		bufs = append(bufs, v.p)
		at = v.at
		*v = vecPart{}
	}
	if at < len(out) {
		bufs = append(bufs, out[at:])
	}
	ws.vec, ws.vecLen = ws.vec[:0], 0
	n, err := c.writeBufs(bufs)
	clear(bufs)
	ws.bufs = bufs[:0]
	return n, err
}

// stalled marks the session's writer as waiting for room since now (or
// since its last progress); unstalled clears it. See Session.slowConsumer.
func (c *conn) stalled()   { c.b.stalled(c.ws.sess) }
func (c *conn) unstalled() { c.b.unstalled(c.ws.sess) }

// stalled and unstalled mark sess as conn.stalled does; nil: no session
// (CONNACK not sent yet, or a transport's own write).
func (b *Broker) stalled(sess *Session) {
	if sess != nil {
		sess.stall.Store(b.ms())
	}
}

func (b *Broker) unstalled(sess *Session) {
	if sess != nil {
		sess.stall.Store(0)
	}
}

// writeTimeout is how long a transport may wait for room to write.
func (c *conn) writeTimeout() time.Duration {
	if c.isClosed() {
		return c.closingWriteBound()
	}
	return c.b.opts.WriteTimeout
}

// closingWriteBound is how long a closing connection's writes may wait
// for room (what is queued, then its DISCONNECT): a second, but 50 ms
// when a takeover ends it, since the new connection's CONNACK waits for
// it to be gone and a client that reconnected has usually left the old
// one half-open (a full socket took a takeover 1-2 s, Mosquitto 1 ms).
func (c *conn) closingWriteBound() time.Duration {
	c.mu.Lock()
	r := c.reason
	c.mu.Unlock()
	if r.code == packet.SessionTakenOver {
		return 50 * time.Millisecond
	}
	return time.Second
}

// wrote is called after a packet was appended to c.ws.out.
func (c *conn) wrote() error {
	c.b.stats.add(c.shard, statMsgsSent, 1)
	if len(c.ws.out) >= flushAt || c.ws.vecLen >= vecFlushAt || len(c.ws.vec) >= vecParts {
		return c.flush()
	}
	return nil
}

func (c *conn) writeFailed(err error) {
	c.b.log.Debug("Write to client " + c.info.ClientID + " failed: " + err.Error() + ".")
	if ne, ok := err.(interface{ Timeout() bool }); ok && ne.Timeout() && !c.isClosed() {
		c.st.Or(stWriteTimeout)
	} else if (closedByClient(err) || errors.Is(err, syscall.EPIPE)) && !c.isClosed() {
		c.st.Or(stPeerGone)
	}
	c.close(closeReason{})
}

// teardown ends the connection; the reader side calls it once, with the
// error that ended it. It takes the writing token for good (no writer
// runs after it), sends what is queued and the MQTT 5 DISCONNECT, closes
// the transport, and detaches the session.
func (c *conn) teardown(err error) {
	c.close(closeReason{}) // no-op if already closing
	for !c.tryWriting() {
		c.wmu.Lock() // wait for the running writer
		c.wmu.Unlock()
		runtime.Gosched()
	}
	lingerAfter := c.finish()
	c.takeIn()
	// The session first, then the socket: a takeover's new connection
	// (waiting on done) gets its CONNACK now, not after the old socket's
	// linger (250 ms for every MQTT 5 takeover).
	c.cleanup(err)
	c.done.Unlock()
	if lingerAfter {
		c.t.linger()
	}
	c.t.release(err)
	c.b.removeConn(c)
	c.b.wg.Done()
}

// finish flushes what is queued for the socket (acks, CONNACK with an
// error code) and the MQTT 5 DISCONNECT, under a short deadline. It
// reports whether it sent a DISCONNECT the transport should linger
// after (all but Server shutting down).
func (c *conn) finish() (sentDisconnect bool) {
	c.mu.Lock()
	ctrl := c.takeCtrlLocked(nil)
	r := c.reason
	c.mu.Unlock()
	c.ws = scratchPool.Get().(*writeScratch)
	defer c.releaseScratch()
	for i := range ctrl {
		if c.writeCtrl(&ctrl[i]) != nil {
			return false
		}
	}
	// [MQTT-4.13.1-1]: 3.x has no server DISCONNECT; MQTT 5 gets one only
	// after a successful CONNACK and only with an error reason.
	if r.send && c.version == packet.V5 && c.connAccepted && r.code >= 0x80 {
		d := &packet.Disconnect{ReasonCode: r.code}
		if c.writePacket(d) != nil {
			return false
		}
		// A broker shutting down does not wait for its clients.
		sentDisconnect = r.code != packet.ServerShuttingDown
	}
	return c.flush() == nil && sentDisconnect
}

// lingerAfterDisconnect is how long a transport reads and discards what a
// client still sends after our DISCONNECT (transport.linger): closing with
// unread bytes would reset the connection, and a client still writing
// (one that flooded past Receive Maximum) would see a broken pipe instead
// of the reason code.
const lingerAfterDisconnect = 250 * time.Millisecond

func (b *Broker) disconnectLinger() time.Duration {
	if b.knobs.disconnectLinger > 0 {
		return b.knobs.disconnectLinger
	}
	return lingerAfterDisconnect
}

// discard reads from rd until it fails (the client closed, or the
// deadline the caller set passed), at most lingerAfterDisconnect.
func discard(rd func([]byte) (int, error)) {
	var buf [4096]byte
	for {
		if _, err := rd(buf[:]); err != nil {
			return
		}
	}
}

// writeCtrl encodes a queued control packet.
func (c *conn) writeCtrl(cp *ctrlPacket) error {
	if cp.p != nil {
		return c.writePacket(cp.p)
	}
	c.ws.out = append(c.ws.out, cp.first, 2, byte(cp.id>>8), byte(cp.id))
	if c.b.trace.Load() {
		c.traceOut(nil, cp.first, cp.id)
	}
	return c.wrote()
}

// writePacket encodes p into the output buffer, honouring the client's
// Maximum Packet Size for packets other than PUBLISH by dropping the
// reason string and user properties first [MQTT-3.1.2-25].
func (c *conn) writePacket(p packet.Packet) error {
	if max := c.maxOut(); max > 0 && packet.Size(p, c.version) > int(max) {
		stripOptional(p)
		if packet.Size(p, c.version) > int(max) {
			return nil // cannot be sent at all; drop it
		}
	}
	var err error
	c.ws.out, err = packet.Append(c.ws.out, p, c.version)
	if err != nil {
		c.b.log.Error("encoding failed", "client", c.info.ClientID, "type", p.Type(), "err", err)
		return nil
	}
	if c.b.trace.Load() {
		c.traceOut(p, 0, 0)
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
		var nm *notMQTTError
		if errors.As(err, &nm) {
			c.b.log.Warn(nm.what + ".")
			return
		}
		var rj errRejected
		switch {
		case errors.As(err, &rj):
			if rj.auth { // the refusing line of a failed login is Mosquitto's
				c.b.log.Info("Client <unknown> disconnected, not authorised.")
			} // other refusals were logged with their reason by reject
		case closedByClient(err): // closed before CONNECT: a port probe, a health check
			c.b.log.Info("Client <unknown> closed its connection.")
		case errors.Is(err, errPendingBudget): // keepIn said why
		case err != nil && err != errClosed:
			c.b.log.Info("Client " + c.logAddr() + " disconnected: " + err.Error() + ".")
		}
		return
	}
	c.b.stats.clientsConnected.Add(-1)
	switch {
	case err == errNormal || err == errNormalWithWill:
		c.b.log.Info("Client " + c.info.ClientID + " disconnected.")
	case err == errKeepAlive:
		c.b.log.Info("Client " + c.info.ClientID + " has exceeded timeout, disconnecting.")
	case err == errClosed:
		c.mu.Lock()
		r := c.reason
		c.mu.Unlock()
		if r.code == packet.SessionTakenOver {
			c.b.log.Info("Client "+c.info.ClientID+" already connected, closing old connection.", logError)
		} else if c.st.Load()&stPeerGone != 0 {
			c.b.log.Info("Client " + c.info.ClientID + " closed its connection.")
		} else {
			c.b.log.Info("Client " + c.info.ClientID + " disconnected.")
		}
	case closedByClient(err):
		c.b.log.Info("Client " + c.info.ClientID + " closed its connection.")
	case errors.Is(err, errWriteTimeout):
		c.b.log.Info("Client " + c.info.ClientID + " disconnected: it stopped reading (its socket took nothing for " + c.b.opts.WriteTimeout.String() + ", the write timeout).")
	case quotaRefusal(err):
		// memory_limit or a failing store: a 3.x publisher is cut off
		// unacknowledged so that it sends the message again; it did
		// nothing wrong.
		c.b.log.Info("Client " + c.info.ClientID + " disconnected: " + err.Error() + ".")
	default:
		c.b.log.Info("Client " + c.info.ClientID + " disconnected due to protocol error: " + err.Error() + ".")
	}
	c.b.detach(c, err)
}

// connectV5 reports whether a packet's first byte and the start of its
// body are those of an MQTT 5 CONNECT (protocol name "MQTT", level 5).
func connectV5(first byte, body []byte) bool {
	return packet.Type(first>>4) == packet.CONNECT && len(body) >= 7 &&
		string(body[:6]) == "\x00\x04MQTT" && body[6] == packet.V5
}

// quotaRefusal reports whether err is the broker refusing a 3.x
// client's message for want of room (Quota exceeded), not the client's
// fault.
func quotaRefusal(err error) bool {
	var pe *packet.Error
	return errors.As(err, &pe) && pe.Code == packet.QuotaExceeded
}

// closedByClient reports whether err means the client closed its socket: an
// end of stream, or a reset (a client killed, or closing with unread data),
// which Mosquitto also logs as "Client ID closed its connection.".
func closedByClient(err error) bool {
	// A connection closed in the middle of a packet (ErrUnexpectedEOF) was
	// closed by the client too, not a protocol error; Mosquitto logs both
	// as "closed its connection".
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET)
}

// endError is how the end of a connection is reported outside (LocalConfig.Closed,
// Hooks.OnDisconnect): nil when the client ended it (DISCONNECT, or a
// local Close), the reason code the server sent, or the error.
func (c *conn) endError(err error) error {
	if err == errNormal || err == errNormalWithWill || err == errLocalClose {
		return nil
	}
	c.mu.Lock()
	r := c.reason
	c.mu.Unlock()
	if r.code >= 0x80 {
		return r.code
	}
	return err
}

// remoteStr is the peer's address for log lines ("" when unknown). It
// is made when needed, not kept: an idle connection holds only
// ClientInfo.Remote.
//
// logAddr is the client's address as Mosquitto logs it in "New connection
// from" and "New client connected from": host:port without brackets for
// IPv6 (::1:50474), and SOCKETPATH:0 for a client of a unix socket. Every
// log line that names a client by its address uses it, so one client
// reads the same from its first line to its last.
func (c *conn) logAddr() string { return c.info.LogAddr() }

// logPort is the listener's port as Mosquitto logs it: 0 for a unix socket.
func (c *conn) logPort() string {
	if c.unixSocket() {
		return "0"
	}
	return c.info.Listener
}

// unixSocket reports whether the client came through a unix socket listener.
func (c *conn) unixSocket() bool {
	return c.info.Remote != nil && strings.HasPrefix(c.info.Remote.Network(), "unix")
}

func (c *conn) remoteStr() string {
	if c.info.Remote == nil {
		return ""
	}
	return c.info.Remote.String()
}
