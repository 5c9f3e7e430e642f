package broker

import (
	"bytes"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mqttkit/mqtt/mqtt/packet"
)

// Properties are forwarded untouched [MQTT-3.3.2-15..20], [MQTT-3.3.2-17]
// (user property order [MQTT-3.3.2-18]).
func TestV5PropertiesPassThrough(t *testing.T) {
	_, addr := startBroker(t, nil)
	sub := connectRaw(t, addr, packet.V5, "sub")
	sub.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "req/#", QoS: 1})
	pub := connectRaw(t, addr, packet.V5, "pub")
	props := packet.Properties{
		PayloadFormat: 1, HasPayloadFormat: true,
		ContentType:     "application/json",
		ResponseTopic:   "resp/1",
		CorrelationData: []byte{1, 2, 3},
		User:            []packet.UserProperty{{Key: "k", Value: "v1"}, {Key: "a", Value: "b"}, {Key: "k", Value: "v2"}},
	}
	pub.Send(&packet.Publish{Topic: "req/x", QoS: 1, PacketID: 1, Properties: props, Payload: []byte(`{}`)})
	got := sub.RecvPublish()
	p := got.Properties
	if p.PayloadFormat != 1 || !p.HasPayloadFormat || p.ContentType != props.ContentType || p.ResponseTopic != props.ResponseTopic ||
		!bytes.Equal(p.CorrelationData, props.CorrelationData) || !slices.Equal(p.User, props.User) {
		t.Fatalf("properties changed: %+v", p)
	}
}

// No matching subscribers: PUBACK 0x10 (MQTT 5 §3.4.2.1).
func TestV5NoMatchingSubscribers(t *testing.T) {
	_, addr := startBroker(t, nil)
	pub := connectRaw(t, addr, packet.V5, "pub")
	pub.Send(&packet.Publish{Topic: "nobody", QoS: 1, PacketID: 7})
	if a := pub.Recv().(*packet.Puback); a.ReasonCode != packet.NoMatchingSubscribers {
		t.Fatalf("PUBACK %v", a.ReasonCode)
	}
}

// [MQTT-3.8.3-3]: no-local subscriptions do not get the client's own messages.
func TestV5NoLocal(t *testing.T) {
	_, addr := startBroker(t, nil)
	c := connectRaw(t, addr, packet.V5, "self")
	c.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "nl/#", QoS: 0, NoLocal: true})
	other := connectRaw(t, addr, packet.V5, "other")
	c.Send(&packet.Publish{Topic: "nl/a", Payload: []byte("mine")})
	other.Send(&packet.Publish{Topic: "nl/a", Payload: []byte("theirs")})
	if got := c.RecvPublish(); string(got.Payload) != "theirs" {
		t.Fatalf("got own message %q", got.Payload)
	}
	c.ExpectNothing(200 * time.Millisecond)
}

// Overlapping subscriptions: one delivery with the highest QoS and every
// subscription identifier [MQTT-3.3.4-3], [MQTT-3.3.4-4] (MQTT 5 §3.3.4).
func TestV5OverlappingSubscriptionsAndIdentifiers(t *testing.T) {
	_, addr := startBroker(t, nil)
	c := connectRaw(t, addr, packet.V5, "ov")
	c.Subscribe(1, packet.Properties{SubscriptionIDs: []uint32{7}}, packet.Subscription{Filter: "o/+", QoS: 0})
	c.Subscribe(2, packet.Properties{SubscriptionIDs: []uint32{9}}, packet.Subscription{Filter: "o/#", QoS: 1})
	c.Subscribe(3, packet.Properties{}, packet.Subscription{Filter: "o/x", QoS: 0})
	pub := connectRaw(t, addr, packet.V5, "pub")
	pub.Send(&packet.Publish{Topic: "o/x", QoS: 1, PacketID: 1, Payload: []byte("m")})
	got := c.RecvPublish()
	ids := slices.Clone(got.Properties.SubscriptionIDs)
	slices.Sort(ids)
	if got.QoS != 1 || !slices.Equal(ids, []uint32{7, 9}) {
		t.Fatalf("got qos %d ids %v", got.QoS, got.Properties.SubscriptionIDs)
	}
	c.Send(&packet.Puback{PacketID: got.PacketID})
	c.ExpectNothing(200 * time.Millisecond)
}

