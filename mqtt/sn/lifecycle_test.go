package sn

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mqttkit/mqtt/mqtt/broker"
	"github.com/mqttkit/mqtt/mqtt/client"
)

// A sleeping client: messages published while it sleeps are buffered and delivered when it
// wakes with a PINGREQ carrying its client id, then PINGRESP, and it sleeps again
// [MQTT-SN 6.14].
func TestSleepingClient(t *testing.T) {
	addr := startBroker(t)
	g, gw := startGateway(t, addr, nil)
	c := dialSN(t, gw)
	c.connect("sleeper", false, 1)
	mustEqual(t, c.subscribe(&Subscribe{QoS: 1, MsgID: 1, TopicName: "s/+"}), &Suback{QoS: 1, MsgID: 1})
	c.send(&Disconnect{HasDuration: true, Duration: 2})
	mustEqual(t, expect[*Disconnect](c), &Disconnect{})

	mosqPub(t, addr, "-t", "s/1", "-q", "1", "-m", "m1")
	mosqPub(t, addr, "-t", "s/2", "-q", "0", "-m", "m2")
	mosqPub(t, addr, "-t", "s/1", "-q", "1", "-m", "m3")
	waitFor(t, "3 messages buffered", func() bool { return g.Stats().Queued == 3 })
	// Asleep: nothing is sent, and the keep alive of 1 s does not apply any more.
	c.expectNothing(1600 * time.Millisecond)

	for round := 0; round < 2; round++ {
		c.send(&Pingreq{ClientID: "sleeper"})
		var got []string
		for len(got) < 3 {
			switch m := c.recv().(type) {
			case *Register:
				c.send(&Regack{TopicID: m.TopicID, MsgID: m.MsgID})
			case *Publish:
				got = append(got, string(m.Data))
				if m.QoS == 1 {
					c.send(&Puback{TopicID: m.TopicID, MsgID: m.MsgID})
				}
			default:
				t.Fatalf("got %T %+v while awake", m, m)
			}
		}
		mustEqual(t, got, []string{"m1", "m2", "m3"})
		expect[*Pingresp](c)
		if round == 0 {
			// Asleep again: the next batch waits for the next wake-up.
			mosqPub(t, addr, "-t", "s/1", "-q", "1", "-m", "m1")
			mosqPub(t, addr, "-t", "s/2", "-q", "0", "-m", "m2")
			mosqPub(t, addr, "-t", "s/1", "-q", "1", "-m", "m3")
			waitFor(t, "3 messages buffered", func() bool { return g.Stats().Queued == 3 })
			c.expectNothing(50 * time.Millisecond)
		}
	}
	// Nothing buffered: PINGRESP at once.
	c.send(&Pingreq{ClientID: "sleeper"})
	expect[*Pingresp](c)

	// CONNECT takes it back to active; the session (subscription) is kept.
	c.connect("sleeper", false, 60)
	mosqPub(t, addr, "-t", "s/1", "-q", "0", "-m", "awake")
	if p := expect[*Publish](c); string(p.Data) != "awake" {
		t.Fatalf("got %q", p.Data)
	}

	// Sleeping past 1.5 x the duration: lost.
	c.send(&Disconnect{HasDuration: true, Duration: 1})
	expect[*Disconnect](c)
	waitFor(t, "the sleeper to be lost", func() bool { return g.Stats().Clients == 0 })
}

// A sleeping client may wake up from another address (a new socket).
func TestSleepingClientWakesElsewhere(t *testing.T) {
	addr := startBroker(t)
	g, gw := startGateway(t, addr, nil)
	c := dialSN(t, gw)
	c.connect("mover", true, 60)
	mustEqual(t, c.subscribe(&Subscribe{MsgID: 1, TopicName: "mv"}).ReturnCode, Accepted)
	c.send(&Disconnect{HasDuration: true, Duration: 60})
	expect[*Disconnect](c)
	mosqPub(t, addr, "-t", "mv", "-m", "for you")
	waitFor(t, "the message buffered", func() bool { return g.Stats().Queued == 1 })

	c2 := dialSN(t, gw)
	c2.send(&Pingreq{ClientID: "mover"})
	if p := expect[*Publish](c2); string(p.Data) != "for you" {
		t.Fatalf("got %q", p.Data)
	}
	expect[*Pingresp](c2)
	// The old address has no session any more, and is told so.
	expect[*Disconnect](c)
	// Unknown client ids are told to connect.
	c3 := dialSN(t, gw)
	c3.send(&Pingreq{ClientID: "nobody"})
	expect[*Disconnect](c3)
	if n := g.Stats().Clients; n != 1 {
		t.Fatalf("%d clients, want 1", n)
	}
}

