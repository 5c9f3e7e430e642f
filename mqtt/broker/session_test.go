package broker

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mqttkit/mqtt/mqtt/packet"
)

// Wills: sent when the connection drops [MQTT-3.1.2-8], not after a normal
// DISCONNECT [MQTT-3.1.2-10] (5.0: [MQTT-3.14.4-3]), sent after MQTT 5
// DISCONNECT 0x04; will QoS and retain are honoured [MQTT-3.1.2-17].
func TestWill(t *testing.T) {
	for _, v := range []byte{packet.V311, packet.V5} {
		_, addr := startBroker(t, nil)
		sub := connectRaw(t, addr, v, "watcher")
		sub.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "will/#", QoS: 1})
		connectWill := func(id string) *raw {
			r := dialRaw(t, addr, v)
			r.Connect(&packet.Connect{ClientID: id, CleanStart: true, KeepAlive: 30,
				WillFlag: true, WillTopic: "will/" + id, WillPayload: []byte("gone " + id), WillQoS: 1, WillRetain: true})
			return r
		}
		// Dropped socket: will.
		a := connectWill("a")
		a.NC.Close()
		got := sub.RecvPublish()
		if got.Topic != "will/a" || string(got.Payload) != "gone a" || got.QoS != 1 {
			t.Fatalf("v%d: will %+v", v, got)
		}
		sub.Send(&packet.Puback{PacketID: got.PacketID})
		// Normal DISCONNECT: no will.
		b := connectWill("b")
		b.Send(&packet.Disconnect{})
		b.ExpectClosed(3 * time.Second)
		sub.ExpectNothing(300 * time.Millisecond)
		if v == packet.V5 { // DISCONNECT 0x04: will
			c := connectWill("c")
			c.Send(&packet.Disconnect{ReasonCode: packet.DisconnectWithWill})
			if got := sub.RecvPublish(); got.Topic != "will/c" {
				t.Fatalf("0x04: %+v", got)
			}
		}
		// The will was retained.
		late := connectRaw(t, addr, v, "late")
		late.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "will/a"})
		if got := late.RecvPublish(); !got.Retain || string(got.Payload) != "gone a" {
			t.Fatalf("v%d: retained will %+v", v, got)
		}
	}
}

// Will delay: the will waits [MQTT-3.1.3-9] and is not sent when the
// client reconnects in time.
func TestV5WillDelay(t *testing.T) {
	_, addr := startBroker(t, nil)
	sub := connectRaw(t, addr, packet.V5, "watcher")
	sub.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "wd/#"})
	connect := func(id string) *raw {
		r := dialRaw(t, addr, packet.V5)
		r.Connect(&packet.Connect{ClientID: id, KeepAlive: 30, Properties: packet.Properties{SessionExpiry: 60, HasSessionExpiry: true},
			WillFlag: true, WillTopic: "wd/" + id, WillPayload: []byte(id),
			WillProperties: packet.Properties{WillDelay: 2, HasWillDelay: true}})
		return r
	}
	a := connect("a")
	a.NC.Close()
	sub.ExpectNothing(1500 * time.Millisecond)
	if got := sub.RecvPublish(); got.Topic != "wd/a" {
		t.Fatalf("got %+v", got)
	}
	b := connect("b")
	b.NC.Close()
	time.Sleep(300 * time.Millisecond)
	connect("b") // back within the delay: no will
	sub.ExpectNothing(2500 * time.Millisecond)
}

