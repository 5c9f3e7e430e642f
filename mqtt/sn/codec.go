package sn

import (
	"encoding/binary"
	"slices"
)

// MaxMessageSize is the largest MQTT-SN message: the 3-octet Length field counts up to
// 65,535 octets, header included [MQTT-SN 5.2.1].
const MaxMessageSize = 65535

// Flags bits [MQTT-SN 5.3.4, Table 4].
const (
	flagDUP     = 0x80
	flagQoS     = 0x60
	flagRetain  = 0x10
	flagWill    = 0x08
	flagClean   = 0x04
	flagTopicID = 0x03
)

func qosOf(flags byte) QoS {
	q := QoS(flags >> 5 & 3)
	if q == 3 {
		return QoSMinus1
	}
	return q
}

func qosBits(q QoS) byte {
	if q == QoSMinus1 {
		return 3 << 5
	}
	return byte(q) << 5
}

func validQoS(q QoS) bool { return q >= QoSMinus1 && q <= QoS2 }

// Decode decodes the one MQTT-SN message b holds (a whole UDP datagram). The Length field
// must match len(b) exactly [MQTT-SN 5.2.1]. Both Length forms are accepted, the 3-octet one
// also for short messages.
//
// Decode checks structure, not meaning: sizes of fixed fields, the Length, reserved message
// types, Forwarder Encapsulation framing. A reserved TopicIdType, a QoS −1 SUBSCRIBE, an
// unknown topic id or a wrong ProtocolId decode fine, so that a gateway can answer them with
// the return code the spec gives them. Errors are *Error wrapping ErrTruncated, ErrLength,
// ErrReservedType or ErrMalformed; Decode never panics.
//
// The result aliases b: Publish.Data, WillMsg.Msg, WillMsgUpd.Msg, GWInfo.GwAdd and
// Encapsulated.WirelessNodeID are subslices of it. Strings are copies.
func Decode(b []byte) (Message, error) {
	if len(b) < 2 {
		return nil, &Error{Kind: ErrTruncated, Msg: "fewer than 2 octets"}
	}
	if b[0] != 0x01 && MsgType(b[1]) == ENCAPSULATED {
		return decodeEncapsulated(b)
	}
	total, hdr := int(b[0]), 2
	if b[0] == 0x01 {
		if len(b) < 4 {
			return nil, &Error{Kind: ErrTruncated, Msg: "3-octet Length without MsgType"}
		}
		total, hdr = int(binary.BigEndian.Uint16(b[1:])), 4
	}
	if total < hdr {
		return nil, &Error{Kind: ErrLength, Msg: "Length " + itoa(total) + " is shorter than the header"}
	}
	t := MsgType(b[hdr-1])
	switch {
	case total > len(b):
		return nil, errf(ErrTruncated, t, "Length %d, datagram %d octets", total, len(b))
	case total < len(b):
		return nil, errf(ErrLength, t, "Length %d, but the datagram has %d octets", total, len(b))
	}
	return decodeBody(t, b[hdr:])
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var buf [20]byte
	i := len(buf)
	neg := n < 0
	if neg {
		n = -n
	}
	for n > 0 {
		i--
		buf[i] = byte('0' + n%10)
		n /= 10
	}
	if neg {
		i--
		buf[i] = '-'
	}
	return string(buf[i:])
}

// decodeEncapsulated reads Length(1) MsgType(0xFE) Ctrl WirelessNodeId, then the
// encapsulated message [MQTT-SN 5.5]. Length counts the octets up to the end of the
// Wireless Node Id.
func decodeEncapsulated(b []byte) (Message, error) {
	n := int(b[0])
	if n < 3 {
		return nil, errf(ErrLength, ENCAPSULATED, "encapsulation Length %d is shorter than Length, MsgType and Ctrl", n)
	}
	if n > len(b) {
		return nil, errf(ErrTruncated, ENCAPSULATED, "encapsulation Length %d, datagram %d octets", n, len(b))
	}
	if n == len(b) {
		return nil, errf(ErrTruncated, ENCAPSULATED, "no encapsulated message")
	}
	inner := b[n:]
	if len(inner) >= 2 && inner[0] != 0x01 && MsgType(inner[1]) == ENCAPSULATED {
		return nil, errf(ErrMalformed, ENCAPSULATED, "an encapsulated message is itself encapsulated")
	}
	m, err := Decode(inner)
	if err != nil {
		return nil, err
	}
	return &Encapsulated{Radius: b[2] & 0x03, WirelessNodeID: b[3:n:n], Msg: m}, nil
}

