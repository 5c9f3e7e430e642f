package packet

import "strconv"

// MaxRemainingLength is the largest value a variable byte integer can hold,
// and so the largest remaining length of a packet (§1.5.5).
const MaxRemainingLength = 268435455

var typeNames = [16]string{"RESERVED", "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC", "PUBREL",
	"PUBCOMP", "SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "PINGREQ", "PINGRESP", "DISCONNECT", "AUTH"}

// String returns the packet type's name as the specification writes it.
func (t Type) String() string {
	if t < 16 {
		return typeNames[t]
	}
	return "TYPE(" + strconv.Itoa(int(t)) + ")"
}

// VarintSize returns the number of bytes AppendVarint writes for v
// (0 <= v <= MaxRemainingLength).
func VarintSize(v int) int {
	switch {
	case v < 1<<7:
		return 1
	case v < 1<<14:
		return 2
	case v < 1<<21:
		return 3
	default:
		return 4
	}
}

// AppendVarint appends v as a variable byte integer (§1.5.5) using the
// minimum number of bytes [MQTT-1.5.5-1]. v must be within
// 0..MaxRemainingLength; callers validate before encoding.
func AppendVarint(dst []byte, v int) []byte {
	for {
		b := byte(v & 0x7f)
		v >>= 7
		if v > 0 {
			b |= 0x80
		}
		dst = append(dst, b)
		if v == 0 {
			return dst
		}
	}
}

// parseVarint decodes a variable byte integer at the start of buf. It
// returns n == 0 if buf ends before the integer does and n < 0 if a fourth
// byte still has its continuation bit set (more than four bytes is
// malformed, §1.5.5).
func parseVarint(buf []byte) (v int, n int) {
	for i := 0; i < 4; i++ {
		if i >= len(buf) {
			return 0, 0
		}
		b := buf[i]
		v |= int(b&0x7f) << (7 * i)
		if b&0x80 == 0 {
			return v, i + 1
		}
	}
	return 0, -1
}

// ParseHeader reads a fixed header at the start of buf. It returns the first
// byte, the remaining length and the header's length in bytes, or
// ErrIncomplete if buf is too short, or a MalformedPacket *Error (a
// remaining length longer than four bytes, or the reserved packet type 0).
func ParseHeader(buf []byte) (first byte, remaining int, n int, err error) {
	if len(buf) == 0 {
		return 0, 0, 0, ErrIncomplete
	}
	first = buf[0]
	if first>>4 == 0 {
		return 0, 0, 0, errf(MalformedPacket, 0, "packet type 0 is reserved")
	}
	v, m := parseVarint(buf[1:])
	switch {
	case m == 0:
		return 0, 0, 0, ErrIncomplete
	case m < 0:
		return 0, 0, 0, errf(MalformedPacket, Type(first>>4), "remaining length is longer than four bytes")
	}
	return first, v, 1 + m, nil
}

// CheckFlags validates the low nibble of a fixed header's first byte for
// the connection's protocol version (§2.1.3). PUBLISH flags must have QoS
// 0..2 [MQTT-3.3.1-4] and no DUP at QoS 0 [MQTT-3.3.1-2]; PUBREL, SUBSCRIBE
// and UNSUBSCRIBE carry 0b0010 [MQTT-3.6.1-1] [MQTT-3.8.1-1]
// [MQTT-3.10.1-1]; every other packet 0b0000 [MQTT-2.2.2-1] [MQTT-2.1.3-1].
// AUTH exists only in MQTT 5. MQTT 3.1 receivers were never required to
// check reserved flags (its clients set DUP on retried PUBREL/SUBSCRIBE),
// so for V31 only the PUBLISH rules apply.
func CheckFlags(version, first byte) error {
	t := Type(first >> 4)
	flags := first & 0x0f
	switch t {
	case 0:
		return errf(MalformedPacket, t, "packet type 0 is reserved")
	case PUBLISH:
		qos := (flags >> 1) & 3
		if qos == 3 {
			return errf(MalformedPacket, t, "QoS 3 is not allowed [MQTT-3.3.1-4]")
		}
		if qos == 0 && flags&0x08 != 0 {
			return errf(MalformedPacket, t, "DUP flag set with QoS 0 [MQTT-3.3.1-2]")
		}
		return nil
	case AUTH:
		if version != V5 {
			return errf(MalformedPacket, t, "packet type 15 is reserved before MQTT 5")
		}
	}
	if version == V31 {
		return nil
	}
	want := byte(0)
	if t == PUBREL || t == SUBSCRIBE || t == UNSUBSCRIBE {
		want = 0x02
	}
	if flags != want {
		return errf(MalformedPacket, t, "reserved fixed header flags are 0x%X, must be 0x%X [MQTT-2.1.3-1]", flags, want)
	}
	return nil
}

// appendHeader writes a fixed header.
func appendHeader(dst []byte, first byte, remaining int) []byte {
	dst = append(dst, first)
	return AppendVarint(dst, remaining)
}
