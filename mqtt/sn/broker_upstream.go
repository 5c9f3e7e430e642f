package sn

import (
	"context"
	"net"

	"github.com/mqttkit/mqtt/mqtt/broker"
	"github.com/mqttkit/mqtt/mqtt/packet"
)

// BrokerUpstream attaches each client to a broker in the same process (broker.Attach): the
// embedded gateway of `mqtt serve --sn-listen` and `mqtt sn-gateway --embedded`. No socket,
// no TCP hop and no goroutine per client: the broker handles a client's packets on the
// gateway's read loop and delivers its own on the broker's writer goroutines.
type BrokerUpstream struct {
	Broker *broker.Broker
	// Listener names the connections to the broker's hooks (ClientInfo.Listener), e.g. the
	// gateway's UDP port. Default "mqttsn".
	Listener string
}

// Open attaches a connection; ctx is not needed (attaching does not wait).
func (u *BrokerUpstream) Open(_ context.Context, remote net.Addr, onPacket func(packet.Packet), onClose func(error)) (UpstreamConn, error) {
	l := u.Listener
	if l == "" {
		l = "mqttsn"
	}
	c, err := u.Broker.Attach(broker.LocalConfig{Remote: remote, Listener: l, Deliver: onPacket, Closed: onClose})
	if err != nil {
		return nil, err
	}
	return c, nil
}