// reader reads fixed fields of a message body.
type reader struct {
	b []byte
	t MsgType
}

func (r *reader) fixed(n int) error {
	if len(r.b) < n {
		return errf(ErrTruncated, r.t, "%d octets of fields, want %d", len(r.b), n)
	}
	if len(r.b) > n {
		return errf(ErrMalformed, r.t, "%d octets of fields, want %d", len(r.b), n)
	}
	return nil
}

func (r *reader) atLeast(n int) error {
	if len(r.b) < n {
		return errf(ErrTruncated, r.t, "%d octets of fields, want at least %d", len(r.b), n)
	}
	return nil
}

func u16(b []byte) uint16 { return binary.BigEndian.Uint16(b) }

func decodeBody(t MsgType, b []byte) (Message, error) {
	r := reader{b: b, t: t}
	switch t {
	case ADVERTISE:
		if err := r.fixed(3); err != nil {
			return nil, err
		}
		return &Advertise{GwID: b[0], Duration: u16(b[1:])}, nil
	case SEARCHGW:
		if err := r.fixed(1); err != nil {
			return nil, err
		}
		return &SearchGW{Radius: b[0]}, nil
	case GWINFO:
		if err := r.atLeast(1); err != nil {
			return nil, err
		}
		m := &GWInfo{GwID: b[0]}
		if len(b) > 1 {
			m.GwAdd = b[1:len(b):len(b)]
		}
		return m, nil
	case CONNECT:
		if err := r.atLeast(4); err != nil {
			return nil, err
		}
		return &Connect{Will: b[0]&flagWill != 0, CleanSession: b[0]&flagClean != 0,
			ProtocolID: b[1], Duration: u16(b[2:]), ClientID: string(b[4:])}, nil
	case CONNACK, WILLTOPICRESP, WILLMSGRESP:
		if err := r.fixed(1); err != nil {
			return nil, err
		}
		rc := ReturnCode(b[0])
		switch t {
		case CONNACK:
			return &Connack{ReturnCode: rc}, nil
		case WILLTOPICRESP:
			return &WillTopicResp{ReturnCode: rc}, nil
		}
		return &WillMsgResp{ReturnCode: rc}, nil
	case WILLTOPICREQ, WILLMSGREQ, PINGRESP:
		if err := r.fixed(0); err != nil {
			return nil, err
		}
		switch t {
		case WILLTOPICREQ:
			return &WillTopicReq{}, nil
		case WILLMSGREQ:
			return &WillMsgReq{}, nil
		}
		return &Pingresp{}, nil
	case WILLTOPIC, WILLTOPICUPD:
		var q QoS
		var retain bool
		var topic string
		if len(b) > 0 { // otherwise the empty WILLTOPIC: no will [MQTT-SN 5.4.7]
			q, retain, topic = qosOf(b[0]), b[0]&flagRetain != 0, string(b[1:])
		}
		if t == WILLTOPIC {
			return &WillTopic{QoS: q, Retain: retain, Topic: topic}, nil
		}
		return &WillTopicUpd{QoS: q, Retain: retain, Topic: topic}, nil
	case WILLMSG:
		return &WillMsg{Msg: b[:len(b):len(b)]}, nil
	case WILLMSGUPD:
		return &WillMsgUpd{Msg: b[:len(b):len(b)]}, nil
	case REGISTER:
		if err := r.atLeast(4); err != nil {
			return nil, err
		}
		return &Register{TopicID: u16(b), MsgID: u16(b[2:]), TopicName: string(b[4:])}, nil
	case REGACK, PUBACK:
		if err := r.fixed(5); err != nil {
			return nil, err
		}
		if t == REGACK {
			return &Regack{TopicID: u16(b), MsgID: u16(b[2:]), ReturnCode: ReturnCode(b[4])}, nil
		}
		return &Puback{TopicID: u16(b), MsgID: u16(b[2:]), ReturnCode: ReturnCode(b[4])}, nil
	case PUBLISH:
		if err := r.atLeast(5); err != nil {
			return nil, err
		}
		f := b[0]
		return &Publish{Dup: f&flagDUP != 0, QoS: qosOf(f), Retain: f&flagRetain != 0,
			TopicIDType: TopicIDType(f & flagTopicID), TopicID: u16(b[1:]), MsgID: u16(b[3:]),
			Data: b[5:len(b):len(b)]}, nil
	case PUBREC, PUBREL, PUBCOMP, UNSUBACK:
		if err := r.fixed(2); err != nil {
			return nil, err
		}
		id := u16(b)
		switch t {
		case PUBREC:
			return &Pubrec{MsgID: id}, nil
		case PUBREL:
			return &Pubrel{MsgID: id}, nil
		case PUBCOMP:
			return &Pubcomp{MsgID: id}, nil
		}
		return &Unsuback{MsgID: id}, nil
	case SUBSCRIBE, UNSUBSCRIBE:
		if err := r.atLeast(3); err != nil {
			return nil, err
		}
		f := b[0]
		typ := TopicIDType(f & flagTopicID)
		id := u16(b[1:])
		var name string
		var topicID uint16
		if typ == TopicPredefined || typ == TopicShort {
			r.b = b[3:]
			if err := r.fixed(2); err != nil {
				return nil, err
			}
			topicID = u16(b[3:])
		} else {
			name = string(b[3:])
		}
		if t == SUBSCRIBE {
			return &Subscribe{Dup: f&flagDUP != 0, QoS: qosOf(f), TopicIDType: typ, MsgID: id,
				TopicName: name, TopicID: topicID}, nil
		}
		return &Unsubscribe{TopicIDType: typ, MsgID: id, TopicName: name, TopicID: topicID}, nil
	case SUBACK:
		if err := r.fixed(6); err != nil {
			return nil, err
		}
		return &Suback{QoS: qosOf(b[0]), TopicID: u16(b[1:]), MsgID: u16(b[3:]), ReturnCode: ReturnCode(b[5])}, nil
	case PINGREQ:
		return &Pingreq{ClientID: string(b)}, nil
	case DISCONNECT:
		switch len(b) {
		case 0:
			return &Disconnect{}, nil
		case 2:
			return &Disconnect{HasDuration: true, Duration: u16(b)}, nil
		}
		return nil, errf(ErrMalformed, t, "%d octets of fields, want 0 or 2 (Duration)", len(b))
	case ENCAPSULATED:
		// Only reachable with a 3-octet Length: the frame's own Length is one octet.
		return nil, errf(ErrMalformed, t, "Forwarder Encapsulation with a 3-octet Length")
	}
	return nil, errf(ErrReservedType, t, "MsgType 0x%02X is reserved", byte(t))
}

