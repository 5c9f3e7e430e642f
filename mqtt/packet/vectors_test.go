package packet

// One table of test vectors drives every codec test: decode(bytes) ==
// packet, Append(packet) == bytes, Size(packet) == len(bytes), the paho
// cross-checks and the fuzz seed corpus.

type vector struct {
	name    string
	version byte
	spec    string // normative ids or sections the vector exercises
	bytes   []byte
	packet  Packet
}

var (
	props5Publish = Properties{
		PayloadFormat: 1, HasPayloadFormat: true,
		MessageExpiry: 3600, HasMessageExpiry: true,
		ContentType:     "text/plain",
		ResponseTopic:   "reply/to",
		CorrelationData: []byte{0xCA, 0xFE},
		SubscriptionIDs: []uint32{1, 268435455},
		TopicAlias:      7, HasTopicAlias: true,
		User: []UserProperty{{"k", "v"}, {"k", "v2"}},
	}
	props5PublishBytes = props(
		b(0x01, 1),
		b(0x02), u32(3600),
		b(0x03), str("text/plain"),
		b(0x08), str("reply/to"),
		b(0x09), u16(2), b(0xCA, 0xFE),
		b(0x0B, 0x01),
		b(0x0B, 0xFF, 0xFF, 0xFF, 0x7F),
		b(0x23), u16(7),
		b(0x26), str("k"), str("v"),
		b(0x26), str("k"), str("v2"),
	)
)

