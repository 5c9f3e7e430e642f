package auth

import (
	"net"
	"testing"

	"github.com/mqttkit/mqtt/mqtt/broker"
)

// Failed logins name the client's address (ClientInfo.LogAddr) in the
// form the broker's other lines use: ::1:PORT (no brackets) and SOCKETPATH:0.
func TestLogAddr(t *testing.T) {
	for _, c := range []struct {
		info broker.ClientInfo
		want string
	}{
		{broker.ClientInfo{Remote: &net.TCPAddr{IP: net.ParseIP("::1"), Port: 36094}}, "::1:36094"},
		{broker.ClientInfo{Remote: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1883}}, "127.0.0.1:1883"},
		{broker.ClientInfo{Remote: &net.UnixAddr{Name: "@", Net: "unix"}, Listener: "/run/mqtt.sock"}, "/run/mqtt.sock:0"},
	} {
		if got := c.info.LogAddr(); got != c.want {
			t.Errorf("LogAddr(%v) = %q, want %q", c.info.Remote, got, c.want)
		}
	}
}
