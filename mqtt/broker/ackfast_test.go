package broker

import (
	"reflect"
	"testing"

	"github.com/mqttkit/mqtt/mqtt/packet"
)

// TestPlainAckID: consume reads only the plain acknowledgements itself
// (a packet id alone), and those exactly as packet.Decode does.
func TestPlainAckID(t *testing.T) {
	tests := []struct {
		name  string
		first byte
		body  []byte
		want  uint16
	}{
		{"PUBACK", 0x40, []byte{0x12, 0x34}, 0x1234},
		{"PUBREC", 0x50, []byte{0, 1}, 1},
		{"PUBREL", 0x62, []byte{0xFF, 0xFF}, 65535},
		{"PUBCOMP", 0x70, []byte{1, 0}, 256},
		{"packet id 0: Decode's error", 0x40, []byte{0, 0}, 0},
		{"with a reason code", 0x40, []byte{0, 1, 0x10}, 0},
		{"with properties", 0x40, []byte{0, 1, 0, 0}, 0},
		{"short", 0x40, []byte{1}, 0},
		{"UNSUBACK", 0xB0, []byte{0, 1}, 0},
		{"PINGREQ", 0xC0, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := plainAckID(tt.first, tt.body)
			if got != tt.want {
				t.Fatalf("plainAckID = %d, want %d", got, tt.want)
			}
			if got == 0 {
				return
			}
			for _, v := range []byte{packet.V311, packet.V5} {
				p, err := packet.Decode(v, tt.first, tt.body)
				if err != nil {
					t.Fatal(err)
				}
				var a *packet.Puback
				switch p := p.(type) {
				case *packet.Puback:
					a = p
				case *packet.Pubrec:
					a = (*packet.Puback)(p)
				case *packet.Pubrel:
					a = (*packet.Puback)(p)
				case *packet.Pubcomp:
					a = (*packet.Puback)(p)
				}
				if a == nil || !reflect.DeepEqual(*a, packet.Puback{PacketID: got}) {
					t.Fatalf("version %d: Decode gives %#v, consume would give id %d alone", v, p, got)
				}
			}
		})
	}
}
