package packet

import "io"

// DefaultMaxPacketSize is the largest packet the protocol can express:
// 268,435,455 bytes of remaining length plus the fixed header.
const DefaultMaxPacketSize = 268435455 + 5

// ErrIncomplete is returned by ParseHeader when the buffer does not yet hold
// a whole fixed header.
var ErrIncomplete error = errIncomplete{}

type errIncomplete struct{}

func (errIncomplete) Error() string { return "packet: incomplete fixed header" }

// Error is a decoding or validation error. Code is the reason code to send
// (MalformedPacket, ProtocolError, PacketTooLarge, ...).
type Error struct {
	Code ReasonCode
	Msg  string
}

// ReasonOf returns the reason code carried by err: err itself if it is a
// ReasonCode, Error.Code for *Error, UnspecifiedError otherwise.
func ReasonOf(err error) ReasonCode { return UnspecifiedError }

// ParseHeader reads a fixed header at the start of buf. It returns the first
// byte, the remaining length and the header's length in bytes, or
// ErrIncomplete if buf is too short, or a MalformedPacket *Error.
func ParseHeader(buf []byte) (first byte, remaining int, n int, err error) {
	return 0, 0, 0, ErrIncomplete
}

// Decode decodes one packet from its first header byte and its body (the
// remaining-length bytes). version is the connection's protocol level; it
// is ignored for CONNECT, which carries its own. The result may alias body.
func Decode(version byte, first byte, body []byte) (Packet, error) { return nil, ErrUnimplemented }

// ReadPacket reads and decodes one packet from r. A packet whose size exceeds
// maxSize (0: DefaultMaxPacketSize) gets a PacketTooLarge *Error before its
// body is read, so an attacker's length field never sizes an allocation.
func ReadPacket(r io.Reader, version byte, maxSize int) (Packet, error) { return nil, ErrUnimplemented }

// Append encodes p for the given protocol version and appends it to dst.
// Properties are written only for V5. It does not allocate when dst has room.
func Append(dst []byte, p Packet, version byte) ([]byte, error) { return dst, ErrUnimplemented }

// Size returns the encoded size of p for version, fixed header included, so
// callers can honour a peer's Maximum Packet Size before encoding.
func Size(p Packet, version byte) int { return 0 }

// ConnackReturnCode maps an MQTT 5 CONNACK reason code to the 3.x return code
// (0 accepted, 1 bad protocol version, 2 identifier rejected, 3 server
// unavailable, 4 bad user name or password, 5 not authorized).
func ConnackReturnCode(rc ReasonCode) byte { return 0 }

// ErrUnimplemented marks the API stubs while the codec is being written.
var ErrUnimplemented = &Error{Code: ImplementationSpecificError, Msg: "packet: not implemented yet"}

func (e *Error) Error() string     { return e.Msg }
func (r ReasonCode) Error() string { return "reason code" }
