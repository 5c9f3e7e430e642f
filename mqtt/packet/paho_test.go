package packet

import (
	"bytes"
	"reflect"
	"testing"

	paho5 "github.com/eclipse/paho.golang/packets"
	paho3 "github.com/eclipse/paho.mqtt.golang/packets"
)

// Cross-checks against independent implementations: Eclipse Paho's Go
// codecs for MQTT 5 (paho.golang) and 3.1.1 (paho.mqtt.golang). Each packet
// is encoded by one side and decoded by the other, both ways.

func u8ptr(v byte) *byte      { return &v }
func u16ptr(v uint16) *uint16 { return &v }
func u32ptr(v uint32) *uint32 { return &v }
func intptr(v int) *int       { return &v }

func TestPaho5Publish(t *testing.T) {
	cp := paho5.NewControlPacket(paho5.PUBLISH)
	pp := cp.Content.(*paho5.Publish)
	pp.Topic, pp.QoS, pp.PacketID, pp.Retain, pp.Payload = "sensors/t", 1, 42, true, []byte("21.5")
	pp.Properties = &paho5.Properties{
		PayloadFormat: u8ptr(1), MessageExpiry: u32ptr(30), ContentType: "text/plain",
		ResponseTopic: "r", CorrelationData: []byte{1, 2}, SubscriptionIdentifier: intptr(300),
		TopicAlias: u16ptr(3), User: []paho5.User{{Key: "k", Value: "v"}},
	}
	want := &Publish{QoS: 1, Retain: true, Topic: "sensors/t", PacketID: 42, Payload: []byte("21.5"),
		Properties: Properties{PayloadFormat: 1, HasPayloadFormat: true, MessageExpiry: 30, HasMessageExpiry: true,
			ContentType: "text/plain", ResponseTopic: "r", CorrelationData: []byte{1, 2}, SubscriptionIDs: []uint32{300},
			TopicAlias: 3, HasTopicAlias: true, User: []UserProperty{{"k", "v"}}}}

	// paho -> ours
	var buf bytes.Buffer
	if _, err := cp.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	got, err := ReadPacket(bytes.NewReader(buf.Bytes()), V5, 0)
	if err != nil {
		t.Fatalf("decode paho's % X: %v", buf.Bytes(), err)
	}
	if !equalPackets(got, want) {
		t.Fatalf("paho -> ours:\n got %#v\nwant %#v", got, want)
	}
	// ours -> paho
	enc, err := Append(nil, want, V5)
	if err != nil {
		t.Fatal(err)
	}
	back, err := paho5.ReadPacket(bytes.NewReader(enc))
	if err != nil {
		t.Fatalf("paho cannot read % X: %v", enc, err)
	}
	bp := back.Content.(*paho5.Publish)
	if bp.Topic != pp.Topic || bp.QoS != 1 || bp.PacketID != 42 || !bp.Retain || string(bp.Payload) != "21.5" ||
		!reflect.DeepEqual(bp.Properties, pp.Properties) {
		t.Fatalf("ours -> paho: %v", bp)
	}
}

