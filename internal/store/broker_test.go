package store

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/mqttkit/mqtt/internal/testutil"
	"github.com/mqttkit/mqtt/mqtt/broker"
	"github.com/mqttkit/mqtt/mqtt/packet"
)

// run is a broker on the store file at path, closed (broker, then store)
// by stop or at the end of the test.
type run struct {
	b    *broker.Broker
	st   *Store
	addr string
	done bool
}

func startOn(t *testing.T, path string, mod func(*broker.Options)) *run {
	t.Helper()
	st, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	o := broker.DefaultOptions()
	o.Listeners = []string{"127.0.0.1:0"}
	o.SysInterval = 0
	o.Store = st
	if mod != nil {
		mod(&o)
	}
	b, err := broker.New(o, nil)
	if err != nil {
		st.Close()
		t.Fatal(err)
	}
	if err := b.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	r := &run{b: b, st: st, addr: b.Addrs()[0].String()}
	t.Cleanup(r.stop)
	return r
}

func (r *run) stop() {
	if !r.done {
		r.done = true
		r.b.Close()
		r.st.Close()
	}
}

var persistent5 = packet.Properties{SessionExpiry: 3600, HasSessionExpiry: true}

// A restart on the same file brings back what the sessions held:
// subscriptions with their options and identifiers, queued messages in
// order with their properties, an inflight QoS 2 message resent under its
// packet id, and retained messages.
func TestBrokerRestartOnStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mqtt.db")
	r := startOn(t, path, nil)
	dev := testutil.DialRaw(t, r.addr, packet.V5)
	dev.Connect(&packet.Connect{ClientID: "dev", Properties: persistent5})
	dev.Subscribe(1, packet.Properties{SubscriptionIDs: []uint32{42}, HasSessionExpiry: false},
		packet.Subscription{Filter: "q/#", QoS: 2, NoLocal: true, RetainAsPublished: true})
	got := func() *packet.Publish { return dev.RecvPublish() }
	pub := testutil.ConnectRaw(t, r.addr, packet.V5, "pub")
	pub.Send(&packet.Publish{Topic: "q/2", QoS: 2, PacketID: 7, Payload: []byte("inflight")})
	pub.Recv() // PUBREC
	pub.Send(&packet.Pubrel{PacketID: 7})
	pub.Recv() // PUBCOMP
	first := got()
	if first.QoS != 2 {
		t.Fatalf("first: %+v", first)
	}
	dev.NC.Close() // no PUBREC: it stays in flight
	for i := range 5 {
		props := packet.Properties{ContentType: "text/plain", User: []packet.UserProperty{{Key: "n", Value: fmt.Sprint(i)}}}
		pub.Send(&packet.Publish{Topic: "q/1", QoS: 1, PacketID: uint16(10 + i), Retain: i == 4, Payload: fmt.Appendf(nil, "m%d", i), Properties: props})
		if a, ok := pub.Recv().(*packet.Puback); !ok || a.ReasonCode != packet.Success {
			t.Fatalf("PUBACK %+v", a)
		}
	}
	r.stop()

	r = startOn(t, path, nil)
	dev = testutil.DialRaw(t, r.addr, packet.V5)
	if ack := dev.Connect(&packet.Connect{ClientID: "dev", Properties: persistent5}); !ack.SessionPresent {
		t.Fatal("no session present")
	}
	again := dev.RecvPublish()
	if !again.Dup || again.PacketID != first.PacketID || string(again.Payload) != "inflight" {
		t.Fatalf("inflight resend: %+v", again)
	}
	dev.Send(&packet.Pubrec{PacketID: again.PacketID})
	for i := range 5 {
		m := dev.RecvPublish()
		for m.QoS == 2 { // PUBREL of the QoS 2 message may come first
			m = dev.RecvPublish()
		}
		if string(m.Payload) != fmt.Sprintf("m%d", i) || m.Properties.ContentType != "text/plain" ||
			!slices.Equal(m.Properties.SubscriptionIDs, []uint32{42}) || len(m.Properties.User) != 1 || m.Properties.User[0].Value != fmt.Sprint(i) ||
			m.Retain != (i == 4) {
			t.Fatalf("queued %d: %+v", i, m)
		}
		dev.Send(&packet.Puback{PacketID: m.PacketID})
	}
	// No local survives: the session's own message is not sent back to it.
	dev.Send(&packet.Publish{Topic: "q/self", QoS: 1, PacketID: 99, Payload: []byte("own")})
	pub = testutil.ConnectRaw(t, r.addr, packet.V5, "pub")
	pub.Send(&packet.Publish{Topic: "q/other", QoS: 1, PacketID: 1, Payload: []byte("other")})
	pub.Recv()
	for {
		p := dev.Recv()
		if m, ok := p.(*packet.Publish); ok {
			if string(m.Payload) == "own" {
				t.Fatal("no local lost")
			}
			if string(m.Payload) == "other" {
				break
			}
		}
	}
	late := testutil.ConnectRaw(t, r.addr, packet.V311, "late")
	late.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "q/1"})
	if m := late.RecvPublish(); !m.Retain || string(m.Payload) != "m4" {
		t.Fatalf("retained: %+v", m)
	}
}

