package sn

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mqttkit/mqtt/mqtt/client"
)

// Up: a client publishes at QoS 0, 1 and 2 on a registered topic, and at QoS -1 without
// connecting; mosquitto_sub on the broker sees every message [MQTT-SN 6.5, 6.6, 6.8].
func TestPublishUpEveryQoS(t *testing.T) {
	addr := startBroker(t)
	_, gw := startGateway(t, addr, func(o *Options) {
		o.Predefined = NewPredefined()
		if err := o.Predefined.Add(AllClients, "up/predefined", 77); err != nil {
			t.Fatal(err)
		}
	})
	sub := startMosqSub(t, addr, 6, "-t", "up/#", "-t", "ab", "-q", "2")

	c := dialSN(t, gw)
	c.connect("pub-1", true, 60)
	id := c.register("up/registered", 1)

	c.send(&Publish{TopicID: id, Data: []byte("q0")})
	c.send(&Publish{QoS: 1, TopicID: id, MsgID: 2, Data: []byte("q1")})
	mustEqual(t, expect[*Puback](c), &Puback{TopicID: id, MsgID: 2})
	c.send(&Publish{QoS: 2, TopicID: id, MsgID: 3, Data: []byte("q2")})
	mustEqual(t, expect[*Pubrec](c), &Pubrec{MsgID: 3})
	c.send(&Pubrel{MsgID: 3})
	mustEqual(t, expect[*Pubcomp](c), &Pubcomp{MsgID: 3})
	c.send(&Publish{QoS: 1, TopicIDType: TopicPredefined, TopicID: 77, MsgID: 4, Data: []byte("predefined")})
	mustEqual(t, expect[*Puback](c), &Puback{TopicID: 77, MsgID: 4})

	// QoS -1 from a socket that never connected: short and predefined topics.
	anon := dialSN(t, gw)
	short, _ := ShortTopicID("ab")
	anon.send(&Publish{QoS: QoSMinus1, TopicIDType: TopicShort, TopicID: short, Data: []byte("minus-one short")})
	anon.send(&Publish{QoS: QoSMinus1, TopicIDType: TopicPredefined, TopicID: 77, Data: []byte("minus-one predefined")})
	anon.expectNothing(50 * time.Millisecond)

	got := sub.wait()
	want := map[string]bool{"up/registered q0": true, "up/registered q1": true, "up/registered q2": true,
		"up/predefined predefined": true, "ab minus-one short": true, "up/predefined minus-one predefined": true}
	for _, l := range got {
		if !want[l] {
			t.Errorf("unexpected line %q", l)
		}
		delete(want, l)
	}
	if len(want) > 0 {
		t.Errorf("missing %v; got %q", want, got)
	}
}

