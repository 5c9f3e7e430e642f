package sn

import "strings"

// One table of vectors drives the codec tests: Decode(bytes) == msg, Append(msg) == bytes,
// Size(msg) == len(bytes), the round trips, and the fuzz seed corpus. spec names the section
// of the MQTT-SN 1.2 specification each vector follows.

type vector struct {
	name  string
	spec  string
	bytes []byte
	msg   Message
}

// m builds a message with a 1-octet Length: the length, then the rest.
func m(rest ...any) []byte {
	body := cat(rest...)
	return append([]byte{byte(len(body) + 1)}, body...)
}

// m3 builds a message with the 3-octet Length.
func m3(rest ...any) []byte {
	body := cat(rest...)
	n := len(body) + 3
	return append([]byte{0x01, byte(n >> 8), byte(n)}, body...)
}

func cat(parts ...any) []byte {
	var out []byte
	for _, p := range parts {
		switch p := p.(type) {
		case int:
			out = append(out, byte(p))
		case byte:
			out = append(out, p)
		case MsgType:
			out = append(out, byte(p))
		case string:
			out = append(out, p...)
		case []byte:
			out = append(out, p...)
		default:
			panic("cat: unexpected part")
		}
	}
	return out
}

func id(v uint16) []byte { return []byte{byte(v >> 8), byte(v)} }

var long300 = strings.Repeat("x", 300)