// Forwarder encapsulation: a forwarder relays two wireless nodes over one UDP socket; each
// is its own client, and every reply goes back through the forwarder with the node's id
// [MQTT-SN 5.5].
func TestForwarderEncapsulation(t *testing.T) {
	addr := startBroker(t)
	_, gw := startGateway(t, addr, nil)
	sub := startMosqSub(t, addr, 2, "-t", "fwd/#")
	fwd := dialSN(t, gw)
	n1 := &rawSN{t: t, c: fwd.c, node: []byte{0x00, 0x13, 0xA2, 0x00}}
	n1.send(&SearchGW{Radius: 2})
	mustEqual(t, expect[*GWInfo](n1), &GWInfo{GwID: 7})
	n1.connect("node-1", true, 60)
	id1 := n1.register("fwd/1", 1)
	n1.send(&Publish{QoS: 1, TopicID: id1, MsgID: 2, Data: []byte("from node 1")})
	mustEqual(t, expect[*Puback](n1), &Puback{TopicID: id1, MsgID: 2})

	n2 := &rawSN{t: t, c: fwd.c, node: []byte{0x01}}
	n2.connect("node-2", true, 60)
	id2 := n2.register("fwd/2", 1)
	n2.send(&Publish{TopicID: id2, Data: []byte("from node 2")})
	got := sub.wait()
	mustEqual(t, got, []string{"fwd/1 from node 1", "fwd/2 from node 2"})

	// Down through the forwarder.
	mustEqual(t, n2.subscribe(&Subscribe{MsgID: 2, TopicName: "fwd/down"}).ReturnCode, Accepted)
	mosqPub(t, addr, "-t", "fwd/down", "-m", "to node 2")
	if p := expect[*Publish](n2); string(p.Data) != "to node 2" {
		t.Fatalf("got %q", p.Data)
	}
	// The GWINFO radius follows the SEARCHGW's in the encapsulation.
	n1.send(&SearchGW{Radius: 3})
	buf := make([]byte, 64)
	_ = fwd.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := fwd.c.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := Decode(buf[:n])
	mustEqual(t, m, &Encapsulated{Radius: 3, WirelessNodeID: n1.node, Msg: &GWInfo{GwID: 7}})
}

// A client that stops talking is lost after 1.5 x its keep alive, and the broker publishes
// the will it gave in the will dialogue [MQTT-SN 6.2, 6.3].
func TestWillOnLostKeepAlive(t *testing.T) {
	addr := startBroker(t)
	_, gw := startGateway(t, addr, nil)
	sub := startMosqSub(t, addr, 1, "-t", "will/#")
	c := dialSN(t, gw)
	c.send(&Connect{Will: true, CleanSession: true, ProtocolID: ProtocolID, Duration: 1, ClientID: "mortal"})
	expect[*WillTopicReq](c)
	c.send(&WillTopic{QoS: 1, Topic: "will/mortal"})
	expect[*WillMsgReq](c)
	c.send(&WillMsg{Msg: []byte("mortal is gone")})
	mustEqual(t, expect[*Connack](c), &Connack{})
	start := time.Now()
	mustEqual(t, sub.wait(), []string{"will/mortal mortal is gone"})
	if d := time.Since(start); d < time.Second {
		t.Errorf("the will came after %s, before the keep alive could expire", d)
	}
}

// A will changed with WILLTOPICUPD / WILLMSGUPD is the one published when the client is
// lost; a DISCONNECT publishes none [MQTT-SN 6.4].
func TestWillUpdate(t *testing.T) {
	addr := startBroker(t)
	_, gw := startGateway(t, addr, nil)
	sub := startMosqSub(t, addr, 1, "-t", "wu/#")

	polite := dialSN(t, gw)
	polite.send(&Connect{Will: true, CleanSession: true, ProtocolID: ProtocolID, Duration: 60, ClientID: "polite"})
	expect[*WillTopicReq](polite)
	polite.send(&WillTopic{Topic: "wu/polite"})
	expect[*WillMsgReq](polite)
	polite.send(&WillMsg{Msg: []byte("should not appear")})
	expect[*Connack](polite)
	polite.send(&Disconnect{})
	expect[*Disconnect](polite)

	c := dialSN(t, gw)
	c.send(&Connect{Will: true, CleanSession: true, ProtocolID: ProtocolID, Duration: 1, ClientID: "changer"})
	expect[*WillTopicReq](c)
	c.send(&WillTopic{Topic: "wu/old"})
	expect[*WillMsgReq](c)
	c.send(&WillMsg{Msg: []byte("old will")})
	expect[*Connack](c)
	c.send(&WillTopicUpd{QoS: 1, Retain: false, Topic: "wu/new"})
	mustEqual(t, expect[*WillTopicResp](c), &WillTopicResp{})
	c.send(&WillMsgUpd{Msg: []byte("new will")})
	mustEqual(t, expect[*WillMsgResp](c), &WillMsgResp{})
	c.send(&WillTopicUpd{Topic: "wu/#"})
	mustEqual(t, expect[*WillTopicResp](c), &WillTopicResp{ReturnCode: RejectedNotSupported})
	mustEqual(t, sub.wait(), []string{"wu/new new will"})

	// The empty WILLTOPICUPD deletes the will: nothing is published.
	sub2 := startMosqSub(t, addr, 1, "-t", "wu2/#")
	d := dialSN(t, gw)
	d.send(&Connect{Will: true, CleanSession: true, ProtocolID: ProtocolID, Duration: 1, ClientID: "deleter"})
	expect[*WillTopicReq](d)
	d.send(&WillTopic{Topic: "wu2/deleted"})
	expect[*WillMsgReq](d)
	d.send(&WillMsg{Msg: []byte("deleted will")})
	expect[*Connack](d)
	d.send(&WillTopicUpd{})
	expect[*WillTopicResp](d)
	// A client lost after the deleter (keep alive 2 s against 1 s) with a will of its own:
	// its will is the first message, so the deleter's was not published.
	e := dialSN(t, gw)
	e.send(&Connect{Will: true, CleanSession: true, ProtocolID: ProtocolID, Duration: 2, ClientID: "marker"})
	expect[*WillTopicReq](e)
	e.send(&WillTopic{Topic: "wu2/marker"})
	expect[*WillMsgReq](e)
	e.send(&WillMsg{Msg: []byte("marker")})
	expect[*Connack](e)
	mustEqual(t, sub2.wait(), []string{"wu2/marker marker"})
}

