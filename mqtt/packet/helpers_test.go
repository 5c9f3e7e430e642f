package packet

import (
	"bytes"
	"reflect"
)

// Byte-building helpers for hand-written test vectors. They are written
// independently of the codec (their own varint) so a vector checks the codec
// rather than repeating it.

func b(xs ...byte) []byte { return xs }

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	if out == nil {
		out = []byte{}
	}
	return out
}

func vbi(n int) []byte {
	var out []byte
	for {
		d := byte(n % 128)
		n /= 128
		if n > 0 {
			d |= 0x80
		}
		out = append(out, d)
		if n == 0 {
			return out
		}
	}
}

func u16(v uint16) []byte { return []byte{byte(v >> 8), byte(v)} }
func u32(v uint32) []byte { return []byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)} }

// str is a UTF-8 string field: two-byte length, then the bytes.
func str(s string) []byte { return cat(u16(uint16(len(s))), []byte(s)) }

// props is a property block: its variable byte integer length, then parts.
func props(parts ...[]byte) []byte {
	body := cat(parts...)
	return cat(vbi(len(body)), body)
}

// pkt is a whole packet: first byte, remaining length, body.
func pkt(first byte, body ...[]byte) []byte {
	bd := cat(body...)
	return cat([]byte{first}, vbi(len(bd)), bd)
}

func u8p(v byte) []byte { return []byte{v} }

// normalize clears the difference between a nil and an empty payload,
// password or will payload, which the codec cannot tell apart on the wire
// (binary properties keep their nil/non-nil meaning: present or not).
func normalize(p Packet) Packet {
	switch p := p.(type) {
	case *Publish:
		q := *p
		if len(q.Payload) == 0 {
			q.Payload = nil
		}
		return &q
	case *Connect:
		q := *p
		if len(q.Password) == 0 {
			q.Password = nil
		}
		if len(q.WillPayload) == 0 {
			q.WillPayload = nil
		}
		return &q
	}
	return p
}

func equalPackets(a, b Packet) bool {
	return reflect.DeepEqual(normalize(a), normalize(b))
}

var _ = bytes.Equal