var vectors = []vector{
	{"advertise", "5.4.1", m(ADVERTISE, 7, id(900)), &Advertise{GwID: 7, Duration: 900}},
	{"searchgw", "5.4.2", m(SEARCHGW, 1), &SearchGW{Radius: 1}},
	{"gwinfo from gateway", "5.4.3", m(GWINFO, 7), &GWInfo{GwID: 7}},
	{"gwinfo from client with GwAdd", "5.4.3", m(GWINFO, 7, 127, 0, 0, 1), &GWInfo{GwID: 7, GwAdd: []byte{127, 0, 0, 1}}},
	{"connect clean", "5.4.4 5.3.4", m(CONNECT, 0x04, 0x01, id(60), "sensor-1"),
		&Connect{CleanSession: true, ProtocolID: 1, Duration: 60, ClientID: "sensor-1"}},
	{"connect will persistent", "5.4.4 6.3", m(CONNECT, 0x08, 0x01, id(0xFFFF), "c"),
		&Connect{Will: true, ProtocolID: 1, Duration: 0xFFFF, ClientID: "c"}},
	{"connect empty client id", "5.4.4", m(CONNECT, 0x0C, 0x01, id(0)), &Connect{Will: true, CleanSession: true, ProtocolID: 1}},
	{"connect other protocol id kept", "5.3.8", m(CONNECT, 0x04, 0x02, id(10), "c"),
		&Connect{CleanSession: true, ProtocolID: 2, Duration: 10, ClientID: "c"}},
	{"connack accepted", "5.4.5 5.3.10", m(CONNACK, 0x00), &Connack{}},
	{"connack congestion", "5.4.5 5.3.10", m(CONNACK, 0x01), &Connack{ReturnCode: RejectedCongestion}},
	{"connack not supported", "5.4.5 5.3.10", m(CONNACK, 0x03), &Connack{ReturnCode: RejectedNotSupported}},
	{"willtopicreq", "5.4.6", m(WILLTOPICREQ), &WillTopicReq{}},
	{"willtopic qos1 retain", "5.4.7 5.3.4", m(WILLTOPIC, 0x30, "will/t"), &WillTopic{QoS: 1, Retain: true, Topic: "will/t"}},
	{"willtopic qos2", "5.4.7", m(WILLTOPIC, 0x40, "w"), &WillTopic{QoS: 2, Topic: "w"}},
	{"willtopic empty", "5.4.7", m(WILLTOPIC), &WillTopic{}},
	{"willmsgreq", "5.4.8", m(WILLMSGREQ), &WillMsgReq{}},
	{"willmsg", "5.4.9", m(WILLMSG, "gone"), &WillMsg{Msg: []byte("gone")}},
	{"willmsg empty", "5.4.9", m(WILLMSG), &WillMsg{Msg: []byte{}}},
	{"register from client", "5.4.10", m(REGISTER, id(0), id(5), "a/b"), &Register{MsgID: 5, TopicName: "a/b"}},
	{"register from gateway", "5.4.10 6.10", m(REGISTER, id(3), id(0x1234), "x/y/z"), &Register{TopicID: 3, MsgID: 0x1234, TopicName: "x/y/z"}},
	{"regack accepted", "5.4.11", m(REGACK, id(1), id(5), 0), &Regack{TopicID: 1, MsgID: 5}},
	{"regack invalid topic id", "5.4.11 5.3.10", m(REGACK, id(0), id(5), 2), &Regack{MsgID: 5, ReturnCode: RejectedInvalidTopicID}},
	{"publish qos0 normal", "5.4.12", m(PUBLISH, 0x00, id(1), id(0), "21.5"),
		&Publish{TopicID: 1, Data: []byte("21.5")}},
	{"publish qos1 dup retain predefined", "5.4.12 5.3.4", m(PUBLISH, 0x80|0x20|0x10|0x01, id(7), id(9), "x"),
		&Publish{Dup: true, QoS: 1, Retain: true, TopicIDType: TopicPredefined, TopicID: 7, MsgID: 9, Data: []byte("x")}},
	{"publish qos2 short", "5.4.12 6.7", m(PUBLISH, 0x40|0x02, "ab", id(0xFFFF)),
		&Publish{QoS: 2, TopicIDType: TopicShort, TopicID: 0x6162, MsgID: 0xFFFF, Data: []byte{}}},
	{"publish qos -1 predefined", "5.4.12 6.8", m(PUBLISH, 0x60|0x01, id(1), id(0), "on"),
		&Publish{QoS: QoSMinus1, TopicIDType: TopicPredefined, TopicID: 1, Data: []byte("on")}},
	{"publish reserved topic id type kept", "5.3.4", m(PUBLISH, 0x03, id(1), id(0)),
		&Publish{TopicIDType: TopicReserved, TopicID: 1, Data: []byte{}}},
	{"publish 3-octet length", "5.2.1", m3(PUBLISH, 0x00, id(1), id(0), long300),
		&Publish{TopicID: 1, Data: []byte(long300)}},
	{"publish largest 1-octet length", "5.2.1", m(PUBLISH, 0x00, id(1), id(0), strings.Repeat("y", 248)),
		&Publish{TopicID: 1, Data: []byte(strings.Repeat("y", 248))}},
	{"publish smallest 3-octet length", "5.2.1", m3(PUBLISH, 0x00, id(1), id(0), strings.Repeat("y", 249)),
		&Publish{TopicID: 1, Data: []byte(strings.Repeat("y", 249))}},
	{"puback accepted", "5.4.13", m(PUBACK, id(1), id(9), 0), &Puback{TopicID: 1, MsgID: 9}},
	{"puback invalid topic id", "5.4.13 6.6", m(PUBACK, id(99), id(0), 2), &Puback{TopicID: 99, ReturnCode: RejectedInvalidTopicID}},
	{"pubrec", "5.4.14", m(PUBREC, id(4)), &Pubrec{MsgID: 4}},
	{"pubrel", "5.4.14", m(PUBREL, id(4)), &Pubrel{MsgID: 4}},
	{"pubcomp", "5.4.14", m(PUBCOMP, id(4)), &Pubcomp{MsgID: 4}},
	{"subscribe topic name", "5.4.15", m(SUBSCRIBE, 0x20, id(2), "a/+/c"),
		&Subscribe{QoS: 1, MsgID: 2, TopicName: "a/+/c"}},
	{"subscribe predefined dup qos2", "5.4.15", m(SUBSCRIBE, 0x80|0x40|0x01, id(2), id(7)),
		&Subscribe{Dup: true, QoS: 2, TopicIDType: TopicPredefined, MsgID: 2, TopicID: 7}},
	{"subscribe short", "5.4.15 6.7", m(SUBSCRIBE, 0x02, id(2), "ab"),
		&Subscribe{TopicIDType: TopicShort, MsgID: 2, TopicID: 0x6162}},
	{"subscribe empty topic name (the gateway refuses it)", "5.4.15", m(SUBSCRIBE, 0x00, id(2)), &Subscribe{MsgID: 2}},
	{"subscribe qos -1 kept", "5.3.4", m(SUBSCRIBE, 0x60, id(2), "t"), &Subscribe{QoS: QoSMinus1, MsgID: 2, TopicName: "t"}},
	{"suback wildcard", "5.4.16", m(SUBACK, 0x20, id(0), id(2), 0), &Suback{QoS: 1, MsgID: 2}},
	{"suback topic id", "5.4.16", m(SUBACK, 0x40, id(5), id(2), 0), &Suback{QoS: 2, TopicID: 5, MsgID: 2}},
	{"suback rejected", "5.4.16", m(SUBACK, 0x00, id(0), id(2), 2), &Suback{MsgID: 2, ReturnCode: RejectedInvalidTopicID}},
	{"unsubscribe name", "5.4.17", m(UNSUBSCRIBE, 0x00, id(3), "a/#"), &Unsubscribe{MsgID: 3, TopicName: "a/#"}},
	{"unsubscribe predefined", "5.4.17", m(UNSUBSCRIBE, 0x01, id(3), id(7)), &Unsubscribe{TopicIDType: TopicPredefined, MsgID: 3, TopicID: 7}},
	{"unsuback", "5.4.18", m(UNSUBACK, id(3)), &Unsuback{MsgID: 3}},
	{"pingreq", "5.4.19", m(PINGREQ), &Pingreq{}},
	{"pingreq wake up", "5.4.19 6.14", m(PINGREQ, "sensor-1"), &Pingreq{ClientID: "sensor-1"}},
	{"pingresp", "5.4.20", m(PINGRESP), &Pingresp{}},
	{"disconnect", "5.4.21", m(DISCONNECT), &Disconnect{}},
	{"disconnect sleep", "5.4.21 6.14", m(DISCONNECT, id(300)), &Disconnect{HasDuration: true, Duration: 300}},
	{"willtopicupd", "5.4.22", m(WILLTOPICUPD, 0x20, "w/2"), &WillTopicUpd{QoS: 1, Topic: "w/2"}},
	{"willtopicupd empty deletes", "5.4.22", m(WILLTOPICUPD), &WillTopicUpd{}},
	{"willmsgupd", "5.4.23", m(WILLMSGUPD, "bye"), &WillMsgUpd{Msg: []byte("bye")}},
	{"willtopicresp", "5.4.24", m(WILLTOPICRESP, 0), &WillTopicResp{}},
	{"willmsgresp", "5.4.25", m(WILLMSGRESP, 3), &WillMsgResp{ReturnCode: RejectedNotSupported}},
	{"encapsulated searchgw", "5.5", cat(5, ENCAPSULATED, 0x01, 0xAB, 0xCD, m(SEARCHGW, 1)),
		&Encapsulated{Radius: 1, WirelessNodeID: []byte{0xAB, 0xCD}, Msg: &SearchGW{Radius: 1}}},
	{"encapsulated publish", "5.5", cat(4, ENCAPSULATED, 0x00, 0x11, m(PUBLISH, 0x20, id(1), id(2), "v")),
		&Encapsulated{WirelessNodeID: []byte{0x11}, Msg: &Publish{QoS: 1, TopicID: 1, MsgID: 2, Data: []byte("v")}}},
	{"encapsulated empty node id", "5.5", cat(3, ENCAPSULATED, 0x00, m(PINGREQ)),
		&Encapsulated{WirelessNodeID: []byte{}, Msg: &Pingreq{}}},
	{"encapsulated 3-octet inner", "5.5 5.2.1", cat(4, ENCAPSULATED, 0x02, 0x01, m3(PUBLISH, 0x00, id(1), id(0), long300)),
		&Encapsulated{Radius: 2, WirelessNodeID: []byte{1}, Msg: &Publish{TopicID: 1, Data: []byte(long300)}}},
}

