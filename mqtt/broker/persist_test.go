package broker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mqttkit/mqtt/mqtt/packet"
)

// startBrokerStore runs a broker on the given store.
func startBrokerStore(t *testing.T, st Store, mod func(*Options)) (*Broker, string) {
	t.Helper()
	return startBroker(t, func(o *Options) {
		o.Store = st
		if mod != nil {
			mod(o)
		}
	})
}

// crashCopy is what a store holds at this moment, in a new MemoryStore:
// the state a crash would leave behind (Close would still write the
// sessions' disconnections).
func crashCopy(t *testing.T, st *MemoryStore) *MemoryStore {
	t.Helper()
	snap, err := st.Load()
	if err != nil {
		t.Fatal(err)
	}
	out := NewMemoryStore()
	var ops []Op
	for _, m := range snap.Retained {
		ops = append(ops, Op{Kind: OpSetRetained, Message: m})
	}
	for _, s := range snap.Sessions {
		ops = append(ops, Op{Kind: OpPutSession, Session: s})
		for _, d := range s.Deliveries {
			ops = append(ops, Op{Kind: OpPutDelivery, ClientID: s.ClientID, Delivery: d})
		}
		for _, id := range s.Inbound {
			ops = append(ops, Op{Kind: OpPutInbound, ClientID: s.ClientID, PacketID: id})
		}
	}
	out.Commit(ops, nil)
	return out
}

// Everything a persistent session holds comes back after a restart:
// subscriptions that match without re-subscribing, the queue in order,
// inflight messages resent with DUP under their packet ids, retained
// messages, and inbound QoS 2 ids (exactly once across the restart).
func TestRestoreSessionsAndRetained(t *testing.T) {
	st := NewMemoryStore()
	b1, addr := startBrokerStore(t, st, nil)

	dev := dialRaw(t, addr, packet.V311)
	dev.Connect(&packet.Connect{ClientID: "dev", KeepAlive: 30})
	dev.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "q/#", QoS: 1})
	dev.NC.Close()
	waitOffline(t, b1, "dev")

	inf := dialRaw(t, addr, packet.V5)
	inf.Connect(&packet.Connect{ClientID: "inf", Properties: packet.Properties{SessionExpiry: 3600, HasSessionExpiry: true}})
	inf.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "i", QoS: 2})

	pub := dialRaw(t, addr, packet.V311)
	pub.Connect(&packet.Connect{ClientID: "pub", KeepAlive: 30})
	for i := range 10 {
		pub.Send(&packet.Publish{Topic: "q/x", QoS: 1, PacketID: uint16(i + 1), Payload: fmt.Appendf(nil, "m%d", i)})
		pub.Recv()
	}
	pub.Send(&packet.Publish{Topic: "cfg/a", QoS: 1, PacketID: 20, Retain: true, Payload: []byte("conf")})
	pub.Recv()
	pub.Send(&packet.Publish{Topic: "i", QoS: 2, PacketID: 30, Payload: []byte("two")})
	if _, ok := pub.Recv().(*packet.Pubrec); !ok {
		t.Fatal("want PUBREC")
	}
	got := inf.RecvPublish() // inflight to inf, not acknowledged
	if got.QoS != 2 || got.PacketID == 0 {
		t.Fatalf("inf got %+v", got)
	}
	pub.NC.Close()
	inf.NC.Close()
	waitOffline(t, b1, "pub")
	waitOffline(t, b1, "inf")
	b1.Close()

	b2, addr2 := startBrokerStore(t, st, nil)
	if n := b2.Stats().Retained; n != 1 {
		t.Fatalf("retained after restart: %d", n)
	}
	dev = dialRaw(t, addr2, packet.V311)
	if ack := dev.Connect(&packet.Connect{ClientID: "dev", KeepAlive: 30}); !ack.SessionPresent {
		t.Fatal("dev: no session present after restart")
	}
	for i := range 10 {
		p := dev.RecvPublish()
		if string(p.Payload) != fmt.Sprintf("m%d", i) || p.QoS != 1 {
			t.Fatalf("message %d: %+v", i, p)
		}
		dev.Send(&packet.Puback{PacketID: p.PacketID})
	}
	// The subscription matches new messages without a new SUBSCRIBE.
	pub = dialRaw(t, addr2, packet.V311)
	if ack := pub.Connect(&packet.Connect{ClientID: "pub", KeepAlive: 30}); !ack.SessionPresent {
		t.Fatal("pub: no session present")
	}
	// The QoS 2 exchange goes on: the DUP PUBLISH is acknowledged, not routed again.
	pub.Send(&packet.Publish{Topic: "i", QoS: 2, PacketID: 30, Dup: true, Payload: []byte("two")})
	if r, ok := pub.Recv().(*packet.Pubrec); !ok || r.PacketID != 30 {
		t.Fatalf("want PUBREC 30, got %+v", r)
	}
	pub.Send(&packet.Pubrel{PacketID: 30})
	if c, ok := pub.Recv().(*packet.Pubcomp); !ok || c.PacketID != 30 {
		t.Fatalf("want PUBCOMP 30, got %+v", c)
	}
	pub.Send(&packet.Publish{Topic: "q/y", QoS: 1, PacketID: 40, Payload: []byte("new")})
	pub.Recv()
	if p := dev.RecvPublish(); string(p.Payload) != "new" {
		t.Fatalf("after restart: %+v", p)
	}
	inf = dialRaw(t, addr2, packet.V5)
	inf.Connect(&packet.Connect{ClientID: "inf", Properties: packet.Properties{SessionExpiry: 3600, HasSessionExpiry: true}})
	again := inf.RecvPublish()
	if !again.Dup || again.PacketID != got.PacketID || string(again.Payload) != "two" {
		t.Fatalf("inflight resend: %+v (first %+v)", again, got)
	}
	inf.Send(&packet.Pubrec{PacketID: again.PacketID})
	if _, ok := inf.Recv().(*packet.Pubrel); !ok {
		t.Fatal("want PUBREL")
	}
	inf.Send(&packet.Pubcomp{PacketID: again.PacketID})
	inf.ExpectNothing(100 * time.Millisecond) // exactly once: "two" is not sent again
	late := connectRaw(t, addr2, packet.V311, "late")
	late.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "cfg/#"})
	if p := late.RecvPublish(); !p.Retain || string(p.Payload) != "conf" {
		t.Fatalf("retained after restart: %+v", p)
	}
}

