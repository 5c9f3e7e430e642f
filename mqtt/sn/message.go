package sn

// MsgType is the MsgType field of an MQTT-SN message [MQTT-SN 5.2.2].
type MsgType byte

// Message types [MQTT-SN 5.2.2, Table 3]. 0x03, 0x11, 0x19 and 0x1E–0xFD are reserved.
const (
	ADVERTISE     MsgType = 0x00
	SEARCHGW      MsgType = 0x01
	GWINFO        MsgType = 0x02
	CONNECT       MsgType = 0x04
	CONNACK       MsgType = 0x05
	WILLTOPICREQ  MsgType = 0x06
	WILLTOPIC     MsgType = 0x07
	WILLMSGREQ    MsgType = 0x08
	WILLMSG       MsgType = 0x09
	REGISTER      MsgType = 0x0A
	REGACK        MsgType = 0x0B
	PUBLISH       MsgType = 0x0C
	PUBACK        MsgType = 0x0D
	PUBCOMP       MsgType = 0x0E
	PUBREC        MsgType = 0x0F
	PUBREL        MsgType = 0x10
	SUBSCRIBE     MsgType = 0x12
	SUBACK        MsgType = 0x13
	UNSUBSCRIBE   MsgType = 0x14
	UNSUBACK      MsgType = 0x15
	PINGREQ       MsgType = 0x16
	PINGRESP      MsgType = 0x17
	DISCONNECT    MsgType = 0x18
	WILLTOPICUPD  MsgType = 0x1A
	WILLTOPICRESP MsgType = 0x1B
	WILLMSGUPD    MsgType = 0x1C
	WILLMSGRESP   MsgType = 0x1D
	// ENCAPSULATED is the Forwarder Encapsulation frame [MQTT-SN 5.5].
	ENCAPSULATED MsgType = 0xFE
)

var typeNames = map[MsgType]string{
	ADVERTISE: "ADVERTISE", SEARCHGW: "SEARCHGW", GWINFO: "GWINFO", CONNECT: "CONNECT", CONNACK: "CONNACK",
	WILLTOPICREQ: "WILLTOPICREQ", WILLTOPIC: "WILLTOPIC", WILLMSGREQ: "WILLMSGREQ", WILLMSG: "WILLMSG",
	REGISTER: "REGISTER", REGACK: "REGACK", PUBLISH: "PUBLISH", PUBACK: "PUBACK", PUBCOMP: "PUBCOMP",
	PUBREC: "PUBREC", PUBREL: "PUBREL", SUBSCRIBE: "SUBSCRIBE", SUBACK: "SUBACK", UNSUBSCRIBE: "UNSUBSCRIBE",
	UNSUBACK: "UNSUBACK", PINGREQ: "PINGREQ", PINGRESP: "PINGRESP", DISCONNECT: "DISCONNECT",
	WILLTOPICUPD: "WILLTOPICUPD", WILLTOPICRESP: "WILLTOPICRESP", WILLMSGUPD: "WILLMSGUPD",
	WILLMSGRESP: "WILLMSGRESP", ENCAPSULATED: "ENCAPSULATED",
}

// String is the spec's name of the type, or "RESERVED(0xNN)".
func (t MsgType) String() string {
	if s, ok := typeNames[t]; ok {
		return s
	}
	return "RESERVED(0x" + hex2(byte(t)) + ")"
}

func hex2(b byte) string {
	const digits = "0123456789ABCDEF"
	return string([]byte{digits[b>>4], digits[b&15]})
}

// ReturnCode is the ReturnCode field of CONNACK, REGACK, PUBACK, SUBACK, WILLTOPICRESP and
// WILLMSGRESP [MQTT-SN 5.3.10, Table 5]. Values from 0x04 are reserved.
type ReturnCode byte

// Return codes [MQTT-SN 5.3.10].
const (
	Accepted               ReturnCode = 0x00
	RejectedCongestion     ReturnCode = 0x01
	RejectedInvalidTopicID ReturnCode = 0x02
	RejectedNotSupported   ReturnCode = 0x03
)

