package broker

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"
	"unsafe"

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

// A stream of large PUBLISH packets, written back to back in chunks of an
// odd size, is read each into a buffer of its own (growIn, largePartial),
// including the start of the next packet that a read takes past the end
// of one, and small packets between them: every payload arrives intact and
// in order, and every QoS 1 message is acknowledged.
func TestLargePacketStream(t *testing.T) {
	_, addr := startBroker(t, nil)
	sub := connectRaw(t, addr, packet.V311, "stream-sub")
	sub.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "stream/#", QoS: 1})
	pub := connectRaw(t, addr, packet.V311, "stream-pub")
	sizes := []int{
		loopReadSize/2 - 20, loopReadSize/2 + 1, loopReadSize - 20, loopReadSize - 5, loopReadSize,
		loopReadSize + 3, 2*loopReadSize - 14, 2 * loopReadSize, 2*loopReadSize + 1, 100 << 10, 1 << 20, 3,
	}
	for range 10 {
		sizes = append(sizes, 64<<10, 64<<10, 10, 64<<10)
	}
	var stream []byte
	for i, n := range sizes {
		p := &packet.Publish{Topic: fmt.Sprintf("stream/%d", i), QoS: 1, PacketID: uint16(i + 1), Payload: testPayload(i, n)}
		stream, _ = packet.Append(stream, p, packet.V311)
	}
	done := make(chan struct{})
	t.Cleanup(func() { <-done }) // a failed test's write ends at its deadline
	go func() {
		// The subscriber reads meanwhile; its PUBACKs let the broker
		// send on past its inflight window.
		defer close(done)
		for len(stream) > 0 {
			k := min(len(stream), 7919)
			pub.NC.SetWriteDeadline(time.Now().Add(5 * time.Second))
			if _, err := pub.NC.Write(stream[:k]); err != nil {
				return // the test fails below
			}
			stream = stream[k:]
		}
	}()
	for i, n := range sizes {
		got := sub.RecvPublish()
		if got.Topic != fmt.Sprintf("stream/%d", i) || !bytes.Equal(got.Payload, testPayload(i, n)) {
			t.Fatalf("message %d: topic %q, %d bytes (want %d)", i, got.Topic, len(got.Payload), n)
		}
		sub.Send(&packet.Puback{PacketID: got.PacketID})
	}
	for i := range sizes {
		ack, ok := pub.Recv().(*packet.Puback)
		if !ok || ack.PacketID != uint16(i+1) {
			t.Fatalf("PUBACK %d: got %+v", i+1, ack)
		}
	}
}

// TestSmallMessageAfterLargeIsCopied: a large packet is read into a
// buffer of its own that becomes its Message's payload; small packets
// that arrive in the same buffer after it are copied, so a small retained
// message does not keep a large buffer alive for as long as it is
// retained. (Payloads are sliced to their length: whether one is a copy
// shows only by address.)
func TestSmallMessageAfterLargeIsCopied(t *testing.T) {
	b, addr := startBroker(t, nil)
	pub := connectRaw(t, addr, packet.V311, "large-then-small")
	const rounds = 20
	var stream []byte
	for i := range rounds {
		big := &packet.Publish{Topic: fmt.Sprintf("big/%d", i), QoS: 1, Retain: true, PacketID: uint16(2*i + 1), Payload: testPayload(i, 64<<10)}
		small := &packet.Publish{Topic: fmt.Sprintf("small/%d", i), QoS: 1, Retain: true, PacketID: uint16(2*i + 2), Payload: testPayload(i, 10)}
		stream, _ = packet.Append(stream, big, packet.V311)
		stream, _ = packet.Append(stream, small, packet.V311)
	}
	pub.NC.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := pub.NC.Write(stream); err != nil {
		t.Fatal(err)
	}
	for i := range 2 * rounds {
		if ack, ok := pub.Recv().(*packet.Puback); !ok || ack.PacketID != uint16(i+1) {
			t.Fatalf("PUBACK %d: got %+v", i+1, ack)
		}
	}
	var bigs, smalls []*Message
	for _, m := range b.retained.all() {
		if strings.HasPrefix(m.Topic, "big/") {
			bigs = append(bigs, m)
		} else {
			smalls = append(smalls, m)
		}
	}
	if len(bigs) != rounds || len(smalls) != rounds {
		t.Fatalf("%d and %d retained messages, want %d each", len(bigs), len(smalls), rounds)
	}
	for _, s := range smalls {
		// A copied payload of up to 256 bytes shares its Message's
		// allocation, right behind it (allocMessage); one that aliases a
		// read buffer lies elsewhere.
		at := uintptr(unsafe.Pointer(unsafe.SliceData(s.Payload)))
		if own := uintptr(unsafe.Pointer(s)) + unsafe.Sizeof(*s); at != own {
			t.Errorf("retained %q (%d bytes): its payload is not its own copy (it may hold a large read buffer)", s.Topic, len(s.Payload))
		}
	}
}