// QoS 1 messages in flight when the broker is restarted go again under
// their packet ids with DUP [MQTT-4.4.0-1], [MQTT-3.3.1-1] (3.1.1:
// [MQTT-4.4.0-1] too), oldest first, then the queued ones: whether the
// client had gone before the restart or was still connected.
func TestRestoreResendsQoS1UnderTheirIDs(t *testing.T) {
	for _, tc := range []struct {
		v       byte
		offline bool // the client went before the restart
	}{{packet.V311, true}, {packet.V311, false}, {packet.V5, true}, {packet.V5, false}} {
		t.Run(fmt.Sprintf("v%d offline %v", tc.v, tc.offline), func(t *testing.T) {
			st := NewMemoryStore()
			b1, addr := startBrokerStore(t, st, nil)
			conn := &packet.Connect{ClientID: "sub", KeepAlive: 30}
			if tc.v == packet.V5 {
				conn.Properties = packet.Properties{SessionExpiry: 3600, HasSessionExpiry: true}
			}
			sub := dialRaw(t, addr, tc.v)
			sub.Connect(conn)
			sub.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "t", QoS: 1})
			pub := connectRaw(t, addr, tc.v, "pub")
			send := func(from, n int) {
				for i := from; i < from+n; i++ {
					pub.Send(&packet.Publish{Topic: "t", QoS: 1, PacketID: uint16(i + 1), Payload: fmt.Appendf(nil, "m%d", i)})
				}
				for range n {
					pub.Recv()
				}
			}
			send(0, 6)
			ids := make([]uint16, 6)
			for i := range ids {
				p := sub.RecvPublish()
				if string(p.Payload) != fmt.Sprintf("m%d", i) || p.Dup {
					t.Fatalf("first delivery: %+v", p)
				}
				ids[i] = p.PacketID
			}
			sub.Send(&packet.Puback{PacketID: ids[1]})
			sub.Send(&packet.Puback{PacketID: ids[4]})
			sub.Send(&packet.Pingreq{}) // the PUBACKs are handled before the PINGRESP
			if _, ok := sub.Recv().(*packet.Pingresp); !ok {
				t.Fatal("want PINGRESP")
			}
			if tc.offline {
				sub.NC.Close()
				waitOffline(t, b1, "sub")
				send(6, 2) // queued
			}
			b1.Close()

			_, addr2 := startBrokerStore(t, st, nil)
			sub = dialRaw(t, addr2, tc.v)
			if ack := sub.Connect(conn); !ack.SessionPresent {
				t.Fatal("no session present")
			}
			for _, i := range []int{0, 2, 3, 5} {
				p := sub.RecvPublish()
				if string(p.Payload) != fmt.Sprintf("m%d", i) || !p.Dup || p.PacketID != ids[i] {
					t.Fatalf("resend: %+v, want m%d DUP under id %d", p, i, ids[i])
				}
				sub.Send(&packet.Puback{PacketID: p.PacketID})
			}
			if tc.offline {
				for i := 6; i < 8; i++ {
					p := sub.RecvPublish()
					if string(p.Payload) != fmt.Sprintf("m%d", i) || p.Dup {
						t.Fatalf("queued: %+v, want m%d", p, i)
					}
					sub.Send(&packet.Puback{PacketID: p.PacketID})
				}
			}
			sub.Send(&packet.Pingreq{})
			if p := sub.Recv(); p.Type() != packet.PINGRESP {
				t.Fatalf("after all: %T %+v", p, p)
			}
			if snap, _ := st.Load(); len(snap.Sessions) != 1 || len(snap.Sessions[0].Deliveries) != 0 {
				t.Fatalf("the store still holds deliveries: %+v", snap.Sessions)
			}
		})
	}
}