// CleanSession false: the gateway keeps the will and the topic ids across connections, and
// the broker keeps the subscriptions and the QoS 1 messages published meanwhile
// [MQTT-SN 6.3].
func TestPersistentSession(t *testing.T) {
	addr := startBroker(t)
	g, gw := startGateway(t, addr, nil)
	c := dialSN(t, gw)
	c.connect("keeper", false, 60)
	id := c.register("p/topic", 1)
	mustEqual(t, c.subscribe(&Subscribe{QoS: 1, MsgID: 2, TopicName: "p/topic"}), &Suback{QoS: 1, TopicID: id, MsgID: 2})
	c.send(&Disconnect{})
	expect[*Disconnect](c)
	waitFor(t, "the session to be stored", func() bool { s := g.Stats(); return s.Clients == 0 && s.Stored == 1 })
	mosqPub(t, addr, "-t", "p/topic", "-q", "1", "-m", "while away")

	c2 := dialSN(t, gw)
	c2.connect("keeper", false, 60)
	p := expect[*Publish](c2)
	if p.TopicID != id || string(p.Data) != "while away" {
		t.Fatalf("PUBLISH %+v, want topic id %d", p, id)
	}
	c2.send(&Puback{TopicID: p.TopicID, MsgID: p.MsgID})
	c2.send(&Unsubscribe{MsgID: 5, TopicName: "p/topic"})
	expect[*Unsuback](c2)
	// The registration survived: publishing with the old id works.
	c2.send(&Publish{QoS: 1, TopicID: id, MsgID: 3, Data: []byte("x")})
	mustEqual(t, expect[*Puback](c2), &Puback{TopicID: id, MsgID: 3})

	// A clean connection forgets everything.
	c2.send(&Disconnect{})
	expect[*Disconnect](c2)
	c3 := dialSN(t, gw)
	c3.connect("keeper", true, 60)
	c3.send(&Publish{QoS: 1, TopicID: id, MsgID: 4})
	mustEqual(t, expect[*Puback](c3), &Puback{TopicID: id, MsgID: 4, ReturnCode: RejectedInvalidTopicID})
}

// A CONNECT sent again (its CONNACK lost) keeps the session; one from a new address with
// the same client id moves it there.
func TestConnectAgain(t *testing.T) {
	addr := startBroker(t)
	g, gw := startGateway(t, addr, nil)
	c := dialSN(t, gw)
	c.connect("again", false, 60)
	id := c.register("again/t", 1)
	c.connect("again", false, 60)
	c.send(&Publish{QoS: 1, TopicID: id, MsgID: 2})
	mustEqual(t, expect[*Puback](c), &Puback{TopicID: id, MsgID: 2})

	moved := dialSN(t, gw)
	moved.connect("again", false, 60)
	expect[*Disconnect](c) // the old address has no session any more
	moved.send(&Publish{QoS: 1, TopicID: id, MsgID: 3})
	mustEqual(t, expect[*Puback](moved), &Puback{TopicID: id, MsgID: 3})
	c.send(&Publish{QoS: 1, TopicID: id, MsgID: 4})
	expect[*Disconnect](c)
	if n := g.Stats().Clients; n != 1 {
		t.Fatalf("%d clients, want 1", n)
	}
	// A clean CONNECT replaces the session.
	moved.connect("again", true, 60)
	moved.send(&Publish{QoS: 1, TopicID: id, MsgID: 5})
	mustEqual(t, expect[*Puback](moved), &Puback{TopicID: id, MsgID: 5, ReturnCode: RejectedInvalidTopicID})
}

// A retransmitted QoS 2 PUBLISH (DUP) is delivered once: it keeps its packet id upstream,
// so the broker deduplicates it.
func TestQoS2Duplicate(t *testing.T) {
	addr := startBroker(t)
	_, gw := startGateway(t, addr, nil)
	sub := startMosqSub(t, addr, 2, "-t", "dup/#", "-q", "2")
	c := dialSN(t, gw)
	c.connect("dup", true, 60)
	id := c.register("dup/t", 1)
	c.send(&Publish{QoS: 2, TopicID: id, MsgID: 9, Data: []byte("once")})
	expect[*Pubrec](c)
	c.send(&Publish{Dup: true, QoS: 2, TopicID: id, MsgID: 9, Data: []byte("once")})
	expect[*Pubrec](c)
	c.send(&Pubrel{MsgID: 9})
	expect[*Pubcomp](c)
	c.send(&Publish{QoS: 2, TopicID: id, MsgID: 10, Data: []byte("end")})
	expect[*Pubrec](c)
	c.send(&Pubrel{MsgID: 10})
	expect[*Pubcomp](c)
	mustEqual(t, sub.wait(), []string{"dup/t once", "dup/t end"})
}

