package broker

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/mqttkit/mqtt/mqtt/packet"
)

// FuzzConnStream feeds a stream of bytes, after a valid CONNECT, through
// a connection's read path (split at arbitrary points), then drops the
// connection: whatever the packets, valid or not, in whatever order, the
// broker must not panic, must end the connection cleanly and must keep
// no state of it (goleak in TestMain checks goroutines). The seeds run
// in `make test`; `make fuzz` explores.
func FuzzConnStream(f *testing.F) {
	for _, seed := range streamSeeds() {
		f.Add(seed)
	}
	var panics sync.Map
	o := DefaultOptions()
	o.Listeners = nil
	o.SysInterval = 0
	o.Authorizer = denyAuthz{} // exercise the ACL paths too
	o.Store = NewMemoryStore() // and the persistence paths
	b, err := New(o, nil)
	if err != nil {
		f.Fatal(err)
	}
	b.knobs.panicked = func(p any) { panics.Store(fmt.Sprint(p), true) }
	f.Cleanup(func() { b.Close() })

	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		// A hang is a failure too: dump every goroutine after 10 s.
		watchdog := time.AfterFunc(10*time.Second, func() {
			buf := make([]byte, 1<<20)
			panic(fmt.Sprintf("input %x hung:\n%s", data, buf[:runtime.Stack(buf, true)]))
		})
		defer watchdog.Stop()
		v := []byte{packet.V31, packet.V311, packet.V5}[int(data[0])%3]
		split := int(data[0]>>2) + 1
		name := "MQTT"
		if v == packet.V31 {
			name = "MQIsdp"
		}
		stream, _ := packet.Append(nil, &packet.Connect{ProtocolName: name, ProtocolVersion: v, ClientID: "fuzz", CleanStart: data[0]&2 == 0, KeepAlive: 30,
			Properties: packet.Properties{SessionExpiry: 60, HasSessionExpiry: v == packet.V5 && data[0]&2 != 0}}, v)
		stream = append(stream, data[1:]...)
		l, err := b.Attach(LocalConfig{Deliver: func(packet.Packet) {}})
		if err != nil {
			t.Fatal(err)
		}
		l.smu.Lock()
		for len(stream) > 0 && !l.ended {
			chunk := stream[:min(split, len(stream))]
			stream = stream[len(chunk):]
			_, err := l.input(func(p []byte) (int, error) { return copy(p, chunk), nil })
			if err != nil && err != errAgain {
				l.end(err)
			}
		}
		l.smu.Unlock()
		l.Close()
		panics.Range(func(k, _ any) bool {
			t.Fatalf("a handler panicked: %v", k)
			return false
		})
		deadline := time.Now().Add(5 * time.Second)
		for {
			b.mu.Lock()
			still := b.conns.has(&l.conn)
			b.mu.Unlock()
			if !still {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the connection is still registered after Close")
			}
			time.Sleep(time.Millisecond)
		}
	})
}

// streamSeeds are packet sequences that reach the handlers' states:
// subscriptions, every QoS both ways, takeovers of the same id, acks of
// the wrong kind, malformed packets after valid ones.
func streamSeeds() [][]byte {
	var seeds [][]byte
	for _, v := range []byte{0, 1, 2, 4 | 2} { // version index, clean flag bit
		var s []byte
		ver := []byte{packet.V31, packet.V311, packet.V5}[v%3]
		for _, p := range []packet.Packet{
			&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "a/#", QoS: 2}, {Filter: "$share/g/a/+", QoS: 1}}},
			&packet.Publish{Topic: "a/b", QoS: 1, PacketID: 2, Payload: []byte("x")},
			&packet.Publish{Topic: "a/b", QoS: 2, PacketID: 3, Retain: true, Payload: []byte("y")},
			&packet.Pubrel{PacketID: 3},
			&packet.Puback{PacketID: 1},
			&packet.Pubrec{PacketID: 2},
			&packet.Pubcomp{PacketID: 2},
			&packet.Publish{Topic: "secret/x", QoS: 1, PacketID: 4},
			&packet.Unsubscribe{PacketID: 5, Filters: []string{"a/#"}},
			&packet.Pingreq{},
		} {
			s, _ = packet.Append(s, p, ver)
		}
		seeds = append(seeds, append([]byte{v}, s...))
		dis, _ := packet.Append(nil, &packet.Disconnect{}, ver)
		seeds = append(seeds, append(append([]byte{v}, s...), dis...))
	}
	seeds = append(seeds,
		[]byte{1, 0x30, 0xff, 0xff, 0xff, 0x7f},       // a PUBLISH promising 256 MB
		[]byte{1, 0x82, 0x02, 0x00, 0x01},             // SUBSCRIBE without filters
		[]byte{2, 0x10, 0x00},                         // a second CONNECT
		[]byte{2, 0xf0, 0x00},                         // AUTH without a method
		[]byte{1, 0x62, 0x02, 0x00, 0x09, 0x62, 0x02}, // PUBREL for nothing, then a partial one
	)
	return seeds
}