// Session expiry counts the downtime; a session that expired meanwhile
// is gone after the restart.
func TestRestoreExpiryCountsDowntime(t *testing.T) {
	st := NewMemoryStore()
	b1, addr := startBrokerStore(t, st, nil)
	for _, c := range []struct {
		id     string
		expiry uint32
	}{{"short", 1}, {"long", 3600}} {
		r := dialRaw(t, addr, packet.V5)
		r.Connect(&packet.Connect{ClientID: c.id, Properties: packet.Properties{SessionExpiry: c.expiry, HasSessionExpiry: true}})
		r.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "x", QoS: 1})
		r.Send(&packet.Disconnect{})
		r.ExpectClosed(5 * time.Second)
		waitOffline(t, b1, c.id)
	}
	b1.Close()
	time.Sleep(1100 * time.Millisecond) // the downtime being tested, not a wait for an event
	b2, _ := startBrokerStore(t, st, nil)
	ids := map[string]bool{}
	for _, c := range b2.Clients() {
		ids[c.ClientID] = true
	}
	if ids["short"] || !ids["long"] {
		t.Fatalf("after the downtime: %v", ids)
	}
	if snap, _ := st.Load(); len(snap.Sessions) != 1 {
		t.Fatalf("the store still holds %d sessions", len(snap.Sessions))
	}
}

// After a crash (the store as it was while clients were connected), a
// connected client's will goes out after its delay, and an
// acknowledged message is there.
func TestRestoreAfterCrash(t *testing.T) {
	st := NewMemoryStore()
	_, addr := startBrokerStore(t, st, nil)
	w := dialRaw(t, addr, packet.V5)
	w.Connect(&packet.Connect{ClientID: "willer", WillFlag: true, WillQoS: 1, WillTopic: "wills/willer", WillPayload: []byte("lost"),
		Properties: packet.Properties{SessionExpiry: 600, HasSessionExpiry: true}})
	sub := dialRaw(t, addr, packet.V311)
	sub.Connect(&packet.Connect{ClientID: "watch"})
	sub.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "wills/#", QoS: 1}, packet.Subscription{Filter: "data", QoS: 1})
	pub := connectRaw(t, addr, packet.V311, "p")
	pub.Send(&packet.Publish{Topic: "data", QoS: 1, PacketID: 1, Payload: []byte("acked")})
	pub.Recv() // PUBACK: it must survive
	crashed := crashCopy(t, st)

	_, addr2 := startBrokerStore(t, crashed, nil)
	sub2 := dialRaw(t, addr2, packet.V311)
	sub2.Connect(&packet.Connect{ClientID: "watch"})
	seen := map[string]bool{}
	for range 2 {
		p := sub2.RecvPublish()
		seen[p.Topic+"="+string(p.Payload)] = true
		sub2.Send(&packet.Puback{PacketID: p.PacketID})
	}
	if !seen["data=acked"] || !seen["wills/willer=lost"] {
		t.Fatalf("after the crash: %v", seen)
	}
}

// gateStore holds back commit completions until released, and can fail.
type gateStore struct {
	*MemoryStore
	mu      sync.Mutex
	held    []func(error)
	hold    bool
	failing bool
}