// Garbage: random, truncated, oversized and wrongly typed datagrams, out-of-sequence
// messages and messages from addresses that never connected are dropped and counted; the
// gateway keeps no state for them and serves the next client normally.
func TestGarbageThenWorkingClient(t *testing.T) {
	addr := startBroker(t)
	g, gw := startGateway(t, addr, nil)
	rng := rand.New(rand.NewPCG(1, 2))
	var socks []*rawSN
	for i := 0; i < 8; i++ {
		socks = append(socks, dialSN(t, gw))
	}
	var sent int
	for i := 0; i < 2000; i++ {
		b := make([]byte, rng.IntN(40))
		for j := range b {
			b[j] = byte(rng.Uint32())
		}
		if len(b) > 1 && i%3 == 0 {
			b[0] = byte(len(b)) // a right length: the type and fields are random
		}
		socks[i%len(socks)].sendRaw(b)
		sent++
		if sent%50 == 0 {
			// Paced, so that the socket's receive buffer does not overflow under -race.
			waitFor(t, "the gateway to read", func() bool { return g.Stats().Received >= uint64(sent) })
		}
	}
	junk := [][]byte{
		{}, {0x00}, {0x05, 0x0C}, {0x01, 0xFF, 0xFF, 0x0C}, {0x02, 0x03}, {0x03, 0xFE, 0x00},
		m(PUBLISH, 0x00, id(1), id(0), "no session"),
		m(REGACK, id(1), id(1), 0), m(PUBACK, id(1), id(1), 0), m(WILLMSG, "x"), m(PUBREL, id(1)),
		m(SUBSCRIBE, 0x00, id(1), "a"), m(DISCONNECT), m(PINGREQ), m(PINGREQ, "ghost"),
		m(PUBLISH, 0x60, id(5), id(0), "qos -1 to an unknown predefined id"),
		m(PUBLISH, 0x60, id(5), id(0), "qos -1 to a normal id"),
		m(CONNACK, 0), m(SUBACK, 0, id(0), id(1), 0), m(ADVERTISE, 1, id(5)),
		make([]byte, 70000)[:1500],
	}
	for _, b := range junk {
		socks[0].sendRaw(b)
		sent++
	}
	big := make([]byte, 65000)
	big[0], big[1], big[2], big[3] = 0x01, 0xFD, 0xE8, byte(PUBLISH)
	socks[1].sendRaw(big)
	sent++

	waitFor(t, "every datagram to be read", func() bool { return g.Stats().Received >= uint64(sent) })
	st := g.Stats()
	if st.Clients != 0 || st.Stored != 0 {
		t.Fatalf("state kept for garbage: %+v", st)
	}
	if st.Malformed == 0 || st.Dropped == 0 {
		t.Fatalf("nothing counted: %+v", st)
	}
	// Random bytes can make a valid CONNECT from a socket; if so, it may have a session.
	sub := startMosqSub(t, addr, 1, "-t", "after/garbage")
	c := dialSN(t, gw)
	c.connect("survivor", true, 60)
	tid := c.register("after/garbage", 1)
	c.send(&Publish{QoS: 1, TopicID: tid, MsgID: 2, Data: []byte("still here")})
	mustEqual(t, expect[*Puback](c), &Puback{TopicID: tid, MsgID: 2})
	mustEqual(t, sub.wait(), []string{"after/garbage still here"})
}

// A flood from one connected client does not stop another client from being served, and
// the gateway answers PUBLISHes it cannot forward with "rejected: congestion" rather than
// queueing without bound.
func TestFloodFromOneAddress(t *testing.T) {
	addr := startBroker(t)
	g, gw := startGateway(t, addr, func(o *Options) { o.MaxInflight = 4 })
	flood := dialSN(t, gw)
	flood.connect("flood", true, 60)
	fid := flood.register("flood/t", 1)
	quiet := dialSN(t, gw)
	quiet.connect("quiet", true, 60)
	qid := quiet.register("quiet/t", 1)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		b, _ := Append(nil, &Publish{QoS: 0, TopicID: fid, Data: make([]byte, 200)})
		for i := 0; i < 50000 && ctx.Err() == nil; i++ {
			_, _ = flood.c.Write(b)
		}
	}()
	// The quiet client retransmits as the spec has clients do [MQTT-SN 6.13]: under a flood
	// the kernel may drop its datagrams before the gateway reads them.
	for i := uint16(1); i <= 20; i++ {
		var pa *Puback
		for try := 0; pa == nil && try < 20; try++ {
			quiet.send(&Publish{Dup: try > 0, QoS: 1, TopicID: qid, MsgID: i, Data: []byte("q")})
			for pa == nil {
				m := quiet.recvTimeout(200 * time.Millisecond)
				if m == nil {
					break
				}
				if a, ok := m.(*Puback); ok && a.MsgID == i {
					pa = a
				}
			}
		}
		if pa == nil || pa.ReturnCode != Accepted {
			t.Fatalf("PUBACK %d: %+v", i, pa)
		}
	}
	<-done
	// QoS 1 beyond MaxInflight (the broker does not answer in time) is refused, not queued.
	var msgs [][]byte
	for i := uint16(100); i < 200; i++ {
		b, _ := Append(nil, &Publish{QoS: 1, TopicID: fid, MsgID: i, Data: []byte("x")})
		msgs = append(msgs, b)
	}
	// Let the flood drain first, then send in paced groups so that none is lost in the
	// socket buffer.
	var last uint64
	waitFor(t, "the flood to be read", func() bool {
		n := g.Stats().Received
		quiet := n == last
		last = n
		if !quiet {
			time.Sleep(20 * time.Millisecond)
		}
		return quiet
	})
	base := g.Stats().Received
	for i, b := range msgs {
		_, _ = flood.c.Write(b)
		if i%20 == 19 {
			waitFor(t, "the gateway to read", func() bool { return g.Stats().Received >= base+uint64(i+1) })
		}
	}
	var accepted, congested int
	for accepted+congested < len(msgs) {
		m := flood.recvTimeout(5 * time.Second)
		if m == nil {
			break
		}
		if pa, ok := m.(*Puback); ok {
			switch pa.ReturnCode {
			case Accepted:
				accepted++
			case RejectedCongestion:
				congested++
			}
		}
	}
	if accepted+congested != len(msgs) || accepted == 0 {
		t.Fatalf("accepted %d, congested %d of %d", accepted, congested, len(msgs))
	}
	if st := g.Stats(); st.Clients != 2 {
		t.Fatalf("%+v", st)
	}
}

