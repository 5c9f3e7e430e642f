package broker

import (
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// socketConn is a plain TCP or unix-socket connection served by the
// event loop from a bare descriptor: at accept it keeps a duplicate of the
// socket's descriptor and closes the net.Conn, so Go's netFD, its poll
// descriptor and two addresses are gone (doc.go has the figures). The
// socket is registered one-shot with epoll; when it is readable a
// short-lived goroutine reads it (readRun), dispatches the packets and,
// while the connection stays busy, keeps waiting for more on Go's own
// poller until it has been quiet for activeLinger; then it re-arms epoll
// and exits. An idle connection holds no goroutine and no buffer.
//
// Waiting with a deadline (the lingering reader, a writer whose socket is
// full) borrows a poll file: another duplicate wrapped in an os.File, so
// registered with Go's poller, made when the wait starts and closed when
// it ends (pollFile). Out of descriptors, the reader goes back to epoll
// and the writer polls its full socket with short sleeps (writeSlow).
type socketConn struct {
	conn
	fd      int32
	reading atomic.Bool // a run owns the read side (the one-reader token)
	// pf holds the poll files the reader and the writer borrow while they
	// wait; nil while neither does (an idle connection holds 8 bytes, not
	// 16). pf[i] is written by its token's holder under conn.mu and read
	// by it without, and by interrupt under conn.mu to set deadlines; the
	// pointer is stored under conn.mu.
	pf atomic.Pointer[pollFiles]
}

// pollFiles are a socket's poll files: pollRead, the reader's, and
// pollWrite, the writer's.
type pollFiles [2]*os.File

const (
	pollRead  = 0
	pollWrite = 1
)

// file is the poll file i, for its token's holder (nil: none).
func (s *socketConn) file(i int) *os.File {
	if pf := s.pf.Load(); pf != nil {
		return pf[i]
	}
	return nil
}

// filesLocked is both poll files; under conn.mu.
func (s *socketConn) filesLocked() (rf, wf *os.File) {
	if pf := s.pf.Load(); pf != nil {
		return pf[pollRead], pf[pollWrite]
	}
	return nil, nil
}

// newSocketConn takes a plain socket away from nc for the event loop; it
// returns nil (leaving nc alone) for anything else.
func newSocketConn(b *Broker, nc net.Conn, port string) *socketConn {
	remote := compactAddr(nc.RemoteAddr())
	_, isTCP := nc.(*net.TCPConn)
	fd := ownSocket(nc)
	if fd < 0 {
		return nil
	}
	if isTCP {
		unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NOTSENT_LOWAT, notsentLowat)
	}
	s := &socketConn{fd: int32(fd)}
	s.init(b, s, remote, port)
	s.reading.Store(true) // the first run is started by start
	return s
}

// notsentLowat is the TCP_NOTSENT_LOWAT of client sockets: a socket says
// "writable" once less than this is waiting to be sent, not when a third
// of its buffer is free, so a reader's progress shows within
// milliseconds (Session.slowConsumer), and one that stopped reading holds
// less in the kernel.
const notsentLowat = 64 << 10

// tcpProgress sets notsentLowat on a TCP connection, or the TCP
// connection under a TLS one; other transports (websockets) show their
// progress only when a Write returns.
func tcpProgress(nc net.Conn) {
	if tc, ok := nc.(interface{ NetConn() net.Conn }); ok {
		nc = tc.NetConn()
	}
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return
	}
	if rc, err := tc.SyscallConn(); err == nil {
		rc.Control(func(fd uintptr) {
			unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_NOTSENT_LOWAT, notsentLowat)
		})
	}
}

// start registers the socket with the event loop and runs a first read:
// the reading token is held since newSocketConn, so an event that fires
// before add returns is not acted on, and the first run reads whatever
// is there.
func (s *socketConn) start() {
	if err := s.b.poll.add(s); err != nil {
		s.b.log.Error("event loop: cannot watch a connection", "remote", s.remoteStr(), "err", err)
		s.close(closeReason{})
	}
	s.b.work.spawn(&s.conn, readRunJob)
}