// Topic aliases inbound: the alias maps to the topic [MQTT-3.3.2-12]; an
// alias above the maximum is a protocol error 0x94 [MQTT-3.3.2-10].
func TestV5TopicAliasInbound(t *testing.T) {
	_, addr := startBroker(t, nil)
	sub := connectRaw(t, addr, packet.V5, "sub")
	sub.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "alias/#"})
	pub := dialRaw(t, addr, packet.V5)
	ack := pub.Connect(&packet.Connect{ClientID: "pub", CleanStart: true})
	if ack.Properties.TopicAliasMaximum != 10 {
		t.Fatalf("Topic Alias Maximum %d", ack.Properties.TopicAliasMaximum)
	}
	pub.Send(&packet.Publish{Topic: "alias/long/name", Properties: packet.Properties{TopicAlias: 3, HasTopicAlias: true}, Payload: []byte("1")})
	pub.Send(&packet.Publish{Topic: "", Properties: packet.Properties{TopicAlias: 3, HasTopicAlias: true}, Payload: []byte("2")})
	for _, want := range []string{"1", "2"} {
		got := sub.RecvPublish()
		if got.Topic != "alias/long/name" || string(got.Payload) != want || got.Properties.HasTopicAlias {
			t.Fatalf("got %+v", got)
		}
	}
	pub.Send(&packet.Publish{Topic: "alias/x", Properties: packet.Properties{TopicAlias: 11, HasTopicAlias: true}})
	got := pub.ExpectClosed(3 * time.Second)
	if len(got) != 1 || got[0].(*packet.Disconnect).ReasonCode != packet.TopicAliasInvalid {
		t.Fatalf("got %+v", got)
	}
}

// Topic aliases outbound, when enabled: the broker uses aliases up to the
// client's Topic Alias Maximum [MQTT-3.3.2-8] and never above it. By
// default it sends none (paho-mqtt for Python cannot read them).
func TestV5TopicAliasOutbound(t *testing.T) {
	_, plain := startBroker(t, nil)
	sub0 := dialRaw(t, plain, packet.V5)
	sub0.Connect(&packet.Connect{ClientID: "sub", CleanStart: true, Properties: packet.Properties{TopicAliasMaximum: 5, HasTopicAliasMaximum: true}})
	sub0.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "t/#"})
	pub0 := connectRaw(t, plain, packet.V5, "pub")
	for range 2 {
		pub0.Send(&packet.Publish{Topic: "t/a", Payload: []byte("x")})
		if got := sub0.RecvPublish(); got.Properties.HasTopicAlias || got.Topic != "t/a" {
			t.Fatalf("default: alias sent: %+v", got)
		}
	}

	_, addr := startBroker(t, func(o *Options) { o.OutboundTopicAliases = true })
	sub := dialRaw(t, addr, packet.V5)
	sub.Connect(&packet.Connect{ClientID: "sub", CleanStart: true, Properties: packet.Properties{TopicAliasMaximum: 1, HasTopicAliasMaximum: true}})
	sub.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "t/#"})
	pub := connectRaw(t, addr, packet.V5, "pub")
	for _, tp := range []string{"t/a", "t/a", "t/b", "t/a"} {
		pub.Send(&packet.Publish{Topic: tp, Payload: []byte(tp)})
	}
	aliases := map[uint16]string{}
	for i := 0; i < 4; i++ {
		got := sub.RecvPublish()
		name := got.Topic
		if got.Properties.HasTopicAlias {
			if got.Properties.TopicAlias != 1 {
				t.Fatalf("alias %d above the maximum 1", got.Properties.TopicAlias)
			}
			if name != "" {
				aliases[1] = name
			} else {
				name = aliases[1]
			}
		}
		if name != string(got.Payload) {
			t.Fatalf("message %d: topic %q payload %q", i, name, got.Payload)
		}
	}
	if aliases[1] != "t/a" {
		t.Fatalf("alias table %v", aliases)
	}
}