func TestPaho5Connect(t *testing.T) {
	cp := paho5.NewControlPacket(paho5.CONNECT)
	c := cp.Content.(*paho5.Connect)
	c.ClientID, c.KeepAlive, c.CleanStart = "dev-1", 45, true
	c.UsernameFlag, c.Username, c.PasswordFlag, c.Password = true, "u", true, []byte("pw")
	c.WillFlag, c.WillQOS, c.WillRetain, c.WillTopic, c.WillMessage = true, 1, true, "dead/dev-1", []byte("gone")
	c.Properties = &paho5.Properties{SessionExpiryInterval: u32ptr(3600), ReceiveMaximum: u16ptr(50),
		MaximumPacketSize: u32ptr(1 << 20), TopicAliasMaximum: u16ptr(8), RequestProblemInfo: u8ptr(1),
		RequestResponseInfo: u8ptr(1), User: []paho5.User{{Key: "a", Value: "b"}}}
	// paho.golang v0.23.0 packs will properties with CONNECT's property set,
	// so it drops PUBLISH-only ones such as Content Type: use Will Delay only.
	c.WillProperties = &paho5.Properties{WillDelayInterval: u32ptr(10)}
	want := &Connect{ProtocolName: "MQTT", ProtocolVersion: V5, CleanStart: true, KeepAlive: 45, ClientID: "dev-1",
		Properties: Properties{SessionExpiry: 3600, HasSessionExpiry: true, ReceiveMaximum: 50, HasReceiveMaximum: true,
			MaximumPacketSize: 1 << 20, HasMaximumPacketSize: true, TopicAliasMaximum: 8, HasTopicAliasMaximum: true,
			RequestProblemInfo: 1, HasRequestProblemInfo: true, RequestResponseInfo: 1, HasRequestResponseInfo: true,
			User: []UserProperty{{"a", "b"}}},
		WillFlag: true, WillQoS: 1, WillRetain: true, WillTopic: "dead/dev-1", WillPayload: []byte("gone"),
		WillProperties: Properties{WillDelay: 10, HasWillDelay: true},
		UsernameFlag:   true, Username: "u", PasswordFlag: true, Password: []byte("pw")}
	var buf bytes.Buffer
	if _, err := cp.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	got, err := ReadPacket(&buf, V5, 0)
	if err != nil || !equalPackets(got, want) {
		t.Fatalf("paho -> ours: %v\n got %#v\nwant %#v", err, got, want)
	}
	enc, _ := Append(nil, want, V5)
	back, err := paho5.ReadPacket(bytes.NewReader(enc))
	if err != nil {
		t.Fatalf("paho cannot read % X: %v", enc, err)
	}
	bc := back.Content.(*paho5.Connect)
	if bc.ClientID != "dev-1" || bc.Username != "u" || string(bc.Password) != "pw" || bc.WillTopic != "dead/dev-1" ||
		bc.WillQOS != 1 || !bc.WillRetain || !bc.CleanStart || *bc.Properties.SessionExpiryInterval != 3600 ||
		*bc.WillProperties.WillDelayInterval != 10 {
		t.Fatalf("ours -> paho: %v", bc)
	}
}

func TestPaho5Acks(t *testing.T) {
	// Our short forms must be readable by paho, and paho's forms by us.
	for _, p := range []Packet{
		&Puback{PacketID: 1},
		&Puback{PacketID: 2, ReasonCode: NoMatchingSubscribers},
		&Pubrec{PacketID: 3, ReasonCode: QuotaExceeded, Properties: Properties{ReasonString: "full"}},
		&Pubrel{PacketID: 4},
		&Pubcomp{PacketID: 5, ReasonCode: PacketIdentifierNotFound},
		&Suback{PacketID: 6, ReasonCodes: []ReasonCode{GrantedQoS1, NotAuthorized}},
		&Unsuback{PacketID: 7, ReasonCodes: []ReasonCode{Success, NoSubscriptionExisted}},
		&Subscribe{PacketID: 8, Subscriptions: []Subscription{{Filter: "a/#", QoS: 2, NoLocal: true, RetainHandling: 1}},
			Properties: Properties{SubscriptionIDs: []uint32{9}}},
		&Unsubscribe{PacketID: 9, Filters: []string{"a/#", "b"}},
		&Connack{SessionPresent: true, Properties: Properties{AssignedClientID: "x", MaximumQoS: 1, HasMaximumQoS: true}},
		&Disconnect{ReasonCode: ServerShuttingDown, Properties: Properties{ReasonString: "bye"}},
		// Not &Disconnect{}: its spec form E0 00 (§3.14.2.1) is rejected by
		// paho.golang v0.23.0, which always reads a reason code.
		&Pingreq{}, &Pingresp{},
	} {
		enc, err := Append(nil, p, V5)
		if err != nil {
			t.Fatal(err)
		}
		cp, err := paho5.ReadPacket(bytes.NewReader(enc))
		if err != nil {
			t.Fatalf("%T: paho cannot read % X: %v", p, enc, err)
		}
		var buf bytes.Buffer
		if _, err := cp.WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
		got, err := ReadPacket(&buf, V5, 0)
		if err != nil {
			t.Fatalf("%T: cannot read paho's re-encoding % X: %v", p, buf.Bytes(), err)
		}
		if !equalPackets(got, p) {
			t.Fatalf("%T via paho:\n got %#v\nwant %#v", p, got, p)
		}
	}
}

