package packet

import (
	"bytes"
	"encoding/binary"
	"strings"
	"unicode/utf8"
)

// maxString is the longest UTF-8 string or binary field: a two-byte length.
const maxString = 65535

// reader walks a packet body. Every method bounds-checks and reports a
// MalformedPacket *Error naming the packet and field when the body is short.
//
// Strings are not converted one by one: s, when set, is a single string
// copy of b[:len(s)], and string fields inside it are substrings of it. A
// packet's strings then cost one allocation together, without aliasing the
// caller's (possibly reused) buffer.
type reader struct {
	b   []byte
	s   string
	off int
	t   Type
}

func (r *reader) left() int { return len(r.b) - r.off }

func (r *reader) short(field string) error {
	return errf(MalformedPacket, r.t, "%s: packet too short", field)
}

func (r *reader) u8(field string) (byte, error) {
	if r.off >= len(r.b) {
		return 0, r.short(field)
	}
	v := r.b[r.off]
	r.off++
	return v, nil
}

func (r *reader) u16(field string) (uint16, error) {
	if r.left() < 2 {
		return 0, r.short(field)
	}
	v := binary.BigEndian.Uint16(r.b[r.off:])
	r.off += 2
	return v, nil
}

func (r *reader) u32(field string) (uint32, error) {
	if r.left() < 4 {
		return 0, r.short(field)
	}
	v := binary.BigEndian.Uint32(r.b[r.off:])
	r.off += 4
	return v, nil
}

// varint reads a variable byte integer (§1.5.5); a fifth byte is malformed.
func (r *reader) varint(field string) (int, error) {
	v, n := parseVarint(r.b[r.off:])
	switch {
	case n == 0:
		return 0, r.short(field)
	case n < 0:
		return 0, errf(MalformedPacket, r.t, "%s: variable byte integer is longer than four bytes", field)
	}
	r.off += n
	return v, nil
}

// binary reads two-byte-length-prefixed binary data (§1.5.6). The result
// aliases the body and is non-nil even when empty.
func (r *reader) binary(field string) ([]byte, error) {
	n, err := r.u16(field)
	if err != nil {
		return nil, err
	}
	if r.left() < int(n) {
		return nil, errf(MalformedPacket, r.t, "%s: length %d exceeds the packet", field, n)
	}
	v := r.b[r.off : r.off+int(n) : r.off+int(n)]
	r.off += int(n)
	return v, nil
}

// rawString reads a UTF-8 string field (§1.5.4) without copying it, after
// checking that it is well-formed [MQTT-1.5.4-1] and holds no U+0000
// [MQTT-1.5.4-2]. A U+FEFF is kept as it is [MQTT-1.5.4-3].
func (r *reader) rawString(field string) ([]byte, error) {
	b, err := r.binary(field)
	if err != nil {
		return nil, err
	}
	if i := plainPrefix(b); i < len(b) {
		if !utf8.Valid(b[i:]) {
			return nil, errf(MalformedPacket, r.t, "%s is not valid UTF-8 [MQTT-1.5.4-1]", field)
		}
		if bytes.IndexByte(b[i:], 0) >= 0 {
			return nil, errf(MalformedPacket, r.t, "%s contains U+0000 [MQTT-1.5.4-2]", field)
		}
	}
	return b, nil
}

// str reads a UTF-8 string field and copies it (as a substring of r.s
// when that covers it).
func (r *reader) str(field string) (string, error) {
	b, err := r.rawString(field)
	if err != nil {
		return "", err
	}
	if r.off <= len(r.s) {
		return r.s[r.off-len(b) : r.off], nil
	}
	return string(b), nil
}

// share makes r.s cover b[:end] with one string copy, unless it already
// does.
func (r *reader) share(end int) {
	if len(r.s) < end {
		r.s = string(r.b[:end])
	}
}

// end reports trailing bytes: a packet must be consumed exactly.
func (r *reader) end() error {
	if r.off != len(r.b) {
		return errf(MalformedPacket, r.t, "%d unexpected bytes after the packet's last field", len(r.b)-r.off)
	}
	return nil
}

// checkString validates a string field before it is encoded: at most 65,535
// bytes, well-formed UTF-8 [MQTT-1.5.4-1], no U+0000 [MQTT-1.5.4-2].
func checkString(t Type, field, s string) error {
	if len(s) > maxString {
		return errf(MalformedPacket, t, "%s is %d bytes, longer than 65535", field, len(s))
	}
	if i := plainPrefix(s); i < len(s) {
		if !utf8.ValidString(s[i:]) {
			return errf(MalformedPacket, t, "%s is not valid UTF-8 [MQTT-1.5.4-1]", field)
		}
		if strings.IndexByte(s[i:], 0) >= 0 {
			return errf(MalformedPacket, t, "%s contains U+0000 [MQTT-1.5.4-2]", field)
		}
	}
	return nil
}

// plainPrefix returns the length of s's leading run of 8-byte words of
// ASCII without U+0000, which needs no further UTF-8 check. One pass over
// typical (ASCII) topics and properties instead of a UTF-8 pass and a NUL
// search; anything else is left to the exact checks.
func plainPrefix[T string | []byte](s T) int {
	const hi, lo = 0x8080808080808080, 0x0101010101010101
	i := 0
	for ; i+8 <= len(s); i += 8 {
		w := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		if w&hi != 0 || (w-lo)&^w&hi != 0 { // a non-ASCII byte, or a zero byte
			return i
		}
	}
	for ; i < len(s); i++ {
		if c := s[i]; c == 0 || c >= utf8.RuneSelf {
			return i
		}
	}
	return i
}

// checkBinary validates a binary field's length before it is encoded.
func checkBinary(t Type, field string, b []byte) error {
	if len(b) > maxString {
		return errf(MalformedPacket, t, "%s is %d bytes, longer than 65535", field, len(b))
	}
	return nil
}

func appendU16(dst []byte, v uint16) []byte { return append(dst, byte(v>>8), byte(v)) }

func appendU32(dst []byte, v uint32) []byte {
	return append(dst, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

func appendString(dst []byte, s string) []byte {
	dst = appendU16(dst, uint16(len(s)))
	return append(dst, s...)
}

func appendBinary(dst []byte, b []byte) []byte {
	dst = appendU16(dst, uint16(len(b)))
	return append(dst, b...)
}

// Discouraged returns the first code point of s that MQTT tells senders not to use in a
// UTF-8 string and lets receivers close the connection for [MQTT-1.5.3] (5.0: 1.5.4): the
// control characters U+0001..U+001F and U+007F..U+009F, and the non-characters
// U+FDD0..U+FDEF and U+nFFFE, U+nFFFF. Mosquitto closes a connection whose strings hold
// one (its mosquitto_validate_utf8), so a gateway or bridge that relays strings it did
// not choose refuses them first. s is otherwise assumed well-formed (see checkString);
// ok is false when there is none.
func Discouraged(s string) (r rune, ok bool) {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if (c < 0x20 && c != 0) || c == 0x7F {
				return rune(c), true
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r >= 0x80 && r <= 0x9F, r >= 0xFDD0 && r <= 0xFDEF, r&0xFFFE == 0xFFFE:
			return r, true
		}
		i += n
	}
	return 0, false
}