// Message expiry: an expired message is not delivered [MQTT-3.3.2-5];
// the forwarded interval is the remaining lifetime [MQTT-3.3.2-6].
func TestV5MessageExpiry(t *testing.T) {
	_, addr := startBroker(t, nil)
	sub := dialRaw(t, addr, packet.V5)
	sub.Connect(&packet.Connect{ClientID: "exp", CleanStart: true, Properties: packet.Properties{SessionExpiry: 60, HasSessionExpiry: true}})
	sub.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "e/#", QoS: 1})
	sub.Send(&packet.Disconnect{})
	sub.ExpectClosed(3 * time.Second)

	pub := connectRaw(t, addr, packet.V5, "pub")
	pub.Send(&packet.Publish{Topic: "e/short", QoS: 1, PacketID: 1, Payload: []byte("short"),
		Properties: packet.Properties{MessageExpiry: 1, HasMessageExpiry: true}})
	pub.Recv()
	pub.Send(&packet.Publish{Topic: "e/long", QoS: 1, PacketID: 2, Payload: []byte("long"),
		Properties: packet.Properties{MessageExpiry: 100, HasMessageExpiry: true}})
	pub.Recv()
	time.Sleep(1100 * time.Millisecond)

	sub = dialRaw(t, addr, packet.V5)
	ack := sub.Connect(&packet.Connect{ClientID: "exp", Properties: packet.Properties{SessionExpiry: 60, HasSessionExpiry: true}})
	if !ack.SessionPresent {
		t.Fatal("session not present")
	}
	got := sub.RecvPublish()
	if string(got.Payload) != "long" || !got.Properties.HasMessageExpiry || got.Properties.MessageExpiry > 99 || got.Properties.MessageExpiry < 90 {
		t.Fatalf("got %q expiry %d", got.Payload, got.Properties.MessageExpiry)
	}
	sub.Send(&packet.Puback{PacketID: got.PacketID})
	sub.ExpectNothing(200 * time.Millisecond)
}

// Retain handling 0/1/2 [MQTT-3.3.1-9..11], retain as published
// [MQTT-3.3.1-12], [MQTT-3.3.1-13], empty payload deletes [MQTT-3.3.1-11].
func TestV5RetainHandling(t *testing.T) {
	_, addr := startBroker(t, nil)
	pub := connectRaw(t, addr, packet.V5, "pub")
	pub.Send(&packet.Publish{Topic: "r/1", Retain: true, Payload: []byte("kept")})
	pub.Send(&packet.Pingreq{})
	pub.Recv()

	c := connectRaw(t, addr, packet.V5, "c")
	c.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "r/#", RetainHandling: 0})
	if got := c.RecvPublish(); !got.Retain || string(got.Payload) != "kept" {
		t.Fatalf("rh0: %+v", got)
	}
	c.Subscribe(2, packet.Properties{}, packet.Subscription{Filter: "r/#", RetainHandling: 1}) // exists: nothing
	c.Subscribe(3, packet.Properties{}, packet.Subscription{Filter: "r/+", RetainHandling: 1}) // new: sent
	if got := c.RecvPublish(); !got.Retain {
		t.Fatalf("rh1: %+v", got)
	}
	c.Subscribe(4, packet.Properties{}, packet.Subscription{Filter: "r/1", RetainHandling: 2})
	c.ExpectNothing(200 * time.Millisecond)

	// Live retained messages: flag cleared unless retain-as-published.
	d := connectRaw(t, addr, packet.V5, "d")
	d.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "live/rap", RetainAsPublished: true, RetainHandling: 2})
	d.Subscribe(2, packet.Properties{}, packet.Subscription{Filter: "live/plain", RetainHandling: 2})
	pub.Send(&packet.Publish{Topic: "live/rap", Retain: true, Payload: []byte("a")})
	pub.Send(&packet.Publish{Topic: "live/plain", Retain: true, Payload: []byte("b")})
	if got := d.RecvPublish(); !got.Retain {
		t.Fatal("retain as published: flag cleared")
	}
	if got := d.RecvPublish(); got.Retain {
		t.Fatal("retain flag kept without retain as published")
	}

	// Empty payload deletes.
	pub.Send(&packet.Publish{Topic: "r/1", Retain: true})
	pub.Send(&packet.Pingreq{})
	pub.Recv()
	e := connectRaw(t, addr, packet.V5, "e")
	e.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "r/#"})
	e.ExpectNothing(200 * time.Millisecond)
}