var vectors = []vector{
	// ---- MQTT 3.1.1 -------------------------------------------------------
	{
		name: "connect minimal", version: V311, spec: "§3.1 [MQTT-3.1.2-2]",
		bytes:  pkt(0x10, str("MQTT"), b(4, 0x02), u16(60), str("")),
		packet: &Connect{ProtocolName: "MQTT", ProtocolVersion: V311, CleanStart: true, KeepAlive: 60},
	},
	{
		name: "connect will user password", version: V311, spec: "§3.1.2.5-§3.1.2.9 [MQTT-3.1.2-9] [MQTT-3.1.2-16] [MQTT-3.1.2-18]",
		bytes: pkt(0x10, str("MQTT"), b(4, 0x80|0x40|0x20|0x08|0x04), u16(0xFFFF), str("c1"),
			str("will/t"), str("bye"), str("user"), u16(3), b(0, 1, 2)),
		packet: &Connect{ProtocolName: "MQTT", ProtocolVersion: V311, KeepAlive: 0xFFFF, ClientID: "c1",
			WillFlag: true, WillQoS: 1, WillRetain: true, WillTopic: "will/t", WillPayload: []byte("bye"),
			UsernameFlag: true, Username: "user", PasswordFlag: true, Password: []byte{0, 1, 2}},
	},
	{
		name: "connack accepted session present", version: V311, spec: "§3.2.2.2 [MQTT-3.2.2-2]",
		bytes:  pkt(0x20, b(0x01, 0x00)),
		packet: &Connack{SessionPresent: true},
	},
	{name: "connack 1 unacceptable protocol", version: V311, spec: "§3.2.2.3", bytes: pkt(0x20, b(0, 1)), packet: &Connack{ReasonCode: UnsupportedProtocolVersion}},
	{name: "connack 2 identifier rejected", version: V311, spec: "§3.2.2.3", bytes: pkt(0x20, b(0, 2)), packet: &Connack{ReasonCode: ClientIdentifierNotValid}},
	{name: "connack 3 server unavailable", version: V311, spec: "§3.2.2.3", bytes: pkt(0x20, b(0, 3)), packet: &Connack{ReasonCode: ServerUnavailable}},
	{name: "connack 4 bad user name or password", version: V311, spec: "§3.2.2.3", bytes: pkt(0x20, b(0, 4)), packet: &Connack{ReasonCode: BadUserNameOrPassword}},
	{name: "connack 5 not authorized", version: V311, spec: "§3.2.2.3", bytes: pkt(0x20, b(0, 5)), packet: &Connack{ReasonCode: NotAuthorized}},
	{
		name: "publish qos0", version: V311, spec: "§3.3 [MQTT-2.3.1-5]",
		bytes:  pkt(0x30, str("a/b"), []byte("hi")),
		packet: &Publish{Topic: "a/b", Payload: []byte("hi")},
	},
	{
		name: "publish qos1 dup retain", version: V311, spec: "§3.3.1.1-§3.3.1.3",
		bytes:  pkt(0x3B, str("a/b"), u16(10), []byte{0xFF}),
		packet: &Publish{Dup: true, QoS: 1, Retain: true, Topic: "a/b", PacketID: 10, Payload: []byte{0xFF}},
	},
	{
		name: "publish qos2 empty payload", version: V311, spec: "§3.3.3",
		bytes:  pkt(0x34, str("x"), u16(0xFFFF)),
		packet: &Publish{QoS: 2, Topic: "x", PacketID: 0xFFFF},
	},
	{
		name: "publish topic keeps U+FEFF", version: V311, spec: "[MQTT-1.5.3-3]",
		bytes:  pkt(0x30, str("\uFEFFa")),
		packet: &Publish{Topic: "\uFEFFa"},
	},
	{name: "puback", version: V311, spec: "§3.4", bytes: pkt(0x40, u16(1)), packet: &Puback{PacketID: 1}},
	{name: "pubrec", version: V311, spec: "§3.5", bytes: pkt(0x50, u16(2)), packet: &Pubrec{PacketID: 2}},
	{name: "pubrel", version: V311, spec: "[MQTT-3.6.1-1]", bytes: pkt(0x62, u16(3)), packet: &Pubrel{PacketID: 3}},
	{name: "pubcomp", version: V311, spec: "§3.7", bytes: pkt(0x70, u16(4)), packet: &Pubcomp{PacketID: 4}},
	{
		name: "subscribe three filters", version: V311, spec: "[MQTT-3.8.1-1] [MQTT-3.8.3-1]",
		bytes: pkt(0x82, u16(5), str("a/+"), b(0), str("b/#"), b(1), str("c"), b(2)),
		packet: &Subscribe{PacketID: 5, Subscriptions: []Subscription{
			{Filter: "a/+"}, {Filter: "b/#", QoS: 1}, {Filter: "c", QoS: 2}}},
	},
	{
		name: "suback granted and failure", version: V311, spec: "[MQTT-3.9.3-2]",
		bytes:  pkt(0x90, u16(5), b(0, 1, 2, 0x80)),
		packet: &Suback{PacketID: 5, ReasonCodes: []ReasonCode{GrantedQoS0, GrantedQoS1, GrantedQoS2, UnspecifiedError}},
	},
	{
		name: "unsubscribe", version: V311, spec: "[MQTT-3.10.1-1]",
		bytes:  pkt(0xA2, u16(6), str("a/+"), str("b")),
		packet: &Unsubscribe{PacketID: 6, Filters: []string{"a/+", "b"}},
	},
	{name: "unsuback", version: V311, spec: "§3.11", bytes: pkt(0xB0, u16(6)), packet: &Unsuback{PacketID: 6}},
	{name: "pingreq", version: V311, spec: "§3.12", bytes: b(0xC0, 0), packet: &Pingreq{}},
	{name: "pingresp", version: V311, spec: "§3.13", bytes: b(0xD0, 0), packet: &Pingresp{}},
	{name: "disconnect", version: V311, spec: "§3.14", bytes: b(0xE0, 0), packet: &Disconnect{}},
	{
		name: "publish 200-byte payload two-byte remaining length", version: V311, spec: "§2.2.3",
		bytes:  pkt(0x30, str("t"), make([]byte, 200)),
		packet: &Publish{Topic: "t", Payload: make([]byte, 200)},
	},

	// ---- MQTT 3.1 ---------------------------------------------------------
	{
		name: "connect", version: V31, spec: "3.1 CONNECT MQIsdp level 3",
		bytes:  pkt(0x10, str("MQIsdp"), b(3, 0x02|0x80), u16(10), str("old"), str("u")),
		packet: &Connect{ProtocolName: "MQIsdp", ProtocolVersion: V31, CleanStart: true, KeepAlive: 10, ClientID: "old", UsernameFlag: true, Username: "u"},
	},
	{name: "connack", version: V31, spec: "3.1 CONNACK", bytes: pkt(0x20, b(0, 0)), packet: &Connack{}},
	{name: "connack refused", version: V31, spec: "3.1 CONNACK", bytes: pkt(0x20, b(0, 2)), packet: &Connack{ReasonCode: ClientIdentifierNotValid}},
	{name: "publish qos1", version: V31, spec: "3.1 PUBLISH", bytes: pkt(0x32, str("t"), u16(9), []byte("p")), packet: &Publish{QoS: 1, Topic: "t", PacketID: 9, Payload: []byte("p")}},
	{name: "puback", version: V31, spec: "3.1 PUBACK", bytes: pkt(0x40, u16(9)), packet: &Puback{PacketID: 9}},
	{name: "pubrec", version: V31, spec: "3.1 PUBREC", bytes: pkt(0x50, u16(9)), packet: &Pubrec{PacketID: 9}},
	{name: "pubrel", version: V31, spec: "3.1 PUBREL", bytes: pkt(0x62, u16(9)), packet: &Pubrel{PacketID: 9}},
	{name: "pubcomp", version: V31, spec: "3.1 PUBCOMP", bytes: pkt(0x70, u16(9)), packet: &Pubcomp{PacketID: 9}},
	{
		name: "subscribe", version: V31, spec: "3.1 SUBSCRIBE",
		bytes:  pkt(0x82, u16(2), str("a/#"), b(1)),
		packet: &Subscribe{PacketID: 2, Subscriptions: []Subscription{{Filter: "a/#", QoS: 1}}},
	},
	{name: "suback", version: V31, spec: "3.1 SUBACK", bytes: pkt(0x90, u16(2), b(1)), packet: &Suback{PacketID: 2, ReasonCodes: []ReasonCode{GrantedQoS1}}},
	{name: "unsubscribe", version: V31, spec: "3.1 UNSUBSCRIBE", bytes: pkt(0xA2, u16(3), str("a/#")), packet: &Unsubscribe{PacketID: 3, Filters: []string{"a/#"}}},
	{name: "unsuback", version: V31, spec: "3.1 UNSUBACK", bytes: pkt(0xB0, u16(3)), packet: &Unsuback{PacketID: 3}},
	{name: "pingreq", version: V31, spec: "3.1 PINGREQ", bytes: b(0xC0, 0), packet: &Pingreq{}},
	{name: "pingresp", version: V31, spec: "3.1 PINGRESP", bytes: b(0xD0, 0), packet: &Pingresp{}},
	{name: "disconnect", version: V31, spec: "3.1 DISCONNECT", bytes: b(0xE0, 0), packet: &Disconnect{}},

	// ---- MQTT 5.0 ---------------------------------------------------------
	{
		name: "connect all properties and will properties", version: V5, spec: "§3.1.2.11 §3.1.3.2 [MQTT-3.1.2-9] [MQTT-3.1.3-10]",
		bytes: pkt(0x10, str("MQTT"), b(5, 0x80|0x40|0x10|0x04|0x02), u16(30),
			props(
				b(0x11), u32(120),
				b(0x15), str("SCRAM-SHA-1"),
				b(0x16), u16(3), b(1, 2, 3),
				b(0x17, 0),
				b(0x19, 1),
				b(0x21), u16(20),
				b(0x22), u16(10),
				b(0x26), str("a"), str("b"),
				b(0x27), u32(1<<20),
			),
			str("client-5"),
			props(
				b(0x01, 0),
				b(0x02), u32(60),
				b(0x03), str("json"),
				b(0x08), str("resp"),
				b(0x09), u16(1), b(9),
				b(0x18), u32(5),
				b(0x26), str("w"), str("x"),
			),
			str("will/topic"), u16(2), b('o', 'k'),
			str("user"), u16(4), []byte("pass")),
		packet: &Connect{ProtocolName: "MQTT", ProtocolVersion: V5, CleanStart: true, KeepAlive: 30, ClientID: "client-5",
			Properties: Properties{
				SessionExpiry: 120, HasSessionExpiry: true,
				AuthMethod: "SCRAM-SHA-1", AuthData: []byte{1, 2, 3},
				RequestProblemInfo: 0, HasRequestProblemInfo: true,
				RequestResponseInfo: 1, HasRequestResponseInfo: true,
				ReceiveMaximum: 20, HasReceiveMaximum: true,
				TopicAliasMaximum: 10, HasTopicAliasMaximum: true,
				User:              []UserProperty{{"a", "b"}},
				MaximumPacketSize: 1 << 20, HasMaximumPacketSize: true,
			},
			WillFlag: true, WillQoS: 2,
			WillProperties: Properties{
				PayloadFormat: 0, HasPayloadFormat: true,
				MessageExpiry: 60, HasMessageExpiry: true,
				ContentType: "json", ResponseTopic: "resp", CorrelationData: []byte{9},
				WillDelay: 5, HasWillDelay: true,
				User: []UserProperty{{"w", "x"}},
			},
			WillTopic: "will/topic", WillPayload: []byte("ok"),
			UsernameFlag: true, Username: "user", PasswordFlag: true, Password: []byte("pass")},
	},
	{
		name: "connect password without user name", version: V5, spec: "§3.1.2.9 (allowed in MQTT 5)",
		bytes:  pkt(0x10, str("MQTT"), b(5, 0x40), u16(0), props(), str(""), u16(1), b('p')),
		packet: &Connect{ProtocolName: "MQTT", ProtocolVersion: V5, PasswordFlag: true, Password: []byte("p")},
	},
	{
		name: "connack all properties", version: V5, spec: "§3.2.2.3",
		bytes: pkt(0x20, b(0x00, 0x00), props(
			b(0x11), u32(0xFFFFFFFF),
			b(0x12), str("auto-1"),
			b(0x13), u16(120),
			b(0x15), str("m"),
			b(0x16), u16(0),
			b(0x1A), str("resp/info"),
			b(0x1C), str("other:1883"),
			b(0x1F), str("welcome"),
			b(0x21), u16(100),
			b(0x22), u16(5),
			b(0x24, 1),
			b(0x25, 0),
			b(0x26), str("n"), str("v"),
			b(0x27), u32(65536),
			b(0x28, 1),
			b(0x29, 0),
			b(0x2A, 1),
		)),
		packet: &Connack{Properties: Properties{
			SessionExpiry: 0xFFFFFFFF, HasSessionExpiry: true,
			AssignedClientID: "auto-1",
			ServerKeepAlive:  120, HasServerKeepAlive: true,
			AuthMethod: "m", AuthData: []byte{},
			ResponseInfo: "resp/info", ServerReference: "other:1883", ReasonString: "welcome",
			ReceiveMaximum: 100, HasReceiveMaximum: true,
			TopicAliasMaximum: 5, HasTopicAliasMaximum: true,
			MaximumQoS: 1, HasMaximumQoS: true,
			RetainAvailable: 0, HasRetainAvailable: true,
			User:              []UserProperty{{"n", "v"}},
			MaximumPacketSize: 65536, HasMaximumPacketSize: true,
			WildcardSubAvailable: 1, HasWildcardSubAvailable: true,
			SubIDAvailable: 0, HasSubIDAvailable: true,
			SharedSubAvailable: 1, HasSharedSubAvailable: true,
		}},
	},
	{
		name: "connack refused with server reference", version: V5, spec: "§3.2.2.2 [MQTT-3.2.2-6]",
		bytes:  pkt(0x20, b(0x00, 0x9C), props(b(0x1C), str("b:1883"))),
		packet: &Connack{ReasonCode: UseAnotherServer, Properties: Properties{ServerReference: "b:1883"}},
	},
	{
		name: "connack session present no properties", version: V5, spec: "§3.2.2.1.1",
		bytes:  pkt(0x20, b(0x01, 0x00), props()),
		packet: &Connack{SessionPresent: true},
	},
	{
		name: "publish all properties", version: V5, spec: "§3.3.2.3 [MQTT-3.3.2-18]",
		bytes:  pkt(0x35, str("s/t"), u16(77), props5PublishBytes, []byte("payload")),
		packet: &Publish{QoS: 2, Retain: true, Topic: "s/t", PacketID: 77, Properties: props5Publish, Payload: []byte("payload")},
	},
	{
		name: "publish empty topic with alias", version: V5, spec: "§3.3.2.3.4",
		bytes:  pkt(0x30, str(""), props(b(0x23), u16(1)), []byte("x")),
		packet: &Publish{Properties: Properties{TopicAlias: 1, HasTopicAlias: true}, Payload: []byte("x")},
	},
	{
		name: "publish qos0 no properties", version: V5, spec: "§3.3.2.3.1",
		bytes:  pkt(0x30, str("t"), props()),
		packet: &Publish{Topic: "t"},
	},
	{name: "puback short form", version: V5, spec: "[MQTT-3.4.2-1] §3.4.2.1", bytes: pkt(0x40, u16(1)), packet: &Puback{PacketID: 1}},
	{name: "puback reason only", version: V5, spec: "§3.4.2.2.1", bytes: pkt(0x40, u16(1), b(0x10)), packet: &Puback{PacketID: 1, ReasonCode: NoMatchingSubscribers}},
	{
		name: "puback reason and properties", version: V5, spec: "§3.4.2.2",
		bytes:  pkt(0x40, u16(1), b(0x87), props(b(0x1F), str("no"), b(0x26), str("k"), str("v"))),
		packet: &Puback{PacketID: 1, ReasonCode: NotAuthorized, Properties: Properties{ReasonString: "no", User: []UserProperty{{"k", "v"}}}},
	},
	{
		name: "puback success with properties", version: V5, spec: "§3.4.2.2",
		bytes:  pkt(0x40, u16(2), b(0x00), props(b(0x1F), str("ok"))),
		packet: &Puback{PacketID: 2, Properties: Properties{ReasonString: "ok"}},
	},
	{name: "pubrec short form", version: V5, spec: "§3.5.2.1", bytes: pkt(0x50, u16(3)), packet: &Pubrec{PacketID: 3}},
	{name: "pubrec quota exceeded", version: V5, spec: "§3.5.2.1", bytes: pkt(0x50, u16(3), b(0x97)), packet: &Pubrec{PacketID: 3, ReasonCode: QuotaExceeded}},
	{name: "pubrel short form", version: V5, spec: "[MQTT-3.6.1-1] §3.6.2.1", bytes: pkt(0x62, u16(4)), packet: &Pubrel{PacketID: 4}},
	{
		name: "pubrel not found with reason string", version: V5, spec: "§3.6.2.1",
		bytes:  pkt(0x62, u16(4), b(0x92), props(b(0x1F), str("gone"))),
		packet: &Pubrel{PacketID: 4, ReasonCode: PacketIdentifierNotFound, Properties: Properties{ReasonString: "gone"}},
	},
	{name: "pubcomp short form", version: V5, spec: "§3.7.2.1", bytes: pkt(0x70, u16(5)), packet: &Pubcomp{PacketID: 5}},
	{name: "pubcomp not found", version: V5, spec: "§3.7.2.1", bytes: pkt(0x70, u16(5), b(0x92)), packet: &Pubcomp{PacketID: 5, ReasonCode: PacketIdentifierNotFound}},
	{
		name: "subscribe options and subscription identifier", version: V5, spec: "[MQTT-3.8.1-1] §3.8.3.1",
		bytes: pkt(0x82, u16(8), props(b(0x0B, 0x80, 0x01), b(0x26), str("s"), str("t")),
			str("a/#"), b(0x02|0x04|0x08|0x20), str("$share/g/b"), b(0x11)),
		packet: &Subscribe{PacketID: 8,
			Properties: Properties{SubscriptionIDs: []uint32{128}, User: []UserProperty{{"s", "t"}}},
			Subscriptions: []Subscription{
				{Filter: "a/#", QoS: 2, NoLocal: true, RetainAsPublished: true, RetainHandling: 2},
				{Filter: "$share/g/b", QoS: 1, RetainHandling: 1},
			}},
	},
	{
		name: "suback reason codes", version: V5, spec: "§3.9.3",
		bytes: pkt(0x90, u16(8), props(b(0x1F), str("partly")), b(0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2)),
		packet: &Suback{PacketID: 8, Properties: Properties{ReasonString: "partly"}, ReasonCodes: []ReasonCode{
			GrantedQoS0, GrantedQoS1, GrantedQoS2, UnspecifiedError, ImplementationSpecificError, NotAuthorized,
			TopicFilterInvalid, PacketIdentifierInUse, QuotaExceeded, SharedSubscriptionsNotSupported,
			SubscriptionIdentifiersNotSupported, WildcardSubscriptionsNotSupported}},
	},
	{
		name: "unsubscribe with user property", version: V5, spec: "[MQTT-3.10.1-1] §3.10.2.1",
		bytes:  pkt(0xA2, u16(9), props(b(0x26), str("u"), str("")), str("a/#")),
		packet: &Unsubscribe{PacketID: 9, Properties: Properties{User: []UserProperty{{"u", ""}}}, Filters: []string{"a/#"}},
	},
	{
		name: "unsuback reason codes", version: V5, spec: "§3.11.3",
		bytes:  pkt(0xB0, u16(9), props(), b(0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91)),
		packet: &Unsuback{PacketID: 9, ReasonCodes: []ReasonCode{Success, NoSubscriptionExisted, UnspecifiedError, ImplementationSpecificError, NotAuthorized, TopicFilterInvalid, PacketIdentifierInUse}},
	},
	{name: "pingreq", version: V5, spec: "§3.12", bytes: b(0xC0, 0), packet: &Pingreq{}},
	{name: "pingresp", version: V5, spec: "§3.13", bytes: b(0xD0, 0), packet: &Pingresp{}},
	{name: "disconnect short form", version: V5, spec: "§3.14.2.1", bytes: b(0xE0, 0), packet: &Disconnect{}},
	{name: "disconnect reason only", version: V5, spec: "§3.14.2.2.1", bytes: b(0xE0, 1, 0x04), packet: &Disconnect{ReasonCode: DisconnectWithWill}},
	{
		name: "disconnect all properties", version: V5, spec: "§3.14.2.2",
		bytes:  pkt(0xE0, b(0x9C), props(b(0x11), u32(0), b(0x1C), str("s2"), b(0x1F), str("move"), b(0x26), str("a"), str("b"))),
		packet: &Disconnect{ReasonCode: UseAnotherServer, Properties: Properties{SessionExpiry: 0, HasSessionExpiry: true, ServerReference: "s2", ReasonString: "move", User: []UserProperty{{"a", "b"}}}},
	},
	{name: "auth short form", version: V5, spec: "§3.15.2.1", bytes: b(0xF0, 0), packet: &Auth{}},
	{
		name: "auth continue", version: V5, spec: "§3.15.2.2",
		bytes:  pkt(0xF0, b(0x18), props(b(0x15), str("SCRAM"), b(0x16), u16(2), b(7, 8), b(0x1F), str("step"), b(0x26), str("k"), str("v"))),
		packet: &Auth{ReasonCode: ContinueAuthentication, Properties: Properties{AuthMethod: "SCRAM", AuthData: []byte{7, 8}, ReasonString: "step", User: []UserProperty{{"k", "v"}}}},
	},
	{
		name: "auth re-authenticate no properties", version: V5, spec: "§3.15.2.1",
		bytes:  pkt(0xF0, b(0x19), props()),
		packet: &Auth{ReasonCode: ReAuthenticate},
	},
}