// String is the spec's wording: "accepted", "rejected: congestion", ...
func (r ReturnCode) String() string {
	switch r {
	case Accepted:
		return "accepted"
	case RejectedCongestion:
		return "rejected: congestion"
	case RejectedInvalidTopicID:
		return "rejected: invalid topic ID"
	case RejectedNotSupported:
		return "rejected: not supported"
	}
	return "reserved return code 0x" + hex2(byte(r))
}

// Error makes a rejection usable as an error (errors.As(err, new(ReturnCode))).
func (r ReturnCode) Error() string { return "mqtt-sn: " + r.String() }

// QoS is a quality-of-service level: 0, 1, 2, or QoSMinus1, the "publish without a
// connection" level of MQTT-SN, coded 0b11 in the Flags field [MQTT-SN 5.3.4, 6.8].
type QoS int8

// QoS levels.
const (
	QoS0      QoS = 0
	QoS1      QoS = 1
	QoS2      QoS = 2
	QoSMinus1 QoS = -1
)

// TopicIDType is the TopicIdType field of the Flags [MQTT-SN 5.3.4]: how the topic of a
// PUBLISH, SUBSCRIBE or UNSUBSCRIBE is given.
type TopicIDType byte

// Topic id types [MQTT-SN 5.3.4]. 0b11 is reserved.
const (
	// TopicNormal: a topic id registered with REGISTER (PUBLISH), or a topic name
	// (SUBSCRIBE, UNSUBSCRIBE).
	TopicNormal TopicIDType = 0
	// TopicPredefined: a topic id both sides know in advance [MQTT-SN 6.7].
	TopicPredefined TopicIDType = 1
	// TopicShort: a two-character topic name carried in the TopicId field [MQTT-SN 6.7].
	TopicShort TopicIDType = 2
	// TopicReserved is the reserved value 0b11; gateways answer it with RejectedNotSupported.
	TopicReserved TopicIDType = 3
)

// String names the type: "normal", "predefined", "short" or "reserved".
func (t TopicIDType) String() string {
	switch t {
	case TopicNormal:
		return "normal"
	case TopicPredefined:
		return "predefined"
	case TopicShort:
		return "short"
	}
	return "reserved"
}

// ShortTopicID packs a two-byte short topic name into a TopicId [MQTT-SN 6.7]; ok is false
// unless name is exactly two bytes.
func ShortTopicID(name string) (id uint16, ok bool) {
	if len(name) != 2 {
		return 0, false
	}
	return uint16(name[0])<<8 | uint16(name[1]), true
}

// ShortTopicName is the two-byte topic name packed in a TopicId.
func ShortTopicName(id uint16) string { return string([]byte{byte(id >> 8), byte(id)}) }

// Message is any MQTT-SN message: one of the pointer types below.
type Message interface {
	Type() MsgType
}

// Advertise is ADVERTISE [MQTT-SN 5.4.1]: a gateway announces itself; Duration is the time
// in seconds until its next ADVERTISE.
type Advertise struct {
	GwID     byte
	Duration uint16
}

// SearchGW is SEARCHGW [MQTT-SN 5.4.2]: a client looks for a gateway within Radius hops.
type SearchGW struct {
	Radius byte
}

// GWInfo is GWINFO [MQTT-SN 5.4.3], the answer to SEARCHGW. GwAdd is present only when a
// client answers on behalf of a gateway; a gateway sends it empty.
type GWInfo struct {
	GwID  byte
	GwAdd []byte
}

// Connect is CONNECT [MQTT-SN 5.4.4]. Duration is the keep alive in seconds (0: none).
// ProtocolID must be ProtocolID (0x01) for MQTT-SN 1.2; the codec keeps what was sent so a
// gateway can refuse it. The spec limits ClientID to 1–23 characters; the codec does not.
type Connect struct {
	Will         bool // the client wants to be prompted for a will topic and message
	CleanSession bool
	ProtocolID   byte
	Duration     uint16
	ClientID     string
}

