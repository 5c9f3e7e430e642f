package broker

import (
	"bytes"
	"testing"
	"time"

	"github.com/mqttkit/mqtt/mqtt/packet"
)

// A CONNECT larger than MaxConnectSize is refused before it arrives. An
// MQTT 5 client is told with CONNACK 0x95 Packet too large
// [MQTT-3.2.2-8]; a 3.x client, which has no such code, is closed.
func TestOversizeConnect(t *testing.T) {
	_, addr := startBroker(t, nil)
	big := &packet.Connect{ClientID: "big", CleanStart: true, KeepAlive: 30,
		WillFlag: true, WillTopic: "w", WillPayload: bytes.Repeat([]byte("w"), 60000),
		UsernameFlag: true, Username: "u", PasswordFlag: true, Password: bytes.Repeat([]byte("p"), 10000)}
	for _, v := range []byte{packet.V5, packet.V311} {
		big.ProtocolVersion = v
		buf, err := packet.Append(nil, big, v)
		if err != nil {
			t.Fatal(err)
		}
		r := dialRaw(t, addr, v)
		if _, err := r.NC.Write(buf); err != nil {
			t.Fatal(err)
		}
		got := r.ExpectClosed(5 * time.Second)
		if v == packet.V5 {
			if len(got) != 1 || got[0].(*packet.Connack).ReasonCode != packet.PacketTooLarge {
				t.Fatalf("MQTT 5: got %+v, want CONNACK 0x95 and the connection closed", got)
			}
		} else if len(got) != 0 {
			t.Fatalf("MQTT 3.1.1: got %+v, want the connection closed", got)
		}
	}
}