func TestPaho311(t *testing.T) {
	pub := paho3.NewControlPacket(paho3.Publish).(*paho3.PublishPacket)
	pub.Qos, pub.Retain, pub.Dup, pub.TopicName, pub.MessageID, pub.Payload = 2, true, true, "a/b", 77, []byte("hello")
	con := paho3.NewControlPacket(paho3.Connect).(*paho3.ConnectPacket)
	con.ProtocolName, con.ProtocolVersion, con.CleanSession, con.Keepalive, con.ClientIdentifier = "MQTT", 4, true, 30, "c1"
	con.WillFlag, con.WillQos, con.WillTopic, con.WillMessage = true, 1, "w", []byte("x")
	con.UsernameFlag, con.Username, con.PasswordFlag, con.Password = true, "u", true, []byte("p")
	sub := paho3.NewControlPacket(paho3.Subscribe).(*paho3.SubscribePacket)
	sub.MessageID, sub.Topics, sub.Qoss = 5, []string{"a/+", "b/#"}, []byte{1, 2}
	sa := paho3.NewControlPacket(paho3.Suback).(*paho3.SubackPacket)
	sa.MessageID, sa.ReturnCodes = 5, []byte{1, 0x80}
	ca := paho3.NewControlPacket(paho3.Connack).(*paho3.ConnackPacket)
	ca.SessionPresent, ca.ReturnCode = false, 4
	rel := paho3.NewControlPacket(paho3.Pubrel).(*paho3.PubrelPacket)
	rel.MessageID = 77
	uns := paho3.NewControlPacket(paho3.Unsubscribe).(*paho3.UnsubscribePacket)
	uns.MessageID, uns.Topics = 6, []string{"a/+"}

	cases := []struct {
		theirs paho3.ControlPacket
		ours   Packet
	}{
		{pub, &Publish{Dup: true, QoS: 2, Retain: true, Topic: "a/b", PacketID: 77, Payload: []byte("hello")}},
		{con, &Connect{ProtocolName: "MQTT", ProtocolVersion: V311, CleanStart: true, KeepAlive: 30, ClientID: "c1",
			WillFlag: true, WillQoS: 1, WillTopic: "w", WillPayload: []byte("x"),
			UsernameFlag: true, Username: "u", PasswordFlag: true, Password: []byte("p")}},
		{sub, &Subscribe{PacketID: 5, Subscriptions: []Subscription{{Filter: "a/+", QoS: 1}, {Filter: "b/#", QoS: 2}}}},
		{sa, &Suback{PacketID: 5, ReasonCodes: []ReasonCode{GrantedQoS1, UnspecifiedError}}},
		{ca, &Connack{ReasonCode: BadUserNameOrPassword}},
		{rel, &Pubrel{PacketID: 77}},
		{uns, &Unsubscribe{PacketID: 6, Filters: []string{"a/+"}}},
		{paho3.NewControlPacket(paho3.Pingreq), &Pingreq{}},
		{paho3.NewControlPacket(paho3.Disconnect), &Disconnect{}},
	}
	for _, c := range cases {
		var buf bytes.Buffer
		if err := c.theirs.Write(&buf); err != nil {
			t.Fatal(err)
		}
		theirBytes := append([]byte(nil), buf.Bytes()...)
		got, err := ReadPacket(&buf, V311, 0)
		if err != nil || !equalPackets(got, c.ours) {
			t.Fatalf("paho -> ours % X: %v\n got %#v\nwant %#v", theirBytes, err, got, c.ours)
		}
		enc, err := Append(nil, c.ours, V311)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(enc, theirBytes) {
			t.Fatalf("%T: ours % X, paho % X", c.ours, enc, theirBytes)
		}
		if _, err := paho3.ReadPacket(bytes.NewReader(enc)); err != nil {
			t.Fatalf("paho cannot read ours % X: %v", enc, err)
		}
	}
}