func (g *gateStore) Commit(ops []Op, done func(error)) {
	g.MemoryStore.Commit(ops, nil)
	if done == nil {
		return
	}
	g.mu.Lock()
	var err error
	if g.failing {
		err = errors.New("disk full")
	}
	if g.hold {
		g.held = append(g.held, func(error) { done(err) })
		g.mu.Unlock()
		return
	}
	g.mu.Unlock()
	done(err)
}

func (g *gateStore) release() {
	g.mu.Lock()
	held := g.held
	g.held, g.hold = nil, false
	g.mu.Unlock()
	for _, f := range held {
		f(nil)
	}
}

// PUBACK waits for the store when the message went to a persistent
// session, and acknowledgements keep their order behind it; messages
// with no durable effect are not held otherwise.
func TestAckAfterDurable(t *testing.T) {
	g := &gateStore{MemoryStore: NewMemoryStore()}
	_, addr := startBrokerStore(t, g, nil)
	dur := dialRaw(t, addr, packet.V311)
	dur.Connect(&packet.Connect{ClientID: "durable"})
	dur.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "d", QoS: 1})
	pub := connectRaw(t, addr, packet.V311, "pub")
	pub.Send(&packet.Publish{Topic: "free", QoS: 1, PacketID: 1})
	if a, ok := pub.Recv().(*packet.Puback); !ok || a.PacketID != 1 {
		t.Fatalf("non-durable PUBACK: %+v", a)
	}
	g.mu.Lock()
	g.hold = true
	g.mu.Unlock()
	pub.Send(&packet.Publish{Topic: "d", QoS: 1, PacketID: 2, Payload: []byte("keep")})
	pub.Send(&packet.Publish{Topic: "free", QoS: 1, PacketID: 3})
	pub.ExpectNothing(200 * time.Millisecond)
	g.release()
	for _, want := range []uint16{2, 3} {
		if a, ok := pub.Recv().(*packet.Puback); !ok || a.PacketID != want {
			t.Fatalf("want PUBACK %d, got %+v", want, a)
		}
	}

	// A store that fails: MQTT 5 gets 0x97, 3.1.1 no acknowledgement.
	g.mu.Lock()
	g.failing = true
	g.mu.Unlock()
	p5 := connectRaw(t, addr, packet.V5, "p5")
	p5.Send(&packet.Publish{Topic: "d", QoS: 1, PacketID: 9})
	if a, ok := p5.Recv().(*packet.Puback); !ok || a.ReasonCode != packet.QuotaExceeded {
		t.Fatalf("v5 with a failing store: %+v", a)
	}
	pub.Send(&packet.Publish{Topic: "d", QoS: 1, PacketID: 10})
	expectRefused311(t, pub)
	if err := (&Broker{}).syncStore(); err != nil {
		t.Fatal(err)
	}
	_ = context.Background()
}

// expectRefused311 checks that a 3.x client whose message could not be
// stored gets no acknowledgement and is disconnected: it resends an
// unacknowledged message only when it reconnects.
func expectRefused311(t *testing.T, r *raw) {
	t.Helper()
	for _, p := range r.ExpectClosed(5 * time.Second) {
		switch p.(type) {
		case *packet.Puback, *packet.Pubrec:
			t.Fatalf("3.x: %T of a message that was not stored", p)
		}
	}
}

// splitStore fails every commit that carries operations while failing is
// set, and lets barriers through: as a store does when a message's writes
// went into one transaction that failed and its barrier into the next,
// which had nothing to write.
type splitStore struct {
	*MemoryStore
	failing atomic.Bool
}

func (s *splitStore) Commit(ops []Op, done func(error)) {
	var err error
	if len(ops) > 0 && s.failing.Load() {
		err = errors.New("no space left on device")
	} else {
		s.MemoryStore.Commit(ops, nil)
	}
	if done != nil {
		done(err)
	}
}