// Takeover: the old connection gets DISCONNECT 0x8E and is closed
// [MQTT-3.1.4-3]; the session (and its subscription) passes on.
func TestV5Takeover(t *testing.T) {
	_, addr := startBroker(t, nil)
	old := dialRaw(t, addr, packet.V5)
	old.Connect(&packet.Connect{ClientID: "dup", CleanStart: true, Properties: packet.Properties{SessionExpiry: 60, HasSessionExpiry: true}})
	old.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "tk", QoS: 1})
	nw := dialRaw(t, addr, packet.V5)
	ack := nw.Connect(&packet.Connect{ClientID: "dup", Properties: packet.Properties{SessionExpiry: 60, HasSessionExpiry: true}})
	if !ack.SessionPresent {
		t.Fatal("session not passed on")
	}
	got := old.ExpectClosed(3 * time.Second)
	if len(got) != 1 || got[0].(*packet.Disconnect).ReasonCode != packet.SessionTakenOver {
		t.Fatalf("old connection got %+v", got)
	}
	pub := connectRaw(t, addr, packet.V5, "pub")
	pub.Send(&packet.Publish{Topic: "tk", QoS: 1, PacketID: 1, Payload: []byte("x")})
	if p := nw.RecvPublish(); string(p.Payload) != "x" {
		t.Fatal("subscription lost on takeover")
	}
}

// Client id assignment: MQTT 5 gets an Assigned Client Identifier
// [MQTT-3.2.2-16]; 3.1.1 with clean session 0 is refused with 0x02
// [MQTT-3.1.3-8]; 3.1 is refused.
func TestClientIDAssignment(t *testing.T) {
	_, addr := startBroker(t, nil)
	r := dialRaw(t, addr, packet.V5)
	ack := r.Connect(&packet.Connect{CleanStart: true})
	if ack.ReasonCode != 0 || len(ack.Properties.AssignedClientID) < 6 || ack.Properties.AssignedClientID[:5] != "auto-" {
		t.Fatalf("v5: %+v", ack)
	}
	r = dialRaw(t, addr, packet.V311)
	if ack := r.Connect(&packet.Connect{CleanStart: true}); ack.ReasonCode != 0 {
		t.Fatalf("3.1.1 clean: %v", ack.ReasonCode)
	}
	r = dialRaw(t, addr, packet.V311)
	if ack := r.Connect(&packet.Connect{CleanStart: false}); ack.ReasonCode != packet.ClientIdentifierNotValid {
		t.Fatalf("3.1.1 persistent: %v", ack.ReasonCode)
	}
	r.ExpectClosed(3 * time.Second)
	r = dialRaw(t, addr, packet.V31)
	if ack := r.Connect(&packet.Connect{CleanStart: true}); ack.ReasonCode != packet.ClientIdentifierNotValid {
		t.Fatalf("3.1: %v", ack.ReasonCode)
	}
}

// Server Keep Alive [MQTT-3.2.2-21] and the keep-alive timeout at 1.5×
// [MQTT-3.1.2-22]: a silent client is disconnected with 0x8D.
func TestV5KeepAlive(t *testing.T) {
	_, addr := startBroker(t, func(o *Options) { o.MaxKeepAlive = 1 })
	r := dialRaw(t, addr, packet.V5)
	ack := r.Connect(&packet.Connect{ClientID: "ka", CleanStart: true, KeepAlive: 60})
	if !ack.Properties.HasServerKeepAlive || ack.Properties.ServerKeepAlive != 1 {
		t.Fatalf("server keep alive: %+v", ack.Properties)
	}
	start := time.Now()
	got := r.ExpectClosed(5 * time.Second)
	if el := time.Since(start); el < time.Second || el > 3*time.Second {
		t.Fatalf("closed after %v", el)
	}
	if len(got) != 1 || got[0].(*packet.Disconnect).ReasonCode != packet.KeepAliveTimeout {
		t.Fatalf("got %+v", got)
	}
}