// ADVERTISE goes out every AdvertiseInterval with the interval as Duration [MQTT-SN 6.1].
func TestAdvertise(t *testing.T) {
	addr := startBroker(t)
	lc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer lc.Close()
	startGateway(t, addr, func(o *Options) {
		o.AdvertiseInterval = time.Second
		o.AdvertiseAddr = lc.LocalAddr().(*net.UDPAddr).AddrPort()
	})
	buf := make([]byte, 16)
	for i := 0; i < 2; i++ {
		_ = lc.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := lc.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		m, err := Decode(buf[:n])
		if err != nil {
			t.Fatal(err)
		}
		mustEqual(t, m, &Advertise{GwID: 7, Duration: 1})
	}
}

// Lost answers make clients send again [MQTT-SN 6.13]: the gateway answers the
// retransmission instead of dropping it.
func TestRetransmittedMessages(t *testing.T) {
	addr := startBroker(t)
	_, gw := startGateway(t, addr, nil)
	c := dialSN(t, gw)
	c.send(&Connect{Will: true, CleanSession: true, ProtocolID: ProtocolID, Duration: 60, ClientID: "resender"})
	expect[*WillTopicReq](c)
	c.send(&WillTopic{Topic: "rs/will"})
	expect[*WillMsgReq](c)
	c.send(&WillTopic{Topic: "rs/will2"}) // our WILLMSGREQ "lost"
	expect[*WillMsgReq](c)
	c.send(&WillMsg{Msg: []byte("x")})
	mustEqual(t, expect[*Connack](c), &Connack{})
	c.send(&WillMsg{Msg: []byte("x")}) // our CONNACK "lost"
	mustEqual(t, expect[*Connack](c), &Connack{})

	id := c.register("rs/t", 1)
	c.send(&Publish{QoS: 2, TopicID: id, MsgID: 5, Data: []byte("q2")})
	expect[*Pubrec](c)
	c.send(&Pubrel{MsgID: 5})
	expect[*Pubcomp](c)
	c.send(&Pubrel{MsgID: 5}) // our PUBCOMP "lost"
	mustEqual(t, expect[*Pubcomp](c), &Pubcomp{MsgID: 5})
	mustEqual(t, c.register("rs/t", 2), id) // REGACK "lost": the same id again
}

// A sleeping client's QoS 0 buffer keeps the newest MaxQueued messages (sensor data: the
// latest readings matter), dropping the oldest.
func TestSleepingClientKeepsNewestQoS0(t *testing.T) {
	addr := startBroker(t)
	g, gw := startGateway(t, addr, func(o *Options) { o.MaxQueued = 3 })
	c := dialSN(t, gw)
	c.connect("newest", true, 60)
	short, _ := ShortTopicID("nw")
	mustEqual(t, c.subscribe(&Subscribe{MsgID: 1, TopicIDType: TopicShort, TopicID: short}).ReturnCode, Accepted)
	c.send(&Disconnect{HasDuration: true, Duration: 60})
	expect[*Disconnect](c)
	for i := 1; i <= 6; i++ {
		mosqPub(t, addr, "-t", "nw", "-m", fmt.Sprint("m", i))
		// Publishes of two connections have no order at the broker: each is waited for.
		waitFor(t, fmt.Sprint("m", i), func() bool { s := g.Stats(); return s.Queued+int(s.Dropped) == i })
	}
	waitFor(t, "three dropped", func() bool { return g.Stats().Dropped == 3 })
	c.send(&Pingreq{ClientID: "newest"})
	var got []string
	for _, m := range []Message{c.recv(), c.recv(), c.recv()} {
		p, ok := m.(*Publish)
		if !ok {
			t.Fatalf("got %T %+v", m, m)
		}
		got = append(got, string(p.Data))
	}
	mustEqual(t, got, []string{"m4", "m5", "m6"})
	expect[*Pingresp](c)
}