// Down: a client subscribes by topic name, by predefined id and by short name; messages
// mosquitto_pub publishes reach it at QoS 0, 1 and 2 with the ids SUBACK gave, and the
// gateway waits for each acknowledgement before the next [MQTT-SN 6.9, 6.6].
func TestSubscribeDownEveryQoS(t *testing.T) {
	addr := startBroker(t)
	_, gw := startGateway(t, addr, func(o *Options) {
		o.Predefined = NewPredefined()
		if err := o.Predefined.Add("sub-1", "down/predefined", 9); err != nil {
			t.Fatal(err)
		}
	})
	c := dialSN(t, gw)
	c.connect("sub-1", true, 60)
	sa := c.subscribe(&Subscribe{QoS: 2, MsgID: 1, TopicName: "down/name"})
	if sa.ReturnCode != Accepted || sa.QoS != 2 || sa.TopicID == 0 {
		t.Fatalf("SUBACK %+v", sa)
	}
	nameID := sa.TopicID
	mustEqual(t, c.subscribe(&Subscribe{QoS: 1, MsgID: 2, TopicIDType: TopicPredefined, TopicID: 9}),
		&Suback{QoS: 1, TopicID: 9, MsgID: 2})
	short, _ := ShortTopicID("dn")
	mustEqual(t, c.subscribe(&Subscribe{QoS: 0, MsgID: 3, TopicIDType: TopicShort, TopicID: short}),
		&Suback{MsgID: 3})

	mosqPub(t, addr, "-t", "down/name", "-q", "0", "-m", "zero")
	p := expect[*Publish](c)
	mustEqual(t, p, &Publish{TopicID: nameID, Data: []byte("zero")})

	mosqPub(t, addr, "-t", "down/name", "-q", "1", "-m", "one")
	p = expect[*Publish](c)
	if p.QoS != 1 || p.TopicID != nameID || string(p.Data) != "one" || p.MsgID == 0 {
		t.Fatalf("PUBLISH %+v", p)
	}
	c.send(&Puback{TopicID: p.TopicID, MsgID: p.MsgID})

	mosqPub(t, addr, "-t", "down/name", "-q", "2", "-m", "two")
	p = expect[*Publish](c)
	if p.QoS != 2 || string(p.Data) != "two" {
		t.Fatalf("PUBLISH %+v", p)
	}
	c.send(&Pubrec{MsgID: p.MsgID})
	mustEqual(t, expect[*Pubrel](c), &Pubrel{MsgID: p.MsgID})
	c.send(&Pubcomp{MsgID: p.MsgID})

	mosqPub(t, addr, "-t", "down/predefined", "-q", "1", "-m", "pre")
	p = expect[*Publish](c)
	if p.TopicIDType != TopicPredefined || p.TopicID != 9 || p.QoS != 1 {
		t.Fatalf("PUBLISH %+v", p)
	}
	c.send(&Puback{TopicID: 9, MsgID: p.MsgID})

	mosqPub(t, addr, "-t", "dn", "-m", "short")
	mustEqual(t, expect[*Publish](c), &Publish{TopicIDType: TopicShort, TopicID: short, Data: []byte("short")})

	// One QoS 1 message in flight at a time: the second waits for the first's PUBACK.
	mosqPub(t, addr, "-t", "down/name", "-q", "1", "-m", "first")
	mosqPub(t, addr, "-t", "down/name", "-q", "1", "-m", "second")
	p1 := expect[*Publish](c)
	c.expectNothing(100 * time.Millisecond)
	c.send(&Puback{TopicID: p1.TopicID, MsgID: p1.MsgID})
	p2 := expect[*Publish](c)
	if string(p1.Data) != "first" || string(p2.Data) != "second" {
		t.Fatalf("got %q then %q", p1.Data, p2.Data)
	}
	c.send(&Puback{TopicID: p2.TopicID, MsgID: p2.MsgID})

	c.send(&Unsubscribe{MsgID: 4, TopicName: "down/name"})
	mustEqual(t, expect[*Unsuback](c), &Unsuback{MsgID: 4})
	mosqPub(t, addr, "-t", "down/name", "-m", "after unsubscribe")
	c.expectNothing(100 * time.Millisecond)
}

// A wildcard subscription gets topic id 0x0000; the gateway REGISTERs each concrete topic
// before its first PUBLISH, and retransmits an unanswered REGISTER [MQTT-SN 6.5, 6.13].
func TestWildcardRegisters(t *testing.T) {
	addr := startBroker(t)
	_, gw := startGateway(t, addr, nil)
	c := dialSN(t, gw)
	c.connect("wild", true, 60)
	mustEqual(t, c.subscribe(&Subscribe{QoS: 1, MsgID: 1, TopicName: "w/+/t"}), &Suback{QoS: 1, MsgID: 1})

	mosqPub(t, addr, "-t", "w/a/t", "-q", "1", "-m", "A1")
	reg := expect[*Register](c)
	if reg.TopicName != "w/a/t" || reg.TopicID == 0 {
		t.Fatalf("REGISTER %+v", reg)
	}
	// Not answered: sent again after the retry interval.
	again := expect[*Register](c)
	mustEqual(t, again, reg)
	c.send(&Regack{TopicID: reg.TopicID, MsgID: reg.MsgID})
	p := expect[*Publish](c)
	if p.TopicID != reg.TopicID || p.TopicIDType != TopicNormal || string(p.Data) != "A1" {
		t.Fatalf("PUBLISH %+v", p)
	}
	c.send(&Puback{TopicID: p.TopicID, MsgID: p.MsgID})

	// The same topic again needs no REGISTER; another topic does.
	mosqPub(t, addr, "-t", "w/a/t", "-m", "A2")
	mustEqual(t, expect[*Publish](c), &Publish{TopicID: reg.TopicID, Data: []byte("A2")})
	mosqPub(t, addr, "-t", "w/b/t", "-m", "B1")
	reg2 := expect[*Register](c)
	if reg2.TopicName != "w/b/t" || reg2.TopicID == reg.TopicID {
		t.Fatalf("REGISTER %+v", reg2)
	}
	c.send(&Regack{TopicID: reg2.TopicID, MsgID: reg2.MsgID})
	mustEqual(t, expect[*Publish](c), &Publish{TopicID: reg2.TopicID, Data: []byte("B1")})

	// A client that refuses the topic does not get the message.
	mosqPub(t, addr, "-t", "w/c/t", "-q", "1", "-m", "C1")
	reg3 := expect[*Register](c)
	c.send(&Regack{TopicID: reg3.TopicID, MsgID: reg3.MsgID, ReturnCode: RejectedNotSupported})
	mosqPub(t, addr, "-t", "w/a/t", "-m", "A3")
	mustEqual(t, expect[*Publish](c), &Publish{TopicID: reg.TopicID, Data: []byte("A3")})
}

