package broker

import (
	"testing"
	"unsafe"
)

// TestIdleFootprint keeps what every idle connection holds inside the
// allocator's size classes it was measured in (64-bit): a field more can
// move a struct up a class (socketConn 240 -> 256, Session 176 -> 192)
// and cost every connection the difference. If a change needs the room,
// take it from elsewhere (connExtra holds what few connections use) or
// update this with the measurement (idle RSS per connection, as in
// scripts/bench-compare.sh).
func TestIdleFootprint(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) != 8 {
		t.Skip("sizes are measured on 64-bit")
	}
	for _, c := range []struct {
		name      string
		size, max uintptr
	}{
		{"socketConn", unsafe.Sizeof(socketConn{}), 240},
		{"Session", unsafe.Sizeof(Session{}), 176}, // with idBuf
		{"tcpAddr4", unsafe.Sizeof(tcpAddr4{}), 8},
	} {
		if c.size > c.max {
			t.Errorf("%s is %d bytes, over the %d-byte size class every idle connection pays for", c.name, c.size, c.max)
		}
	}
}
