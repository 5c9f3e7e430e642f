package sn

import (
	"context"
	"net"
	"strings"
	"syscall"
)

// ListenUDP opens the gateway's UDP socket on address ([HOST]:PORT; a bare PORT listens on
// every address) with SO_BROADCAST set where the system has it, so that ADVERTISE can go to
// a broadcast address, and a receive buffer of up to 4 MiB.
func ListenUDP(ctx context.Context, address string) (*net.UDPConn, error) {
	if !strings.Contains(address, ":") {
		address = ":" + address
	}
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) { serr = setBroadcast(fd) }); err != nil {
			return err
		}
		return serr
	}}
	pc, err := lc.ListenPacket(ctx, "udp", address)
	if err != nil {
		return nil, err
	}
	c := pc.(*net.UDPConn)
	// Bursts from many clients arrive faster than one read loop wakes up; a larger receive
	// buffer (the system caps it) drops fewer of them.
	_ = c.SetReadBuffer(4 << 20)
	return c, nil
}
