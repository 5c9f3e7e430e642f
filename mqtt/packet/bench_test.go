package packet

import (
	"bytes"
	"testing"
)

// benchPublish is a typical MQTT 5 QoS 1 message with properties.
var benchPublish = &Publish{
	QoS: 1, PacketID: 4242, Topic: "building/7/floor/3/room/12/temperature",
	Properties: Properties{
		PayloadFormat: 1, HasPayloadFormat: true,
		MessageExpiry: 300, HasMessageExpiry: true,
		ContentType:     "application/json",
		SubscriptionIDs: []uint32{17},
		User:            []UserProperty{{"unit", "celsius"}, {"sensor", "bme280"}},
	},
	Payload: []byte(`{"t":21.5,"h":40.2,"ts":1700000000}`),
}

// TestAppendDoesNotAllocate: encoding into a buffer with room allocates
// nothing, for every vector.
func TestAppendDoesNotAllocate(t *testing.T) {
	buf := make([]byte, 0, 4096)
	for _, v := range vectors {
		allocs := testing.AllocsPerRun(20, func() {
			if _, err := Append(buf[:0], v.packet, v.version); err != nil {
				t.Fatal(err)
			}
			_ = Size(v.packet, v.version)
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations", v.label(), allocs)
		}
	}
}

// TestDecodePublishAllocations: reusing a Publish, decoding costs one
// allocation (the topic string) when there are no string properties.
func TestDecodePublishAllocations(t *testing.T) {
	raw := pkt(0x32, str("a/b/c"), u16(1), []byte("payload"))
	var p Publish
	allocs := testing.AllocsPerRun(50, func() {
		if err := DecodePublish(&p, V311, raw[0], raw[2:]); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 1 {
		t.Fatalf("DecodePublish: %v allocations, want at most 1", allocs)
	}
}

func BenchmarkAppendPublish(b *testing.B) {
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	b.SetBytes(int64(Size(benchPublish, V5)))
	for b.Loop() {
		var err error
		if buf, err = Append(buf[:0], benchPublish, V5); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendPublish311(b *testing.B) {
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = Append(buf[:0], benchPublish, V311)
	}
}

func BenchmarkSizePublish(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = Size(benchPublish, V5)
	}
}

func BenchmarkDecodePublish(b *testing.B) {
	raw, _ := Append(nil, benchPublish, V5)
	_, _, n, _ := ParseHeader(raw)
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if _, err := Decode(V5, raw[0], raw[n:]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodePublishReuse is the broker's read loop: one Publish value
// reused, the MQTT 5 properties included.
func BenchmarkDecodePublishReuse(b *testing.B) {
	raw, _ := Append(nil, benchPublish, V5)
	_, _, n, _ := ParseHeader(raw)
	var p Publish
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if err := DecodePublish(&p, V5, raw[0], raw[n:]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodePublish311(b *testing.B) {
	raw, _ := Append(nil, benchPublish, V311)
	_, _, n, _ := ParseHeader(raw)
	var p Publish
	b.ReportAllocs()
	for b.Loop() {
		if err := DecodePublish(&p, V311, raw[0], raw[n:]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReadPacketPublish(b *testing.B) {
	raw, _ := Append(nil, benchPublish, V5)
	r := bytes.NewReader(raw)
	b.ReportAllocs()
	for b.Loop() {
		r.Reset(raw)
		if _, err := ReadPacket(r, V5, 0); err != nil {
			b.Fatal(err)
		}
	}
}