// A message whose writes failed is refused even when the barrier its
// acknowledgement waits on succeeds on its own.
func TestAckRefusedWhenWritesFailedBeforeBarrier(t *testing.T) {
	st := &splitStore{MemoryStore: NewMemoryStore()}
	b, addr := startBrokerStore(t, st, nil)
	b.storeProbe.Store(0) // the window: messages routed before their writes fail
	dur := dialRaw(t, addr, packet.V5)
	dur.Connect(&packet.Connect{ClientID: "durable", Properties: packet.Properties{SessionExpiry: 600, HasSessionExpiry: true}})
	dur.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "d", QoS: 1})
	p5 := connectRaw(t, addr, packet.V5, "p5")
	p311 := connectRaw(t, addr, packet.V311, "p311")
	st.failing.Store(true)
	p5.Send(&packet.Publish{Topic: "d", QoS: 1, PacketID: 1, Payload: []byte("lost")})
	if a, ok := p5.Recv().(*packet.Puback); !ok || a.ReasonCode != packet.QuotaExceeded {
		t.Fatalf("v5 PUBACK of a message that was not stored: %+v", a)
	}
	p5.Send(&packet.Publish{Topic: "d", QoS: 2, PacketID: 2, Payload: []byte("lost")})
	if a, ok := p5.Recv().(*packet.Pubrec); !ok || a.ReasonCode != packet.QuotaExceeded {
		t.Fatalf("v5 PUBREC of a message that was not stored: %+v", a)
	}
	p311.Send(&packet.Publish{Topic: "d", QoS: 1, PacketID: 3, Payload: []byte("lost")})
	expectRefused311(t, p311)
	// The store works again: the next message is acknowledged.
	st.failing.Store(false)
	p5.Send(&packet.Publish{Topic: "d", QoS: 1, PacketID: 4, Payload: []byte("kept")})
	if a, ok := p5.Recv().(*packet.Puback); !ok || a.ReasonCode != packet.Success {
		t.Fatalf("v5 PUBACK once the store works: %+v", a)
	}
}

// A QoS 2 message refused with PUBREC 0x97 ends its exchange, so its
// packet id is free [MQTT-4.3.3-8]: the client's next message with it is
// a new one and must be delivered, not taken for a duplicate.
func TestRefusedQoS2FreesPacketID(t *testing.T) {
	st := &splitStore{MemoryStore: NewMemoryStore()}
	b, addr := startBrokerStore(t, st, nil)
	b.storeProbe.Store(0) // the window: messages routed before their writes fail
	sub := dialRaw(t, addr, packet.V5)
	sub.Connect(&packet.Connect{ClientID: "sub", Properties: packet.Properties{SessionExpiry: 600, HasSessionExpiry: true}})
	sub.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "d", QoS: 1})
	p5 := dialRaw(t, addr, packet.V5)
	p5.Connect(&packet.Connect{ClientID: "p5", Properties: packet.Properties{SessionExpiry: 600, HasSessionExpiry: true}})
	st.failing.Store(true)
	p5.Send(&packet.Publish{Topic: "d", QoS: 2, PacketID: 5, Payload: []byte("refused")})
	if a, ok := p5.Recv().(*packet.Pubrec); !ok || a.ReasonCode != packet.QuotaExceeded {
		t.Fatalf("PUBREC of a message that was not stored: %+v", a)
	}
	st.failing.Store(false)
	p5.Send(&packet.Publish{Topic: "d", QoS: 2, PacketID: 5, Payload: []byte("next")})
	if a, ok := p5.Recv().(*packet.Pubrec); !ok || a.ReasonCode != packet.Success {
		t.Fatalf("PUBREC of the next message: %+v", a)
	}
	p5.Send(&packet.Pubrel{PacketID: 5})
	p5.Recv() // PUBCOMP
	for {
		m := sub.RecvPublish()
		sub.Send(&packet.Puback{PacketID: m.PacketID})
		if string(m.Payload) == "next" {
			break
		}
	}
}

// Receive Maximum counts QoS 1 messages whose PUBACK waits for the
// store: an MQTT 5 client past it gets DISCONNECT 0x93 [MQTT-3.3.4-9].
func TestReceiveMaximumCountsHeldAcks(t *testing.T) {
	g := &gateStore{MemoryStore: NewMemoryStore()}
	_, addr := startBrokerStore(t, g, func(o *Options) { o.ReceiveMaximum = 3 })
	dur := dialRaw(t, addr, packet.V311)
	dur.Connect(&packet.Connect{ClientID: "durable"})
	dur.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "d", QoS: 1})
	g.mu.Lock()
	g.hold = true
	g.mu.Unlock()
	defer g.release()
	pub := connectRaw(t, addr, packet.V5, "flood")
	for i := range 4 {
		pub.Send(&packet.Publish{Topic: "d", QoS: 1, PacketID: uint16(i + 1)})
	}
	got := pub.ExpectClosed(5 * time.Second)
	if len(got) == 0 {
		t.Fatal("no DISCONNECT")
	}
	if d, ok := got[len(got)-1].(*packet.Disconnect); !ok || d.ReasonCode != packet.ReceiveMaximumExceeded {
		t.Fatalf("want DISCONNECT 0x93 last, got %+v", got)
	}
}

