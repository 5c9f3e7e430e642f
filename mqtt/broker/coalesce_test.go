package broker

import (
	"fmt"
	"testing"
	"time"

	"github.com/mqttkit/mqtt/mqtt/packet"
)

// With coalesceMinConns connections open, messages to a subscriber that
// was just written to wait for the coalescing window and go out
// together: every one arrives, in order, none twice, at QoS 0 and 1, and
// a broker closed while writers wait in the coalescer ends cleanly.
func TestWriteCoalescing(t *testing.T) {
	b, addr := startBroker(t, nil)
	for i := range coalesceMinConns {
		connectRaw(t, addr, packet.V311, fmt.Sprintf("idle%d", i))
	}
	sub := connectRaw(t, addr, packet.V311, "sub")
	sub.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "c/#", QoS: 1})
	pubs := make([]*raw, 8)
	for i := range pubs {
		pubs[i] = connectRaw(t, addr, packet.V311, fmt.Sprintf("pub%d", i))
	}
	if n := b.nconns.Load(); n < coalesceMinConns {
		t.Fatalf("%d connections, coalescing needs %d", n, coalesceMinConns)
	}
	const n = 400
	for i := range n {
		p := pubs[i%len(pubs)]
		p.Send(&packet.Publish{Topic: fmt.Sprintf("c/%d", i%len(pubs)), QoS: byte(i % 2), PacketID: uint16(i + 1), Payload: []byte(fmt.Sprint(i))})
		if i%2 == 1 {
			if _, ok := p.Recv().(*packet.Puback); !ok {
				t.Fatal("no PUBACK")
			}
		}
	}
	// Per publisher the order is kept [MQTT-4.6.0-5].
	next := make([]int, len(pubs))
	for range n {
		p := sub.RecvPublish()
		var i int
		fmt.Sscan(string(p.Payload), &i)
		from := i % len(pubs)
		if want := next[from]*len(pubs) + from; i != want {
			t.Fatalf("from pub%d got message %d, want %d", from, i, want)
		}
		next[from]++
		if p.QoS == 1 {
			sub.Send(&packet.Puback{PacketID: p.PacketID})
		}
	}
	sub.ExpectNothing(100 * time.Millisecond)
	// Close with messages waiting in the coalescer.
	for i := range 20 {
		pubs[0].Send(&packet.Publish{Topic: "c/0", Payload: []byte{byte(i)}})
	}
	b.Close()
}