// decodeOnly vectors are valid input whose re-encoding differs (a shorter
// form, a value 3.x cannot express) so they are checked one way only.
var decodeOnly = []vector{
	{name: "puback success with empty properties", version: V5, spec: "§3.4.2.2.1", bytes: pkt(0x40, u16(1), b(0), props()), packet: &Puback{PacketID: 1}},
	{name: "disconnect normal with empty properties", version: V5, spec: "§3.14.2.2.1", bytes: pkt(0xE0, b(0), props()), packet: &Disconnect{}},
	{name: "auth reason code without property length", version: V5, spec: "§3.15.2.1", bytes: pkt(0xF0, b(0x18)), packet: &Auth{ReasonCode: ContinueAuthentication}},
	{name: "connack 3.1 ignores reserved byte", version: V31, spec: "3.1 CONNACK", bytes: pkt(0x20, b(0xFF, 0)), packet: &Connack{}},
	{name: "subscribe 3.1 tolerates DUP flag", version: V31, spec: "3.1 fixed header", bytes: pkt(0x8A, u16(1), str("a"), b(0)), packet: &Subscribe{PacketID: 1, Subscriptions: []Subscription{{Filter: "a"}}}},
	{name: "non-minimal remaining length", version: V311, spec: "§2.2.3", bytes: b(0x40, 0x82, 0x00, 0, 1), packet: &Puback{PacketID: 1}},
	{name: "surrogate-free 4-byte UTF-8", version: V311, spec: "[MQTT-1.5.3-1]", bytes: pkt(0x30, str("\U0001F600")), packet: &Publish{Topic: "\U0001F600"}},
}