// A QoS 2 message whose PUBREC waits for the store counts once towards
// Receive Maximum, not as its id and again as its held acknowledgement:
// a client at its limit stays connected; one past it does not.
func TestReceiveMaximumQoS2HeldOnce(t *testing.T) {
	g := &gateStore{MemoryStore: NewMemoryStore()}
	_, addr := startBrokerStore(t, g, func(o *Options) { o.ReceiveMaximum = 3 })
	dur := dialRaw(t, addr, packet.V311)
	dur.Connect(&packet.Connect{ClientID: "durable"})
	dur.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "d", QoS: 2})
	g.mu.Lock()
	g.hold = true
	g.mu.Unlock()
	defer g.release()
	pub := connectRaw(t, addr, packet.V5, "q2")
	for i := range 3 {
		pub.Send(&packet.Publish{Topic: "d", QoS: 2, PacketID: uint16(i + 1)})
	}
	pub.Send(&packet.Pingreq{})
	if p, ok := pub.Recv().(*packet.Pingresp); !ok {
		t.Fatalf("3 QoS 2 messages within Receive Maximum 3: got %+v, want PINGRESP", p)
	}
	pub.Send(&packet.Publish{Topic: "d", QoS: 2, PacketID: 4})
	got := pub.ExpectClosed(5 * time.Second)
	if len(got) == 0 {
		t.Fatal("no DISCONNECT past Receive Maximum")
	}
	if d, ok := got[len(got)-1].(*packet.Disconnect); !ok || d.ReasonCode != packet.ReceiveMaximumExceeded {
		t.Fatalf("want DISCONNECT 0x93 last, got %+v", got)
	}
}

// A 3.x QoS 2 message that could not be stored gets no PUBREC; the
// client's retry with the same packet id must be stored and routed as
// the new message it is, not acknowledged at once as a duplicate of one
// the broker never kept (it would be lost at the next crash).
func TestRefusedQoS2Retry311IsStored(t *testing.T) {
	st := &splitStore{MemoryStore: NewMemoryStore()}
	b, addr := startBrokerStore(t, st, nil)
	b.storeProbe.Store(0) // the window: messages routed before their writes fail
	dur := dialRaw(t, addr, packet.V311)
	dur.Connect(&packet.Connect{ClientID: "durable", KeepAlive: 30})
	dur.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "d", QoS: 2})
	dur.Send(&packet.Disconnect{})
	dur.ExpectClosed(5 * time.Second)

	p3 := dialRaw(t, addr, packet.V311)
	p3.Connect(&packet.Connect{ClientID: "p3", KeepAlive: 30})
	st.failing.Store(true)
	p3.Send(&packet.Publish{Topic: "d", QoS: 2, PacketID: 7, Payload: []byte("keep")})
	expectRefused311(t, p3)
	st.failing.Store(false)
	again := dialRaw(t, addr, packet.V311)
	again.Connect(&packet.Connect{ClientID: "p3", KeepAlive: 30})
	again.Send(&packet.Publish{Topic: "d", QoS: 2, PacketID: 7, Dup: true, Payload: []byte("keep")})
	if a, ok := again.Recv().(*packet.Pubrec); !ok || a.PacketID != 7 {
		t.Fatalf("PUBREC of the retry: %+v", a)
	}
	again.Send(&packet.Pubrel{PacketID: 7})
	if a, ok := again.Recv().(*packet.Pubcomp); !ok || a.PacketID != 7 {
		t.Fatalf("PUBCOMP: %+v", a)
	}

	// A crash now: the acknowledged message must be in the store.
	_, addr2 := startBrokerStore(t, crashCopy(t, st.MemoryStore), nil)
	dur = dialRaw(t, addr2, packet.V311)
	if ack := dur.Connect(&packet.Connect{ClientID: "durable", KeepAlive: 30}); !ack.SessionPresent {
		t.Fatal("no session present")
	}
	for {
		p, err := dur.RecvErr(2 * time.Second)
		if err != nil {
			t.Fatalf("the acknowledged message is not in the store: %v", err)
		}
		if m, ok := p.(*packet.Publish); ok && string(m.Payload) == "keep" {
			break
		}
	}
}

