package broker

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mqttkit/mqtt/internal/testutil"
	"github.com/mqttkit/mqtt/mqtt/packet"
)

// A CONNECT larger than MaxConnectSize is refused before it arrives. An
// MQTT 5 client is told with CONNACK 0x95 Packet too large
// [MQTT-3.2.2-8]; a 3.x client, which has no such code, is closed.
func TestOversizeConnect(t *testing.T) {
	if testTLS {
		// Over TLS the refusal can close the socket before the client
		// has written the rest of its 70 KB CONNECT (EPIPE on its
		// write); the plain runs check the CONNACK.
		t.Skip("BROKER_TEST_TLS: the client's write of the oversize CONNECT may fail first")
	}
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

// A CONNECT with a will topic that is not a valid topic name: MQTT 5 gets
// CONNACK 0x90 [MQTT-3.1.3-11]; 3.x has no return code for it and is
// closed without CONNACK, as by Mosquitto. Either is logged once.
func TestInvalidWillTopic(t *testing.T) {
	b, addr := startBroker(t, nil)
	for _, v := range []byte{packet.V5, packet.V311} {
		r := dialRaw(t, addr, v)
		buf, err := packet.Append(nil, &packet.Connect{ProtocolVersion: v, ClientID: fmt.Sprint("w", v), CleanStart: true,
			WillFlag: true, WillTopic: "a/+", WillPayload: []byte("x")}, v)
		if err != nil {
			t.Fatal(err)
		}
		r.NC.Write(buf)
		got := r.ExpectClosed(5 * time.Second)
		if v == packet.V5 {
			if len(got) != 1 || got[0].(*packet.Connack).ReasonCode != packet.TopicNameInvalid {
				t.Fatalf("MQTT 5: got %+v, want CONNACK 0x90", got)
			}
		} else if len(got) != 0 {
			t.Fatalf("MQTT 3.1.1: got %+v, want the connection closed", got)
		}
		waitLogLine(t, b, fmt.Sprintf("Client w%d from 127.0.0.1:", v))
	}
	h := b.log.Handler().(*testutil.LogLines)
	text := strings.Join(h.Lines(), "\n")
	if n := strings.Count(text, "invalid will topic"); n != 2 {
		t.Fatalf("%d lines about the will topic for 2 clients, want one each:\n%s", n, text)
	}
}