// Size returns the encoded size of m, header included, or -1 when m cannot be encoded.
func Size(m Message) int {
	if e, ok := m.(*Encapsulated); ok {
		if e == nil || e.Msg == nil || len(e.WirelessNodeID) > 252 || e.Radius > 3 {
			return -1
		}
		if _, nested := e.Msg.(*Encapsulated); nested {
			return -1
		}
		n := Size(e.Msg)
		if n < 0 {
			return -1
		}
		return 3 + len(e.WirelessNodeID) + n
	}
	n, err := bodySize(m)
	if err != nil || frame(n) > MaxMessageSize {
		return -1
	}
	return frame(n)
}

// frame is the total size of a message with a body of n octets.
func frame(n int) int {
	if n+2 <= 255 {
		return n + 2
	}
	return n + 4
}

func bodySize(m Message) (int, error) {
	switch m := m.(type) {
	case *Advertise:
		if m == nil {
			break
		}
		return 3, nil
	case *SearchGW:
		if m == nil {
			break
		}
		return 1, nil
	case *GWInfo:
		if m == nil {
			break
		}
		return 1 + len(m.GwAdd), nil
	case *Connect:
		if m == nil {
			break
		}
		return 4 + len(m.ClientID), nil
	case *Connack, *WillTopicResp, *WillMsgResp:
		return 1, nilCheck(m)
	case *WillTopicReq, *WillMsgReq, *Pingresp:
		return 0, nilCheck(m)
	case *WillTopic:
		if m == nil {
			break
		}
		return willTopicSize(m.QoS, m.Retain, m.Topic)
	case *WillTopicUpd:
		if m == nil {
			break
		}
		return willTopicSize(m.QoS, m.Retain, m.Topic)
	case *WillMsg:
		if m == nil {
			break
		}
		return len(m.Msg), nil
	case *WillMsgUpd:
		if m == nil {
			break
		}
		return len(m.Msg), nil
	case *Register:
		if m == nil {
			break
		}
		return 4 + len(m.TopicName), nil
	case *Regack, *Puback:
		return 5, nilCheck(m)
	case *Publish:
		if m == nil {
			break
		}
		if !validQoS(m.QoS) {
			return 0, errf(ErrMalformed, PUBLISH, "QoS %d", m.QoS)
		}
		if m.TopicIDType > TopicReserved {
			return 0, errf(ErrMalformed, PUBLISH, "TopicIdType %d", m.TopicIDType)
		}
		return 5 + len(m.Data), nil
	case *Pubrec, *Pubrel, *Pubcomp, *Unsuback:
		return 2, nilCheck(m)
	case *Subscribe:
		if m == nil {
			break
		}
		if !validQoS(m.QoS) {
			return 0, errf(ErrMalformed, SUBSCRIBE, "QoS %d", m.QoS)
		}
		return subTopicSize(SUBSCRIBE, m.TopicIDType, m.TopicName)
	case *Unsubscribe:
		if m == nil {
			break
		}
		return subTopicSize(UNSUBSCRIBE, m.TopicIDType, m.TopicName)
	case *Suback:
		if m == nil {
			break
		}
		if !validQoS(m.QoS) {
			return 0, errf(ErrMalformed, SUBACK, "QoS %d", m.QoS)
		}
		return 6, nil
	case *Pingreq:
		if m == nil {
			break
		}
		return len(m.ClientID), nil
	case *Disconnect:
		if m == nil {
			break
		}
		if m.HasDuration {
			return 2, nil
		}
		return 0, nil
	}
	return 0, &Error{Kind: ErrMalformed, Msg: "cannot encode a nil or unknown message"}
}