// encodeOnly vectors check what Append writes where decoding gives a
// different (normalised) packet.
var encodeOnly = []vector{
	{name: "suback 3.x writes failures as 0x80", version: V311, spec: "§3.9.3", bytes: pkt(0x90, u16(1), b(0x80, 0x80, 1)),
		packet: &Suback{PacketID: 1, ReasonCodes: []ReasonCode{NotAuthorized, QuotaExceeded, GrantedQoS1}}},
	{name: "connack 3.x maps Banned to 5", version: V311, spec: "§3.2.2.3", bytes: pkt(0x20, b(0, 5)), packet: &Connack{ReasonCode: Banned}},
	{name: "connack 3.x maps ServerBusy to 3", version: V311, spec: "§3.2.2.3", bytes: pkt(0x20, b(0, 3)), packet: &Connack{ReasonCode: ServerBusy}},
	{name: "connack 3.1 drops session present", version: V31, spec: "3.1 CONNACK", bytes: pkt(0x20, b(0, 0)), packet: &Connack{SessionPresent: true}},
	{name: "publish 3.x drops properties", version: V311, spec: "§3.3", bytes: pkt(0x30, str("t")), packet: &Publish{Topic: "t", Properties: Properties{ContentType: "x"}}},
	{name: "puback 3.x drops reason code", version: V311, spec: "§3.4", bytes: pkt(0x40, u16(1)), packet: &Puback{PacketID: 1, ReasonCode: QuotaExceeded}},
	{name: "disconnect 3.x drops reason code", version: V311, spec: "§3.14", bytes: b(0xE0, 0), packet: &Disconnect{ReasonCode: ServerShuttingDown}},
	{name: "subscribe 3.x drops MQTT 5 options", version: V311, spec: "§3.8.3", bytes: pkt(0x82, u16(1), str("a"), b(1)),
		packet: &Subscribe{PacketID: 1, Subscriptions: []Subscription{{Filter: "a", QoS: 1, NoLocal: true, RetainHandling: 1}}}},
	{name: "connect derives protocol name and flags", version: V5, spec: "§3.1.2", bytes: pkt(0x10, str("MQTT"), b(5, 0xC0), u16(0), props(), str("c"), str("u"), u16(1), b('p')),
		packet: &Connect{ClientID: "c", Username: "u", Password: []byte("p")}},
	{name: "connect 3.1 from connection version", version: V31, spec: "3.1 CONNECT", bytes: pkt(0x10, str("MQIsdp"), b(3, 0), u16(0), str("c")),
		packet: &Connect{ClientID: "c"}},
}

