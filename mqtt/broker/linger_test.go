package broker

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/mqttkit/mqtt/mqtt/packet"
)

// A client that floods past Receive Maximum still reads the DISCONNECT
// 0x93 that explains why it was cut off: the broker half-closes and
// drains what the client is still sending instead of resetting the
// connection under it (the client got a broken pipe first).
func TestDisconnectReasonReachesFloodingClient(t *testing.T) {
	_, addr := startBroker(t, func(o *Options) { o.ReceiveMaximum = 3 })
	r := connectRaw(t, addr, packet.V5, "flood")
	var burst []byte
	for i := range 8000 { // 8 MB: more than the socket buffers hold
		burst, _ = packet.Append(burst, &packet.Publish{Topic: "t", QoS: 2, PacketID: uint16(i + 1), Payload: bytes.Repeat([]byte("x"), 1000)}, packet.V5)
	}
	r.NC.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := r.NC.Write(burst); err != nil {
		t.Fatalf("the burst was cut off with %v before the client could read why", err)
	}
	var last packet.Packet
	for {
		p, err := r.RecvErr(5 * time.Second)
		if err != nil {
			if !errors.Is(err, io.EOF) {
				t.Fatalf("read ended with %v after %T, want the DISCONNECT then EOF", err, last)
			}
			break
		}
		last = p
	}
	if d, ok := last.(*packet.Disconnect); !ok || d.ReasonCode != packet.ReceiveMaximumExceeded {
		t.Fatalf("last packet %+v, want DISCONNECT 0x93", last)
	}
}
