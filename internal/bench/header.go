package bench

import "encoding/binary"

// HeaderSize is the size of the bench header at the start of every payload; Config.Size
// must be at least this.
const HeaderSize = 24

// headerMagic marks a bench payload ("mB").
const headerMagic = 0x6d42

// header is the decoded payload header.
//
//	offset 0  uint16 magic
//	offset 2  uint16 run id (random per bench process)
//	offset 4  uint32 publisher index
//	offset 8  uint64 sequence number, from 0
//	offset 16 int64  send time, Unix nanoseconds
type header struct {
	run  uint16
	pub  uint32
	seq  uint64
	sent int64
}

// putHeaderStatic writes the fields that never change for one publisher.
func putHeaderStatic(b []byte, run uint16, pub uint32) {
	binary.BigEndian.PutUint16(b[0:], headerMagic)
	binary.BigEndian.PutUint16(b[2:], run)
	binary.BigEndian.PutUint32(b[4:], pub)
}

// putHeaderDynamic patches sequence number and send time in place.
func putHeaderDynamic(b []byte, seq uint64, sent int64) {
	binary.BigEndian.PutUint64(b[8:], seq)
	binary.BigEndian.PutUint64(b[16:], uint64(sent))
}

// parseHeader decodes a payload header; ok is false for payloads that are not from bench.
func parseHeader(b []byte) (h header, ok bool) {
	if len(b) < HeaderSize || binary.BigEndian.Uint16(b) != headerMagic {
		return h, false
	}
	h.run = binary.BigEndian.Uint16(b[2:])
	h.pub = binary.BigEndian.Uint32(b[4:])
	h.seq = binary.BigEndian.Uint64(b[8:])
	h.sent = int64(binary.BigEndian.Uint64(b[16:]))
	return h, true
}