// Errors the spec gives a return code for.
func TestReturnCodes(t *testing.T) {
	addr := startBroker(t)
	g, gw := startGateway(t, addr, nil)
	c := dialSN(t, gw)

	c.send(&Connect{ProtocolID: 2, ClientID: "x", CleanSession: true})
	mustEqual(t, expect[*Connack](c), &Connack{ReturnCode: RejectedNotSupported})
	c.send(&Connect{ProtocolID: ProtocolID, CleanSession: true})
	mustEqual(t, expect[*Connack](c), &Connack{ReturnCode: RejectedNotSupported})

	c.connect("codes", true, 60)
	// [MQTT-SN 6.6] unknown topic id.
	c.send(&Publish{QoS: 1, TopicID: 42, MsgID: 1, Data: []byte("x")})
	mustEqual(t, expect[*Puback](c), &Puback{TopicID: 42, MsgID: 1, ReturnCode: RejectedInvalidTopicID})
	c.send(&Publish{TopicID: 42, Data: []byte("x")})
	mustEqual(t, expect[*Puback](c), &Puback{TopicID: 42, ReturnCode: RejectedInvalidTopicID})
	c.send(&Publish{QoS: 1, TopicIDType: TopicPredefined, TopicID: 5, MsgID: 2})
	mustEqual(t, expect[*Puback](c), &Puback{TopicID: 5, MsgID: 2, ReturnCode: RejectedInvalidTopicID})
	c.send(&Publish{QoS: 1, TopicIDType: TopicReserved, TopicID: 5, MsgID: 3})
	mustEqual(t, expect[*Puback](c), &Puback{TopicID: 5, MsgID: 3, ReturnCode: RejectedNotSupported})
	short, _ := ShortTopicID("a#")
	c.send(&Publish{TopicIDType: TopicShort, TopicID: short})
	mustEqual(t, expect[*Puback](c), &Puback{TopicID: short, ReturnCode: RejectedInvalidTopicID})
	id := c.register("ok", 4)
	c.send(&Publish{QoS: 1, TopicID: id, MsgID: 0})
	mustEqual(t, expect[*Puback](c), &Puback{TopicID: id, ReturnCode: RejectedNotSupported})
	// Topic names with wildcards or empty cannot be registered.
	for i, name := range []string{"a/#", "a/+", "", "bad\x00"} {
		c.send(&Register{MsgID: uint16(10 + i), TopicName: name})
		mustEqual(t, expect[*Regack](c), &Regack{MsgID: uint16(10 + i), ReturnCode: RejectedNotSupported})
	}
	// SUBSCRIBE: unknown predefined id, bad filter, QoS -1, reserved type.
	mustEqual(t, c.subscribe(&Subscribe{MsgID: 20, TopicIDType: TopicPredefined, TopicID: 3}),
		&Suback{MsgID: 20, ReturnCode: RejectedInvalidTopicID})
	mustEqual(t, c.subscribe(&Subscribe{MsgID: 21, TopicName: "a/#/b"}), &Suback{MsgID: 21, ReturnCode: RejectedNotSupported})
	mustEqual(t, c.subscribe(&Subscribe{MsgID: 22, TopicName: ""}), &Suback{MsgID: 22, ReturnCode: RejectedNotSupported})
	mustEqual(t, c.subscribe(&Subscribe{QoS: QoSMinus1, MsgID: 23, TopicName: "a"}), &Suback{MsgID: 23, ReturnCode: RejectedNotSupported})
	mustEqual(t, c.subscribe(&Subscribe{MsgID: 24, TopicIDType: TopicReserved, TopicName: "a"}), &Suback{MsgID: 24, ReturnCode: RejectedNotSupported})
	if g.Stats().Rejected < 16 {
		t.Errorf("Rejected %d", g.Stats().Rejected)
	}
	// The connection still works.
	c.send(&Pingreq{})
	expect[*Pingresp](c)
}