// decodeOnly decode to msg but encode differently (non-canonical forms a peer may send).
var decodeOnly = []vector{
	{"3-octet length for a short message", "5.2.1", m3(PINGREQ), &Pingreq{}},
	{"willtopic flags without topic", "5.4.7", m(WILLTOPIC, 0x00), &WillTopic{}},
	{"connect unused flag bits ignored", "5.4.4", m(CONNECT, 0xF3|0x04, 0x01, id(5), "c"),
		&Connect{CleanSession: true, ProtocolID: 1, Duration: 5, ClientID: "c"}},
	{"encapsulated reserved ctrl bits ignored", "5.5", cat(3, ENCAPSULATED, 0xFD, m(PINGRESP)),
		&Encapsulated{Radius: 1, WirelessNodeID: []byte{}, Msg: &Pingresp{}}},
}

type invalidVector struct {
	name  string
	spec  string
	bytes []byte
	kind  error
}

var invalid = []invalidVector{
	{"empty", "5.2", nil, ErrTruncated},
	{"one octet", "5.2", []byte{0x02}, ErrTruncated},
	{"length zero", "5.2.1", []byte{0x00, 0x16}, ErrLength},
	{"3-octet length cut", "5.2.1", []byte{0x01, 0x00}, ErrTruncated},
	{"3-octet length below header", "5.2.1", []byte{0x01, 0x00, 0x03, 0x16}, ErrLength},
	{"length longer than datagram", "5.2.1", []byte{0x05, 0x16, 'a'}, ErrTruncated},
	{"length shorter than datagram", "5.2.1", []byte{0x02, 0x16, 'x'}, ErrLength},
	{"3-octet length longer than datagram", "5.2.1", []byte{0x01, 0x01, 0x00, 0x0C, 0x00}, ErrTruncated},
	{"reserved type 0x03", "5.2.2", m(0x03), ErrReservedType},
	{"reserved type 0x11", "5.2.2", m(0x11), ErrReservedType},
	{"reserved type 0x19", "5.2.2", m(0x19), ErrReservedType},
	{"reserved type 0x1E", "5.2.2", m(0x1E), ErrReservedType},
	{"reserved type 0xFD", "5.2.2", m(0xFD), ErrReservedType},
	{"reserved type 0xFF", "5.2.2", m(0xFF), ErrReservedType},
	{"advertise short", "5.4.1", m(ADVERTISE, 7, 0), ErrTruncated},
	{"advertise long", "5.4.1", m(ADVERTISE, 7, 0, 1, 2), ErrMalformed},
	{"searchgw without radius", "5.4.2", m(SEARCHGW), ErrTruncated},
	{"gwinfo without gwid", "5.4.3", m(GWINFO), ErrTruncated},
	{"connect without duration", "5.4.4", m(CONNECT, 0x04, 0x01, 0), ErrTruncated},
	{"connack without code", "5.4.5", m(CONNACK), ErrTruncated},
	{"connack long", "5.4.5", m(CONNACK, 0, 0), ErrMalformed},
	{"willtopicreq with body", "5.4.6", m(WILLTOPICREQ, 1), ErrMalformed},
	{"register without msgid", "5.4.10", m(REGISTER, id(0), 5), ErrTruncated},
	{"regack short", "5.4.11", m(REGACK, id(1), id(2)), ErrTruncated},
	{"publish without msgid", "5.4.12", m(PUBLISH, 0x00, id(1), 0), ErrTruncated},
	{"puback long", "5.4.13", m(PUBACK, id(1), id(2), 0, 0), ErrMalformed},
	{"pubrel short", "5.4.14", m(PUBREL, 1), ErrTruncated},
	{"pubcomp long", "5.4.14", m(PUBCOMP, id(1), 0), ErrMalformed},
	{"subscribe without msgid", "5.4.15", m(SUBSCRIBE, 0x00, 1), ErrTruncated},
	{"subscribe predefined one octet", "5.4.15", m(SUBSCRIBE, 0x01, id(1), 7), ErrTruncated},
	{"subscribe short three octets", "5.4.15", m(SUBSCRIBE, 0x02, id(1), "abc"), ErrMalformed},
	{"suback short", "5.4.16", m(SUBACK, 0, id(0), id(1)), ErrTruncated},
	{"unsubscribe predefined long", "5.4.17", m(UNSUBSCRIBE, 0x01, id(1), id(7), 0), ErrMalformed},
	{"unsuback long", "5.4.18", m(UNSUBACK, id(1), 0), ErrMalformed},
	{"pingresp with body", "5.4.20", m(PINGRESP, 0), ErrMalformed},
	{"disconnect one octet", "5.4.21", m(DISCONNECT, 1), ErrMalformed},
	{"disconnect three octets", "5.4.21", m(DISCONNECT, 1, 2, 3), ErrMalformed},
	{"willtopicresp without code", "5.4.24", m(WILLTOPICRESP), ErrTruncated},
	{"encapsulation length 2", "5.5", cat(2, ENCAPSULATED, m(PINGREQ)), ErrLength},
	{"encapsulation length past datagram", "5.5", cat(9, ENCAPSULATED, 0, 1), ErrTruncated},
	{"encapsulation without message", "5.5", cat(4, ENCAPSULATED, 0, 1), ErrTruncated},
	{"encapsulation nested", "5.5", cat(3, ENCAPSULATED, 0, 3, ENCAPSULATED, 0, m(PINGREQ)), ErrMalformed},
	{"encapsulation bad inner", "5.5", cat(3, ENCAPSULATED, 0, m(CONNACK)), ErrTruncated},
	{"encapsulation with 3-octet length", "5.5", m3(ENCAPSULATED, 0, m(PINGREQ)), ErrMalformed},
}

