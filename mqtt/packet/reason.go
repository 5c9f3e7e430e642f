package packet

import (
	"errors"
	"fmt"
)

// ReasonCode is an MQTT 5 reason code (§2.4). It implements error so a
// handler can return the code it wants sent.
type ReasonCode byte

// MQTT 5 reason codes. Several share a value; the name says the context.
const (
	Success                             ReasonCode = 0x00
	NormalDisconnection                 ReasonCode = 0x00
	GrantedQoS0                         ReasonCode = 0x00
	GrantedQoS1                         ReasonCode = 0x01
	GrantedQoS2                         ReasonCode = 0x02
	DisconnectWithWill                  ReasonCode = 0x04
	NoMatchingSubscribers               ReasonCode = 0x10
	NoSubscriptionExisted               ReasonCode = 0x11
	ContinueAuthentication              ReasonCode = 0x18
	ReAuthenticate                      ReasonCode = 0x19
	UnspecifiedError                    ReasonCode = 0x80
	MalformedPacket                     ReasonCode = 0x81
	ProtocolError                       ReasonCode = 0x82
	ImplementationSpecificError         ReasonCode = 0x83
	UnsupportedProtocolVersion          ReasonCode = 0x84
	ClientIdentifierNotValid            ReasonCode = 0x85
	BadUserNameOrPassword               ReasonCode = 0x86
	NotAuthorized                       ReasonCode = 0x87
	ServerUnavailable                   ReasonCode = 0x88
	ServerBusy                          ReasonCode = 0x89
	Banned                              ReasonCode = 0x8A
	ServerShuttingDown                  ReasonCode = 0x8B
	BadAuthenticationMethod             ReasonCode = 0x8C
	KeepAliveTimeout                    ReasonCode = 0x8D
	SessionTakenOver                    ReasonCode = 0x8E
	TopicFilterInvalid                  ReasonCode = 0x8F
	TopicNameInvalid                    ReasonCode = 0x90
	PacketIdentifierInUse               ReasonCode = 0x91
	PacketIdentifierNotFound            ReasonCode = 0x92
	ReceiveMaximumExceeded              ReasonCode = 0x93
	TopicAliasInvalid                   ReasonCode = 0x94
	PacketTooLarge                      ReasonCode = 0x95
	MessageRateTooHigh                  ReasonCode = 0x96
	QuotaExceeded                       ReasonCode = 0x97
	AdministrativeAction                ReasonCode = 0x98
	PayloadFormatInvalid                ReasonCode = 0x99
	RetainNotSupported                  ReasonCode = 0x9A
	QoSNotSupported                     ReasonCode = 0x9B
	UseAnotherServer                    ReasonCode = 0x9C
	ServerMoved                         ReasonCode = 0x9D
	SharedSubscriptionsNotSupported     ReasonCode = 0x9E
	ConnectionRateExceeded              ReasonCode = 0x9F
	MaximumConnectTime                  ReasonCode = 0xA0
	SubscriptionIdentifiersNotSupported ReasonCode = 0xA1
	WildcardSubscriptionsNotSupported   ReasonCode = 0xA2
)

var reasonNames = map[ReasonCode]string{
	0x00: "Success",
	0x01: "Granted QoS 1",
	0x02: "Granted QoS 2",
	0x04: "Disconnect with Will Message",
	0x10: "No matching subscribers",
	0x11: "No subscription existed",
	0x18: "Continue authentication",
	0x19: "Re-authenticate",
	0x80: "Unspecified error",
	0x81: "Malformed Packet",
	0x82: "Protocol Error",
	0x83: "Implementation specific error",
	0x84: "Unsupported Protocol Version",
	0x85: "Client Identifier not valid",
	0x86: "Bad User Name or Password",
	0x87: "Not authorized",
	0x88: "Server unavailable",
	0x89: "Server busy",
	0x8A: "Banned",
	0x8B: "Server shutting down",
	0x8C: "Bad authentication method",
	0x8D: "Keep Alive timeout",
	0x8E: "Session taken over",
	0x8F: "Topic Filter invalid",
	0x90: "Topic Name invalid",
	0x91: "Packet Identifier in use",
	0x92: "Packet Identifier not found",
	0x93: "Receive Maximum exceeded",
	0x94: "Topic Alias invalid",
	0x95: "Packet too large",
	0x96: "Message rate too high",
	0x97: "Quota exceeded",
	0x98: "Administrative action",
	0x99: "Payload format invalid",
	0x9A: "Retain not supported",
	0x9B: "QoS not supported",
	0x9C: "Use another server",
	0x9D: "Server moved",
	0x9E: "Shared Subscriptions not supported",
	0x9F: "Connection rate exceeded",
	0xA0: "Maximum connect time",
	0xA1: "Subscription Identifiers not supported",
	0xA2: "Wildcard Subscriptions not supported",
}