func TestDisconnect(t *testing.T) {
	addr := startBroker(t)
	g, gw := startGateway(t, addr, nil)
	c := dialSN(t, gw)
	c.connect("bye", true, 60)
	c.send(&Disconnect{})
	mustEqual(t, expect[*Disconnect](c), &Disconnect{})
	waitFor(t, "the client to be gone", func() bool { return g.Stats().Clients == 0 })
	// Not connected any more: dropped, and DISCONNECT says so.
	c.send(&Publish{TopicIDType: TopicShort, TopicID: 0x6162})
	mustEqual(t, expect[*Disconnect](c), &Disconnect{})
	if n := g.Stats().Clients; n != 0 {
		t.Fatalf("%d clients after a message from a disconnected one", n)
	}
	c.connect("bye", true, 60)
}

// Client ids (and topics) are the client's choice: in the log they are quoted when they hold
// anything but printable ASCII, so a newline cannot forge a log line of its own and an
// escape sequence cannot reach the operator's terminal.
func TestLogQuotesClientStrings(t *testing.T) {
	addr := startBroker(t)
	log := &lineLog{level: slog.LevelDebug}
	_, gw := startGatewayLog(t, upstreamFor(t, addr, embeddedUpstream), slog.New(log), nil)
	// An id with a newline or an escape is refused (a control character: see
	// TestDiscouragedCharactersRefused), and logged quoted in the refusal.
	forged := "evil\n1795978999: MQTT-SN client connected client=FORGED\x1b[2J"
	f := dialSN(t, gw)
	f.send(&Connect{CleanSession: true, ProtocolID: ProtocolID, Duration: 60, ClientID: forged})
	mustEqual(t, expect[*Connack](f), &Connack{ReturnCode: RejectedNotSupported})
	log.wait(t, "client="+strconv.Quote(forged))
	// One that is accepted but has spaces and quotes is quoted too.
	evil := `evil" 1795978999: MQTT-SN client connected client=FORGED`
	c := dialSN(t, gw)
	c.connect(evil, true, 60)
	c.send(&Register{MsgID: 1, TopicName: "bad/\x1b[31m/+"})
	mustEqual(t, expect[*Regack](c).ReturnCode, RejectedNotSupported)
	c.send(&Disconnect{})
	expect[*Disconnect](c)
	log.wait(t, "MQTT-SN client disconnected")
	out := log.String()
	if strings.Contains(out, "\x1b") {
		t.Errorf("an escape character reached the log:\n%q", out)
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "1795978999") {
			t.Errorf("a client forged the log line %q; log:\n%s", line, out)
		}
	}
	if want := "client=" + strconv.Quote(evil); !strings.Contains(out, want) {
		t.Errorf("the log lacks %s:\n%s", want, out)
	}
	// A plain id is logged as it is.
	d := dialSN(t, gw)
	d.connect("plain-id_1", true, 60)
	log.wait(t, "MQTT-SN client connected client=plain-id_1 ")
}

// A client id MQTT cannot carry (not UTF-8, or with U+0000 [MQTT-1.5.4-1, -2]) or longer than
// MaxClientIDLength is refused at once with "rejected: not supported", without an upstream
// connection; ids of 24 to MaxClientIDLength octets are accepted, a deliberate leniency
// beyond the spec's 23 [MQTT-SN 5.3.1].
func TestConnectClientIDs(t *testing.T) {
	addr := startBroker(t)
	g, gw := startGateway(t, addr, nil)
	c := dialSN(t, gw)
	for _, id := range []string{"bad\xff\xfe", "nul\x00id", strings.Repeat("x", MaxClientIDLength+1)} {
		c.send(&Connect{ProtocolID: ProtocolID, ClientID: id, CleanSession: true, Duration: 60})
		m := c.recvTimeout(2 * time.Second)
		if m == nil {
			t.Fatalf("client id %q: no CONNACK within 2 s", id)
		}
		mustEqual(t, m, &Connack{ReturnCode: RejectedNotSupported})
		if n := g.Stats().Clients; n != 0 {
			t.Fatalf("client id %q: the gateway keeps %d clients", id, n)
		}
	}
	for _, id := range []string{strings.Repeat("y", 24), strings.Repeat("z", MaxClientIDLength), "é-ünïcode"} {
		d := dialSN(t, gw)
		d.connect(id, true, 60)
	}
}