// ProtocolID is the only ProtocolId of MQTT-SN 1.2 [MQTT-SN 5.3.8].
const ProtocolID = 0x01

// Connack is CONNACK [MQTT-SN 5.4.5].
type Connack struct {
	ReturnCode ReturnCode
}

// WillTopicReq is WILLTOPICREQ [MQTT-SN 5.4.6].
type WillTopicReq struct{}

// WillTopic is WILLTOPIC [MQTT-SN 5.4.7]. An empty Topic with QoS 0 and no Retain is the
// "empty WILLTOPIC" (no Flags, no topic: two octets), which means no will.
type WillTopic struct {
	QoS    QoS
	Retain bool
	Topic  string
}

// WillMsgReq is WILLMSGREQ [MQTT-SN 5.4.8].
type WillMsgReq struct{}

// WillMsg is WILLMSG [MQTT-SN 5.4.9].
type WillMsg struct {
	Msg []byte
}

// Register is REGISTER [MQTT-SN 5.4.10]. A client sends TopicID 0x0000; a gateway sends the
// id it assigned to TopicName.
type Register struct {
	TopicID   uint16
	MsgID     uint16
	TopicName string
}

// Regack is REGACK [MQTT-SN 5.4.11].
type Regack struct {
	TopicID    uint16
	MsgID      uint16
	ReturnCode ReturnCode
}

// Publish is PUBLISH [MQTT-SN 5.4.12]. TopicID holds a registered or predefined id, or for
// TopicShort the two characters of the name (see ShortTopicID). MsgID is 0x0000 at QoS 0
// and -1.
type Publish struct {
	Dup         bool
	QoS         QoS
	Retain      bool
	TopicIDType TopicIDType
	TopicID     uint16
	MsgID       uint16
	Data        []byte
}

// Puback is PUBACK [MQTT-SN 5.4.13]: the QoS 1 acknowledgement, or a PUBLISH's rejection at
// any QoS.
type Puback struct {
	TopicID    uint16
	MsgID      uint16
	ReturnCode ReturnCode
}

// Pubrec is PUBREC [MQTT-SN 5.4.14].
type Pubrec struct{ MsgID uint16 }

// Pubrel is PUBREL [MQTT-SN 5.4.14].
type Pubrel struct{ MsgID uint16 }

// Pubcomp is PUBCOMP [MQTT-SN 5.4.14].
type Pubcomp struct{ MsgID uint16 }

// Subscribe is SUBSCRIBE [MQTT-SN 5.4.15]. TopicName holds the topic name or filter for
// TopicNormal (and whatever follows MsgId for the reserved type); TopicID holds the
// predefined id or the short name for TopicPredefined and TopicShort.
type Subscribe struct {
	Dup         bool
	QoS         QoS
	TopicIDType TopicIDType
	MsgID       uint16
	TopicName   string
	TopicID     uint16
}

// Suback is SUBACK [MQTT-SN 5.4.16]. QoS is the granted level; TopicID is the id the gateway
// will use for the topic (0x0000 for a wildcard filter or a short name).
type Suback struct {
	QoS        QoS
	TopicID    uint16
	MsgID      uint16
	ReturnCode ReturnCode
}

// Unsubscribe is UNSUBSCRIBE [MQTT-SN 5.4.17]; the topic is given as in Subscribe.
type Unsubscribe struct {
	TopicIDType TopicIDType
	MsgID       uint16
	TopicName   string
	TopicID     uint16
}

// Unsuback is UNSUBACK [MQTT-SN 5.4.18].
type Unsuback struct{ MsgID uint16 }

// Pingreq is PINGREQ [MQTT-SN 5.4.19]. ClientID is set only by a sleeping client that wakes
// up to collect its buffered messages [MQTT-SN 6.14].
type Pingreq struct {
	ClientID string
}

// Pingresp is PINGRESP [MQTT-SN 5.4.20].
type Pingresp struct{}

// Disconnect is DISCONNECT [MQTT-SN 5.4.21]. With HasDuration the client goes to sleep for
// Duration seconds [MQTT-SN 6.14].
type Disconnect struct {
	HasDuration bool
	Duration    uint16
}