// String returns the specification's name for r (§2.4), using the first
// name where several codes share a value (0x00 is "Success").
func (r ReasonCode) String() string {
	if s, ok := reasonNames[r]; ok {
		return s
	}
	return fmt.Sprintf("reason code 0x%02X", byte(r))
}

// Error returns the reason code's name, so a ReasonCode can be returned as
// an error and later recovered with ReasonOf.
func (r ReasonCode) Error() string { return r.String() }

// IsError reports whether r signals failure (0x80 and above).
func (r ReasonCode) IsError() bool { return r >= 0x80 }

// Error is a decoding or validation error. Code is the reason code to send
// (MalformedPacket, ProtocolError, PacketTooLarge, ...).
type Error struct {
	Code ReasonCode
	Msg  string
}

// Error returns the message, which names the packet and field.
func (e *Error) Error() string { return e.Msg }

// Is lets errors.Is(err, packet.MalformedPacket) match an *Error by code.
func (e *Error) Is(target error) bool {
	rc, ok := target.(ReasonCode)
	return ok && rc == e.Code
}

// ReasonOf returns the reason code carried by err: err itself if it is a
// ReasonCode, Error.Code for *Error, UnspecifiedError otherwise. Wrapped
// errors are unwrapped. A nil err yields Success.
func ReasonOf(err error) ReasonCode {
	if err == nil {
		return Success
	}
	var pe *Error
	if errors.As(err, &pe) {
		return pe.Code
	}
	var rc ReasonCode
	if errors.As(err, &rc) {
		return rc
	}
	return UnspecifiedError
}

// ErrIncomplete is returned by ParseHeader when the buffer does not yet hold
// a whole fixed header.
var ErrIncomplete error = errIncomplete{}

type errIncomplete struct{}

func (errIncomplete) Error() string { return "packet: incomplete fixed header" }

// ErrUnimplemented marks the API stubs while the codec is being written.
//
// Deprecated: every packet is implemented; nothing returns it any more.
var ErrUnimplemented = &Error{Code: ImplementationSpecificError, Msg: "packet: not implemented yet"}

// errf builds an *Error whose message names the packet type.
func errf(code ReasonCode, t Type, format string, args ...any) *Error {
	return &Error{Code: code, Msg: "packet: " + t.String() + ": " + fmt.Sprintf(format, args...)}
}

// codeSet is a 256-bit set of reason codes valid for one packet type.
type codeSet [4]uint64

func newCodeSet(codes ...ReasonCode) codeSet {
	var s codeSet
	for _, c := range codes {
		s[c>>6] |= 1 << (c & 63)
	}
	return s
}

func (s *codeSet) has(c ReasonCode) bool { return s[c>>6]&(1<<(c&63)) != 0 }

// anyCode holds every code: what the lenient decoders accept.
var anyCode = codeSet{^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0)}

// Reason codes allowed per packet (MQTT 5 §3.2.2.2, §3.4.2.1, §3.5.2.1,
// §3.6.2.1, §3.7.2.1, §3.9.3, §3.11.3, §3.14.2.1, §3.15.2.1).
var (
	connackCodes = newCodeSet(0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89,
		0x8A, 0x8C, 0x90, 0x95, 0x97, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F)
	pubackCodes     = newCodeSet(0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99) // PUBACK, PUBREC
	pubrelCodes     = newCodeSet(0x00, 0x92)                                           // PUBREL, PUBCOMP
	subackCodes     = newCodeSet(0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2)
	subackCodes3    = newCodeSet(0x00, 0x01, 0x02, 0x80)
	unsubackCodes   = newCodeSet(0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91)
	disconnectCodes = newCodeSet(0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D, 0x8E,
		0x8F, 0x90, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F,
		0xA0, 0xA1, 0xA2)
	authCodes = newCodeSet(0x00, 0x18, 0x19)
)