// A message too large for one UDP datagram (65,507 octets over IPv4, the MQTT-SN header
// included) cannot reach the client: it is dropped, acknowledged to the broker so that it is
// not sent again, counted, and the client keeps receiving what follows, at every QoS.
func TestTooLargeForADatagram(t *testing.T) {
	addr := startBroker(t)
	g, gw := startGateway(t, addr, nil)
	c := dialSN(t, gw)
	c.connect("big-sub", true, 60)
	sa := c.subscribe(&Subscribe{QoS: 1, MsgID: 1, TopicName: "big/t"})
	if sa.ReturnCode != Accepted || sa.TopicID == 0 {
		t.Fatalf("SUBACK %+v", sa)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pub, err := client.Dial(ctx, client.Options{Server: addr, CleanStart: true})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	const fits = 65507 - 9 // a 3-octet Length, MsgType, Flags, TopicId, MsgId
	for _, m := range []struct {
		size int
		qos  byte
	}{{fits, 1}, {fits + 1, 1}, {70000, 1}, {fits + 1, 2}, {70000, 0}} {
		if err := pub.Publish(ctx, client.Message{Topic: "big/t", Payload: make([]byte, m.size), QoS: m.qos}); err != nil {
			t.Fatalf("publishing %d octets at QoS %d: %v", m.size, m.qos, err)
		}
	}
	if err := pub.Publish(ctx, client.Message{Topic: "big/t", Payload: []byte("small-after"), QoS: 1}); err != nil {
		t.Fatal(err)
	}
	p := expect[*Publish](c)
	if len(p.Data) != fits || p.QoS != 1 {
		t.Fatalf("first PUBLISH: %d octets at QoS %d, want %d at 1", len(p.Data), p.QoS, fits)
	}
	c.send(&Puback{TopicID: p.TopicID, MsgID: p.MsgID})
	p = expect[*Publish](c)
	if string(p.Data) != "small-after" {
		t.Fatalf("got %d octets after the large ones, want small-after", len(p.Data))
	}
	c.send(&Puback{TopicID: p.TopicID, MsgID: p.MsgID})
	if n := g.Stats().Dropped; n != 4 {
		t.Errorf("Dropped %d, want 4", n)
	}
	// Still connected.
	c.send(&Pingreq{})
	expect[*Pingresp](c)
}

// A message on a topic whose REGISTER would not fit a datagram (or MaxMessageSize) cannot
// reach the client: the gateway used to send, and retransmit, a REGISTER that could never
// go, then lost the client. Now the message is dropped, acknowledged to the broker and
// counted, and the client keeps receiving what follows.
func TestTopicTooLongToRegister(t *testing.T) {
	for _, tc := range []struct {
		name    string
		max     int // Options.MaxMessageSize
		topic   int // length of the long topic
		maxSeen int // the largest message the client may see
	}{
		{"datagram", 0, 65507 - 8 + 1 - len("long/"), 65507}, // REGISTER: 3-octet Length, MsgType, TopicId, MsgId, name
		{"max-message-size", 300, 300 - 8 + 1 - len("long/"), 300},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := startBroker(t)
			g, gw := startGateway(t, addr, func(o *Options) { o.MaxMessageSize = tc.max })
			c := dialSN(t, gw)
			c.connect("long-sub", true, 60)
			if sa := c.subscribe(&Subscribe{QoS: 1, MsgID: 1, TopicName: "long/#"}); sa.ReturnCode != Accepted {
				t.Fatalf("SUBACK %+v", sa)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			pub, err := client.Dial(ctx, client.Options{Server: addr, CleanStart: true})
			if err != nil {
				t.Fatal(err)
			}
			defer pub.Close()
			long := "long/" + strings.Repeat("x", tc.topic)
			fits := long[:len(long)-1]
			for _, m := range []client.Message{
				{Topic: long, Payload: []byte("lost-1"), QoS: 1},
				{Topic: long, Payload: []byte("lost-0")},
				{Topic: fits, Payload: []byte("fits"), QoS: 1},
				{Topic: "long/after", Payload: []byte("after"), QoS: 1},
			} {
				if err := pub.Publish(ctx, m); err != nil {
					t.Fatal(err)
				}
			}
			recv := func() Message {
				t.Helper()
				buf := make([]byte, MaxMessageSize)
				_ = c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
				n, err := c.c.Read(buf)
				if err != nil {
					t.Fatal(err)
				}
				if n > tc.maxSeen {
					t.Fatalf("a message of %d octets, more than %d", n, tc.maxSeen)
				}
				m, err := Decode(buf[:n])
				if err != nil {
					t.Fatal(err)
				}
				return m
			}
			for _, want := range []string{fits, "long/after"} {
				r, ok := recv().(*Register)
				if !ok || r.TopicName != want {
					t.Fatalf("got %+v, want the REGISTER of %.20q", r, want)
				}
				c.send(&Regack{TopicID: r.TopicID, MsgID: r.MsgID})
				p, ok := recv().(*Publish)
				if !ok || p.TopicID != r.TopicID {
					t.Fatalf("got %+v, want the PUBLISH on %.20q", p, want)
				}
				c.send(&Puback{TopicID: p.TopicID, MsgID: p.MsgID})
			}
			if n := g.Stats().Dropped; n != 2 {
				t.Errorf("Dropped %d, want 2", n)
			}
			c.send(&Pingreq{})
			expect[*Pingresp](c)
		})
	}
}