// Waking up, a client gets its backlog in bursts with pauses between them, not back to back:
// a client with an ordinary receive buffer loses none of 1,000 messages of 1,000 octets.
func TestSleepingClientWakeIsPaced(t *testing.T) {
	addr := startBroker(t)
	g, gw := startGateway(t, addr, nil)
	c := dialSN(t, gw)
	c.connect("paced", true, 60)
	short, _ := ShortTopicID("pc")
	mustEqual(t, c.subscribe(&Subscribe{MsgID: 1, TopicIDType: TopicShort, TopicID: short}).ReturnCode, Accepted)
	c.send(&Disconnect{HasDuration: true, Duration: 60})
	expect[*Disconnect](c)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pub, err := client.Dial(ctx, client.Options{Server: addr, CleanStart: true})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	const n = 1000
	payload := make([]byte, 1000)
	for i := 0; i < n; i++ {
		if err := pub.Publish(ctx, client.Message{Topic: "pc", Payload: payload}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the backlog buffered", func() bool { return g.Stats().Queued == n })
	c.send(&Pingreq{ClientID: "paced"})
	got := 0
	for {
		m := c.recv()
		if _, ok := m.(*Pingresp); ok {
			break
		}
		if _, ok := m.(*Publish); !ok {
			t.Fatalf("got %T %+v", m, m)
		}
		got++
	}
	if got != n {
		t.Fatalf("received %d of %d messages", got, n)
	}
}

// ADVERTISE goes out every AdvertiseInterval, on its own timer: not at the first sweep after
// the interval (the sweep's granularity made an interval of 1 s gaps of 1 to 2 s).
func TestAdvertiseOnTime(t *testing.T) {
	addr := startBroker(t)
	lc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer lc.Close()
	startGateway(t, addr, func(o *Options) {
		o.SweepInterval = time.Hour // the sweep never runs during the test
		o.AdvertiseInterval = time.Second
		o.AdvertiseAddr = lc.LocalAddr().(*net.UDPAddr).AddrPort()
	})
	buf := make([]byte, 16)
	var at []time.Time
	for len(at) < 4 {
		_ = lc.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := lc.Read(buf)
		if err != nil {
			t.Fatalf("after %d ADVERTISEs: %v", len(at), err)
		}
		m, err := Decode(buf[:n])
		if err != nil {
			t.Fatal(err)
		}
		mustEqual(t, m, &Advertise{GwID: 7, Duration: 1})
		at = append(at, time.Now())
	}
	for i := 1; i < len(at); i++ {
		if d := at[i].Sub(at[i-1]); d < 500*time.Millisecond {
			t.Errorf("ADVERTISE %d came %s after the previous one, before its Duration of 1 s", i, d)
		}
	}
}

// A client whose session is gone is told so with DISCONNECT, the gateway's way of saying
// "connect again" [MQTT-SN 5.4.21], instead of silence: one lost by its keep alive or its
// sleep, one whose broker went away while it slept, and the old address of a client id
// that connected again from another.
func TestGoneClientsAreTold(t *testing.T) {
	addr := startBroker(t)
	g, gw := startGateway(t, addr, nil)

	lost := dialSN(t, gw)
	lost.connect("lost", true, 1)
	sleeper := dialSN(t, gw)
	sleeper.connect("sleeper", true, 60)
	sleeper.send(&Disconnect{HasDuration: true, Duration: 1})
	expect[*Disconnect](sleeper)
	waitFor(t, "both to be lost", func() bool { return g.Stats().Clients == 0 })
	lost.send(&Pingreq{})
	expect[*Disconnect](lost)
	lost.send(&Publish{QoS: 1, TopicIDType: TopicShort, TopicID: 0x6162, MsgID: 1})
	expect[*Disconnect](lost)
	sleeper.send(&Pingreq{ClientID: "sleeper"})
	expect[*Disconnect](sleeper)
	// DISCONNECT itself is not answered: between two gateways, answers would never end.
	lost.send(&Disconnect{})
	lost.expectNothing(100 * time.Millisecond)

	// Connected again from another address: the old one is told, the session moves (clean
	// session false) or starts again (clean session true).
	for _, clean := range []bool{false, true} {
		old := dialSN(t, gw)
		old.connect("twice", clean, 60)
		moved := dialSN(t, gw)
		moved.connect("twice", clean, 60)
		expect[*Disconnect](old)
		moved.send(&Pingreq{})
		expect[*Pingresp](moved)
		old.send(&Pingreq{})
		expect[*Disconnect](old)
		moved.send(&Disconnect{})
		expect[*Disconnect](moved)
	}

	// The broker goes away while a client sleeps: when it wakes, it is told.
	nap := dialSN(t, gw)
	nap.connect("nap", true, 60)
	nap.send(&Disconnect{HasDuration: true, Duration: 60})
	expect[*Disconnect](nap)
	b, _ := brokers.Load(addr)
	b.(*broker.Broker).Close()
	waitFor(t, "the session to end", func() bool { return g.Stats().Clients == 0 })
	nap.send(&Pingreq{ClientID: "nap"})
	expect[*Disconnect](nap)
}

// A will changed with WILLTOPICUPD / WILLMSGUPD (or deleted) by a CleanSession false client
// is handed to the broker: the gateway reconnects the client's MQTT session (DISCONNECT, then
// CONNECT with CleanSession false and the new will), so that if the gateway or its link to
// the broker fails, the broker publishes the current will, not the one of CONNECT. The
// session's subscriptions survive the reconnection. Over TCP through a proxy that then
// breaks the link, and in-process.
func TestWillUpdateReachesBroker(t *testing.T) {
	for _, embedded := range []bool{false, true} {
		addr := startBroker(t)
		b, _ := brokers.Load(addr)
		br := b.(*broker.Broker)
		var proxy *tcpProxy
		var g *Gateway
		var gw *net.UDPAddr
		if embedded {
			g, gw = startGatewayUp(t, upstreamFor(t, addr, true), nil)
		} else {
			proxy = startProxy(t, addr)
			g, gw = startGatewayUp(t, &NetUpstream{Dial: client.Options{Server: proxy.addr()}}, nil)
		}
		// handedOver: the broker holds the client's current will (its reconnection is done;
		// until then the gateway keeps it, willUpd).
		handedOver := func(id string) bool {
			g.mu.Lock()
			s := g.byID[id]
			g.mu.Unlock()
			if s == nil {
				return false
			}
			s.mu.Lock()
			defer s.mu.Unlock()
			return !s.willUpd && !s.holding()
		}
		connected := func(id string) bool {
			for _, c := range br.Clients() {
				if c.ClientID == id && c.Connected {
					return true
				}
			}
			return false
		}
		var sub *mosqSub
		if !embedded {
			sub = startMosqSub(t, addr, 2, "-t", "wb/#")
		}
		upSub := startMosqSub(t, addr, 2, "-t", "wb-up/t")
		before := br.Stats().Connections

		changer := dialSN(t, gw)
		changer.send(&Connect{Will: true, ProtocolID: ProtocolID, Duration: 60, ClientID: "wb-changer"})
		expect[*WillTopicReq](changer)
		changer.send(&WillTopic{QoS: 1, Topic: "wb/old"})
		expect[*WillMsgReq](changer)
		changer.send(&WillMsg{Msg: []byte("old will")})
		mustEqual(t, expect[*Connack](changer), &Connack{})
		mustEqual(t, changer.subscribe(&Subscribe{QoS: 1, MsgID: 1, TopicName: "wb-in/t"}).ReturnCode, Accepted)
		up := changer.register("wb-up/t", 2)
		// A message in flight to the client across the reconnection: acknowledged after
		// it, it is not delivered twice (the broker sends it again, the gateway knows it).
		mosqPub(t, addr, "-t", "wb-in/t", "-q", "1", "-m", "in flight")
		inflight := expect[*Publish](changer)
		changer.send(&WillTopicUpd{QoS: 1, Topic: "wb/new"})
		mustEqual(t, expect[*WillTopicResp](changer), &WillTopicResp{})
		changer.send(&WillMsgUpd{Msg: []byte("new will")})
		// A publish while the session reconnects waits for the new connection.
		changer.send(&Publish{QoS: 1, TopicID: up, MsgID: 3, Data: []byte("during")})
		// (The gateway's own retransmissions of the message in flight are skipped.)
		next := func() Message {
			t.Helper()
			for {
				m := changer.recv()
				if p, ok := m.(*Publish); !ok || !p.Dup || p.MsgID != inflight.MsgID {
					return m
				}
			}
		}
		mustEqual(t, next(), &WillMsgResp{})
		mustEqual(t, next(), &Puback{TopicID: up, MsgID: 3})

		deleter := dialSN(t, gw)
		deleter.send(&Connect{Will: true, ProtocolID: ProtocolID, Duration: 60, ClientID: "wb-deleter"})
		expect[*WillTopicReq](deleter)
		deleter.send(&WillTopic{Topic: "wb/deleted"})
		expect[*WillMsgReq](deleter)
		deleter.send(&WillMsg{Msg: []byte("deleted will")})
		expect[*Connack](deleter)
		deleter.send(&WillTopicUpd{})
		expect[*WillTopicResp](deleter)

		// Each connected again (two or three connections for the changer: its two updates
		// may come together), and connected now.
		waitFor(t, "the sessions to reconnect", func() bool {
			return br.Stats().Connections-before >= 4 && handedOver("wb-changer") && handedOver("wb-deleter") &&
				connected("wb-changer") && connected("wb-deleter")
		})
		changer.send(&Puback{TopicID: inflight.TopicID, MsgID: inflight.MsgID})
		// The subscription survived, and the client's messages still go up.
		mosqPub(t, addr, "-t", "wb-in/t", "-q", "1", "-m", "still subscribed")
		p, ok := next().(*Publish)
		if !ok || string(p.Data) != "still subscribed" {
			t.Fatalf("got %q (dup %v)", p.Data, p.Dup)
		}
		changer.send(&Puback{TopicID: p.TopicID, MsgID: p.MsgID})
		changer.send(&Publish{QoS: 1, TopicID: up, MsgID: 4, Data: []byte("up")})
		mustEqual(t, expect[*Puback](changer), &Puback{TopicID: up, MsgID: 4})
		mustEqual(t, upSub.wait(), []string{"wb-up/t during", "wb-up/t up"})
		if embedded {
			continue
		}
		// The link to the broker breaks: the broker publishes the wills it holds, the new
		// one and not the deleted one (a marker published after both are gone comes last).
		proxy.cut()
		waitFor(t, "the broker to lose both", func() bool { return !connected("wb-changer") && !connected("wb-deleter") })
		mosqPub(t, addr, "-t", "wb/marker", "-q", "1", "-m", "marker")
		mustEqual(t, sub.wait(), []string{"wb/new new will", "wb/marker marker"})
	}
}

// A sleeping client's buffer is bounded by octets too, not only by MaxQueued messages:
// large messages for a few sleepers took hundreds of MB. The oldest QoS 0 messages give way
// (counted); QoS 1/2 ones stay, and a QoS 0 message with no room left by them is dropped.
func TestSleepingClientBufferBytes(t *testing.T) {
	addr := startBroker(t)
	if d := DefaultOptions(); d.MaxQueuedBytes != 4<<20 || d.MaxTopicBytes != 256<<10 || d.MaxStoredBytes != 64<<20 {
		t.Fatalf("defaults: %d %d %d", d.MaxQueuedBytes, d.MaxTopicBytes, d.MaxStoredBytes)
	}
	g, gw := startGateway(t, addr, func(o *Options) { o.MaxQueuedBytes = 10_000 })
	c := dialSN(t, gw)
	c.connect("bytes", true, 60)
	short, _ := ShortTopicID("by")
	mustEqual(t, c.subscribe(&Subscribe{QoS: 1, MsgID: 1, TopicIDType: TopicShort, TopicID: short}).ReturnCode, Accepted)
	c.send(&Disconnect{HasDuration: true, Duration: 60})
	expect[*Disconnect](c)
	pad := strings.Repeat("x", 1990)
	queued := func(n int) { // publishes of two connections have no order at the broker
		t.Helper()
		waitFor(t, fmt.Sprint(n, " messages"), func() bool { s := g.Stats(); return s.Queued+int(s.Dropped) == n })
	}
	for i := 1; i <= 8; i++ { // 2,000 octets each with the topic: the last 5 fit
		mosqPub(t, addr, "-t", "by", "-m", fmt.Sprintf("m%d%s", i, pad))
		queued(i)
	}
	waitFor(t, "three dropped", func() bool { return g.Stats().Dropped == 3 && g.Stats().Queued == 5 })
	// QoS 1 messages push the QoS 0 ones out, and then leave no room for another QoS 0.
	for i := 1; i <= 5; i++ {
		mosqPub(t, addr, "-t", "by", "-q", "1", "-m", fmt.Sprintf("q%d%s", i, pad))
		queued(8 + i)
	}
	mosqPub(t, addr, "-t", "by", "-m", "m9"+pad)
	waitFor(t, "nine dropped", func() bool { return g.Stats().Dropped == 9 && g.Stats().Queued == 5 })
	c.send(&Pingreq{ClientID: "bytes"})
	var got []string
	for range 5 {
		p := expect[*Publish](c)
		got = append(got, string(p.Data[:2]))
		c.send(&Puback{TopicID: p.TopicID, MsgID: p.MsgID})
	}
	mustEqual(t, got, []string{"q1", "q2", "q3", "q4", "q5"})
	expect[*Pingresp](c)
}

// A client's topic table is bounded by octets too: REGISTERs of long names beyond
// MaxTopicBytes get "rejected: congestion", and topics the gateway registered itself are
// recycled to make room, as when MaxTopics is reached.
func TestTopicTableBytes(t *testing.T) {
	addr := startBroker(t)
	_, gw := startGateway(t, addr, func(o *Options) { o.MaxTopicBytes = 1000 })
	c := dialSN(t, gw)
	c.connect("topic-bytes", true, 60)
	long := func(i int) string { return fmt.Sprintf("t/%d/%s", i, strings.Repeat("n", 290)) } // 296 octets
	for i := 1; i <= 3; i++ {
		c.register(long(i), uint16(i))
	}
	c.send(&Register{MsgID: 4, TopicName: long(4)})
	mustEqual(t, expect[*Regack](c), &Regack{MsgID: 4, ReturnCode: RejectedCongestion})
	c.send(&Register{MsgID: 5, TopicName: "short/ok"})
	if ra := expect[*Regack](c); ra.ReturnCode != Accepted {
		t.Fatalf("REGACK %+v", ra)
	}
}

// What the gateway remembers of disconnected CleanSession false clients is bounded by
// octets over all of them: the one remembered first is forgotten first.
func TestStoredClientsBytes(t *testing.T) {
	addr := startBroker(t)
	g, gw := startGateway(t, addr, func(o *Options) { o.MaxStoredBytes = 3000 })
	name := strings.Repeat("s", 500)
	for i := 1; i <= 4; i++ { // about 256 + 10 + 64 + 500 octets each: three fit
		c := dialSN(t, gw)
		c.connect(fmt.Sprint("stored-", i), false, 60)
		c.register(name, 1)
		c.send(&Disconnect{})
		expect[*Disconnect](c)
		want := min(i, 3)
		waitFor(t, fmt.Sprint(want, " stored"), func() bool { s := g.Stats(); return s.Clients == 0 && s.Stored == want })
	}
	// stored-1 was forgotten: its topic id is gone; stored-4's is not.
	for _, tc := range []struct {
		id string
		rc ReturnCode
	}{{"stored-1", RejectedInvalidTopicID}, {"stored-4", Accepted}} {
		c := dialSN(t, gw)
		c.connect(tc.id, false, 60)
		c.send(&Publish{QoS: 1, TopicID: 1, MsgID: 9, Data: []byte("x")})
		mustEqual(t, expect[*Puback](c), &Puback{TopicID: 1, MsgID: 9, ReturnCode: tc.rc})
	}
}

// Retransmissions come RetryInterval after the message was sent, not at the next sweep:
// with the default 1 s sweep they slipped by up to a second.
func TestRetransmissionOnTime(t *testing.T) {
	addr := startBroker(t)
	const retry = 200 * time.Millisecond
	_, gw := startGateway(t, addr, func(o *Options) { o.SweepInterval = 5 * time.Second; o.RetryInterval = retry })
	c := dialSN(t, gw)
	c.connect("on-time", true, 60)
	short, _ := ShortTopicID("ot")
	mustEqual(t, c.subscribe(&Subscribe{QoS: 1, MsgID: 1, TopicIDType: TopicShort, TopicID: short}).ReturnCode, Accepted)
	mosqPub(t, addr, "-t", "ot", "-q", "1", "-m", "again")
	first := expect[*Publish](c)
	sent := time.Now()
	for i := range 2 {
		p := expect[*Publish](c)
		late := time.Since(sent)
		if !p.Dup || p.MsgID != first.MsgID {
			t.Fatalf("retransmission %d: %+v", i+1, p)
		}
		// Not before the interval (less the socket's delay), and well before the sweep.
		if late < retry-50*time.Millisecond || late > retry+time.Second {
			t.Fatalf("retransmission %d after %v, want about %v", i+1, late, retry)
		}
		sent = time.Now()
	}
	c.send(&Puback{TopicID: first.TopicID, MsgID: first.MsgID})
	c.expectNothing(2 * retry)
}
