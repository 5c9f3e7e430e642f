package sn

import (
	"context"
	"net"
	"strings"
)

// ListenUDP opens the gateway's UDP socket on address ([HOST]:PORT; a bare PORT listens on
// every address) with a receive buffer of up to 4 MiB, and SO_BROADCAST where the system has
// it so that ADVERTISE can go to a broadcast address, except on a loopback address, from
// which a broadcast reaches no one (it is cleared there).
func ListenUDP(ctx context.Context, address string) (*net.UDPConn, error) {
	if !strings.Contains(address, ":") {
		address = ":" + address
	}
	var lc net.ListenConfig
	pc, err := lc.ListenPacket(ctx, "udp", address)
	if err != nil {
		return nil, err
	}
	c := pc.(*net.UDPConn)
	// Go sets SO_BROADCAST on every IPv4 datagram socket; it is cleared on loopback.
	on := !c.LocalAddr().(*net.UDPAddr).IP.IsLoopback()
	rc, err := c.SyscallConn()
	if err == nil {
		var serr error
		err = rc.Control(func(fd uintptr) { serr = setBroadcast(fd, on) })
		if err == nil {
			err = serr
		}
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	// Bursts from many clients arrive faster than one read loop wakes up; a larger receive
	// buffer (the system caps it) drops fewer of them.
	_ = c.SetReadBuffer(4 << 20)
	return c, nil
}