// SUBACK carries the topic id the gateway then uses in PUBLISH [MQTT-SN 5.4.16]: for a
// subscription by name to a topic predefined for the client, its predefined id (the client's
// own entries before *'s), and PUBLISH uses that id with TopicIdType predefined. Normal ids
// never take a number predefined for the client, so an id from SUBACK names one topic.
func TestSubackPredefinedID(t *testing.T) {
	addr := startBroker(t)
	pre := NewPredefined()
	for _, e := range []struct {
		client, topic string
		id            uint16
	}{{"*", "a/b", 1}, {"boiler", "a/b", 2}, {"boiler", "c/d", 1}, {"*", "bom/topic", 5}, {"*", "x/3", 3}} {
		if err := pre.Add(e.client, e.topic, e.id); err != nil {
			t.Fatal(err)
		}
	}
	_, gw := startGateway(t, addr, func(o *Options) { o.Predefined = pre })
	for _, cl := range []struct {
		id   string
		subs map[string]uint16 // topic -> the predefined id SUBACK must give, 0: a normal id
	}{
		{"boiler", map[string]uint16{"a/b": 2, "c/d": 1, "bom/topic": 5, "n/1": 0, "n/2": 0, "n/3": 0}},
		{"other", map[string]uint16{"a/b": 1, "c/d": 0, "bom/topic": 5, "n/1": 0}},
	} {
		c := dialSN(t, gw)
		c.connect(cl.id, true, 60)
		ids := map[string]uint16{}
		used := map[uint16]string{}
		mid := uint16(0)
		for _, name := range []string{"a/b", "c/d", "bom/topic", "n/1", "n/2", "n/3"} {
			want, ok := cl.subs[name]
			if !ok {
				continue
			}
			mid++
			sa := c.subscribe(&Subscribe{QoS: 0, MsgID: mid, TopicName: name})
			if sa.ReturnCode != Accepted || sa.TopicID == 0 || (want != 0 && sa.TopicID != want) {
				t.Fatalf("%s: SUBACK for %s: %+v, want topic id %d", cl.id, name, sa, want)
			}
			if prev, dup := used[sa.TopicID]; dup {
				t.Fatalf("%s: SUBACK gave id %d to both %s and %s", cl.id, sa.TopicID, prev, name)
			}
			if _, predefined := pre.Topic(cl.id, sa.TopicID); want == 0 && predefined {
				t.Fatalf("%s: normal id %d for %s is also a predefined id of the client", cl.id, sa.TopicID, name)
			}
			ids[name], used[sa.TopicID] = sa.TopicID, name
		}
		for name, want := range cl.subs {
			mosqPub(t, addr, "-t", name, "-m", name)
			p := expect[*Publish](c)
			typ := TopicNormal
			if want != 0 {
				typ = TopicPredefined
			}
			if string(p.Data) != name || p.TopicID != ids[name] || p.TopicIDType != typ {
				t.Fatalf("%s: PUBLISH %+v for %s, want topic id %d of type %v as in SUBACK", cl.id, p, name, ids[name], typ)
			}
		}
	}
}