// QoS 1 messages in flight when the broker stops come back after the
// restart under their packet ids with DUP [MQTT-4.4.0-1], [MQTT-3.3.1-1],
// in their order [MQTT-4.6.0-1], then what was queued, under new ids
// without DUP. The acknowledged ones are gone.
func TestBrokerRestartKeepsQoS1PacketIDs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mqtt.db")
	r := startOn(t, path, nil)
	props := packet.Properties{SessionExpiry: 3600, HasSessionExpiry: true, ReceiveMaximum: 5, HasReceiveMaximum: true}
	dev := testutil.DialRaw(t, r.addr, packet.V5)
	dev.Connect(&packet.Connect{ClientID: "dev", Properties: props})
	dev.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "q/#", QoS: 1})
	pub := testutil.ConnectRaw(t, r.addr, packet.V5, "pub")
	for i := range 8 {
		pub.Send(&packet.Publish{Topic: "q/1", QoS: 1, PacketID: uint16(i + 1), Payload: fmt.Appendf(nil, "m%d", i)})
	}
	for range 8 {
		if a, ok := pub.Recv().(*packet.Puback); !ok || a.ReasonCode != packet.Success {
			t.Fatalf("PUBACK %+v", a)
		}
	}
	ids := map[string]uint16{}
	recv := func() {
		m := dev.RecvPublish()
		if m.Dup {
			t.Fatalf("first delivery with DUP: %+v", m)
		}
		ids[string(m.Payload)] = m.PacketID
	}
	for range 5 { // m0..m4 fill the window; m5..m7 wait
		recv()
	}
	dev.Send(&packet.Puback{PacketID: ids["m0"]})
	dev.Send(&packet.Puback{PacketID: ids["m2"]})
	recv() // m5
	recv() // m6
	// In flight: m1 m3 m4 m5 m6; queued: m7.
	r.stop() // the client is still connected

	r = startOn(t, path, nil)
	dev = testutil.DialRaw(t, r.addr, packet.V5)
	if ack := dev.Connect(&packet.Connect{ClientID: "dev", Properties: props}); !ack.SessionPresent {
		t.Fatal("no session present")
	}
	for _, want := range []string{"m1", "m3", "m4", "m5", "m6"} {
		m := dev.RecvPublish()
		if string(m.Payload) != want || !m.Dup || m.PacketID != ids[want] {
			t.Fatalf("resend: %+v (%s), want %s DUP under id %d", m, m.Payload, want, ids[want])
		}
	}
	dev.Send(&packet.Puback{PacketID: ids["m1"]})
	m := dev.RecvPublish()
	if string(m.Payload) != "m7" || m.Dup {
		t.Fatalf("queued: %+v (%s)", m, m.Payload)
	}
	inflight := []uint16{ids["m3"], ids["m4"], ids["m5"], ids["m6"]}
	if slices.Contains(inflight, m.PacketID) {
		t.Fatalf("m7 under packet id %d, still in flight", m.PacketID)
	}
	for _, id := range append(inflight, m.PacketID) {
		dev.Send(&packet.Puback{PacketID: id})
	}
	dev.Send(&packet.Pingreq{})
	if p := dev.Recv(); p.Type() != packet.PINGRESP {
		t.Fatalf("after everything was acknowledged: %T %+v", p, p)
	}
}

