package broker

// Behaviours the Eclipse Paho interoperability suite (paho.mqtt.testing,
// interoperability/client_test5.py) checks that the other tests here do not
// pin down: inbound Receive Maximum (test_flow_control2), the Session
// Expiry Interval of DISCONNECT (test_session_expiry) and a will cut short
// by the end of the session (test_will_delay). The suite itself is not run
// here: scripts/interop-paho.sh runs it against a built binary.

import (
	"testing"
	"time"

	"github.com/mqttkit/mqtt/mqtt/packet"
)

// A client that sends more unreleased QoS 2 PUBLISHes than the Receive
// Maximum of CONNACK breaks [MQTT-3.3.4-9]; the server answers with
// DISCONNECT 0x93 Receive Maximum exceeded (§3.2.2.3.3) and closes the
// connection [MQTT-3.14.4-2]. The PUBRECs of the accepted ones come first.
func TestPahoReceiveMaximumExceeded(t *testing.T) {
	_, addr := startBroker(t, func(o *Options) { o.ReceiveMaximum = 2 })
	r := dialRaw(t, addr, packet.V5)
	ack := r.Connect(&packet.Connect{ClientID: "flow2", CleanStart: true, KeepAlive: 30})
	if !ack.Properties.HasReceiveMaximum || ack.Properties.ReceiveMaximum != 2 {
		t.Fatalf("CONNACK Receive Maximum: %+v", ack.Properties)
	}
	for i := 1; i <= 3; i++ {
		r.Send(&packet.Publish{Topic: "flow2/x", QoS: 2, PacketID: uint16(i), Payload: []byte("m")})
	}
	got := r.ExpectClosed(5 * time.Second)
	if len(got) != 3 {
		t.Fatalf("got %d packets before close, want PUBREC PUBREC DISCONNECT: %+v", len(got), got)
	}
	for i, p := range got[:2] {
		if rec, ok := p.(*packet.Pubrec); !ok || rec.PacketID != uint16(i+1) || rec.ReasonCode >= 0x80 {
			t.Fatalf("packet %d: %T %+v, want PUBREC %d", i, p, p, i+1)
		}
	}
	if d, ok := got[2].(*packet.Disconnect); !ok || d.ReasonCode != packet.ReceiveMaximumExceeded {
		t.Fatalf("last packet %T %+v, want DISCONNECT 0x93", got[2], got[2])
	}
}

// Releasing with PUBREL frees the slot: the same client may then send
// another QoS 2 PUBLISH without exceeding the Receive Maximum.
func TestPahoReceiveMaximumFreedByPubrel(t *testing.T) {
	_, addr := startBroker(t, func(o *Options) { o.ReceiveMaximum = 1 })
	r := connectRaw(t, addr, packet.V5, "flow2b")
	for i := uint16(1); i <= 3; i++ {
		r.Send(&packet.Publish{Topic: "flow2/x", QoS: 2, PacketID: i, Payload: []byte("m")})
		if rec, ok := r.Recv().(*packet.Pubrec); !ok || rec.PacketID != i {
			t.Fatalf("publish %d: no PUBREC", i)
		}
		r.Send(&packet.Pubrel{PacketID: i})
		if comp, ok := r.Recv().(*packet.Pubcomp); !ok || comp.PacketID != i || comp.ReasonCode != packet.Success {
			t.Fatalf("publish %d: no PUBCOMP", i)
		}
	}
}

// The Session Expiry Interval of DISCONNECT replaces the one of CONNECT
// (§3.14.2.2.2): 1 s raised to 60 s keeps the session; lowered to 0 ends
// it at once. A non-zero value after a CONNECT with 0 is a Protocol Error
// [MQTT-3.14.2-2].
func TestPahoSessionExpiryFromDisconnect(t *testing.T) {
	_, addr := startBroker(t, nil)
	connect := func(clean bool, expiry uint32) (*raw, *packet.Connack) {
		r := dialRaw(t, addr, packet.V5)
		ack := r.Connect(&packet.Connect{ClientID: "se", CleanStart: clean, KeepAlive: 30,
			Properties: packet.Properties{SessionExpiry: expiry, HasSessionExpiry: true}})
		if ack.ReasonCode != packet.Success {
			t.Fatalf("CONNACK %v", ack.ReasonCode)
		}
		return r, ack
	}
	disconnect := func(r *raw, expiry uint32) []packet.Packet {
		r.Send(&packet.Disconnect{Properties: packet.Properties{SessionExpiry: expiry, HasSessionExpiry: true}})
		return r.ExpectClosed(3 * time.Second)
	}

	r, _ := connect(true, 1)
	r.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "se/x", QoS: 1})
	disconnect(r, 60)
	time.Sleep(2500 * time.Millisecond) // well past the 1 s of CONNECT
	r, ack := connect(false, 1)
	if !ack.SessionPresent {
		t.Fatal("session expired with CONNECT's 1 s although DISCONNECT set 60 s")
	}
	disconnect(r, 0)
	r, ack = connect(false, 0)
	if ack.SessionPresent {
		t.Fatal("session kept although DISCONNECT set 0")
	}
	got := disconnect(r, 10)
	if len(got) != 1 {
		t.Fatalf("got %+v, want DISCONNECT 0x82", got)
	}
	if d, ok := got[0].(*packet.Disconnect); !ok || d.ReasonCode != packet.ProtocolError {
		t.Fatalf("got %T %+v, want DISCONNECT 0x82", got[0], got[0])
	}
}

// The will is published when the Will Delay Interval has passed or the
// session ends, whichever happens first [MQTT-3.1.2-8]: with a 30 s delay
// and a session that ends with the connection it comes at once; with a 1 s
// session it comes when the session expires.
func TestPahoWillDelayCutBySessionEnd(t *testing.T) {
	_, addr := startBroker(t, nil)
	sub := connectRaw(t, addr, packet.V5, "wd-watch")
	sub.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "wd2/#"})
	for _, expiry := range []uint32{0, 1} {
		id := "wd" + string(rune('0'+expiry))
		r := dialRaw(t, addr, packet.V5)
		r.Connect(&packet.Connect{ClientID: id, CleanStart: true, KeepAlive: 30,
			Properties: packet.Properties{SessionExpiry: expiry, HasSessionExpiry: true},
			WillFlag:   true, WillTopic: "wd2/" + id, WillPayload: []byte(id),
			WillProperties: packet.Properties{WillDelay: 30, HasWillDelay: true}})
		r.NC.Close()
		p, err := sub.RecvErr(time.Duration(expiry)*time.Second + 4*time.Second)
		if err != nil {
			t.Fatalf("session expiry %d s, will delay 30 s: no will when the session ended: %v", expiry, err)
		}
		if pub, ok := p.(*packet.Publish); !ok || pub.Topic != "wd2/"+id {
			t.Fatalf("got %T %+v", p, p)
		}
	}
}
