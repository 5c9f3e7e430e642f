package broker

import (
	"net"
	"net/netip"
	"testing"
)

// The compact address prints and converts exactly as the *net.TCPAddr it
// replaces.
func TestCompactAddr(t *testing.T) {
	for _, in := range []string{"127.0.0.1:50474", "[::1]:1883", "[fe80::1%lo]:8883", "10.1.2.3:0", "[::ffff:192.0.2.1]:7"} {
		ta, err := net.ResolveTCPAddr("tcp", in)
		if err != nil {
			t.Fatal(err)
		}
		c := compactAddr(ta)
		if c.String() != ta.String() || c.Network() != "tcp" {
			t.Errorf("%s: compact %q/%s, net %q", in, c.String(), c.Network(), ta.String())
		}
		ap := c.(interface{ AddrPort() netip.AddrPort }).AddrPort()
		if ap.Addr().Unmap() != ta.AddrPort().Addr().Unmap() || ap.Port() != ta.AddrPort().Port() {
			t.Errorf("%s: AddrPort %v, net %v", in, ap, ta.AddrPort())
		}
	}
	u := &net.UnixAddr{Name: "/tmp/s", Net: "unix"}
	if compactAddr(u) != net.Addr(u) {
		t.Error("a unix address is kept as it is")
	}
}