// Persistent sessions: QoS 1 and 2 messages queued while offline arrive on
// reconnect with session present [MQTT-3.1.2-4], [MQTT-3.2.2-2]; QoS 0 is
// not queued; unacknowledged messages are resent with DUP [MQTT-4.4.0-1].
func TestPersistentSessionQueueAndRetransmit(t *testing.T) {
	for _, v := range []byte{packet.V311, packet.V5} {
		_, addr := startBroker(t, nil)
		props := packet.Properties{}
		if v == packet.V5 {
			props = packet.Properties{SessionExpiry: 300, HasSessionExpiry: true}
		}
		sub := dialRaw(t, addr, v)
		sub.Connect(&packet.Connect{ClientID: "ps", KeepAlive: 30, Properties: props})
		sub.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "ps/#", QoS: 2})
		sub.Send(&packet.Disconnect{})
		sub.ExpectClosed(3 * time.Second)

		pub := connectRaw(t, addr, v, "pub")
		for i, q := range []byte{0, 1, 2, 1} {
			pub.Send(&packet.Publish{Topic: "ps/x", QoS: q, PacketID: uint16(i + 1), Payload: []byte(fmt.Sprint(i))})
		}
		pub.Send(&packet.Pingreq{})
		for {
			if _, ok := pub.Recv().(*packet.Pingresp); ok {
				break
			}
		}
		sub = dialRaw(t, addr, v)
		ack := sub.Connect(&packet.Connect{ClientID: "ps", KeepAlive: 30, Properties: props})
		if !ack.SessionPresent {
			t.Fatalf("v%d: session not present", v)
		}
		var got []string
		var ids []uint16
		for i := 0; i < 3; i++ {
			p := sub.RecvPublish()
			got = append(got, string(p.Payload))
			ids = append(ids, p.PacketID)
		}
		if fmt.Sprint(got) != "[1 2 3]" {
			t.Fatalf("v%d: got %v", v, got)
		}
		// Drop the connection without acknowledging: all three come back
		// with DUP, in order, same ids.
		sub.NC.Close()
		sub = dialRaw(t, addr, v)
		sub.Connect(&packet.Connect{ClientID: "ps", KeepAlive: 30, Properties: props})
		var resent []*packet.Publish
		for i := 0; i < 3; i++ {
			p := sub.RecvPublish()
			if !p.Dup || p.PacketID != ids[i] || string(p.Payload) != got[i] {
				t.Fatalf("v%d: resend %d: %+v", v, i, p)
			}
			resent = append(resent, p)
		}
		for _, p := range resent {
			if p.QoS == 1 {
				sub.Send(&packet.Puback{PacketID: p.PacketID})
			} else {
				sub.Send(&packet.Pubrec{PacketID: p.PacketID})
				if rel := sub.Recv().(*packet.Pubrel); rel.PacketID != p.PacketID {
					t.Fatal("PUBREL id")
				}
				// Lose the PUBCOMP: PUBREL must be resent on reconnect.
			}
		}
		sub.Send(&packet.Pingreq{}) // the acks are processed once PINGRESP comes
		if _, ok := sub.Recv().(*packet.Pingresp); !ok {
			t.Fatal("want PINGRESP")
		}
		sub.NC.Close()
		sub = dialRaw(t, addr, v)
		sub.Connect(&packet.Connect{ClientID: "ps", KeepAlive: 30, Properties: props})
		rel, ok := sub.Recv().(*packet.Pubrel)
		if !ok || rel.PacketID != ids[1] {
			t.Fatalf("v%d: want PUBREL resent, got %+v", v, rel)
		}
		sub.Send(&packet.Pubcomp{PacketID: rel.PacketID})
		sub.ExpectNothing(200 * time.Millisecond)
		// Clean start discards the session [MQTT-3.1.2-4].
		sub.NC.Close()
		sub = dialRaw(t, addr, v)
		if ack := sub.Connect(&packet.Connect{ClientID: "ps", CleanStart: true, KeepAlive: 30}); ack.SessionPresent {
			t.Fatal("clean start: session present")
		}
	}
}

// Inbound QoS 2 duplicates are delivered once [MQTT-4.3.3-10]
// (method B: delivered on PUBLISH, packet id kept until PUBREL).
func TestQoS2InboundDuplicate(t *testing.T) {
	_, addr := startBroker(t, nil)
	sub := connectRaw(t, addr, packet.V311, "sub")
	sub.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "q2"})
	pub := connectRaw(t, addr, packet.V311, "pub")
	pub.Send(&packet.Publish{Topic: "q2", QoS: 2, PacketID: 5, Payload: []byte("once")})
	pub.Recv()
	pub.Send(&packet.Publish{Topic: "q2", QoS: 2, PacketID: 5, Dup: true, Payload: []byte("once")})
	if _, ok := pub.Recv().(*packet.Pubrec); !ok {
		t.Fatal("no PUBREC for duplicate")
	}
	sub.RecvPublish()
	sub.ExpectNothing(300 * time.Millisecond)
}