func (s *socketConn) netConn() net.Conn { return nil }

// pollFile returns the poll file i (pollRead for the reader, pollWrite
// for the writer), making it if needed: a duplicate of the socket registered with
// Go's poller, so a busy reader can wait for more bytes and a writer for
// room, with deadlines, as on a net.Conn. It exists only while they wait
// (dropFile); interrupt sets its deadlines, as it would a net.Conn's.
func (s *socketConn) pollFile(i int) (*os.File, error) {
	if f := s.file(i); f != nil {
		return f, nil
	}
	if s.b.knobs.noPollFiles {
		return nil, syscall.EMFILE
	}
	fd, err := dupSocket(int(s.fd))
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), "")
	s.mu.Lock()
	pf := s.pf.Load()
	if pf == nil {
		pf = new(pollFiles)
		s.pf.Store(pf)
	}
	pf[i] = f
	closing := s.closing || s.st.Load()&stDrain != 0
	s.mu.Unlock()
	if closing { // interrupt or drainInput came first: what it would have set
		f.SetReadDeadline(time.Now())
		f.SetWriteDeadline(time.Now().Add(s.closingWriteBound()))
	}
	return f, nil
}

// dropFile closes the poll file i, if any.
func (s *socketConn) dropFile(i int) {
	if s.file(i) == nil {
		return
	}
	s.mu.Lock()
	pf := s.pf.Load()
	f := pf[i]
	pf[i] = nil
	if pf[1-i] == nil {
		s.pf.Store(nil)
	}
	s.mu.Unlock()
	f.Close()
}

// interrupt wakes a lingering reader now, bounds a writer waiting for
// room to a second, and starts a run to tear down an idle connection,
// which has no goroutine.
func (s *socketConn) interrupt() {
	s.mu.Lock()
	rf, wf := s.filesLocked()
	s.mu.Unlock()
	if rf != nil {
		rf.SetReadDeadline(time.Now())
	}
	if wf != nil {
		wf.SetWriteDeadline(time.Now().Add(s.closingWriteBound()))
	}
	if s.reading.CompareAndSwap(false, true) {
		s.b.work.spawn(&s.conn, readRunJob)
	}
}

// drainInput wakes a lingering reader, or starts a run for an idle
// connection: it reads what the socket holds and then sees stDrain.
func (s *socketConn) drainInput() {
	s.mu.Lock()
	rf, _ := s.filesLocked()
	s.mu.Unlock()
	if rf != nil {
		rf.SetReadDeadline(time.Now())
	}
	if s.reading.CompareAndSwap(false, true) {
		s.b.work.spawn(&s.conn, readRunJob)
	}
}

// linger half-closes the socket and reads what arrives for a moment, on a
// poll file (out of descriptors: not at all).
func (s *socketConn) linger() {
	unix.Shutdown(int(s.fd), unix.SHUT_WR)
	f, err := s.pollFile(pollRead)
	if err != nil {
		return
	}
	f.SetReadDeadline(time.Now().Add(s.b.disconnectLinger()))
	discard(f.Read)
}

// release unregisters the socket and closes it (after both poll files).
func (s *socketConn) release(error) {
	s.dropFile(pollRead)
	s.b.poll.remove(s)
	closeFD(int(s.fd))
}

