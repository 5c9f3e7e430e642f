package sn

import (
	"net"
	"net/netip"

	"golang.org/x/net/ipv4"
)

// readBatch is how many datagrams one recvmmsg(2) may return. Each has a buffer of
// MaxMessageSize octets, so that no MQTT-SN message is ever truncated: 1 MiB in all, for the
// gateway's one read loop.
const readBatch = 16

// readBatches is the read loop on Linux: recvmmsg reads up to readBatch datagrams per system
// call, which under load costs a fraction of a recvfrom per datagram (the syscall was a
// third of the gateway's CPU time with one datagram per call). It returns when the socket is
// closed; false means it could not run and the caller reads one datagram at a time.
func (g *Gateway) readBatches() bool {
	pc := ipv4.NewPacketConn(g.udp)
	ms := make([]ipv4.Message, readBatch)
	for i := range ms {
		ms[i].Buffers = [][]byte{make([]byte, MaxMessageSize+1)}
	}
	for {
		n, err := pc.ReadBatch(ms, 0)
		if err != nil {
			if g.readFailed(err) {
				return true
			}
			continue
		}
		for i := range ms[:n] {
			m := &ms[i]
			var ap netip.AddrPort
			if ua, ok := m.Addr.(*net.UDPAddr); ok {
				ap = ua.AddrPort()
			}
			g.received.Add(1)
			g.handleDatagram(netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), m.Buffers[0][:m.N])
			m.Addr = nil
		}
	}
}