// Shared subscriptions: each message to one member, round robin; messages
// a member did not acknowledge go to another member when it disconnects
// (MQTT 5 §4.8.2).
func TestSharedSubscriptionsRoundRobinAndRedelivery(t *testing.T) {
	_, addr := startBroker(t, nil)
	m1 := connectRaw(t, addr, packet.V5, "m1")
	m2 := connectRaw(t, addr, packet.V5, "m2")
	for _, m := range []*raw{m1, m2} {
		m.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "$share/g/jobs/#", QoS: 1})
	}
	pub := connectRaw(t, addr, packet.V5, "pub")
	for i := 0; i < 4; i++ {
		pub.Send(&packet.Publish{Topic: "jobs/x", QoS: 1, PacketID: uint16(i + 1), Payload: []byte{byte('a' + i)}})
	}
	var got1, got2 []string
	for i := 0; i < 2; i++ {
		p := m1.RecvPublish()
		got1 = append(got1, string(p.Payload)) // m1 never acknowledges
		p = m2.RecvPublish()
		got2 = append(got2, string(p.Payload))
		m2.Send(&packet.Puback{PacketID: p.PacketID})
	}
	m1.ExpectNothing(100 * time.Millisecond)
	m2.ExpectNothing(100 * time.Millisecond)
	m1.NC.Close()
	for i := 0; i < 2; i++ {
		p := m2.RecvPublish()
		if string(p.Payload) != got1[i] {
			t.Fatalf("redelivered %q, want %q (m1 had %v, m2 %v)", p.Payload, got1[i], got1, got2)
		}
		m2.Send(&packet.Puback{PacketID: p.PacketID})
	}
}

// Ordering per publisher per topic at QoS 1 and 2 [MQTT-4.6.0-5],
// [MQTT-4.6.0-6], also across a small inflight window.
func TestOrdering(t *testing.T) {
	_, addr := startBroker(t, func(o *Options) { o.MaxInflight = 3 })
	sub := connectRaw(t, addr, packet.V311, "sub")
	sub.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "ord", QoS: 2})
	pub := connectRaw(t, addr, packet.V311, "pub")
	const n = 200
	go func() {
		for i := 0; i < n; i++ {
			pub.Send(&packet.Publish{Topic: "ord", QoS: 1, PacketID: uint16(i + 1), Payload: []byte(fmt.Sprint(i))})
		}
	}()
	for i := 0; i < n; i++ {
		p := sub.RecvPublish()
		if string(p.Payload) != fmt.Sprint(i) {
			t.Fatalf("message %d: got %s", i, p.Payload)
		}
		sub.Send(&packet.Puback{PacketID: p.PacketID})
	}
}

// TestSessionIDsOfEveryLength: a session keeps an id of up to 32 bytes
// in its own allocation (Session.idBuf) and a longer one as it came; a
// client finds its session again either way [MQTT-3.1.2-4], and a
// takeover finds the connection that holds it [MQTT-3.1.4-3].
func TestSessionIDsOfEveryLength(t *testing.T) {
	_, addr := startBroker(t, nil)
	for _, n := range []int{1, 23, 32, 33, 200} {
		id := strings.Repeat("i", n-1) + "d"
		c := dialRaw(t, addr, packet.V311)
		c.Connect(&packet.Connect{ClientID: id})
		c.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "len/" + id, QoS: 1})
		taker := dialRaw(t, addr, packet.V311)
		if ack := taker.Connect(&packet.Connect{ClientID: id}); !ack.SessionPresent {
			t.Fatalf("%d-byte id: takeover found no session", n)
		}
		c.ExpectClosed(2 * time.Second)
		taker.Send(&packet.Publish{Topic: "len/" + id, QoS: 1, PacketID: 7, Payload: []byte(id)})
		for got := 0; got < 2; got++ { // its PUBACK and its own message, in either order
			switch p := taker.Recv().(type) {
			case *packet.Puback:
			case *packet.Publish:
				if string(p.Payload) != id {
					t.Fatalf("%d-byte id: got %q", n, p.Payload)
				}
				taker.Send(&packet.Puback{PacketID: p.PacketID})
			default:
				t.Fatalf("%d-byte id: got %v", n, p)
			}
		}
		taker.NC.Close()
	}
}