// Expiry counts the time the broker was down: a message whose expiry
// passed is not delivered, a session whose expiry passed is gone, so is a
// 3.1.1 session past persistent_client_expiration, and a will whose delay
// passed is published at the restart.
func TestBrokerDowntimeCounts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mqtt.db")
	opts := func(o *broker.Options) { o.PersistentClientExpiration = time.Second }
	r := startOn(t, path, opts)
	mk := func(id string, v byte, props packet.Properties) {
		c := testutil.DialRaw(t, r.addr, v)
		c.Connect(&packet.Connect{ClientID: id, Properties: props})
		c.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "e/#", QoS: 1})
		c.Send(&packet.Disconnect{})
		c.ExpectClosed(5 * time.Second)
	}
	mk("keeps", packet.V5, persistent5)
	mk("short", packet.V5, packet.Properties{SessionExpiry: 1, HasSessionExpiry: true})
	mk("v3", packet.V311, packet.Properties{})
	watch := testutil.DialRaw(t, r.addr, packet.V5) // 3.1.1 would expire with persistent_client_expiration
	watch.Connect(&packet.Connect{ClientID: "watch", Properties: persistent5})
	watch.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "wills/#", QoS: 1})
	watch.Send(&packet.Disconnect{})
	watch.ExpectClosed(5 * time.Second)
	w := testutil.DialRaw(t, r.addr, packet.V5)
	w.Connect(&packet.Connect{ClientID: "willer", WillFlag: true, WillTopic: "wills/willer", WillQoS: 1, WillPayload: []byte("bye"),
		WillProperties: packet.Properties{WillDelay: 1, HasWillDelay: true}, Properties: persistent5})
	pub := testutil.ConnectRaw(t, r.addr, packet.V5, "pub")
	pub.Send(&packet.Publish{Topic: "e/1", QoS: 1, PacketID: 1, Payload: []byte("expires"), Properties: packet.Properties{MessageExpiry: 1, HasMessageExpiry: true}})
	pub.Recv()
	pub.Send(&packet.Publish{Topic: "e/2", QoS: 1, PacketID: 2, Payload: []byte("stays")})
	pub.Recv()
	w.NC.Close() // without DISCONNECT: the will waits for its delay
	for deadline := time.Now().Add(5 * time.Second); ; {
		online := false
		for _, c := range r.b.Clients() {
			online = online || c.ClientID == "willer" && c.Connected
		}
		if !online {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("willer still connected")
		}
		time.Sleep(5 * time.Millisecond)
	}
	r.stop()
	time.Sleep(1100 * time.Millisecond) // the downtime under test, not a wait for an event

	r = startOn(t, path, opts)
	ids := map[string]bool{}
	for _, c := range r.b.Clients() {
		ids[c.ClientID] = true
	}
	if !ids["keeps"] || ids["short"] || ids["v3"] {
		t.Fatalf("sessions after the downtime: %v", ids)
	}
	c := testutil.DialRaw(t, r.addr, packet.V5)
	c.Connect(&packet.Connect{ClientID: "keeps", Properties: persistent5})
	if m := c.RecvPublish(); string(m.Payload) != "stays" {
		t.Fatalf("after the downtime: %+v (the expired message must not come)", m)
	}
	watch = testutil.DialRaw(t, r.addr, packet.V5)
	watch.Connect(&packet.Connect{ClientID: "watch", Properties: persistent5})
	if m := watch.RecvPublish(); m.Topic != "wills/willer" || string(m.Payload) != "bye" {
		t.Fatalf("the will: %+v", m)
	}
}

// twoStoredSubscribers starts a broker on a new store (journalSize as the
// caller set it) whose persistent sessions s1 and s2 subscribe to filter
// at qos and go offline; max is the store's MaxPacketSize.
func twoStoredSubscribers(t *testing.T, filter string, qos byte) (r *run, max int) {
	t.Helper()
	r = startOn(t, filepath.Join(t.TempDir(), "mqtt.db"), func(o *broker.Options) { o.MaxQueuedBytes = 0 })
	for _, id := range []string{"s1", "s2"} {
		sub := testutil.DialRaw(t, r.addr, packet.V5)
		sub.Connect(&packet.Connect{ClientID: id, Properties: persistent5})
		sub.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: filter, QoS: qos})
		sub.Send(&packet.Disconnect{})
		sub.ExpectClosed(5 * time.Second)
	}
	return r, r.st.MaxPacketSize()
}

