package packet

import (
	"bytes"
	"reflect"
	"testing"
)

func TestSmoke(t *testing.T) {
	pkts := []Packet{
		&Connect{ProtocolName: "MQTT", ProtocolVersion: V5, UsernameFlag: true, PasswordFlag: true, ClientID: "c", CleanStart: true, KeepAlive: 30, Username: "u", Password: []byte("p"),
			Properties: Properties{SessionExpiry: 10, HasSessionExpiry: true},
			WillFlag:   true, WillQoS: 1, WillTopic: "w", WillPayload: []byte("x"), WillProperties: Properties{WillDelay: 5, HasWillDelay: true}},
		&Publish{QoS: 1, PacketID: 7, Topic: "a/b", Payload: []byte("hi"), Properties: Properties{User: []UserProperty{{"k", "v"}}}},
		&Puback{PacketID: 1}, &Pubrec{PacketID: 2, ReasonCode: 0x10}, &Pubrel{PacketID: 3}, &Pubcomp{PacketID: 4},
		&Subscribe{PacketID: 5, Subscriptions: []Subscription{{Filter: "a/#", QoS: 2, NoLocal: true, RetainHandling: 2}}},
		&Suback{PacketID: 5, ReasonCodes: []ReasonCode{2}}, &Unsubscribe{PacketID: 6, Filters: []string{"x"}},
		&Unsuback{PacketID: 6, ReasonCodes: []ReasonCode{0}}, &Pingreq{}, &Pingresp{}, &Disconnect{ReasonCode: 0x04}, &Auth{ReasonCode: 0x18, Properties: Properties{AuthMethod: "m"}},
		&Connack{SessionPresent: true},
	}
	for _, p := range pkts {
		b, err := Append(nil, p, V5)
		if err != nil {
			t.Fatal(err)
		}
		if Size(p, V5) != len(b) {
			t.Errorf("%T size", p)
		}
		q, err := ReadPacket(bytes.NewReader(b), V5, 0)
		if err != nil {
			t.Fatalf("%T %x: %v", p, b, err)
		}
		if !reflect.DeepEqual(p, q) {
			t.Errorf("%#v\n%#v", p, q)
		}
	}
}
