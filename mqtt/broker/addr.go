package broker

import (
	"net"
	"net/netip"
)

// A connection keeps its peer's address for as long as it lives (log
// lines, ClientInfo.Remote, Clients), so the address is kept compact: an
// IPv4 peer costs 8 bytes where a *net.TCPAddr costs 52 (the struct and
// the IP slice it points to), 44 bytes of every idle connection.
//
// Both types are net.Addrs of network "tcp" whose String is
// net.TCPAddr's ("127.0.0.1:50474", "[::1]:50474"), and they have
// net.TCPAddr's AddrPort method, which is how to get at the IP and port:
//
//	if a, ok := info.Remote.(interface{ AddrPort() netip.AddrPort }); ok { ... }

// tcpAddr4 is an IPv4 peer's address.
type tcpAddr4 struct {
	ip   [4]byte
	port uint16
}

func (a *tcpAddr4) Network() string { return "tcp" }
func (a *tcpAddr4) String() string  { return a.AddrPort().String() }
func (a *tcpAddr4) AddrPort() netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4(a.ip), a.port)
}
func (a *tcpAddr6) Network() string          { return "tcp" }
func (a *tcpAddr6) String() string           { return a.ap.String() }
func (a *tcpAddr6) AddrPort() netip.AddrPort { return a.ap }

// tcpAddr6 is any other TCP peer's address (IPv6, with its zone).
type tcpAddr6 struct{ ap netip.AddrPort }

// compactAddr returns a compact copy of a TCP address (see above) and
// any other address as it is. It also lets go of what net's own
// *net.TCPAddr keeps alive: its IP slices into the whole sockaddr it was
// parsed from.
func compactAddr(a net.Addr) net.Addr {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return a
	}
	ap := ta.AddrPort()
	if ip := ap.Addr(); ip.Is4() || ip.Is4In6() {
		return &tcpAddr4{ip: ip.Unmap().As4(), port: ap.Port()}
	}
	return &tcpAddr6{ap: ap}
}
