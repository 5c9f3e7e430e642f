//go:build linux

package broker

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mqttkit/mqtt/internal/testutil"
	"github.com/mqttkit/mqtt/mqtt/packet"
)

// slowConn reads at most chunk bytes at a time, after a pause: a
// subscriber that keeps its socket full.
type slowConn struct {
	net.Conn
	chunk int
	pause time.Duration
}

func (s *slowConn) Read(p []byte) (int, error) {
	if len(p) > s.chunk {
		p = p[:s.chunk]
	}
	time.Sleep(s.pause)
	return s.Conn.Read(p)
}

// Large payloads go out from their Messages with writev (flushVec), many
// to a write, behind their headers. Over a real loopback socket to a
// subscriber with a small receive buffer that reads slowly, the socket
// takes each write in parts (a part boundary may fall in a header or in
// a payload, and a 1 MiB message is larger than the socket's buffers):
// every message arrives whole, byte for byte, in order, at its QoS,
// with payloads just under, at and over vecMin and smaller ones between
// them in the same writes.
func TestVectoredWriteToSlowReader(t *testing.T) {
	var writes, multi, partial atomic.Int64
	b, addr := startBrokerKnobs(t, testKnobs{writev: func(bufs int, part bool) {
		writes.Add(1)
		if bufs > 3 { // more than one header and payload
			multi.Add(1)
		}
		if part {
			partial.Add(1)
		}
	}}, func(o *Options) {
		// A slow reader, not a stopped one: no QoS 0 is dropped as for
		// a stalled consumer (a reader goroutine's socket, BlockingIO,
		// shows no progress until a write returns).
		o.StallAfter = time.Minute
	})
	nc, err := dialSmallWindow(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	sub := testutil.NewRaw(t, &slowConn{Conn: nc, chunk: 3000, pause: 50 * time.Microsecond}, packet.V311)
	if ack := sub.Connect(&packet.Connect{ClientID: "vec-sub", CleanStart: true, KeepAlive: 30}); ack.ReasonCode != packet.Success {
		t.Fatalf("CONNACK %v", ack.ReasonCode)
	}
	sub.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "vec/#", QoS: 1})
	pub := connectRaw(t, addr, packet.V311, "vec-pub")

	sizes := []int{100, vecMin - 1, vecMin, vecMin + 1, 64 << 10, 64<<10 + 1, 5, 200 << 10, 1 << 20, 0, 30}
	for range vecParts + 4 { // more payloads than one flush takes
		sizes = append(sizes, 64<<10, 7)
	}
	acks := 0
	var stream []byte
	for i, n := range sizes {
		p := &packet.Publish{Topic: fmt.Sprintf("vec/%d", i), Payload: testPayload(i, n)}
		if i%3 != 2 {
			p.QoS, p.PacketID = 1, uint16(i+1)
			acks++
		}
		stream, _ = packet.Append(stream, p, packet.V311)
	}
	// Published at once while the subscriber reads slowly: a backlog
	// builds up, and the writer sends many payloads to a write.
	done := make(chan error, 1)
	t.Cleanup(func() { <-done }) // a failed test's write ends at its deadline
	go func() {
		pub.NC.SetWriteDeadline(time.Now().Add(10 * time.Second))
		_, err := pub.NC.Write(stream)
		done <- err
	}()
	for i, n := range sizes {
		got := sub.RecvPublish()
		want := testPayload(i, n)
		if got.Topic != fmt.Sprintf("vec/%d", i) || !bytes.Equal(got.Payload, want) {
			t.Fatalf("message %d: topic %q, %d bytes (want %d), equal %v", i, got.Topic, len(got.Payload), n, bytes.Equal(got.Payload, want))
		}
		wantQoS := byte(1)
		if i%3 == 2 {
			wantQoS = 0
		}
		if got.QoS != wantQoS {
			t.Fatalf("message %d: QoS %d, want %d", i, got.QoS, wantQoS)
		}
		if got.QoS > 0 {
			sub.Send(&packet.Puback{PacketID: got.PacketID})
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	done <- nil // for the cleanup
	for range acks {
		if _, ok := pub.Recv().(*packet.Puback); !ok {
			t.Fatal("want a PUBACK")
		}
	}
	if b.poll != nil && !testTLS {
		if writes.Load() == 0 || multi.Load() == 0 || partial.Load() == 0 {
			t.Fatalf("vectored writes %d, with several payloads %d, partial %d: the path under test was not taken",
				writes.Load(), multi.Load(), partial.Load())
		}
	}
}

// dialSmallWindow is dialConn with a 4 KiB receive buffer, set before
// connecting: set after, the window already offered would shrink, and
// Linux drops what then arrives beyond it and retransmits it after
// growing timeouts (seconds), a stall of TCP's, not the broker's.
func dialSmallWindow(addr string) (net.Conn, error) {
	d := &net.Dialer{Timeout: 5 * time.Second, Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4<<10)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	if host, ok := strings.CutPrefix(addr, "tls://"); ok {
		return tls.DialWithDialer(d, "tcp", host, &tls.Config{InsecureSkipVerify: true})
	}
	return d.Dial("tcp", addr)
}

// consumeBufs drops what a write took, whole buffers and part of one,
// and the empty buffers it leaves at the front.
func TestConsumeBufs(t *testing.T) {
	for _, c := range []struct {
		n    int
		want string
	}{
		{0, "ab|cde||f"}, {1, "b|cde||f"}, {2, "cde||f"}, {4, "e||f"}, {5, "f"}, {6, ""},
	} {
		bufs := [][]byte{[]byte("ab"), []byte("cde"), nil, []byte("f")}
		var got []string
		for _, b := range consumeBufs(bufs, c.n) {
			got = append(got, string(b))
		}
		if s := strings.Join(got, "|"); s != c.want {
			t.Errorf("consumeBufs(%d) = %q, want %q", c.n, s, c.want)
		}
	}
}