// A client's topic table holds MaxTopics ids. When it is full, a topic the gateway must
// REGISTER takes the place of the least recently used id the gateway registered itself
// (with a fresh number): no message is lost, a recycled topic is registered again on its
// next message. Ids the client registered or got in SUBACK are kept; a REGISTER from the
// client when they fill the table is refused with "rejected: congestion".
func TestTopicTableRecycles(t *testing.T) {
	addr := startBroker(t)
	_, gw := startGateway(t, addr, func(o *Options) { o.MaxTopics = 4 })
	c := dialSN(t, gw)
	c.connect("many-topics", true, 60)
	pinned := c.register("mine/1", 1)
	mustEqual(t, c.subscribe(&Subscribe{QoS: 1, MsgID: 2, TopicName: "many/#"}).ReturnCode, Accepted)
	names := map[uint16]string{pinned: "mine/1"}
	// recv1 takes the next PUBLISH, answering the REGISTERs before it.
	recv1 := func() (string, string) {
		t.Helper()
		for {
			switch m := c.recv().(type) {
			case *Register:
				if other, ok := names[m.TopicID]; ok && other != m.TopicName {
					// A recycled number would make a stale id name the wrong topic.
					t.Fatalf("REGISTER gives id %d, still %s, to %s", m.TopicID, other, m.TopicName)
				}
				names[m.TopicID] = m.TopicName
				c.send(&Regack{TopicID: m.TopicID, MsgID: m.MsgID})
			case *Publish:
				c.send(&Puback{TopicID: m.TopicID, MsgID: m.MsgID})
				return names[m.TopicID], string(m.Data)
			default:
				t.Fatalf("got %T %+v", m, m)
			}
		}
	}
	for round := 0; round < 2; round++ {
		for i := 0; i < 10; i++ {
			topic := fmt.Sprintf("many/%d", i)
			mosqPub(t, addr, "-t", topic, "-q", "1", "-m", topic)
			if name, data := recv1(); name != topic || data != topic {
				t.Fatalf("round %d: %q arrived on %q, want %q", round, data, name, topic)
			}
		}
	}
	// The client's own ids survive: publishing on the first still works.
	c.send(&Publish{QoS: 1, TopicID: pinned, MsgID: 9, Data: []byte("x")})
	mustEqual(t, expect[*Puback](c), &Puback{TopicID: pinned, MsgID: 9})
	// The client fills the table itself: then its REGISTER is refused.
	c.register("mine/2", 10)
	c.register("mine/3", 11)
	c.register("mine/4", 12)
	c.send(&Register{MsgID: 13, TopicName: "mine/5"})
	mustEqual(t, expect[*Regack](c), &Regack{MsgID: 13, ReturnCode: RejectedCongestion})
}