// unencodable messages Append must refuse.
var unencodable = []struct {
	name string
	msg  Message
	kind error
}{
	{"nil", nil, ErrMalformed},
	{"typed nil", (*Publish)(nil), ErrMalformed},
	{"typed nil fixed", (*Puback)(nil), ErrMalformed},
	{"publish qos 3", &Publish{QoS: 3}, ErrMalformed},
	{"publish qos -2", &Publish{QoS: -2}, ErrMalformed},
	{"publish topic id type 4", &Publish{TopicIDType: 4}, ErrMalformed},
	{"subscribe topic id type 9", &Subscribe{TopicIDType: 9}, ErrMalformed},
	{"publish too large", &Publish{Data: make([]byte, MaxMessageSize)}, ErrTooLarge},
	{"encapsulated nil message", &Encapsulated{}, ErrMalformed},
	{"encapsulated nested", &Encapsulated{Msg: &Encapsulated{Msg: &Pingreq{}}}, ErrMalformed},
	{"encapsulated node id too long", &Encapsulated{WirelessNodeID: make([]byte, 253), Msg: &Pingreq{}}, ErrMalformed},
	{"encapsulated radius 4", &Encapsulated{Radius: 4, Msg: &Pingreq{}}, ErrMalformed},
	{"encapsulated bad inner", &Encapsulated{Msg: &Publish{QoS: 5}}, ErrMalformed},
}
