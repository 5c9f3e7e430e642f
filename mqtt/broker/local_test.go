package broker

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/mqttkit/mqtt/mqtt/packet"
)

// localClient drives a LocalConn the way a gateway would: what the broker
// sends arrives on in, the end on closed.
type localClient struct {
	t      *testing.T
	l      *LocalConn
	in     chan packet.Packet
	closed chan error
}

func attachLocal(t *testing.T, b *Broker, remote net.Addr) *localClient {
	t.Helper()
	lc := &localClient{t: t, in: make(chan packet.Packet, 1024), closed: make(chan error, 1)}
	l, err := b.Attach(LocalConfig{
		Remote:  remote,
		Deliver: func(p packet.Packet) { lc.in <- p },
		Closed:  func(err error) { lc.closed <- err },
	})
	if err != nil {
		t.Fatal(err)
	}
	lc.l = l
	t.Cleanup(func() { l.Close() })
	return lc
}

func (lc *localClient) send(p packet.Packet) {
	lc.t.Helper()
	if err := lc.l.Send(p); err != nil {
		lc.t.Fatalf("Send %T: %v", p, err)
	}
}

func (lc *localClient) recv() packet.Packet {
	lc.t.Helper()
	select {
	case p := <-lc.in:
		return p
	case <-time.After(5 * time.Second):
		lc.t.Fatal("no packet from the broker within 5 s")
		return nil
	}
}

func (lc *localClient) waitClosed() error {
	lc.t.Helper()
	select {
	case err := <-lc.closed:
		return err
	case <-time.After(5 * time.Second):
		lc.t.Fatal("connection not closed within 5 s")
		return nil
	}
}

func (lc *localClient) connect(c *packet.Connect) *packet.Connack {
	lc.t.Helper()
	if c.ProtocolVersion == 0 {
		c.ProtocolVersion = packet.V311
	}
	c.ProtocolName = "MQTT"
	lc.send(c)
	ack, ok := lc.recv().(*packet.Connack)
	if !ok {
		lc.t.Fatalf("expected CONNACK")
	}
	return ack
}

// An in-process client is a full MQTT client: it subscribes and receives
// what a network client publishes, at every QoS, and the reverse.
func TestLocalConnRoundTrip(t *testing.T) {
	b, addr := startBroker(t, nil)
	udp := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40001}
	lc := attachLocal(t, b, udp)
	if ack := lc.connect(&packet.Connect{ClientID: "sn-1", CleanStart: true, KeepAlive: 30}); ack.ReasonCode != 0 {
		t.Fatalf("CONNACK %v", ack.ReasonCode)
	}
	lc.send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "up/#", QoS: 2}}})
	if sa, ok := lc.recv().(*packet.Suback); !ok || sa.ReasonCodes[0] != 2 {
		t.Fatalf("SUBACK %+v", sa)
	}

	pub := connectRaw(t, addr, packet.V311, "net-pub")
	for q := byte(0); q <= 2; q++ {
		pub.Send(&packet.Publish{Topic: "up/x", QoS: q, PacketID: uint16(10 + q), Payload: []byte{'0' + q}})
		switch q {
		case 1:
			pub.Recv() // PUBACK
		case 2:
			pub.Recv() // PUBREC
			pub.Send(&packet.Pubrel{PacketID: 12})
			pub.Recv() // PUBCOMP
		}
		p, ok := lc.recv().(*packet.Publish)
		if !ok || p.QoS != q || string(p.Payload) != string([]byte{'0' + q}) {
			t.Fatalf("QoS %d: got %+v", q, p)
		}
		switch q {
		case 1:
			lc.send(&packet.Puback{PacketID: p.PacketID})
		case 2:
			lc.send(&packet.Pubrec{PacketID: p.PacketID})
			if rel, ok := lc.recv().(*packet.Pubrel); !ok || rel.PacketID != p.PacketID {
				t.Fatalf("want PUBREL %d, got %+v", p.PacketID, rel)
			}
			lc.send(&packet.Pubcomp{PacketID: p.PacketID})
		}
	}

	sub := connectRaw(t, addr, packet.V311, "net-sub")
	sub.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "down", QoS: 1})
	lc.send(&packet.Publish{Topic: "down", QoS: 1, PacketID: 5, Payload: []byte("to the net")})
	if ack, ok := lc.recv().(*packet.Puback); !ok || ack.PacketID != 5 {
		t.Fatalf("want PUBACK 5, got %+v", ack)
	}
	if got := sub.RecvPublish(); string(got.Payload) != "to the net" {
		t.Fatalf("network subscriber got %+v", got)
	}

	clients := b.Clients()
	found := false
	for _, c := range clients {
		if c.ClientID == "sn-1" {
			found = true
			if c.Remote.String() != udp.String() || !c.Connected {
				t.Errorf("Clients: %+v", c)
			}
		}
	}
	if !found {
		t.Fatalf("sn-1 not in Clients(): %+v", clients)
	}

	lc.send(&packet.Disconnect{})
	if err := lc.waitClosed(); err != nil {
		t.Fatalf("Closed after DISCONNECT: %v", err)
	}
	if err := lc.l.Send(&packet.Pingreq{}); !errors.Is(err, ErrConnClosed) {
		t.Fatalf("Send after the end: %v", err)
	}
}

