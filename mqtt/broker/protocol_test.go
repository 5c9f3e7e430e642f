package broker

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mqttkit/mqtt/mqtt/packet"
)

// expectDisconnect waits for the connection to close and checks what
// came first: MQTT 5 gets DISCONNECT with code, 3.x nothing.
func expectDisconnect(t *testing.T, r *raw, code packet.ReasonCode, what string) {
	t.Helper()
	got := r.ExpectClosed(3 * time.Second)
	if r.Version != packet.V5 {
		if len(got) != 0 {
			t.Errorf("%s (v%d): got %v before the close, want nothing", what, r.Version, got)
		}
		return
	}
	if len(got) != 1 {
		t.Fatalf("%s: got %v, want DISCONNECT %v", what, got, code)
	}
	if d, ok := got[0].(*packet.Disconnect); !ok || d.ReasonCode != code {
		t.Errorf("%s: got %+v, want DISCONNECT %v", what, got[0], code)
	}
}

// Malformed topic filters in SUBSCRIBE and UNSUBSCRIBE end the
// connection [MQTT-4.7.1-1] [MQTT-4.7.1-2] [MQTT-4.7.3-1] (MQTT 5:
// DISCONNECT 0x81 Malformed Packet), as Mosquitto 2.0 ends it; they are
// not answered with a failure code.
func TestMalformedFiltersClose(t *testing.T) {
	_, addr := startBroker(t, nil)
	for _, v := range []byte{packet.V311, packet.V5} {
		for _, f := range []string{"", "#/x", "a/#/b", "a+", "+a/b", "$share/g", "$share//a", "$share/g+/a"} {
			r := connectRaw(t, addr, v, "f")
			r.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "ok/#"}, {Filter: f}}})
			expectDisconnect(t, r, packet.MalformedPacket, fmt.Sprintf("SUBSCRIBE %q", f))
			r = connectRaw(t, addr, v, "f")
			r.Send(&packet.Unsubscribe{PacketID: 1, Filters: []string{f}})
			expectDisconnect(t, r, packet.MalformedPacket, fmt.Sprintf("UNSUBSCRIBE %q", f))
		}
	}
	checkAlive(t, addr)
}

// Topics and filters deeper than 200 levels (Mosquitto's limit) are
// refused with the codes that say so: SUBACK 0x8F Topic Filter invalid
// (3.x 0x80), PUBACK 0x90 Topic Name invalid (3.x: dropped); 200 levels
// work.
func TestTopicDepthLimit(t *testing.T) {
	_, addr := startBroker(t, nil)
	ok := strings.Repeat("a/", 199) + "a"
	deep := strings.Repeat("a/", 200) + "a"
	watch := connectRaw(t, addr, packet.V311, "watch")
	watch.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "#"})
	for _, v := range []byte{packet.V311, packet.V5} {
		r := connectRaw(t, addr, v, "deep")
		sa := r.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: ok}, packet.Subscription{Filter: deep + "/#"})
		want := packet.TopicFilterInvalid
		if v != packet.V5 {
			want = 0x80
		}
		if sa.ReasonCodes[0] != 0 || sa.ReasonCodes[1] != want {
			t.Errorf("v%d SUBACK %v, want [0 %v]", v, sa.ReasonCodes, want)
		}
		r.Send(&packet.Publish{Topic: deep, QoS: 1, PacketID: 2, Payload: []byte("deep")})
		ack := r.Recv().(*packet.Puback)
		if v == packet.V5 && ack.ReasonCode != packet.TopicNameInvalid {
			t.Errorf("v5 PUBACK %v, want 0x90", ack.ReasonCode)
		}
		r.Send(&packet.Publish{Topic: ok, Payload: []byte("ok")})
		if p := watch.RecvPublish(); string(p.Payload) != "ok" {
			t.Fatalf("v%d: the deep message was delivered: %q", v, p.Topic)
		}
	}
}

