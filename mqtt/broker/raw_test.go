package broker

import (
	"testing"
	"time"

	"github.com/mqttkit/mqtt/mqtt/packet"
)

func TestRawRoundTripAllQoS(t *testing.T) {
	for _, v := range []byte{packet.V31, packet.V311, packet.V5} {
		_, addr := startBroker(t, nil)
		sub := connectRaw(t, addr, v, "sub")
		sa := sub.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "a/+", QoS: 2})
		if sa.ReasonCodes[0] != packet.GrantedQoS2 {
			t.Fatalf("v%d: SUBACK %v", v, sa.ReasonCodes)
		}
		pub := connectRaw(t, addr, v, "pub")
		for q := byte(0); q <= 2; q++ {
			p := &packet.Publish{Topic: "a/b", QoS: q, Payload: []byte{'x', '0' + q}}
			if q > 0 {
				p.PacketID = uint16(10 + q)
			}
			pub.Send(p)
			switch q {
			case 1:
				if a, ok := pub.Recv().(*packet.Puback); !ok || a.PacketID != 11 {
					t.Fatalf("v%d: want PUBACK 11, got %+v", v, a)
				}
			case 2:
				if a, ok := pub.Recv().(*packet.Pubrec); !ok || a.PacketID != 12 {
					t.Fatalf("v%d: want PUBREC 12", v)
				}
				pub.Send(&packet.Pubrel{PacketID: 12})
				if _, ok := pub.Recv().(*packet.Pubcomp); !ok {
					t.Fatalf("v%d: want PUBCOMP", v)
				}
			}
			got := sub.RecvPublish()
			if got.QoS != q || string(got.Payload) != string(p.Payload) || got.Topic != "a/b" || got.Retain {
				t.Fatalf("v%d q%d: got %+v", v, q, got)
			}
			switch q {
			case 1:
				sub.Send(&packet.Puback{PacketID: got.PacketID})
			case 2:
				sub.Send(&packet.Pubrec{PacketID: got.PacketID})
				if rel, ok := sub.Recv().(*packet.Pubrel); !ok || rel.PacketID != got.PacketID {
					t.Fatalf("v%d: want PUBREL", v)
				}
				sub.Send(&packet.Pubcomp{PacketID: got.PacketID})
			}
		}
	}
}

// [MQTT-3.1.0-1]: the first packet must be CONNECT.
func TestFirstPacketNotConnect(t *testing.T) {
	_, addr := startBroker(t, nil)
	r := dialRaw(t, addr, packet.V311)
	r.Send(&packet.Pingreq{})
	if got := r.ExpectClosed(3 * time.Second); len(got) != 0 {
		t.Fatalf("got %v before close", got)
	}
}

// [MQTT-3.1.0-2]: a second CONNECT is a protocol error; MQTT 5 gets
// DISCONNECT 0x82.
func TestSecondConnect(t *testing.T) {
	_, addr := startBroker(t, nil)
	r := connectRaw(t, addr, packet.V5, "twice")
	r.Send(&packet.Connect{ProtocolName: "MQTT", ProtocolVersion: 5, ClientID: "twice", CleanStart: true})
	got := r.ExpectClosed(3 * time.Second)
	if len(got) != 1 || got[0].(*packet.Disconnect).ReasonCode != packet.ProtocolError {
		t.Fatalf("got %+v", got)
	}
}