// nilCheck fails for typed nil pointers of the fixed-size messages.
func nilCheck(m Message) error {
	var isNil bool
	switch m := m.(type) {
	case *Connack:
		isNil = m == nil
	case *WillTopicResp:
		isNil = m == nil
	case *WillMsgResp:
		isNil = m == nil
	case *WillTopicReq:
		isNil = m == nil
	case *WillMsgReq:
		isNil = m == nil
	case *Pingresp:
		isNil = m == nil
	case *Regack:
		isNil = m == nil
	case *Puback:
		isNil = m == nil
	case *Pubrec:
		isNil = m == nil
	case *Pubrel:
		isNil = m == nil
	case *Pubcomp:
		isNil = m == nil
	case *Unsuback:
		isNil = m == nil
	}
	if isNil {
		return &Error{Kind: ErrMalformed, Msg: "cannot encode a nil message"}
	}
	return nil
}

func willTopicSize(q QoS, retain bool, topic string) (int, error) {
	if !validQoS(q) {
		return 0, errf(ErrMalformed, WILLTOPIC, "QoS %d", q)
	}
	if topic == "" && q == QoS0 && !retain {
		return 0, nil // the empty WILLTOPIC [MQTT-SN 5.4.7]
	}
	return 1 + len(topic), nil
}

func subTopicSize(t MsgType, typ TopicIDType, name string) (int, error) {
	switch typ {
	case TopicPredefined, TopicShort:
		return 5, nil
	case TopicNormal, TopicReserved:
		return 3 + len(name), nil
	}
	return 0, errf(ErrMalformed, t, "TopicIdType %d", typ)
}

// Append encodes m and appends it to dst. It uses the 1-octet Length when the message is
// shorter than 256 octets, else the 3-octet form [MQTT-SN 5.2.1]. A message that cannot be
// encoded (over MaxMessageSize, a QoS or TopicIdType out of range, a Wireless Node Id over
// 252 octets, nested encapsulation, nil) returns an *Error and dst unchanged. It does not
// allocate when dst has room.
func Append(dst []byte, m Message) ([]byte, error) {
	if e, ok := m.(*Encapsulated); ok {
		return appendEncapsulated(dst, e)
	}
	n, err := bodySize(m)
	if err != nil {
		return dst, err
	}
	total := frame(n)
	if total > MaxMessageSize {
		return dst, errf(ErrTooLarge, m.Type(), "%d octets, at most %d", total, MaxMessageSize)
	}
	dst = slices.Grow(dst, total)
	if total <= 255 {
		dst = append(dst, byte(total))
	} else {
		dst = append(dst, 0x01, byte(total>>8), byte(total))
	}
	dst = append(dst, byte(m.Type()))
	return appendBody(dst, m), nil
}