// An acknowledgement of the wrong kind for an inflight message is a
// protocol error [MQTT-4.13.1-1]: PUBREC or PUBCOMP for QoS 1, PUBACK for
// QoS 2, PUBCOMP before PUBREC. A late duplicate for an id that is no
// longer inflight is ignored.
func TestWrongKindAcknowledgements(t *testing.T) {
	_, addr := startBroker(t, nil)
	for _, v := range []byte{packet.V311, packet.V5} {
		for _, tc := range []struct {
			qos byte
			ack func(id uint16) packet.Packet
			why string
		}{
			{1, func(id uint16) packet.Packet { return &packet.Pubrec{PacketID: id} }, "PUBREC for QoS 1"},
			{1, func(id uint16) packet.Packet { return &packet.Pubcomp{PacketID: id} }, "PUBCOMP for QoS 1"},
			{2, func(id uint16) packet.Packet { return &packet.Puback{PacketID: id} }, "PUBACK for QoS 2"},
			{2, func(id uint16) packet.Packet { return &packet.Pubcomp{PacketID: id} }, "PUBCOMP before PUBREC"},
		} {
			sub := connectRaw(t, addr, v, "acker")
			sub.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "ack", QoS: 2})
			pub := connectRaw(t, addr, packet.V311, "pub")
			pub.Send(&packet.Publish{Topic: "ack", QoS: tc.qos, PacketID: 9, Payload: []byte("m")})
			p := sub.RecvPublish()
			sub.Send(&packet.Puback{PacketID: p.PacketID + 100}) // unknown id: ignored
			sub.Send(tc.ack(p.PacketID))
			expectDisconnect(t, sub, packet.ProtocolError, fmt.Sprintf("v%d %s", v, tc.why))
		}
	}
	checkAlive(t, addr)
}

// A client's PUBLISH must not carry a Subscription Identifier
// [MQTT-3.3.4-6]: DISCONNECT 0x82.
func TestPublishWithSubscriptionIdentifier(t *testing.T) {
	_, addr := startBroker(t, nil)
	r := connectRaw(t, addr, packet.V5, "sid")
	r.Send(&packet.Publish{Topic: "x", QoS: 1, PacketID: 1, Properties: packet.Properties{SubscriptionIDs: []uint32{7}}})
	expectDisconnect(t, r, packet.ProtocolError, "PUBLISH with a Subscription Identifier")
}

// The will at CONNECT: a zero-length will topic closes a 3.x connection
// without CONNACK (3 "server unavailable" would send users looking in
// the wrong place; Mosquitto closes too) and gets 0x90 in MQTT 5; a will
// payload over message_size_limit is refused as Mosquitto refuses it
// (3.x: 5 Not authorized; MQTT 5: 0x95 Packet too large).
func TestWillCheckedAtConnect(t *testing.T) {
	_, addr := startBroker(t, func(o *Options) { o.MessageSizeLimit = 10 })
	for _, v := range []byte{packet.V311, packet.V5} {
		r := dialRaw(t, addr, v)
		r.Send(&packet.Connect{ProtocolName: "MQTT", ProtocolVersion: v, ClientID: "w", CleanStart: true, WillFlag: true, WillPayload: []byte("x")})
		got := r.ExpectClosed(3 * time.Second)
		switch {
		case v != packet.V5 && len(got) != 0:
			t.Errorf("3.1.1, empty will topic: got %v, want the close alone", got)
		case v == packet.V5 && (len(got) != 1 || got[0].(*packet.Connack).ReasonCode != packet.TopicNameInvalid):
			t.Errorf("5, empty will topic: got %v, want CONNACK 0x90", got)
		}
		r = dialRaw(t, addr, v)
		r.Send(&packet.Connect{ProtocolName: "MQTT", ProtocolVersion: v, ClientID: "w", CleanStart: true, WillFlag: true,
			WillTopic: "w", WillPayload: []byte("more than ten bytes")})
		want := packet.NotAuthorized
		if v == packet.V5 {
			want = packet.PacketTooLarge
		}
		got = r.ExpectClosed(3 * time.Second)
		if len(got) != 1 || got[0].(*packet.Connack).ReasonCode != want {
			t.Errorf("v%d, will over message_size_limit: got %v, want CONNACK %v", v, got, want)
		}
		r = dialRaw(t, addr, v)
		if ack := r.Connect(&packet.Connect{ClientID: "w", CleanStart: true, WillFlag: true, WillTopic: "w", WillPayload: []byte("ten bytes!")}); ack.ReasonCode != 0 {
			t.Errorf("v%d, will at the limit: %v", v, ack.ReasonCode)
		}
	}
}
