package broker

import (
	"net"
	"sync"
	"syscall"
)

// poller is the event loop: one epoll instance and one goroutine waiting
// on it. A connection's socket is registered one-shot for reading; when
// it becomes readable the loop starts a short-lived goroutine (readRun)
// that reads what is there, dispatches it and re-arms the socket. So an
// idle connection costs no goroutine and no buffer (doc.go has figures).
//
// The sockets stay owned by their net.Conn (Go's own poller watches them
// too, harmlessly): writes and the rare blocking read (the MQTT 5 AUTH
// exchange) go through net.Conn; only the readiness and the read of
// already-arrived bytes come from here.
type poller struct {
	b    *Broker
	epfd int
	wake [2]int // pipe: a byte on wake[1] ends the loop

	mu    sync.Mutex
	conns []*conn // by socket fd
}

func newPoller(b *Broker) (*poller, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	p := &poller{b: b, epfd: epfd}
	if err := syscall.Pipe2(p.wake[:], syscall.O_NONBLOCK|syscall.O_CLOEXEC); err != nil {
		syscall.Close(epfd)
		return nil, err
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(p.wake[0])}
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, p.wake[0], &ev); err != nil {
		p.release()
		return nil, err
	}
	return p, nil
}

const readEvents = syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT

func (p *poller) add(c *conn) error {
	fd := int(c.fd)
	p.mu.Lock()
	if fd >= len(p.conns) {
		p.conns = append(p.conns, make([]*conn, fd+1-len(p.conns)+len(p.conns)/2)...)
	}
	p.conns[fd] = c
	p.mu.Unlock()
	ev := syscall.EpollEvent{Events: readEvents, Fd: c.fd}
	if err := syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
		p.forget(c)
		return err
	}
	return nil
}

// arm re-enables the one-shot registration after a run.
func (p *poller) arm(c *conn) error {
	ev := syscall.EpollEvent{Events: readEvents, Fd: c.fd}
	return syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_MOD, int(c.fd), &ev)
}

// remove unregisters c before its socket is closed (so the fd number can
// be reused by the next connection).
func (p *poller) remove(c *conn) {
	syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, int(c.fd), nil)
	p.forget(c)
}

func (p *poller) forget(c *conn) {
	p.mu.Lock()
	if fd := int(c.fd); fd < len(p.conns) && p.conns[fd] == c {
		p.conns[fd] = nil
	}
	p.mu.Unlock()
}

// loop waits for readable sockets until stop.
func (p *poller) loop() {
	defer p.b.wg.Done()
	events := make([]syscall.EpollEvent, 256)
	ready := make([]*conn, 0, 256)
	for {
		n, err := syscall.EpollWait(p.epfd, events, -1)
		if err != nil {
			if err == syscall.EINTR {
				continue
			}
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
		for i, c := range ready {
			if c.reading.CompareAndSwap(false, true) {
				go c.readRun()
			}
			ready[i] = nil
		}
	}
}

// stop ends the loop; release frees its descriptors once it has ended.
func (p *poller) stop() {
	syscall.Write(p.wake[1], []byte{1})
}

func (p *poller) release() {
	syscall.Close(p.wake[0])
	syscall.Close(p.wake[1])
	syscall.Close(p.epfd)
}

// readFD reads from a non-blocking socket: errAgain when it is empty,
// io.EOF (n == 0, nil error) when the peer closed.
func readFD(fd int, p []byte) (int, error) {
	for {
		n, err := syscall.Read(fd, p)
		switch {
		case err == nil:
			return n, nil
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			return 0, errAgain
		}
		return 0, err
	}
}

// socketEmpty reports whether a non-blocking socket has nothing to read
// (no bytes, no end of stream, no error) without taking anything from it.
func socketEmpty(fd int, p []byte) bool {
	_, _, err := syscall.Recvfrom(fd, p, syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	return err == syscall.EAGAIN
}

// writeFD writes what a non-blocking socket takes now: errAgain when it
// takes nothing.
func writeFD(fd int, p []byte) (int, error) {
	for {
		n, err := syscall.Write(fd, p)
		switch {
		case err == nil:
			return n, nil
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			return 0, errAgain
		}
		return 0, err
	}
}

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
		r, _, e := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_DUPFD_CLOEXEC, 0)
		switch e {
		case 0:
			return int(r), nil
		case syscall.EINTR:
			continue
		}
		return -1, e
	}
}

func closeFD(fd int) error { return syscall.Close(fd) }

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
