package cli

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/mqttkit/mqtt/mqtt/broker"
	"github.com/mqttkit/mqtt/mqtt/sn"
)

// The embedded MQTT-SN gateway of `mqtt serve --sn-listen`, of "protocol mqttsn" listeners
// and of `mqtt sn-gateway --embedded`: a gateway whose clients attach to the broker in this
// process (sn.BrokerUpstream), without a TCP hop.

// snListener is an MQTT-SN gateway's UDP socket in the broker's list of listeners, so that
// the listener's security (auth.FileAuth binds by port) applies to the gateway's clients as
// to any other listener's. It accepts nothing: the gateway reads the socket.
type snListener struct {
	pc   *net.UDPConn
	once sync.Once
	done chan struct{}
}

// openSNListener opens the UDP socket of an embedded gateway on [HOST]:PORT.
func openSNListener(ctx context.Context, address string) (*snListener, error) {
	pc, err := sn.ListenUDP(ctx, address)
	if err != nil {
		return nil, err
	}
	return &snListener{pc: pc, done: make(chan struct{})}, nil
}

func (l *snListener) Accept() (net.Conn, error) {
	<-l.done
	return nil, net.ErrClosed
}

func (l *snListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.pc.Close()
}

func (l *snListener) Addr() net.Addr { return l.pc.LocalAddr() }

// embeddedGatewayOptions are the options of an embedded gateway on pc: sn-gateway's
// defaults (gateway id 1, ADVERTISE every 900 s to the broadcast address on its port).
func embeddedGatewayOptions(pc *net.UDPConn) sn.Options {
	port := pc.LocalAddr().(*net.UDPAddr).Port
	return sn.Options{
		GatewayID:         1,
		AdvertiseInterval: defaultAdvertiseInterval * time.Second,
		AdvertiseAddr:     netip.AddrPortFrom(netip.AddrFrom4([4]byte{255, 255, 255, 255}), uint16(port)),
	}
}

// startSNGateway starts a gateway on l attached to b; the gateway owns l's socket from then.
func startSNGateway(ctx context.Context, b *broker.Broker, l *snListener, opts sn.Options, logger *slog.Logger) (*sn.Gateway, error) {
	up := &sn.BrokerUpstream{Broker: b, Listener: broker.ListenerKey(l.Addr())}
	g, err := sn.New(opts, up, logger)
	if err != nil {
		return nil, err
	}
	if err := g.Start(ctx, l.pc); err != nil {
		return nil, err
	}
	return g, nil
}

// snListenAddress checks a --sn-listen value: [HOST:]PORT, a bare PORT meaning every
// interface.
func snListenAddress(flag, a string) (string, error) {
	addr := a
	if _, err := strconv.Atoi(a); err == nil {
		addr = ":" + a
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", usageErrorf("invalid %s %q: expected [HOST:]PORT", flag, a)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return "", usageErrorf("invalid %s %q: the port must be between 0 and 65535", flag, a)
	}
	return addr, nil
}

// closeGateways stops embedded gateways (before the broker: their clients get DISCONNECT).
func closeGateways(gs []*sn.Gateway) {
	for _, g := range gs {
		_ = g.Close()
	}
}