// A message larger than the store can ever hold is refused with Packet
// too large (MQTT 5 DISCONNECT 0x95; 3.x disconnected), not with a Quota
// exceeded the client would retry for ever; one that needs no store
// still flows. A large message for several stored sessions, whose copies
// together are larger than the journal, is stored (several records).
func TestMessageLargerThanStore(t *testing.T) {
	defer func(n int64) { journalSize = n }(journalSize)
	journalSize = 1 << 20
	r, max := twoStoredSubscribers(t, "big", 1)
	p5 := testutil.ConnectRaw(t, r.addr, packet.V5, "p5")
	p5.Send(&packet.Publish{Topic: "nobody", QoS: 1, PacketID: 1, Payload: make([]byte, max)})
	if a, ok := p5.Recv().(*packet.Puback); !ok || a.ReasonCode != packet.NoMatchingSubscribers {
		t.Fatalf("a large message that needs no store: %+v", a)
	}
	half := make([]byte, max*2/3) // two copies do not fit one record
	p5.Send(&packet.Publish{Topic: "big", QoS: 1, PacketID: 2, Payload: half})
	if a, ok := p5.Recv().(*packet.Puback); !ok || a.ReasonCode != packet.Success {
		t.Fatalf("a message that fits, for two stored sessions: %+v", a)
	}
	p5.Send(&packet.Publish{Topic: "big", QoS: 1, PacketID: 3, Payload: make([]byte, max)})
	got := p5.ExpectClosed(5 * time.Second)
	if len(got) == 0 {
		t.Fatal("no DISCONNECT")
	}
	if d, ok := got[len(got)-1].(*packet.Disconnect); !ok || d.ReasonCode != packet.PacketTooLarge {
		t.Fatalf("want DISCONNECT 0x95, got %+v", got)
	}
	p3 := testutil.ConnectRaw(t, r.addr, packet.V311, "p3")
	p3.Send(&packet.Publish{Topic: "big", QoS: 1, PacketID: 4, Retain: true, Payload: make([]byte, max)})
	for _, p := range p3.ExpectClosed(5 * time.Second) {
		if _, ok := p.(*packet.Puback); ok {
			t.Fatal("3.1.1: PUBACK of a message larger than the store")
		}
	}
	for _, id := range []string{"s1", "s2"} {
		sub := testutil.DialRaw(t, r.addr, packet.V5)
		sub.Connect(&packet.Connect{ClientID: id, Properties: persistent5})
		if m := sub.RecvPublish(); len(m.Payload) != len(half) {
			t.Fatalf("%s: a message of %d bytes, want %d", id, len(m.Payload), len(half))
		}
	}
}

// A QoS 2 message's stored copies are written together (exactly once
// across a crash), so when they together are larger than the store
// writes at once the message is refused as too large before it is
// routed: no online subscriber gets it, and the store goes on storing
// other clients' messages. It was refused as quota exceeded for ever,
// stopped the store for everyone for a second each time, and reached
// online subscribers on every attempt.
func TestQoS2CopiesLargerThanStore(t *testing.T) {
	defer func(n int64) { journalSize = n }(journalSize)
	journalSize = 1 << 20
	r, max := twoStoredSubscribers(t, "big2/#", 2)
	online := testutil.ConnectRaw(t, r.addr, packet.V5, "online")
	online.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "big2/#", QoS: 0})

	p := testutil.ConnectRaw(t, r.addr, packet.V5, "p2")
	fits := make([]byte, max/3) // two copies fit one write
	p.Send(&packet.Publish{Topic: "big2/fits", QoS: 2, PacketID: 1, Payload: fits})
	if rec, ok := p.Recv().(*packet.Pubrec); !ok || rec.ReasonCode != packet.Success {
		t.Fatalf("two copies that fit: %+v", rec)
	}
	p.Send(&packet.Pubrel{PacketID: 1})
	if _, ok := p.Recv().(*packet.Pubcomp); !ok {
		t.Fatal("no PUBCOMP")
	}
	if m := online.RecvPublish(); m.Topic != "big2/fits" {
		t.Fatalf("online subscriber: %+v", m)
	}

	p.Send(&packet.Publish{Topic: "big2/large", QoS: 2, PacketID: 2, Payload: make([]byte, max*2/3)})
	got := p.ExpectClosed(5 * time.Second)
	if len(got) == 0 {
		t.Fatal("no DISCONNECT")
	}
	if d, ok := got[len(got)-1].(*packet.Disconnect); !ok || d.ReasonCode != packet.PacketTooLarge {
		t.Fatalf("want DISCONNECT 0x95, got %+v", got)
	}
	// The store still stores: a bystander's retained QoS 1 message.
	by := testutil.ConnectRaw(t, r.addr, packet.V5, "bystander")
	by.Send(&packet.Publish{Topic: "big2/after", QoS: 1, Retain: true, PacketID: 3, Payload: []byte("after")})
	if a, ok := by.Recv().(*packet.Puback); !ok || a.ReasonCode != packet.Success {
		t.Fatalf("a bystander's stored message after the refusal: %+v", a)
	}
	// The online subscriber never got the refused message: the next one
	// it gets is the bystander's.
	if m := online.RecvPublish(); m.Topic != "big2/after" {
		t.Fatalf("online subscriber got %q (%d bytes), want big2/after", m.Topic, len(m.Payload))
	}
}