// Receive Maximum of the client: no more than that many unacknowledged
// QoS 1 messages [MQTT-3.3.4-9] (sender side [MQTT-4.9.0-2]).
func TestV5ClientReceiveMaximum(t *testing.T) {
	_, addr := startBroker(t, nil)
	sub := dialRaw(t, addr, packet.V5)
	sub.Connect(&packet.Connect{ClientID: "rm", CleanStart: true, Properties: packet.Properties{ReceiveMaximum: 2, HasReceiveMaximum: true}})
	sub.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "rm", QoS: 1})
	pub := connectRaw(t, addr, packet.V5, "pub")
	for i := 0; i < 5; i++ {
		pub.Send(&packet.Publish{Topic: "rm", Payload: []byte{byte('0' + i)}, QoS: 1, PacketID: uint16(i + 1)})
	}
	a, b := sub.RecvPublish(), sub.RecvPublish()
	sub.ExpectNothing(300 * time.Millisecond)
	sub.Send(&packet.Puback{PacketID: a.PacketID})
	c := sub.RecvPublish()
	sub.ExpectNothing(200 * time.Millisecond)
	if string(a.Payload)+string(b.Payload)+string(c.Payload) != "012" {
		t.Fatal("order broken")
	}
}

// A client's Maximum Packet Size: larger messages are dropped for that
// client, as if delivered [MQTT-3.1.2-25], with Mosquitto's notice.
func TestV5ClientMaximumPacketSize(t *testing.T) {
	b, h := startBrokerLogging(t, slog.LevelInfo, nil)
	addr := b.Addrs()[0].String()
	sub := dialRaw(t, addr, packet.V5)
	sub.Connect(&packet.Connect{ClientID: "small", CleanStart: true, Properties: packet.Properties{MaximumPacketSize: 64, HasMaximumPacketSize: true}})
	sub.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "mp", QoS: 1})
	pub := connectRaw(t, addr, packet.V5, "pub")
	pub.Send(&packet.Publish{Topic: "mp", QoS: 1, PacketID: 1, Payload: make([]byte, 200)})
	pub.Send(&packet.Publish{Topic: "mp", QoS: 1, PacketID: 2, Payload: []byte("fits")})
	if got := sub.RecvPublish(); string(got.Payload) != "fits" {
		t.Fatalf("got %d bytes", len(got.Payload))
	}
	// Logged by the writer before it wrote the next one.
	if text := strings.Join(h.Lines(), "\n"); !strings.Contains(text, "Dropping too large outgoing PUBLISH for small (210 bytes)") {
		t.Fatalf("no notice of the dropped message:\n%s", text)
	}
}

// The server's Maximum Packet Size: a larger packet closes the connection
// with DISCONNECT 0x95 [MQTT-3.1.2-24] (5.0 numbering).
func TestV5ServerMaximumPacketSize(t *testing.T) {
	_, addr := startBroker(t, func(o *Options) { o.MaxPacketSize = 100 })
	r := dialRaw(t, addr, packet.V5)
	ack := r.Connect(&packet.Connect{ClientID: "big", CleanStart: true})
	if ack.Properties.MaximumPacketSize != 100 {
		t.Fatalf("CONNACK Maximum Packet Size %d", ack.Properties.MaximumPacketSize)
	}
	r.Send(&packet.Publish{Topic: "x", Payload: make([]byte, 200)})
	got := r.ExpectClosed(3 * time.Second)
	if len(got) != 1 || got[0].(*packet.Disconnect).ReasonCode != packet.PacketTooLarge {
		t.Fatalf("got %+v", got)
	}
}

