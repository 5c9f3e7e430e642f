package broker

import (
	"testing"
	"time"

	"github.com/mqttkit/mqtt/mqtt/packet"
)

// The limits mosquitto.conf sets (message_size_limit, max_qos, retain_available false), with
// the reason codes each protocol version gets. max_connections and max_keepalive are in
// abuse_test.go and v5_test.go.

// message_size_limit: a larger payload is dropped; MQTT 5 QoS 1 gets PUBACK 0x83 (0x95 is not a valid PUBACK reason; Mosquitto sends 0x83 too), 3.1.1 a
// plain PUBACK; the connection stays.
func TestMessageSizeLimit(t *testing.T) {
	_, addr := startBroker(t, func(o *Options) { o.MessageSizeLimit = 10 })
	sub := connectRaw(t, addr, packet.V5, "sub")
	sub.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "big", QoS: 1})
	for _, v := range []byte{packet.V5, packet.V311} {
		pub := connectRaw(t, addr, v, "pub")
		pub.Send(&packet.Publish{Topic: "big", QoS: 1, PacketID: 1, Payload: make([]byte, 11)})
		ack, ok := pub.Recv().(*packet.Puback)
		if !ok || (v == packet.V5 && ack.ReasonCode != packet.ImplementationSpecificError) || (v != packet.V5 && ack.ReasonCode != 0) {
			t.Fatalf("v%d oversized: %+v", v, ack)
		}
		pub.Send(&packet.Publish{Topic: "big", Payload: make([]byte, 11)}) // QoS 0: dropped silently
		pub.Send(&packet.Publish{Topic: "big", QoS: 1, PacketID: 2, Payload: []byte("0123456789")})
		if ack := pub.Recv().(*packet.Puback); ack.ReasonCode != 0 {
			t.Fatalf("v%d at the limit: %v", v, ack.ReasonCode)
		}
		if got := sub.RecvPublish(); len(got.Payload) != 10 {
			t.Fatalf("v%d delivered %d bytes", v, len(got.Payload))
		}
		sub.ExpectNothing(100 * time.Millisecond)
		pub.NC.Close()
	}
}

// max_qos 1: subscriptions are granted at most QoS 1 and CONNACK says so (MQTT 5); a QoS 2
// PUBLISH is a protocol violation: DISCONNECT 0x9B for MQTT 5 [MQTT-3.2.2-11], closed for 3.1.1.
func TestMaxQoS(t *testing.T) {
	_, addr := startBroker(t, func(o *Options) { o.MaxQoS = 1 })
	r := dialRaw(t, addr, packet.V5)
	ack := r.Connect(&packet.Connect{ClientID: "q", CleanStart: true})
	if !ack.Properties.HasMaximumQoS || ack.Properties.MaximumQoS != 1 {
		t.Fatalf("CONNACK Maximum QoS: %+v", ack.Properties)
	}
	if sa := r.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "q", QoS: 2}); sa.ReasonCodes[0] != 1 {
		t.Fatalf("SUBACK %v, want granted QoS 1", sa.ReasonCodes)
	}
	r.Send(&packet.Publish{Topic: "q", QoS: 2, PacketID: 1})
	got := r.ExpectClosed(3 * time.Second)
	if len(got) == 0 || got[len(got)-1].(*packet.Disconnect).ReasonCode != packet.QoSNotSupported {
		t.Fatalf("v5 QoS 2 publish: %+v", got)
	}
	r3 := connectRaw(t, addr, packet.V311, "q3")
	if sa := r3.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "q", QoS: 2}); sa.ReasonCodes[0] != 1 {
		t.Fatalf("3.1.1 SUBACK %v", sa.ReasonCodes)
	}
	r3.Send(&packet.Publish{Topic: "q", QoS: 2, PacketID: 1})
	r3.ExpectClosed(3 * time.Second)
}

// retain_available false: CONNACK says so (MQTT 5); a retained PUBLISH gets DISCONNECT 0x9A
// [MQTT-3.2.2-14]; 3.1.1 clients are disconnected, as Mosquitto does.
func TestRetainUnavailable(t *testing.T) {
	_, addr := startBroker(t, func(o *Options) { o.RetainAvailable = false })
	r := dialRaw(t, addr, packet.V5)
	ack := r.Connect(&packet.Connect{ClientID: "r", CleanStart: true})
	if !ack.Properties.HasRetainAvailable || ack.Properties.RetainAvailable != 0 {
		t.Fatalf("CONNACK Retain Available: %+v", ack.Properties)
	}
	r.Send(&packet.Publish{Topic: "r", Retain: true, Payload: []byte("x")})
	got := r.ExpectClosed(3 * time.Second)
	if len(got) == 0 || got[len(got)-1].(*packet.Disconnect).ReasonCode != packet.RetainNotSupported {
		t.Fatalf("v5 retained publish: %+v", got)
	}
	r3 := connectRaw(t, addr, packet.V311, "r3")
	r3.Send(&packet.Publish{Topic: "r", Retain: true, Payload: []byte("x")})
	r3.ExpectClosed(3 * time.Second)
	// A retained will is refused at CONNECT (0x9A).
	w := dialRaw(t, addr, packet.V5)
	if ack := w.Connect(&packet.Connect{ClientID: "w", CleanStart: true, WillFlag: true, WillTopic: "w", WillRetain: true}); ack.ReasonCode != packet.RetainNotSupported {
		t.Fatalf("retained will: %v", ack.ReasonCode)
	}
}
