package sn

import (
	"context"
	"net"
	"strings"
	"syscall"
)

// ListenUDP opens the gateway's UDP socket on address ([HOST]:PORT; a bare PORT listens on
// every address) with SO_BROADCAST set where the system has it, so that ADVERTISE can go to
// a broadcast address.
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
	return pc.(*net.UDPConn), nil
}