// A DUP retry that arrives while the first copy's PUBREC still waits for
// the store shares its fate: refused with it, never acknowledged alone.
func TestQoS2DupFollowsHeldRefusal(t *testing.T) {
	g := &gateStore{MemoryStore: NewMemoryStore()}
	_, addr := startBrokerStore(t, g, nil)
	dur := dialRaw(t, addr, packet.V311)
	dur.Connect(&packet.Connect{ClientID: "durable", KeepAlive: 30})
	dur.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "d", QoS: 2})
	p5 := connectRaw(t, addr, packet.V5, "p5")
	g.mu.Lock()
	g.hold, g.failing = true, true
	g.mu.Unlock()
	p5.Send(&packet.Publish{Topic: "d", QoS: 2, PacketID: 7, Payload: []byte("m")})
	p5.Send(&packet.Publish{Topic: "d", QoS: 2, PacketID: 7, Dup: true, Payload: []byte("m")})
	p5.Send(&packet.Pingreq{})
	if p, ok := p5.Recv().(*packet.Pingresp); !ok {
		t.Fatalf("want PINGRESP while the PUBRECs wait, got %+v", p)
	}
	g.release()
	for i := range 2 {
		if a, ok := p5.Recv().(*packet.Pubrec); !ok || a.PacketID != 7 || a.ReasonCode != packet.QuotaExceeded {
			t.Fatalf("PUBREC %d of a message that was not stored: %+v", i+1, a)
		}
	}
}

// A stored session's SUBACK (and UNSUBACK) goes out only once the store
// has the change: a crash right after SUBACK must not lose the
// subscription, and with it the messages acknowledged for it afterwards.
// Its retained messages follow the SUBACK. A subscription the store could
// not keep is refused (0x97) and taken back. A session that is not
// stored is not held.
func TestSubackAfterDurable(t *testing.T) {
	g := &gateStore{MemoryStore: NewMemoryStore()}
	_, addr := startBrokerStore(t, g, nil)
	pub := connectRaw(t, addr, packet.V311, "pub")
	pub.Send(&packet.Publish{Topic: "r", QoS: 1, PacketID: 1, Retain: true, Payload: []byte("ret")})
	pub.Recv() // PUBACK
	hold := func(fail bool) {
		g.mu.Lock()
		g.hold, g.failing = !fail, fail
		g.mu.Unlock()
	}
	hold(false)
	clean := connectRaw(t, addr, packet.V311, "clean")
	clean.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "r", QoS: 0})

	dur := dialRaw(t, addr, packet.V5)
	dur.Connect(&packet.Connect{ClientID: "dur", KeepAlive: 30, Properties: packet.Properties{SessionExpiry: 600, HasSessionExpiry: true}})
	dur.Send(&packet.Subscribe{PacketID: 2, Subscriptions: []packet.Subscription{{Filter: "r", QoS: 1}}})
	dur.ExpectNothing(200 * time.Millisecond)
	g.release()
	if a, ok := dur.Recv().(*packet.Suback); !ok || a.PacketID != 2 || a.ReasonCodes[0] != 1 {
		t.Fatalf("SUBACK once stored: %+v", a)
	}
	m, ok := dur.Recv().(*packet.Publish)
	if !ok || string(m.Payload) != "ret" {
		t.Fatalf("the retained message after SUBACK: %+v", m)
	}
	dur.Send(&packet.Puback{PacketID: m.PacketID})

	hold(false)
	dur.Send(&packet.Unsubscribe{PacketID: 3, Filters: []string{"r"}})
	dur.ExpectNothing(200 * time.Millisecond)
	g.release()
	if a, ok := dur.Recv().(*packet.Unsuback); !ok || a.PacketID != 3 || a.ReasonCodes[0] != packet.Success {
		t.Fatalf("UNSUBACK once stored: %+v", a)
	}

	hold(true)
	if a := dur.Subscribe(4, packet.Properties{}, packet.Subscription{Filter: "f", QoS: 1}); a.ReasonCodes[0] != packet.QuotaExceeded {
		t.Fatalf("SUBACK of a subscription that could not be stored: %+v", a)
	}
	g.mu.Lock()
	g.failing = false
	g.mu.Unlock()
	pub.Send(&packet.Publish{Topic: "f", QoS: 1, PacketID: 5, Payload: []byte("not for dur")})
	pub.Recv() // PUBACK
	dur.ExpectNothing(200 * time.Millisecond)
}