// Clients may not publish to $SYS: v5 gets PUBACK 0x87 and nothing is routed.
func TestPublishToSysDenied(t *testing.T) {
	_, addr := startBroker(t, nil)
	sub := connectRaw(t, addr, packet.V5, "sub")
	sub.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "$SYS/#"})
	pub := connectRaw(t, addr, packet.V5, "pub")
	pub.Send(&packet.Publish{Topic: "$SYS/broker/version", QoS: 1, PacketID: 1, Payload: []byte("fake")})
	if a := pub.Recv().(*packet.Puback); a.ReasonCode != packet.NotAuthorized {
		t.Fatalf("PUBACK %v", a.ReasonCode)
	}
	sub.ExpectNothing(200 * time.Millisecond)
}

// TestResendWithinSmallerReceiveMaximum: a session left 60 QoS 1
// messages unacknowledged under Receive Maximum 100 and comes back with
// 5: never more than 5 are unacknowledged on the new connection
// [MQTT-3.3.4-7]; they go again in their original order [MQTT-4.6.0-1]
// under their packet ids with DUP [MQTT-4.4.0-1], [MQTT-3.3.1-1], the
// rest as PUBACKs free the window, and only then what was queued while
// the client was away.
func TestResendWithinSmallerReceiveMaximum(t *testing.T) {
	b, addr := startBroker(t, nil)
	connect := func(rm uint16) (*raw, *packet.Connack) {
		r := dialRaw(t, addr, packet.V5)
		ack := r.Connect(&packet.Connect{ClientID: "rm", KeepAlive: 30, Properties: packet.Properties{
			SessionExpiry: 300, HasSessionExpiry: true, ReceiveMaximum: rm, HasReceiveMaximum: true}})
		return r, ack
	}
	sub, _ := connect(100)
	sub.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "rm/#", QoS: 1})
	pub := connectRaw(t, addr, packet.V5, "rm-pub")
	publish := func(prefix string, n int) {
		for i := range n {
			pub.Send(&packet.Publish{Topic: "rm/x", QoS: 1, PacketID: uint16(i + 1), Payload: fmt.Appendf(nil, "%s%d", prefix, i)})
		}
		for range n {
			if _, ok := pub.Recv().(*packet.Puback); !ok {
				t.Fatal("want PUBACK")
			}
		}
	}
	publish("m", 60)
	ids := make([]uint16, 60)
	for i := range ids {
		p := sub.RecvPublish()
		if string(p.Payload) != fmt.Sprintf("m%d", i) || p.Dup {
			t.Fatalf("first delivery %d: %+v", i, p)
		}
		ids[i] = p.PacketID
	}
	sub.NC.Close()
	waitOffline(t, b, "rm")
	publish("q", 10) // queued behind the 60

	sub, ack := connect(5)
	if !ack.SessionPresent {
		t.Fatal("no session present")
	}
	// Nothing beyond the window may precede the PINGRESP: what the
	// broker sends at once is written before it reads the PINGREQ.
	windowFull := func() {
		t.Helper()
		sub.Send(&packet.Pingreq{})
		if p := sub.Recv(); p.Type() != packet.PINGRESP {
			t.Fatalf("more than 5 unacknowledged: got %T %+v", p, p)
		}
	}
	var unacked []uint16
	for i := range 70 {
		if len(unacked) == 5 {
			windowFull()
			// Acknowledge in another order than sent, now and then.
			k := 0
			if i%3 == 0 {
				k = 4
			}
			sub.Send(&packet.Puback{PacketID: unacked[k]})
			unacked = slices.Delete(unacked, k, k+1)
		}
		p := sub.RecvPublish()
		if i < 60 {
			if string(p.Payload) != fmt.Sprintf("m%d", i) || !p.Dup || p.PacketID != ids[i] {
				t.Fatalf("resend %d: %+v, want m%d DUP id %d", i, p, i, ids[i])
			}
		} else if string(p.Payload) != fmt.Sprintf("q%d", i-60) || p.Dup || slices.Contains(unacked, p.PacketID) {
			t.Fatalf("queued %d: %+v (in flight %v)", i-60, p, unacked)
		}
		unacked = append(unacked, p.PacketID)
	}
	windowFull()
	for _, id := range unacked {
		sub.Send(&packet.Puback{PacketID: id})
	}
	publish("n", 1)
	if p := sub.RecvPublish(); string(p.Payload) != "n0" || p.Dup {
		t.Fatalf("after the resend: %+v", p)
	}
}
