package sn

import "testing"

// Codec costs per message. The gateway's end-to-end throughput is measured with
// `mqtt bench --sn` (scripts/bench-sn.sh); TestPerfGateway serves a broker and gateway for
// profiling under such a load.

func BenchmarkDecodePublish(b *testing.B) {
	enc, _ := Append(nil, &Publish{QoS: 1, TopicID: 1, MsgID: 2, Data: make([]byte, 64)})
	b.ReportAllocs()
	b.SetBytes(int64(len(enc)))
	for b.Loop() {
		if _, err := Decode(enc); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendPublish(b *testing.B) {
	p := &Publish{QoS: 1, TopicID: 1, MsgID: 2, Data: make([]byte, 64)}
	buf := make([]byte, 0, 128)
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = Append(buf[:0], p)
	}
}