// While the store is known to be failing, a publish that would need it
// (retained, or QoS 1/2 for a stored session) is refused before it is
// routed: no subscriber gets a message its publisher was told was
// refused, and a refused retained message (QoS 0 included) does not
// replace the stored one. Messages that need no disk still flow.
func TestStoreFailingRefusesBeforeRouting(t *testing.T) {
	st := &splitStore{MemoryStore: NewMemoryStore()}
	_, addr := startBrokerStore(t, st, nil)
	dur := dialRaw(t, addr, packet.V5)
	dur.Connect(&packet.Connect{ClientID: "dur", Properties: packet.Properties{SessionExpiry: 600, HasSessionExpiry: true}})
	dur.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "d", QoS: 1})
	dur.Send(&packet.Disconnect{})
	dur.ExpectClosed(5 * time.Second)
	live := connectRaw(t, addr, packet.V5, "live")
	live.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "d", QoS: 1}, packet.Subscription{Filter: "r", QoS: 1})
	p5 := connectRaw(t, addr, packet.V5, "p5")
	p5.Send(&packet.Publish{Topic: "r", QoS: 1, PacketID: 1, Retain: true, Payload: []byte("old")})
	if a, ok := p5.Recv().(*packet.Puback); !ok || a.ReasonCode != packet.Success {
		t.Fatalf("retained: %+v", a)
	}
	if m := live.RecvPublish(); string(m.Payload) != "old" {
		t.Fatalf("live got %q", m.Payload)
	}

	st.failing.Store(true)
	// The first failure is found when its writes fail: it was routed.
	p5.Send(&packet.Publish{Topic: "d", QoS: 1, PacketID: 2, Payload: []byte("first")})
	if a, ok := p5.Recv().(*packet.Puback); !ok || a.ReasonCode != packet.QuotaExceeded {
		t.Fatalf("first: %+v", a)
	}
	if m := live.RecvPublish(); string(m.Payload) != "first" {
		t.Fatalf("live got %q", m.Payload)
	}
	live.Send(&packet.Puback{PacketID: 1})
	// From then on, refused before routing.
	p5.Send(&packet.Publish{Topic: "d", QoS: 1, PacketID: 3, Payload: []byte("refused")})
	p5.Send(&packet.Publish{Topic: "r", QoS: 1, PacketID: 4, Retain: true, Payload: []byte("refused")})
	p5.Send(&packet.Publish{Topic: "r", QoS: 0, Retain: true, Payload: []byte("refused q0")})
	for _, id := range []uint16{3, 4} {
		if a, ok := p5.Recv().(*packet.Puback); !ok || a.PacketID != id || a.ReasonCode != packet.QuotaExceeded {
			t.Fatalf("PUBACK %d: %+v", id, a)
		}
	}
	p5.Send(&packet.Publish{Topic: "nobody", QoS: 1, PacketID: 5})
	if a, ok := p5.Recv().(*packet.Puback); !ok || a.ReasonCode != packet.NoMatchingSubscribers {
		t.Fatalf("a message that needs no disk: %+v", a)
	}
	p5.Send(&packet.Publish{Topic: "d", QoS: 0, Payload: []byte("q0")}) // QoS 0 is never refused for the store
	if p, err := live.RecvErr(300 * time.Millisecond); err != nil {
		t.Fatalf("QoS 0 not delivered: %v", err)
	} else if m, ok := p.(*packet.Publish); !ok || string(m.Payload) != "q0" {
		t.Fatalf("live got %+v, want only q0", p)
	}
	p3 := connectRaw(t, addr, packet.V311, "p3")
	p3.Send(&packet.Publish{Topic: "d", QoS: 1, PacketID: 6, Payload: []byte("refused 3")})
	expectRefused311(t, p3)
	live.ExpectNothing(200 * time.Millisecond)
	late := connectRaw(t, addr, packet.V5, "late")
	late.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "r", QoS: 1})
	if m := late.RecvPublish(); string(m.Payload) != "old" {
		t.Fatalf("retained message after refusals: %q", m.Payload)
	}
}

// A retained message that expired while the broker was down is not
// served, and leaves the store at the restart (it stayed in the file,
// counted by --check, until overwritten).
func TestRestoreDropsExpiredRetained(t *testing.T) {
	mem := NewMemoryStore()
	done := make(chan error, 1)
	mem.Commit([]Op{
		{Kind: OpSetRetained, Message: &Message{Topic: "gone", Payload: []byte("x"), Expiry: time.Now().Add(-time.Second)}},
		{Kind: OpSetRetained, Message: &Message{Topic: "kept", Payload: []byte("y")}},
	}, func(err error) { done <- err })
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	startBroker(t, func(o *Options) { o.Store = mem })
	mem.Commit(nil, func(err error) { done <- err }) // after the restore's writes
	<-done
	snap, err := mem.Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Retained) != 1 || snap.Retained[0].Topic != "kept" {
		t.Fatalf("store after the restart holds %d retained messages, want only \"kept\"", len(snap.Retained))
	}

}
