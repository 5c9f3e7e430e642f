package broker

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// The event loop's system calls on non-blocking descriptors (read and
// write and peek on sockets that never block, epoll_wait with a zero timeout,
// epoll_ctl) are made as raw system calls: they return at once, so the
// goroutine keeps its P through them and the runtime is not told.
//
// Told (unix.Read and the like go through entersyscall), the runtime
// wakes sysmon from its deep sleep on each such call once all Ps have been
// idle, and sysmon then polls every 20 µs for a millisecond before it
// backs off. Thin traffic (a message now and then on each of thousands of
// connections) is exactly the pattern that keeps re-arming it: in the
// fleet profile (5,000 clients at one message a second) sysmon's sleeps
// were a tenth of the broker's samples. Go's own poller makes its
// epoll_wait(0) calls without entersyscall for the same reason.
//
// Never use these for a call that can block.

func rawRead(fd int, p []byte) (int, error)  { return rawIO(unix.SYS_READ, fd, p) }
func rawWrite(fd int, p []byte) (int, error) { return rawIO(unix.SYS_WRITE, fd, p) }

// rawWritev is writev(2) of iov (not empty).
func rawWritev(fd int, iov []unix.Iovec) (int, error) {
	n, _, e := unix.RawSyscall(unix.SYS_WRITEV, uintptr(fd), uintptr(unsafe.Pointer(&iov[0])), uintptr(len(iov)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

func rawIO(trap uintptr, fd int, p []byte) (int, error) {
	var ptr unsafe.Pointer
	if len(p) > 0 {
		ptr = unsafe.Pointer(&p[0])
	}
	n, _, e := unix.RawSyscall(trap, uintptr(fd), uintptr(ptr), uintptr(len(p)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// rawPeek peeks at what a socket holds without waiting; the error is
// EAGAIN when it holds nothing.
func rawPeek(fd int, p []byte) error {
	_, _, e := unix.RawSyscall6(unix.SYS_RECVFROM, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)),
		unix.MSG_PEEK|unix.MSG_DONTWAIT, 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

// rawEpollPoll collects ready events without waiting (epoll_pwait with a
// zero timeout: arm64 has no epoll_wait).
func rawEpollPoll(epfd int, events []unix.EpollEvent) (int, error) {
	n, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(&events[0])),
		uintptr(len(events)), 0, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

func rawEpollCtl(epfd, op, fd int, ev *unix.EpollEvent) error {
	_, _, e := unix.RawSyscall6(unix.SYS_EPOLL_CTL, uintptr(epfd), uintptr(op), uintptr(fd), uintptr(unsafe.Pointer(ev)), 0, 0)
	if e != 0 {
		return e
	}
	return nil
}