// WillTopicUpd is WILLTOPICUPD [MQTT-SN 5.4.22]; empty (as WillTopic) deletes the will.
type WillTopicUpd struct {
	QoS    QoS
	Retain bool
	Topic  string
}

// WillTopicResp is WILLTOPICRESP [MQTT-SN 5.4.24].
type WillTopicResp struct{ ReturnCode ReturnCode }

// WillMsgUpd is WILLMSGUPD [MQTT-SN 5.4.23].
type WillMsgUpd struct{ Msg []byte }

// WillMsgResp is WILLMSGRESP [MQTT-SN 5.4.25].
type WillMsgResp struct{ ReturnCode ReturnCode }

// Encapsulated is the Forwarder Encapsulation frame [MQTT-SN 5.5]: a forwarder relays Msg
// from (or to) the wireless node WirelessNodeID. Radius is the broadcast radius in bits 0–1
// of Ctrl, meaningful from gateway to forwarder only. Msg is never itself Encapsulated.
type Encapsulated struct {
	Radius         byte
	WirelessNodeID []byte
	Msg            Message
}

// Type returns ADVERTISE.
func (*Advertise) Type() MsgType { return ADVERTISE }

// Type returns SEARCHGW.
func (*SearchGW) Type() MsgType { return SEARCHGW }

// Type returns GWINFO.
func (*GWInfo) Type() MsgType { return GWINFO }

// Type returns CONNECT.
func (*Connect) Type() MsgType { return CONNECT }

// Type returns CONNACK.
func (*Connack) Type() MsgType { return CONNACK }

// Type returns WILLTOPICREQ.
func (*WillTopicReq) Type() MsgType { return WILLTOPICREQ }

// Type returns WILLTOPIC.
func (*WillTopic) Type() MsgType { return WILLTOPIC }

// Type returns WILLMSGREQ.
func (*WillMsgReq) Type() MsgType { return WILLMSGREQ }

// Type returns WILLMSG.
func (*WillMsg) Type() MsgType { return WILLMSG }

// Type returns REGISTER.
func (*Register) Type() MsgType { return REGISTER }

// Type returns REGACK.
func (*Regack) Type() MsgType { return REGACK }

// Type returns PUBLISH.
func (*Publish) Type() MsgType { return PUBLISH }

// Type returns PUBACK.
func (*Puback) Type() MsgType { return PUBACK }

// Type returns PUBREC.
func (*Pubrec) Type() MsgType { return PUBREC }

// Type returns PUBREL.
func (*Pubrel) Type() MsgType { return PUBREL }

// Type returns PUBCOMP.
func (*Pubcomp) Type() MsgType { return PUBCOMP }

// Type returns SUBSCRIBE.
func (*Subscribe) Type() MsgType { return SUBSCRIBE }

// Type returns SUBACK.
func (*Suback) Type() MsgType { return SUBACK }

// Type returns UNSUBSCRIBE.
func (*Unsubscribe) Type() MsgType { return UNSUBSCRIBE }

// Type returns UNSUBACK.
func (*Unsuback) Type() MsgType { return UNSUBACK }

// Type returns PINGREQ.
func (*Pingreq) Type() MsgType { return PINGREQ }

// Type returns PINGRESP.
func (*Pingresp) Type() MsgType { return PINGRESP }

// Type returns DISCONNECT.
func (*Disconnect) Type() MsgType { return DISCONNECT }

// Type returns WILLTOPICUPD.
func (*WillTopicUpd) Type() MsgType { return WILLTOPICUPD }

// Type returns WILLTOPICRESP.
func (*WillTopicResp) Type() MsgType { return WILLTOPICRESP }

// Type returns WILLMSGUPD.
func (*WillMsgUpd) Type() MsgType { return WILLMSGUPD }

// Type returns WILLMSGRESP.
func (*WillMsgResp) Type() MsgType { return WILLMSGRESP }

// Type returns ENCAPSULATED.
func (*Encapsulated) Type() MsgType { return ENCAPSULATED }