// A burst of CONNECTs far beyond MaxConnecting (upstream connections opened at once) is
// queued, not refused: every client gets CONNACK "accepted". (Here 300 clients behind one
// forwarder, two upstream connections opened at a time.)
func TestConnectBurstQueued(t *testing.T) {
	addr := startBroker(t)
	g, gw := startGateway(t, addr, func(o *Options) { o.MaxConnecting = 2 })
	c, err := net.DialUDP("udp", nil, gw)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetReadBuffer(1 << 20)
	const n = 300
	for i := 0; i < n; i++ {
		node := []byte(fmt.Sprintf("node-%03d", i))
		b, err := Append(nil, &Encapsulated{WirelessNodeID: node,
			Msg: &Connect{CleanSession: true, ProtocolID: ProtocolID, Duration: 60, ClientID: string(node)}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
		if i%50 == 49 {
			// Paced, so that the gateway's receive buffer does not overflow under -race.
			waitFor(t, "the gateway to read", func() bool { return g.Stats().Received >= uint64(i+1) })
		}
	}
	accepted := map[string]bool{}
	buf := make([]byte, 512)
	for len(accepted) < n {
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		k, err := c.Read(buf)
		if err != nil {
			t.Fatalf("%d of %d accepted: %v", len(accepted), n, err)
		}
		m, err := Decode(buf[:k])
		if err != nil {
			t.Fatal(err)
		}
		e, ok := m.(*Encapsulated)
		if !ok {
			t.Fatalf("got %T", m)
		}
		ca, ok := e.Msg.(*Connack)
		if !ok || ca.ReturnCode != Accepted {
			t.Fatalf("%s: got %+v after %d accepted", e.WirelessNodeID, e.Msg, len(accepted))
		}
		accepted[string(e.WirelessNodeID)] = true
	}
}

// Names with characters a broker may close the connection for (control characters and
// non-characters: Mosquitto does) are refused by the gateway with the return code the spec
// has for them, and never go upstream, where they would cut the client's connection, or the
// shared one of QoS -1 publishes [MQTT-1.5.3].
func TestDiscouragedCharactersRefused(t *testing.T) {
	addr := startBroker(t)
	g, gw := startGateway(t, addr, nil)
	bad := []string{"a\x01b", "tab\there", "del\x7f", "c1\u0085", "nc\ufdd0", "nc\uffff", "nc\U0001fffe"}

	// CONNECT with such a client id: "not supported", not "congestion" (retried for ever).
	for _, id := range bad {
		c := dialSN(t, gw)
		c.send(&Connect{CleanSession: true, ProtocolID: ProtocolID, Duration: 60, ClientID: id})
		mustEqual(t, expect[*Connack](c), &Connack{ReturnCode: RejectedNotSupported})
	}
	// A will topic likewise.
	w := dialSN(t, gw)
	w.send(&Connect{Will: true, CleanSession: true, ProtocolID: ProtocolID, Duration: 60, ClientID: "will-bad"})
	expect[*WillTopicReq](w)
	w.send(&WillTopic{Topic: "w\x1b[31m"})
	mustEqual(t, expect[*Connack](w), &Connack{ReturnCode: RejectedNotSupported})

	c := dialSN(t, gw)
	c.connect("discouraged", true, 60)
	for i, name := range bad {
		c.send(&Register{MsgID: uint16(10 + i), TopicName: name})
		mustEqual(t, expect[*Regack](c), &Regack{MsgID: uint16(10 + i), ReturnCode: RejectedNotSupported})
		mustEqual(t, c.subscribe(&Subscribe{MsgID: uint16(30 + i), TopicName: name + "/#"}),
			&Suback{MsgID: uint16(30 + i), ReturnCode: RejectedNotSupported})
	}
	short, _ := ShortTopicID("\x01x")
	mustEqual(t, c.subscribe(&Subscribe{MsgID: 50, TopicIDType: TopicShort, TopicID: short}),
		&Suback{MsgID: 50, ReturnCode: RejectedInvalidTopicID})
	c.send(&Publish{QoS: 1, MsgID: 51, TopicIDType: TopicShort, TopicID: short, Data: []byte("x")})
	mustEqual(t, expect[*Puback](c), &Puback{TopicID: short, MsgID: 51, ReturnCode: RejectedInvalidTopicID})
	c.send(&WillTopicUpd{Topic: "w\x02"})
	mustEqual(t, expect[*WillTopicResp](c), &WillTopicResp{ReturnCode: RejectedNotSupported})

	// QoS -1 with such a short name, from an unconnected address and from the connected
	// client: dropped and counted, not forwarded.
	anon := dialSN(t, gw)
	before := g.Stats().Dropped
	anon.send(&Publish{QoS: QoSMinus1, TopicIDType: TopicShort, TopicID: short, Data: []byte("bad")})
	c.send(&Publish{QoS: QoSMinus1, TopicIDType: TopicShort, TopicID: short, Data: []byte("bad")})
	waitFor(t, "two drops", func() bool { return g.Stats().Dropped == before+2 })
	if n := g.Stats().QoSMinus1; n != 0 {
		t.Errorf("%d QoS -1 publishes forwarded", n)
	}
	// The connection still works.
	c.send(&Pingreq{})
	expect[*Pingresp](c)
}

// Debug lines about dropped datagrams are limited per address: a PINGREQ flood from one
// unconnected address wrote 580,000 lines in 6 s. The first few of each second are
// written, then one line counts what was left out.
func TestDropLogRateLimited(t *testing.T) {
	addr := startBroker(t)
	log := &lineLog{level: slog.LevelDebug}
	g, gw := startGatewayLog(t, upstreamFor(t, addr, embeddedUpstream), slog.New(log), nil)
	c := dialSN(t, gw)
	const n = 300
	start := time.Now()
	for range n {
		c.send(&Pingreq{})
	}
	waitFor(t, "the flood to be read", func() bool { return g.Stats().Dropped == n })
	windows := int(time.Since(start)/time.Second) + 1
	log.wait(t, "debug lines left out")
	lines, left := 0, 0
	waitFor(t, "every line accounted for", func() bool {
		lines, left = 0, 0
		for _, l := range strings.Split(log.String(), "\n") {
			switch {
			case strings.HasPrefix(l, "mqtt-sn gateway: dropped PINGREQ"):
				lines++
			case strings.HasPrefix(l, "mqtt-sn gateway: debug lines left out"):
				i := strings.Index(l, "lines=")
				k, _ := strconv.Atoi(l[i+len("lines="):])
				left += k
			}
		}
		return lines+left == n
	})
	if lines > 10*windows {
		t.Errorf("%d lines about %d PINGREQs within %d s", lines, n, windows)
	}
}