// invalid is the table of bad input: each must fail to decode with the
// given reason code.
type invalidVector struct {
	name    string
	version byte
	spec    string
	bytes   []byte
	code    ReasonCode
}

var invalid = []invalidVector{
	// Fixed header.
	{"reserved type 0", V311, "§2.1.2", b(0x00, 0), MalformedPacket},
	{"five-byte remaining length", V5, "§1.5.5 [MQTT-1.5.5-1]", b(0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01), MalformedPacket},
	{"AUTH before MQTT 5", V311, "§2.1.2 (reserved)", b(0xF0, 0), MalformedPacket},
	{"PUBREL flags 0", V311, "[MQTT-3.6.1-1]", pkt(0x60, u16(1)), MalformedPacket},
	{"SUBSCRIBE flags 0", V311, "[MQTT-3.8.1-1]", pkt(0x80, u16(1), str("a"), b(0)), MalformedPacket},
	{"UNSUBSCRIBE flags 0", V5, "[MQTT-3.10.1-1]", pkt(0xA0, u16(1), props(), str("a")), MalformedPacket},
	{"PUBACK flags 1", V311, "[MQTT-2.2.2-1] [MQTT-2.2.2-2]", pkt(0x41, u16(1)), MalformedPacket},
	{"PINGREQ flags 8", V5, "[MQTT-2.1.3-1]", b(0xC8, 0), MalformedPacket},
	{"CONNECT flags 2", V311, "[MQTT-2.2.2-1]", pkt(0x12, str("MQTT"), b(4, 2), u16(0), str("")), MalformedPacket},
	{"PUBLISH QoS 3", V311, "[MQTT-3.3.1-4]", pkt(0x36, str("t"), u16(1)), MalformedPacket},
	{"PUBLISH DUP with QoS 0", V5, "[MQTT-3.3.1-2]", pkt(0x38, str("t"), props()), MalformedPacket},
	// Primitive types.
	{"topic ill-formed UTF-8", V311, "[MQTT-1.5.3-1]", pkt(0x30, u16(2), b(0xC3, 0x28)), MalformedPacket},
	{"topic encodes a surrogate", V5, "[MQTT-1.5.4-1]", pkt(0x30, u16(3), b(0xED, 0xA0, 0x80), props()), MalformedPacket},
	{"topic overlong encoding", V5, "[MQTT-1.5.4-1]", pkt(0x30, u16(2), b(0xC0, 0xAF), props()), MalformedPacket},
	{"topic contains U+0000", V311, "[MQTT-1.5.3-2] [MQTT-1.5.4-2]", pkt(0x30, u16(3), b('a', 0, 'b')), MalformedPacket},
	{"string longer than packet", V311, "§1.5.3", pkt(0x30, u16(10), b('a')), MalformedPacket},
	{"packet id truncated", V311, "§2.3.1", pkt(0x40, b(1)), MalformedPacket},
	{"empty publish body", V311, "§3.3.2", b(0x30, 0), MalformedPacket},
	// PUBLISH.
	{"publish QoS 1 packet id 0", V311, "[MQTT-2.3.1-1]", pkt(0x32, str("t"), u16(0)), ProtocolError},
	{"publish QoS 2 packet id 0", V5, "[MQTT-2.2.1-3]", pkt(0x34, str("t"), u16(0), props()), ProtocolError},
	{"publish property not allowed", V5, "§2.2.2.2", pkt(0x30, str("t"), props(b(0x11), u32(1))), MalformedPacket},
	{"publish unknown property", V5, "§2.2.2.2", pkt(0x30, str("t"), props(b(0x7F, 0))), MalformedPacket},
	{"publish duplicate message expiry", V5, "§3.3.2.3.3", pkt(0x30, str("t"), props(b(0x02), u32(1), b(0x02), u32(2))), ProtocolError},
	{"publish duplicate content type", V5, "§3.3.2.3.9", pkt(0x30, str("t"), props(b(0x03), str("a"), b(0x03), str("b"))), ProtocolError},
	{"publish subscription identifier 0", V5, "§3.3.2.3.8", pkt(0x30, str("t"), props(b(0x0B, 0))), ProtocolError},
	{"publish topic alias 0", V5, "[MQTT-3.3.2-8]", pkt(0x30, str("t"), props(b(0x23), u16(0))), TopicAliasInvalid},
	{"publish payload format 2", V5, "§3.3.2.3.2", pkt(0x30, str("t"), props(b(0x01, 2))), ProtocolError},
	{"publish response topic with #", V5, "[MQTT-3.3.2-14]", pkt(0x30, str("t"), props(b(0x08), str("reply/#"))), ProtocolError},
	{"publish response topic with +", V5, "[MQTT-3.3.2-14]", pkt(0x30, str("t"), props(b(0x08), str("a/+/b"))), ProtocolError},
	{"publish property length beyond packet", V5, "§2.2.2.1", pkt(0x30, str("t"), b(10, 0x01)), MalformedPacket},
	{"publish property value truncated", V5, "§2.2.2", pkt(0x30, str("t"), props(b(0x02, 0, 0))), MalformedPacket},
	{"publish property length five bytes", V5, "[MQTT-1.5.5-1]", pkt(0x30, str("t"), b(0x80, 0x80, 0x80, 0x80, 0x01)), MalformedPacket},
	{"publish user property value invalid UTF-8", V5, "[MQTT-1.5.7-1]", pkt(0x30, str("t"), props(b(0x26), str("k"), u16(1), b(0xFF))), MalformedPacket},
	{"publish correlation data truncated", V5, "§1.5.6", pkt(0x30, str("t"), props(b(0x09), u16(5), b(1))), MalformedPacket},
	// CONNECT.
	{"connect reserved flag", V311, "[MQTT-3.1.2-3]", pkt(0x10, str("MQTT"), b(4, 0x03), u16(0), str("c")), MalformedPacket},
	{"connect will QoS 3", V311, "[MQTT-3.1.2-14]", pkt(0x10, str("MQTT"), b(4, 0x1C), u16(0), str("c"), str("w"), str("p")), MalformedPacket},
	{"connect will QoS without will flag", V311, "[MQTT-3.1.2-13]", pkt(0x10, str("MQTT"), b(4, 0x08), u16(0), str("c")), MalformedPacket},
	{"connect will retain without will flag", V5, "[MQTT-3.1.2-13] (5.0) [MQTT-3.1.2-15] (3.1.1)", pkt(0x10, str("MQTT"), b(5, 0x20), u16(0), props(), str("c")), MalformedPacket},
	{"connect will QoS 3 v5", V5, "[MQTT-3.1.2-12]", pkt(0x10, str("MQTT"), b(5, 0x1C), u16(0), props(), str("c"), props(), str("w"), str("p")), MalformedPacket},
	{"connect password without user name", V311, "[MQTT-3.1.2-22]", pkt(0x10, str("MQTT"), b(4, 0x40), u16(0), str("c"), str("p")), MalformedPacket},
	{"connect password without user name 3.1", V31, "[MQTT-3.1.2-22]", pkt(0x10, str("MQIsdp"), b(3, 0x40), u16(0), str("c"), str("p")), MalformedPacket},
	{"connect unknown protocol name", V311, "[MQTT-3.1.2-1]", pkt(0x10, str("MQTX"), b(4, 0), u16(0), str("c")), UnsupportedProtocolVersion},
	{"connect unknown level", V5, "[MQTT-3.1.2-2]", pkt(0x10, str("MQTT"), b(6, 0), u16(0), str("c")), UnsupportedProtocolVersion},
	{"connect MQIsdp with level 4", V311, "[MQTT-3.1.2-2]", pkt(0x10, str("MQIsdp"), b(4, 0), u16(0), str("c")), UnsupportedProtocolVersion},
	{"connect MQTT with level 3", V311, "[MQTT-3.1.2-2]", pkt(0x10, str("MQTT"), b(3, 0), u16(0), str("c")), UnsupportedProtocolVersion},
	{"connect trailing byte", V311, "§3.1.3", pkt(0x10, str("MQTT"), b(4, 0), u16(0), str("c"), b(0)), MalformedPacket},
	{"connect missing password", V311, "§3.1.3.5", pkt(0x10, str("MQTT"), b(4, 0xC0), u16(0), str("c"), str("u")), MalformedPacket},
	{"connect missing will", V311, "§3.1.3.2", pkt(0x10, str("MQTT"), b(4, 0x04), u16(0), str("c")), MalformedPacket},
	{"connect client id invalid UTF-8", V311, "[MQTT-1.5.3-1]", pkt(0x10, str("MQTT"), b(4, 0), u16(0), u16(1), b(0x80)), MalformedPacket},
	{"connect request problem info 2", V5, "§3.1.2.11.7", pkt(0x10, str("MQTT"), b(5, 0), u16(0), props(b(0x17, 2)), str("c")), ProtocolError},
	{"connect request response info 2", V5, "§3.1.2.11.6", pkt(0x10, str("MQTT"), b(5, 0), u16(0), props(b(0x19, 2)), str("c")), ProtocolError},
	{"connect receive maximum 0", V5, "§3.1.2.11.3", pkt(0x10, str("MQTT"), b(5, 0), u16(0), props(b(0x21), u16(0)), str("c")), ProtocolError},
	{"connect maximum packet size 0", V5, "§3.1.2.11.4", pkt(0x10, str("MQTT"), b(5, 0), u16(0), props(b(0x27), u32(0)), str("c")), ProtocolError},
	{"connect duplicate session expiry", V5, "§3.1.2.11.2", pkt(0x10, str("MQTT"), b(5, 0), u16(0), props(b(0x11), u32(0), b(0x11), u32(0)), str("c")), ProtocolError},
	{"connect authentication data without method", V5, "§3.1.2.11.10", pkt(0x10, str("MQTT"), b(5, 0), u16(0), props(b(0x16), u16(0)), str("c")), ProtocolError},
	{"connect topic alias property", V5, "§2.2.2.2", pkt(0x10, str("MQTT"), b(5, 0), u16(0), props(b(0x23), u16(1)), str("c")), MalformedPacket},
	{"connect will property not allowed", V5, "§3.1.3.2", pkt(0x10, str("MQTT"), b(5, 0x04), u16(0), props(), str("c"), props(b(0x11), u32(1)), str("w"), str("p")), MalformedPacket},
	{"connect will delay in connect properties", V5, "§2.2.2.2", pkt(0x10, str("MQTT"), b(5, 0), u16(0), props(b(0x18), u32(1)), str("c")), MalformedPacket},
	// CONNACK.
	{"connack return code 6", V311, "§3.2.2.3", pkt(0x20, b(0, 6)), MalformedPacket},
	{"connack reserved flags", V311, "§3.2.2.1", pkt(0x20, b(2, 0)), MalformedPacket},
	{"connack session present with refusal", V311, "[MQTT-3.2.2-4]", pkt(0x20, b(1, 5)), ProtocolError},
	{"connack too long", V311, "§3.2", pkt(0x20, b(0, 0, 0)), MalformedPacket},
	{"connack too short", V311, "§3.2", pkt(0x20, b(0)), MalformedPacket},
	{"connack v5 reserved flags", V5, "[MQTT-3.2.2-1]", pkt(0x20, b(0x80, 0), props()), MalformedPacket},
	{"connack v5 session present with refusal", V5, "[MQTT-3.2.2-6]", pkt(0x20, b(1, 0x87), props()), ProtocolError},
	{"connack v5 reason code not for CONNACK", V5, "§3.2.2.2", pkt(0x20, b(0, 0x10), props()), MalformedPacket},
	{"connack v5 maximum QoS 2", V5, "§3.2.2.3.4", pkt(0x20, b(0, 0), props(b(0x24, 2))), ProtocolError},
	{"connack v5 retain available 2", V5, "§3.2.2.3.5", pkt(0x20, b(0, 0), props(b(0x25, 2))), ProtocolError},
	{"connack v5 shared sub available 3", V5, "§3.2.2.3.14", pkt(0x20, b(0, 0), props(b(0x2A, 3))), ProtocolError},
	{"connack v5 missing properties", V5, "§3.2.2.3", pkt(0x20, b(0, 0)), MalformedPacket},
	// Acknowledgements.
	{"puback 3.x too long", V311, "§3.4", pkt(0x40, u16(1), b(0)), MalformedPacket},
	{"puback packet id 0", V311, "[MQTT-2.3.1-1]", pkt(0x40, u16(0)), ProtocolError},
	{"puback v5 reason not for PUBACK", V5, "§3.4.2.1", pkt(0x40, u16(1), b(0x01)), MalformedPacket},
	{"pubrel v5 reason not for PUBREL", V5, "§3.6.2.1", pkt(0x62, u16(1), b(0x10)), MalformedPacket},
	{"pubcomp v5 property not allowed", V5, "§3.7.2.2", pkt(0x70, u16(1), b(0), props(b(0x11), u32(1))), MalformedPacket},
	{"pubrec v5 duplicate reason string", V5, "§3.5.2.2.2", pkt(0x50, u16(1), b(0), props(b(0x1F), str("a"), b(0x1F), str("b"))), ProtocolError},
	{"puback v5 trailing byte", V5, "§3.4.2", pkt(0x40, u16(1), b(0), props(), b(0)), MalformedPacket},
	// SUBSCRIBE / SUBACK.
	{"subscribe no filters", V311, "[MQTT-3.8.3-3]", pkt(0x82, u16(1)), ProtocolError},
	{"subscribe v5 no filters", V5, "[MQTT-3.8.3-3]", pkt(0x82, u16(1), props()), ProtocolError},
	{"subscribe packet id 0", V311, "[MQTT-2.3.1-1]", pkt(0x82, u16(0), str("a"), b(0)), ProtocolError},
	{"subscribe 3.x reserved option bits", V311, "[MQTT-3-8.3-4]", pkt(0x82, u16(1), str("a"), b(0x04)), MalformedPacket},
	{"subscribe QoS 3", V311, "[MQTT-3-8.3-4]", pkt(0x82, u16(1), str("a"), b(3)), MalformedPacket},
	{"subscribe v5 reserved option bits", V5, "[MQTT-3.8.3-5]", pkt(0x82, u16(1), props(), str("a"), b(0x40)), MalformedPacket},
	{"subscribe v5 QoS 3", V5, "§3.8.3.1", pkt(0x82, u16(1), props(), str("a"), b(0x03)), MalformedPacket},
	{"subscribe v5 retain handling 3", V5, "§3.8.3.1", pkt(0x82, u16(1), props(), str("a"), b(0x30)), ProtocolError},
	{"subscribe v5 two subscription identifiers", V5, "§3.8.2.1.2", pkt(0x82, u16(1), props(b(0x0B, 1, 0x0B, 2)), str("a"), b(0)), ProtocolError},
	{"subscribe v5 subscription identifier 0", V5, "§3.8.2.1.2", pkt(0x82, u16(1), props(b(0x0B, 0)), str("a"), b(0)), ProtocolError},
	{"subscribe missing options byte", V311, "§3.8.3", pkt(0x82, u16(1), str("a")), MalformedPacket},
	{"subscribe filter invalid UTF-8", V311, "[MQTT-3.8.3-1]", pkt(0x82, u16(1), u16(1), b(0xFE), b(0)), MalformedPacket},
	{"suback 3.x code 3", V311, "[MQTT-3.9.3-2]", pkt(0x90, u16(1), b(3)), MalformedPacket},
	{"suback 3.x code 0x87", V311, "[MQTT-3.9.3-2]", pkt(0x90, u16(1), b(0x87)), MalformedPacket},
	{"suback v5 code 0x04", V5, "§3.9.3", pkt(0x90, u16(1), props(), b(0x04)), MalformedPacket},
	{"suback no codes", V311, "§3.9.3", pkt(0x90, u16(1)), ProtocolError},
	// UNSUBSCRIBE / UNSUBACK.
	{"unsubscribe no filters", V311, "[MQTT-3.10.3-2]", pkt(0xA2, u16(1)), ProtocolError},
	{"unsubscribe v5 no filters", V5, "[MQTT-3.10.3-2]", pkt(0xA2, u16(1), props()), ProtocolError},
	{"unsubscribe v5 subscription identifier", V5, "§2.2.2.2", pkt(0xA2, u16(1), props(b(0x0B, 1)), str("a")), MalformedPacket},
	{"unsuback 3.x too long", V311, "§3.11", pkt(0xB0, u16(1), b(0)), MalformedPacket},
	{"unsuback v5 no codes", V5, "§3.11.3", pkt(0xB0, u16(1), props()), ProtocolError},
	{"unsuback v5 code 0x10", V5, "§3.11.3", pkt(0xB0, u16(1), props(), b(0x10)), MalformedPacket},
	// PINGREQ, PINGRESP, DISCONNECT, AUTH.
	{"pingreq with body", V311, "§3.12", pkt(0xC0, b(0)), MalformedPacket},
	{"pingresp with body", V5, "§3.13", pkt(0xD0, b(0)), MalformedPacket},
	{"disconnect 3.x with body", V311, "§3.14", pkt(0xE0, b(0)), MalformedPacket},
	{"disconnect v5 reason not for DISCONNECT", V5, "§3.14.2.1", pkt(0xE0, b(0x05)), MalformedPacket},
	{"disconnect v5 duplicate session expiry", V5, "§3.14.2.2.2", pkt(0xE0, b(0), props(b(0x11), u32(1), b(0x11), u32(2))), ProtocolError},
	{"disconnect v5 property not allowed", V5, "§3.14.2.2", pkt(0xE0, b(0), props(b(0x21), u16(1))), MalformedPacket},
	{"auth reason not for AUTH", V5, "§3.15.2.1", pkt(0xF0, b(0x01), props()), MalformedPacket},
	{"auth data without method", V5, "§3.15.2.2.3", pkt(0xF0, b(0x18), props(b(0x16), u16(0))), ProtocolError},
	{"auth duplicate method", V5, "§3.15.2.2.2", pkt(0xF0, b(0x18), props(b(0x15), str("a"), b(0x15), str("a"))), ProtocolError},
}