// readRun serves the read side from the moment epoll reports the socket
// readable: it reads what the socket holds and dispatches it; while
// traffic keeps coming (activeLinger) it waits for more on Go's own
// poller, like a reader goroutine would, without holding a buffer; once
// the connection is quiet it re-arms epoll and exits. The reading token
// (taken by the caller) keeps runs of one connection apart.
func (s *socketConn) readRun() {
	var rc syscall.RawConn
	var w readWaiter
	ready := w.ready   // one closure per run, not per wait
	var deadline int64 // b.clock() when the read deadline we set fires
	// Only a connection that was already busy lingers: one that sends a
	// packet now and then (CONNECT, PINGREQ) goes straight back to epoll
	// without a deadline, whose runtime timer it would keep for good.
	hot := s.b.clock()-s.lastRead.Load() < int64(s.b.lingerFor())
	for {
		if err := s.readReady(); err != nil {
			s.teardown(err)
			return
		}
		if !hot {
			break
		}
		if rc == nil {
			rc = s.waitConn()
		}
		if rc == nil || !s.waitActive(rc, &w, ready, &deadline) {
			break
		}
	}
	s.dropFile(pollRead) // before the token: the next run makes its own
	s.reading.Store(false)
	if err := s.b.poll.arm(s); err != nil {
		if s.reading.CompareAndSwap(false, true) {
			s.close(closeReason{})
			s.teardown(err)
		}
		return
	}
	// close() or takeover() may have missed the token we just released.
	if s.st.Load()&(stClosed|stDrain) != 0 && s.reading.CompareAndSwap(false, true) {
		s.readRun()
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

// readReady reads until the socket is drained. It returns nil when it is,
// or the error that ends the connection.
func (s *socketConn) readReady() (err error) {
	defer s.recoverHandler(&err)
	rd, tlsc := s.readNB, false
	if t, ok := s.t.(*tlsConn); ok {
		rd, tlsc = t.read, true
	}
	for {
		if s.isClosed() {
			return s.closeErr()
		}
		switch drained, err := s.input(rd); err {
		case nil:
			// A short read means the socket was empty then; while being
			// taken over, only EAGAIN now says nothing more is there. TLS
			// gives out a record at a time: only EAGAIN says it is all read.
			if drained && !tlsc && s.st.Load()&stDrain == 0 {
				return nil
			}
		case errAgain:
			return s.drained()
		default:
			return err
		}
	}
}

// readNB reads what the non-blocking socket holds.
func (s *socketConn) readNB(p []byte) (int, error) { return readFD(int(s.fd), p) }

// waitActive waits until the socket is readable while the connection has
// been active within activeLinger. It reports false when it went quiet
// (or closing: the caller's next read sees that).
func (s *socketConn) waitActive(rc syscall.RawConn, w *readWaiter, ready func(uintptr) bool, deadline *int64) bool {
	for {
		if s.st.Load()&(stClosed|stDrain) != 0 {
			return true // readReady returns the close error, or drains
		}
		linger := s.b.lingerFor()
		now := s.b.clock()
		if now-s.lastRead.Load() >= int64(linger) {
			return false
		}
		if *deadline-now < int64(linger)/2 {
			s.file(pollRead).SetReadDeadline(time.Now().Add(linger))
			*deadline = now + int64(linger)
			if s.isClosed() { // interrupt set its deadline before ours
				return true
			}
		}
		if h := s.b.knobs.hookWait; h != nil {
			h(&s.conn)
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
func (s *socketConn) waitConn() syscall.RawConn {
	f, err := s.pollFile(pollRead)
	if err != nil {
		return nil
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

// write writes out to the socket for the writer, which holds the
// writing token (and c.ws, the session it drains).
func (s *socketConn) write(out []byte) (int, error) { return s.writeSock(out, s.ws.sess) }

// writeSock writes out to the socket. Usually the socket takes it all at
// once, and no deadline (a runtime timer per connection) is needed for
// that; otherwise it waits for room (writeWait).
func (s *socketConn) writeSock(out []byte, sess *Session) (int, error) {
	n, err := writeFD(int(s.fd), out)
	if err != nil && err != errAgain {
		return n, err
	}
	if n == len(out) {
		return n, nil
	}
	m, err := s.writeWait([][]byte{out[n:]}, sess)
	return n + m, err
}

// vectored reports whether the connection's writer may send large
// payloads from their Messages (conn.flushVec): a plain socket on the
// event loop, which writes them with writev. TLS encrypts a copy anyway.
func (c *conn) vectored() bool {
	_, ok := c.t.(*socketConn)
	return ok
}

// writeBufs writes bufs through the connection's socketConn (vectored).
func (c *conn) writeBufs(bufs [][]byte) (int, error) { return c.t.(*socketConn).writeBufs(bufs) }

// writeBufs writes bufs, in order, as one stream of bytes, for the writer
// (conn.flush with large payloads sent from their Messages): one writev
// where write would need the payloads copied behind their headers. bufs
// is the writer's scratch and is consumed.
func (s *socketConn) writeBufs(bufs [][]byte) (int, error) {
	k := len(bufs)
	n, err := writevFD(int(s.fd), bufs)
	if err != nil && err != errAgain {
		return n, err
	}
	bufs = consumeBufs(bufs, n)
	if h := s.b.knobs.writev; h != nil {
		h(k, len(bufs) > 0)
	}
	if len(bufs) == 0 {
		return n, nil
	}
	m, err := s.writeWait(bufs, s.ws.sess)
	return n + m, err
}

// writeWait writes bufs to a socket that has no room for them now: it
// waits for room on the poll file wf, noting each bit of progress on sess
// when there is one (stalled: a consumer that reads slowly is told apart
// from one that stopped reading), within the write timeout.
func (s *socketConn) writeWait(bufs [][]byte, sess *Session) (n int, err error) {
	if ws := s.ws; ws != nil && ws.onLoop { // the loop, writing inline: not here
		ws.onLoop = false
		s.leaveLoop()
	}
	s.b.stalled(sess)
	defer s.b.unstalled(sess)
	f, ferr := s.pollFile(pollWrite)
	if ferr != nil { // out of descriptors (EMFILE): poll by sleeping
		return s.writeSlow(bufs, sess)
	}
	rc, ferr := f.SyscallConn()
	if ferr != nil {
		for _, b := range bufs {
			m, err := f.Write(b)
			n += m
			if err != nil {
				return n, err
			}
		}
		return n, nil
	}
	// The deadline after pollFile: interrupt may have set its own first.
	f.SetWriteDeadline(time.Now().Add(s.writeTimeout()))
	var werr error
	err = rc.Write(func(fd uintptr) bool {
		for len(bufs) > 0 {
			m, e := writevFD(int(fd), bufs)
			if m > 0 {
				n += m
				bufs = consumeBufs(bufs, m)
				s.b.stalled(sess)
				continue
			}
			if e == errAgain {
				return false // wait for room
			}
			werr = e
			return true
		}
		return true
	})
	if err == nil {
		err = werr
	}
	return n, err
}

func (s *socketConn) writeDone() { s.dropFile(pollWrite) }

// writeSlow writes bufs to the bare socket without a poll file (none could
// be made): non-blocking writes with sleeps in between, within the write
// timeout of no progress (a second once the connection is closing).
func (s *socketConn) writeSlow(bufs [][]byte, sess *Session) (int, error) {
	pause := time.Millisecond
	last := time.Now()
	total := 0
	for len(bufs) > 0 {
		n, err := writevFD(int(s.fd), bufs)
		if err != nil && err != errAgain {
			return total, err
		}
		total += n
		bufs = consumeBufs(bufs, n)
		now := time.Now()
		if n > 0 {
			last, pause = now, time.Millisecond
			s.b.stalled(sess)
			continue
		}
		if now.Sub(last) >= s.writeTimeout() {
			return total, os.ErrDeadlineExceeded
		}
		time.Sleep(pause)
		pause = min(2*pause, 20*time.Millisecond)
	}
	return total, nil
}

// consumeBufs drops the first n bytes of bufs (in place) and the buffers
// left empty at its front.
func consumeBufs(bufs [][]byte, n int) [][]byte {
	for len(bufs) > 0 && n >= len(bufs[0]) {
		n -= len(bufs[0])
		bufs[0] = nil
		bufs = bufs[1:]
	}
	if len(bufs) > 0 {
		bufs[0] = bufs[0][n:]
	}
	return bufs
}

// poller is the event loop: one epoll instance and one goroutine waiting
// on it. Sockets are registered one-shot for reading; when one becomes
// readable the loop starts its readRun, which re-arms it when done.
//
// The loop does not block in epoll_wait itself. The epoll descriptor is
// readable while any socket in it is ready, so it is registered with Go's
// own poller (ep), and the loop parks on it as a goroutine reading a
// socket does, then collects the events with a zero timeout. A goroutine
// blocked in a raw epoll_wait keeps its thread (and, until sysmon takes
// it back, its P) in a system call: sysmon then never rests and polls
// every 20 µs, and each event wakes that thread and then a second one to
// run the read. In the fleet profile (5,000 clients at one message a
// second) sysmon's sleeps alone were 15% of the broker's samples and
// context switches 40%.
type poller struct {
	b    *Broker
	epfd int
	ep   *os.File // epfd, in Go's poller: owns and closes the descriptor
	wake [2]int   // pipe: a byte on wake[1] ends the loop
	// inline: light connections' reads run on the loop (light); set by
	// newPoller from the broker's options.
	inline bool

	mu    sync.Mutex
	conns []*socketConn // by socket fd
}

func newPoller(b *Broker) (*poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	if err := unix.SetNonblock(epfd, true); err != nil {
		unix.Close(epfd)
		return nil, err
	}
	p := &poller{b: b, epfd: epfd, ep: os.NewFile(uintptr(epfd), "epoll"), inline: b.quickCalls()}
	if err := unix.Pipe2(p.wake[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
		p.ep.Close()
		return nil, err
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(p.wake[0])}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, p.wake[0], &ev); err != nil {
		p.release()
		return nil, err
	}
	return p, nil
}

const readEvents = unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT

func (p *poller) add(s *socketConn) error {
	fd := int(s.fd)
	p.mu.Lock()
	if fd >= len(p.conns) {
		p.conns = append(p.conns, make([]*socketConn, fd+1-len(p.conns)+len(p.conns)/2)...)
	}
	p.conns[fd] = s
	p.mu.Unlock()
	ev := unix.EpollEvent{Events: readEvents, Fd: s.fd}
	if err := rawEpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		p.forget(s)
		return err
	}
	return nil
}

// arm re-enables the one-shot registration after a run.
func (p *poller) arm(s *socketConn) error {
	ev := unix.EpollEvent{Events: readEvents, Fd: s.fd}
	return rawEpollCtl(p.epfd, unix.EPOLL_CTL_MOD, int(s.fd), &ev)
}

// remove unregisters s before its socket is closed (so the fd number can
// be reused by the next connection).
func (p *poller) remove(s *socketConn) {
	var ev unix.EpollEvent // ignored, but kernels before 2.6.9 wanted one
	rawEpollCtl(p.epfd, unix.EPOLL_CTL_DEL, int(s.fd), &ev)
	p.forget(s)
}

func (p *poller) forget(s *socketConn) {
	p.mu.Lock()
	if fd := int(s.fd); fd < len(p.conns) && p.conns[fd] == s {
		p.conns[fd] = nil
	}
	p.mu.Unlock()
}

// loop waits for readable sockets until stop.
func (p *poller) loop() {
	defer p.b.wg.Done()
	events := make([]unix.EpollEvent, 256)
	ready := make([]*socketConn, 0, 256)
	rc, err := p.ep.SyscallConn()
	if err != nil {
		p.b.log.Error("event loop stopped", "err", err)
		return
	}
	var n int
	collect := func(uintptr) bool { // false: nothing yet, park on Go's poller
		n, err = rawEpollPoll(p.epfd, events)
		return n > 0 || (err != nil && err != unix.EINTR)
	}
	for {
		if rerr := rc.Read(collect); rerr != nil && err == nil {
			err = rerr
		}
		if err != nil {
			p.b.log.Error("event loop stopped", "err", err)
			return
		}
		ready = ready[:0]
		p.mu.Lock()
		for _, ev := range events[:n] {
			fd := int(ev.Fd)
			if fd == p.wake[0] {
				p.mu.Unlock()
				return
			}
			if fd < len(p.conns) && p.conns[fd] != nil {
				ready = append(ready, p.conns[fd])
			}
		}
		p.mu.Unlock()
		left := false // this goroutine handed the loop on (handoff)
		for i, s := range ready {
			ready[i] = nil
			if !s.reading.CompareAndSwap(false, true) {
				continue
			}
			if left || !p.light(s) {
				s.b.work.spawn(&s.conn, readRunJob)
				continue
			}
			left = !s.readInline()
		}
		if left {
			return
		}
	}
}

// light reports whether s's read is for the loop's own goroutine: a plain
// socket of an accepted connection that was quiet (a read run that would
// not linger), on a broker whose per-message calls out never wait (no
// OnPublish hook, a quick Authorizer, no packet log). The caller holds
// s's reading token.
//
// Thin traffic is this case: a client sends a message now and then. Run
// on a worker, each such read cost a handoff, and a handoff wakes a
// second thread that mostly finds nothing to do; on the loop the read,
// its routing and the acknowledgement happen where the event arrived.
func (p *poller) light(s *socketConn) bool {
	if !p.inline || s.b.trace.Load() || !s.connAccepted || s.st.Load()&(stClosed|stDrain) != 0 {
		return false
	}
	if _, plain := s.t.(*socketConn); !plain {
		return false
	}
	return s.b.clock()-s.lastRead.Load() >= int64(s.b.lingerFor())
}

// handoff starts a new goroutine as the event loop: the current one, a
// loop running a connection's read inline (conn.onLoop), is about to do
// something that may wait or take long (leaveLoop), and finishes it as
// an ordinary read run would.
func (p *poller) handoff(c *conn) {
	if h := p.b.knobs.handoff; h != nil {
		h(c)
	}
	p.b.wg.Add(1)
	go p.loop()
}

// readInline is a light connection's read on the loop's goroutine: one
// read, its packets handled and answered, the socket re-armed. A handler
// that may wait calls leaveLoop first. It reports whether the goroutine
// is still the loop; otherwise it has finished the run as readRun would.
func (s *socketConn) readInline() (loop bool) {
	s.onLoop = true
	drained, err := s.readOnce()
	loop, s.onLoop = s.onLoop, false
	switch {
	case err != nil:
		// teardown waits for a writer and may linger after a DISCONNECT.
		if loop {
			s.b.poll.handoff(&s.conn)
		}
		s.teardown(err)
		return false
	case !drained: // more than one read's worth: a read run continues
		if loop {
			s.b.work.spawn(&s.conn, readRunJob)
			return true
		}
		s.readRun()
		return false
	}
	s.reading.Store(false)
	if err := s.b.poll.arm(s); err != nil {
		if s.reading.CompareAndSwap(false, true) {
			if loop {
				s.b.poll.handoff(&s.conn)
			}
			s.close(closeReason{})
			s.teardown(err)
		}
		return false
	}
	// close() or takeover() may have missed the token we just released.
	if s.st.Load()&(stClosed|stDrain) != 0 && s.reading.CompareAndSwap(false, true) {
		if loop {
			s.b.work.spawn(&s.conn, readRunJob)
			return true
		}
		s.readRun()
	}
	return loop
}

// readOnce is one read of readReady's: drained says the socket is empty
// now (a short read, or nothing there).
func (s *socketConn) readOnce() (drained bool, err error) {
	defer s.recoverHandler(&err)
	if s.isClosed() {
		return true, s.closeErr()
	}
	drained, err = s.input(s.readNB)
	if err == errAgain {
		return true, s.drained()
	}
	return drained, err
}

// stop ends the loop; release frees its descriptors once it has ended.
func (p *poller) stop() {
	unix.Write(p.wake[1], []byte{1})
}

func (p *poller) release() {
	unix.Close(p.wake[0])
	unix.Close(p.wake[1])
	p.ep.Close()
}

// readFD reads from a non-blocking socket: errAgain when it is empty,
// io.EOF (n == 0, nil error) when the peer closed.
func readFD(fd int, p []byte) (int, error) {
	for {
		n, err := rawRead(fd, p)
		switch {
		case err == nil:
			return n, nil
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return 0, errAgain
		}
		return 0, err
	}
}

// socketEmpty reports whether a non-blocking socket has nothing to read
// (no bytes, no end of stream, no error) without taking anything from it.
func socketEmpty(fd int, p []byte) bool {
	return rawPeek(fd, p) == unix.EAGAIN
}

// writeFD writes what a non-blocking socket takes now: errAgain when it
// takes nothing.
func writeFD(fd int, p []byte) (int, error) {
	for {
		n, err := rawWrite(fd, p)
		switch {
		case err == nil:
			return n, nil
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return 0, errAgain
		}
		return 0, err
	}
}

// writevFD writes what a non-blocking socket takes now of bufs, in order
// (up to maxIovecs of them per call): errAgain when it takes nothing.
func writevFD(fd int, bufs [][]byte) (int, error) {
	if len(bufs) == 1 {
		return writeFD(fd, bufs[0])
	}
	var iov [maxIovecs]unix.Iovec
	k := 0
	for _, b := range bufs {
		if k == len(iov) {
			break
		}
		if len(b) > 0 {
			iov[k].Base = &b[0]
			iov[k].SetLen(len(b))
			k++
		}
	}
	for {
		n, err := rawWritev(fd, iov[:k])
		switch {
		case err == nil:
			return n, nil
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return 0, errAgain
		}
		return 0, err
	}
}

// maxIovecs is the most buffers one writev takes here: a flush holds at
// most vecParts payloads, each after its header, and what follows the
// last (conn.flushVec); more would be left for the next call.
const maxIovecs = 2*vecParts + 1

// ownSocket takes the descriptor of a plain TCP or unix socket away from
// its net.Conn: it returns a duplicate (non-blocking, close-on-exec) and
// closes the net.Conn, which frees Go's netFD, poll descriptor and
// addresses. It returns -1, leaving nc alone, for anything else (TLS,
// websockets, wrappers: those keep a reader goroutine) or on error.
func ownSocket(nc net.Conn) int {
	fd := socketFD(nc)
	if fd < 0 {
		return -1
	}
	dup, err := dupSocket(fd)
	if err != nil {
		return -1
	}
	nc.Close()
	return dup
}

// dupSocket duplicates fd, close-on-exec; the duplicate shares the open
// file (and so O_NONBLOCK).
func dupSocket(fd int) (int, error) {
	for {
		r, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
		if err == unix.EINTR {
			continue
		}
		return r, err
	}
}

func closeFD(fd int) error { return unix.Close(fd) }

// socketFD returns the descriptor of a plain TCP or unix socket, -1 for
// anything else (TLS, websockets, wrappers): those keep a reader goroutine.
func socketFD(nc net.Conn) int {
	var sc syscall.RawConn
	var err error
	switch c := nc.(type) {
	case *net.TCPConn:
		sc, err = c.SyscallConn()
	case *net.UnixConn:
		sc, err = c.SyscallConn()
	default:
		return -1
	}
	if err != nil {
		return -1
	}
	fd := -1
	if sc.Control(func(s uintptr) { fd = int(s) }) != nil {
		return -1
	}
	return fd
}

// readRunJob is a socket connection's read run as a job (a TLS
// connection's too: tlsConn embeds socketConn).
func readRunJob(c *conn) {
	switch t := c.t.(type) {
	case *socketConn:
		t.readRun()
	case *tlsConn:
		t.readRun()
	}
}