// The broker ends in-process connections as it ends network ones: a
// takeover by a network client (Closed gets SessionTakenOver, the MQTT 5
// DISCONNECT reached Deliver first), a packet before CONNECT, Close of
// the broker.
func TestLocalConnEnds(t *testing.T) {
	b, addr := startBroker(t, nil)

	lc := attachLocal(t, b, nil)
	lc.connect(&packet.Connect{ProtocolVersion: packet.V5, ClientID: "dup", CleanStart: true})
	connectRaw(t, addr, packet.V5, "dup")
	if d, ok := lc.recv().(*packet.Disconnect); !ok || d.ReasonCode != packet.SessionTakenOver {
		t.Fatalf("want DISCONNECT 0x8E, got %+v", d)
	}
	if err := lc.waitClosed(); !errors.Is(err, packet.SessionTakenOver) {
		t.Fatalf("Closed: %v", err)
	}

	lc = attachLocal(t, b, nil)
	if err := lc.l.Send(&packet.Pingreq{}); err == nil {
		t.Fatal("PINGREQ before CONNECT accepted")
	}
	if err := lc.waitClosed(); err == nil {
		t.Fatal("Closed(nil) after a protocol error")
	}

	// A will is published when the in-process client drops (Close).
	watch := connectRaw(t, addr, packet.V311, "watch")
	watch.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "wills/#"})
	lc = attachLocal(t, b, nil)
	lc.connect(&packet.Connect{ClientID: "willer", CleanStart: true, WillFlag: true, WillTopic: "wills/willer", WillPayload: []byte("gone")})
	lc.l.Close()
	if err := lc.waitClosed(); err != nil {
		t.Fatalf("Closed after Close: %v", err)
	}
	if p := watch.RecvPublish(); p.Topic != "wills/willer" || string(p.Payload) != "gone" {
		t.Fatalf("will: %+v", p)
	}

	lc = attachLocal(t, b, nil)
	lc.connect(&packet.Connect{ProtocolVersion: packet.V5, ClientID: "last", CleanStart: true})
	b.Close()
	if d, ok := lc.recv().(*packet.Disconnect); !ok || d.ReasonCode != packet.ServerShuttingDown {
		t.Fatalf("want DISCONNECT 0x8B, got %+v", d)
	}
	if err := lc.waitClosed(); !errors.Is(err, packet.ServerShuttingDown) {
		t.Fatalf("Closed: %v", err)
	}
	if _, err := b.Attach(LocalConfig{Deliver: func(packet.Packet) {}}); !errors.Is(err, ErrBrokerClosed) {
		t.Fatalf("Attach after Close: %v", err)
	}
}

// Deliver may panic: that ends this connection only.
func TestLocalConnDeliverPanics(t *testing.T) {
	b, addr := startBroker(t, nil)
	closed := make(chan error, 1)
	l, err := b.Attach(LocalConfig{
		Deliver: func(p packet.Packet) {
			if _, ok := p.(*packet.Publish); ok {
				panic("gateway bug")
			}
		},
		Closed: func(err error) { closed <- err },
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Send(&packet.Connect{ProtocolName: "MQTT", ProtocolVersion: 4, ClientID: "p", CleanStart: true}); err != nil {
		t.Fatal(err)
	}
	if err := l.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "x"}}}); err != nil {
		t.Fatal(err)
	}
	pub := connectRaw(t, addr, packet.V311, "pub")
	pub.Send(&packet.Publish{Topic: "x", Payload: []byte("boom")})
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("connection not ended after Deliver panicked")
	}
	// The broker still works.
	pub.Send(&packet.Publish{Topic: "x", QoS: 1, PacketID: 1})
	if _, ok := pub.Recv().(*packet.Puback); !ok {
		t.Fatal("no PUBACK after the panic")
	}
}

// A first packet other than CONNECT is a protocol error [MQTT-3.1.0-1]:
// Send returns it and Closed gets the same reason code, 0x82.
func TestLocalConnectFirst(t *testing.T) {
	b, _ := startBroker(t, nil)
	lc := attachLocal(t, b, nil)
	err := lc.l.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "a"}}})
	if packet.ReasonOf(err) != packet.ProtocolError {
		t.Fatalf("Send: %v, want Protocol error", err)
	}
	if err := lc.waitClosed(); packet.ReasonOf(err) != packet.ProtocolError {
		t.Fatalf("Closed: %v, want Protocol error", err)
	}
}
