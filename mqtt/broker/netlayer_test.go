package broker

import (
	"bytes"
	"testing"
	"time"

	"github.com/mqttkit/mqtt/mqtt/packet"
)

// The read path parses packets out of pooled buffers: a client that sends
// CONNECT, SUBSCRIBE and PUBLISH in one write, and packets split at every
// byte, are served exactly as if sent one by one.
func TestPipelinedAndSplitPackets(t *testing.T) {
	_, addr := startBroker(t, nil)
	r := dialRaw(t, addr, packet.V311)
	var buf []byte
	for _, p := range []packet.Packet{
		&packet.Connect{ProtocolVersion: packet.V311, ClientID: "pipe", CleanStart: true, KeepAlive: 30},
		&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "pipe/#", QoS: 1}}},
		&packet.Publish{Topic: "pipe/a", QoS: 1, PacketID: 7, Payload: []byte("one")},
	} {
		buf, _ = packet.Append(buf, p, packet.V311)
	}
	r.WriteBytes(buf)
	want := []packet.Type{packet.CONNACK, packet.SUBACK}
	for _, w := range want {
		if p := r.Recv(); p.Type() != w {
			t.Fatalf("got %T, want type %d", p, w)
		}
	}
	// PUBACK for 7 and the message itself, in either order.
	var pub *packet.Publish
	for range 2 {
		switch p := r.Recv().(type) {
		case *packet.Publish:
			pub = p
		case *packet.Puback:
			if p.PacketID != 7 {
				t.Fatalf("PUBACK for %d", p.PacketID)
			}
		default:
			t.Fatalf("unexpected %T", p)
		}
	}
	if pub == nil || string(pub.Payload) != "one" {
		t.Fatalf("publish %+v", pub)
	}
	r.Send(&packet.Puback{PacketID: pub.PacketID})
	// One byte per write.
	msg, _ := packet.Append(nil, &packet.Publish{Topic: "pipe/b", Payload: []byte("two")}, packet.V311)
	for i := range msg {
		r.WriteBytes(msg[i : i+1])
		time.Sleep(time.Millisecond)
	}
	if got := r.RecvPublish(); got.Topic != "pipe/b" || string(got.Payload) != "two" {
		t.Fatalf("split publish: %+v", got)
	}
}

// A packet larger than the read buffer (32 KiB) is read into its own
// buffer and delivered intact, at QoS 0 and 1.
func TestLargePublish(t *testing.T) {
	_, addr := startBroker(t, nil)
	sub := connectRaw(t, addr, packet.V311, "big-sub")
	sub.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "big", QoS: 1})
	pub := connectRaw(t, addr, packet.V311, "big-pub")
	payload := bytes.Repeat([]byte("0123456789abcdef"), 3<<16) // 3 MiB
	for qos := byte(0); qos <= 1; qos++ {
		p := &packet.Publish{Topic: "big", QoS: qos, Payload: payload}
		if qos > 0 {
			p.PacketID = 1
		}
		pub.Send(p)
		got := sub.RecvPublish()
		if !bytes.Equal(got.Payload, payload) {
			t.Fatalf("QoS %d: payload of %d bytes differs", qos, len(got.Payload))
		}
		if got.QoS > 0 {
			sub.Send(&packet.Puback{PacketID: got.PacketID})
		}
	}
	if ack, ok := pub.Recv().(*packet.Puback); !ok || ack.PacketID != 1 {
		t.Fatalf("want PUBACK 1, got %+v", ack)
	}
}

// When the event loop cannot borrow poll files (out of descriptors), a
// writer whose socket is full polls by sleeping and a busy reader goes
// back to epoll: 16 MiB for a subscriber that starts reading late, more
// than the socket buffers hold, all arrive in order. (QoS 1: QoS 0 for a
// consumer that stopped reading is bounded, TestStalledConsumer...)
func TestFullSocketWithoutPollFiles(t *testing.T) {
	b, addr := startBrokerKnobs(t, testKnobs{noPollFiles: true}, nil)
	if b.poll == nil {
		t.Skip("no event loop (BlockingIO or not Linux)")
	}
	sub := connectRaw(t, addr, packet.V311, "late-sub")
	sub.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "late", QoS: 1})
	pub := connectRaw(t, addr, packet.V311, "late-pub")
	payload := bytes.Repeat([]byte("x"), 1<<20)
	const n = 16
	for i := 0; i < n; i++ {
		payload[0] = byte(i)
		pub.Send(&packet.Publish{Topic: "late", QoS: 1, PacketID: uint16(i + 1), Payload: payload})
	}
	time.Sleep(300 * time.Millisecond) // the writer meets a full socket
	for i := 0; i < n; i++ {
		got := sub.RecvPublish()
		if len(got.Payload) != len(payload) || got.Payload[0] != byte(i) {
			t.Fatalf("message %d: %d bytes, first %d", i, len(got.Payload), got.Payload[0])
		}
		sub.Send(&packet.Puback{PacketID: got.PacketID})
	}
}

// testPayload is message i's payload of n bytes: no two messages, and no
// two offsets within one, alike.
func testPayload(i, n int) []byte {
	p := make([]byte, n)
	for j := range p {
		p[j] = byte(i*31 + j*7 + j>>8)
	}
	return p
}