func appendEncapsulated(dst []byte, e *Encapsulated) ([]byte, error) {
	switch {
	case e == nil || e.Msg == nil:
		return dst, errf(ErrMalformed, ENCAPSULATED, "no encapsulated message")
	case len(e.WirelessNodeID) > 252:
		return dst, errf(ErrMalformed, ENCAPSULATED, "Wireless Node Id of %d octets, at most 252", len(e.WirelessNodeID))
	case e.Radius > 3:
		return dst, errf(ErrMalformed, ENCAPSULATED, "Radius %d does not fit in 2 bits", e.Radius)
	}
	if _, nested := e.Msg.(*Encapsulated); nested {
		return dst, errf(ErrMalformed, ENCAPSULATED, "an encapsulated message is itself encapsulated")
	}
	start := len(dst)
	dst = append(dst, byte(3+len(e.WirelessNodeID)), byte(ENCAPSULATED), e.Radius)
	dst = append(dst, e.WirelessNodeID...)
	out, err := Append(dst, e.Msg)
	if err != nil {
		return dst[:start], err
	}
	return out, nil
}

func appendU16(b []byte, v uint16) []byte { return append(b, byte(v>>8), byte(v)) }

func boolBit(b bool, bit byte) byte {
	if b {
		return bit
	}
	return 0
}

func appendBody(b []byte, m Message) []byte {
	switch m := m.(type) {
	case *Advertise:
		return appendU16(append(b, m.GwID), m.Duration)
	case *SearchGW:
		return append(b, m.Radius)
	case *GWInfo:
		return append(append(b, m.GwID), m.GwAdd...)
	case *Connect:
		b = append(b, boolBit(m.Will, flagWill)|boolBit(m.CleanSession, flagClean), m.ProtocolID)
		return append(appendU16(b, m.Duration), m.ClientID...)
	case *Connack:
		return append(b, byte(m.ReturnCode))
	case *WillTopicResp:
		return append(b, byte(m.ReturnCode))
	case *WillMsgResp:
		return append(b, byte(m.ReturnCode))
	case *WillTopicReq, *WillMsgReq, *Pingresp:
		return b
	case *WillTopic:
		return appendWillTopic(b, m.QoS, m.Retain, m.Topic)
	case *WillTopicUpd:
		return appendWillTopic(b, m.QoS, m.Retain, m.Topic)
	case *WillMsg:
		return append(b, m.Msg...)
	case *WillMsgUpd:
		return append(b, m.Msg...)
	case *Register:
		return append(appendU16(appendU16(b, m.TopicID), m.MsgID), m.TopicName...)
	case *Regack:
		return append(appendU16(appendU16(b, m.TopicID), m.MsgID), byte(m.ReturnCode))
	case *Puback:
		return append(appendU16(appendU16(b, m.TopicID), m.MsgID), byte(m.ReturnCode))
	case *Publish:
		f := boolBit(m.Dup, flagDUP) | qosBits(m.QoS) | boolBit(m.Retain, flagRetain) | byte(m.TopicIDType)
		return append(appendU16(appendU16(append(b, f), m.TopicID), m.MsgID), m.Data...)
	case *Pubrec:
		return appendU16(b, m.MsgID)
	case *Pubrel:
		return appendU16(b, m.MsgID)
	case *Pubcomp:
		return appendU16(b, m.MsgID)
	case *Unsuback:
		return appendU16(b, m.MsgID)
	case *Subscribe:
		f := boolBit(m.Dup, flagDUP) | qosBits(m.QoS) | byte(m.TopicIDType)
		return appendSubTopic(appendU16(append(b, f), m.MsgID), m.TopicIDType, m.TopicName, m.TopicID)
	case *Unsubscribe:
		return appendSubTopic(appendU16(append(b, byte(m.TopicIDType)), m.MsgID), m.TopicIDType, m.TopicName, m.TopicID)
	case *Suback:
		return append(appendU16(appendU16(append(b, qosBits(m.QoS)), m.TopicID), m.MsgID), byte(m.ReturnCode))
	case *Pingreq:
		return append(b, m.ClientID...)
	case *Disconnect:
		if m.HasDuration {
			return appendU16(b, m.Duration)
		}
		return b
	}
	return b
}

func appendWillTopic(b []byte, q QoS, retain bool, topic string) []byte {
	if topic == "" && q == QoS0 && !retain {
		return b
	}
	return append(append(b, qosBits(q)|boolBit(retain, flagRetain)), topic...)
}

func appendSubTopic(b []byte, typ TopicIDType, name string, id uint16) []byte {
	if typ == TopicPredefined || typ == TopicShort {
		return appendU16(b, id)
	}
	return append(b, name...)
}
