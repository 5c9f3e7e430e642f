package store

import (
	"reflect"
	"testing"
	"time"

	"github.com/mqttkit/mqtt/mqtt/broker"
	"github.com/mqttkit/mqtt/mqtt/packet"
)

// FuzzDecodeOps feeds arbitrary bytes to the journal and store record
// decoder: it must return an error or operations, never panic or
// allocate beyond its input (a damaged store is refused, not crashed
// on); and what it decodes encodes back to the same operations.
func FuzzDecodeOps(f *testing.F) {
	m := &broker.Message{Topic: "a/b", Payload: []byte("x"), QoS: 1, Retain: true, From: "c",
		Expiry: time.Unix(1700000000, 0), Props: &packet.Properties{ContentType: "t", CorrelationData: []byte{1}}}
	for _, ops := range [][]broker.Op{
		{{Kind: broker.OpSetRetained, Message: m}},
		{{Kind: broker.OpClearRetained, Topic: "a/b"}},
		{{Kind: broker.OpPutSession, Session: &broker.SessionState{ClientID: "c", ProtocolVersion: 5, Expiry: 60,
			Subscriptions: []broker.SubscriptionState{{Filter: "a/#"}}, Will: m}}},
		{{Kind: broker.OpPutDelivery, ClientID: "c", Delivery: &broker.DeliveryState{Seq: 3, Message: m, QoS: 2, PacketID: 7, SubIDs: []uint32{1}}}},
		{{Kind: broker.OpDeleteDelivery, ClientID: "c", Seq: 3}, {Kind: broker.OpPutInbound, ClientID: "c", PacketID: 9}},
		{{Kind: broker.OpDeleteSession, ClientID: "c"}, {Kind: broker.OpDeleteInbound, ClientID: "c", PacketID: 9}},
	} {
		f.Add([]byte(appendOps(nil, ops, nil)))
	}
	f.Add([]byte{})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, data []byte) {
		d := dec{b: data}
		ops := d.ops()
		if d.end() != nil {
			return
		}
		again := dec{b: appendOps(nil, ops, nil)}
		ops2 := again.ops()
		if err := again.end(); err != nil {
			t.Fatalf("re-encoded operations do not decode: %v", err)
		}
		if !reflect.DeepEqual(ops, ops2) {
			t.Fatalf("round trip changed the operations:\n%+v\n%+v", ops, ops2)
		}
	})
}
