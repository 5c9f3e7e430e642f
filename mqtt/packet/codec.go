package packet

import (
	"errors"
	"io"
	"slices"
)

// DefaultMaxPacketSize is the largest packet the protocol can express:
// 268,435,455 bytes of remaining length plus the fixed header.
const DefaultMaxPacketSize = 268435455 + 5

// plan carries the sizes computed (and the validation done) before a
// packet is written, so the remaining length precedes the body without a
// second pass or a memmove.
type plan struct {
	body      int // remaining length
	props     int // property bytes, without their length
	willProps int // CONNECT will property bytes
}

// encoder is implemented by every packet type.
type encoder interface {
	Packet
	plan(version byte) (plan, error)
	first(version byte) byte
	appendBody(dst []byte, version byte, pl plan) []byte
}

// Decode decodes one packet from its first header byte and its body (the
// remaining-length bytes). version is the connection's protocol level; it
// is ignored for CONNECT, which carries its own. The result may alias body.
func Decode(version byte, first byte, body []byte) (Packet, error) {
	return decode(version, first, body, false)
}

// DecodeLenient is Decode for a client reading what a server sent: a
// reason code the specification does not list for the packet (Mosquitto
// answers an oversized PUBLISH with PUBACK 0x95 Packet too large, which
// MQTT 5 allows only in CONNACK and DISCONNECT) is returned as it is
// instead of failing the packet as malformed. The caller judges it: 0x80
// and above is a failure with that code. Everything else is checked as
// strictly as by Decode; a server, which the specification holds to the
// lists, uses Decode.
func DecodeLenient(version byte, first byte, body []byte) (Packet, error) {
	return decode(version, first, body, true)
}

func decode(version byte, first byte, body []byte, lenient bool) (Packet, error) {
	if err := CheckFlags(version, first); err != nil {
		return nil, err
	}
	var err error
	var p Packet
	switch Type(first >> 4) {
	case CONNECT:
		c := new(Connect)
		p, err = c, c.decode(body)
	case CONNACK:
		c := new(Connack)
		p, err = c, c.decode(version, body, lenient)
	case PUBLISH:
		c := new(Publish)
		p, err = c, c.decode(version, first, body)
	case PUBACK:
		c := new(Puback)
		p, err = c, decodeAck(c, PUBACK, version, body, lenient)
	case PUBREC:
		c := new(Pubrec)
		p, err = c, decodeAck((*Puback)(c), PUBREC, version, body, lenient)
	case PUBREL:
		c := new(Pubrel)
		p, err = c, decodeAck((*Puback)(c), PUBREL, version, body, lenient)
	case PUBCOMP:
		c := new(Pubcomp)
		p, err = c, decodeAck((*Puback)(c), PUBCOMP, version, body, lenient)
	case SUBSCRIBE:
		c := new(Subscribe)
		p, err = c, c.decode(version, body)
	case SUBACK:
		c := new(Suback)
		p, err = c, c.decode(version, body, lenient)
	case UNSUBSCRIBE:
		c := new(Unsubscribe)
		p, err = c, c.decode(version, body)
	case UNSUBACK:
		c := new(Unsuback)
		p, err = c, c.decode(version, body, lenient)
	case PINGREQ:
		p, err = &Pingreq{}, decodeEmpty(PINGREQ, body)
	case PINGRESP:
		p, err = &Pingresp{}, decodeEmpty(PINGRESP, body)
	case DISCONNECT:
		c := new(Disconnect)
		p, err = c, c.decode(version, body, lenient)
	case AUTH:
		c := new(Auth)
		p, err = c, c.decode(body, lenient)
	}
	if err != nil {
		return nil, err
	}
	return p, nil
}

// ReadPacket reads and decodes one packet from r. A packet whose size exceeds
// maxSize (0: DefaultMaxPacketSize) gets a PacketTooLarge *Error before its
// body is read, so an attacker's length field never sizes an allocation.
// A clean end of stream before the first byte returns io.EOF; an end inside
// a packet returns io.ErrUnexpectedEOF.
func ReadPacket(r io.Reader, version byte, maxSize int) (Packet, error) {
	return readPacket(r, version, maxSize, false)
}

// ReadPacketLenient is ReadPacket for a client: the packet is decoded by
// DecodeLenient.
func ReadPacketLenient(r io.Reader, version byte, maxSize int) (Packet, error) {
	return readPacket(r, version, maxSize, true)
}

func readPacket(r io.Reader, version byte, maxSize int, lenient bool) (Packet, error) {
	if maxSize <= 0 {
		maxSize = DefaultMaxPacketSize
	}
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:1]); err != nil {
		return nil, err
	}
	n := 1
	for {
		if _, err := io.ReadFull(r, hdr[n:n+1]); err != nil {
			return nil, noEOF(err)
		}
		n++
		if hdr[n-1]&0x80 == 0 {
			break
		}
		if n == len(hdr) {
			return nil, errf(MalformedPacket, Type(hdr[0]>>4), "remaining length is longer than four bytes")
		}
	}
	first, remaining, hn, err := ParseHeader(hdr[:n])
	if err != nil {
		return nil, err
	}
	if err := CheckFlags(version, first); err != nil {
		return nil, err
	}
	if hn+remaining > maxSize {
		return nil, errf(PacketTooLarge, Type(first>>4), "packet of %d bytes exceeds the maximum packet size %d", hn+remaining, maxSize)
	}
	body := make([]byte, remaining)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, noEOF(err)
	}
	return decode(version, first, body, lenient)
}

func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// Append encodes p for the given protocol version and appends it to dst.
// Properties are written only for V5. It does not allocate when dst has room.
// An invalid packet (a QoS > 0 PUBLISH without packet identifier, a string
// over 65,535 bytes, a property not valid for the packet, ...) returns an
// *Error and dst unchanged.
func Append(dst []byte, p Packet, version byte) ([]byte, error) {
	e, ok := p.(encoder)
	if !ok {
		return dst, &Error{Code: MalformedPacket, Msg: "packet: cannot encode a nil or unknown packet"}
	}
	pl, err := e.plan(version)
	if err != nil {
		return dst, err
	}
	if pl.body > MaxRemainingLength {
		return dst, errf(PacketTooLarge, e.Type(), "remaining length %d exceeds 268435455", pl.body)
	}
	dst = slices.Grow(dst, 1+VarintSize(pl.body)+pl.body)
	dst = appendHeader(dst, e.first(version), pl.body)
	return e.appendBody(dst, version, pl), nil
}

// Size returns the encoded size of p for version, fixed header included, so
// callers can honour a peer's Maximum Packet Size before encoding. It
// returns 0 if p cannot be encoded (Append reports why).
func Size(p Packet, version byte) int {
	e, ok := p.(encoder)
	if !ok {
		return 0
	}
	pl, err := e.plan(version)
	if err != nil || pl.body > MaxRemainingLength {
		return 0
	}
	return 1 + VarintSize(pl.body) + pl.body
}

// propsLen is the size of a property block: its length and its content.
func propsLen(n int) int { return VarintSize(n) + n }

func nilPacket(t Type) error { return errf(MalformedPacket, t, "nil packet") }
