package broker

import (
	"bufio"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/mqttkit/mqtt/mqtt/packet"
)

// fanIn runs pubs raw publishers sending n messages each at qos, as fast
// as the socket takes them, into one subscriber that acknowledges as it
// reads. It returns the messages received, the elapsed time and the
// deepest the subscriber's queue went.
func fanIn(tb testing.TB, b *Broker, addr string, pubs, n int, qos byte) (int, time.Duration, int) {
	tb.Helper()
	sub := connectRaw(tb, addr, packet.V311, "fanin-sub")
	sub.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "fanin/#", QoS: qos})
	total := pubs * n
	recvd := make(chan int, 1)
	go func() {
		// Read with a plain loop; write PUBACKs through a buffered writer,
		// without the 5 s write deadline subscribe() left: under CPU
		// contention the burst outlasts it, the PUBACKs stopped (bufio
		// keeps the error) and the broker, its window full, rightly
		// sent nothing more, which read as lost messages.
		sub.NC.SetWriteDeadline(time.Time{})
		w := bufio.NewWriter(sub.NC)
		count := 0
		var ack []byte
		for count < total {
			sub.NC.SetReadDeadline(time.Now().Add(10 * time.Second))
			p, err := packet.ReadPacket(sub.BR, packet.V311, 0)
			if err != nil {
				break
			}
			pub, ok := p.(*packet.Publish)
			if !ok {
				continue
			}
			count++
			if pub.QoS == 1 {
				ack, _ = packet.Append(ack[:0], &packet.Puback{PacketID: pub.PacketID}, packet.V311)
				w.Write(ack)
				if sub.BR.Buffered() == 0 || count == total {
					w.Flush()
				}
			}
		}
		w.Flush()
		recvd <- count
	}()
	payload := make([]byte, 64)
	start := time.Now()
	var wg sync.WaitGroup
	for i := 0; i < pubs; i++ {
		r := connectRaw(tb, addr, packet.V311, fmt.Sprint("fanin-pub-", i))
		wg.Add(2)
		go func() { // drain PUBACKs
			defer wg.Done()
			for got := 0; qos > 0 && got < n; got++ {
				r.NC.SetReadDeadline(time.Now().Add(10 * time.Second))
				if _, err := packet.ReadPacket(r.BR, packet.V311, 0); err != nil {
					return
				}
			}
		}()
		go func(i int) {
			defer wg.Done()
			r.NC.SetWriteDeadline(time.Time{}) // as the subscriber's
			w := bufio.NewWriterSize(r.NC, 64<<10)
			var buf []byte
			for j := 0; j < n; j++ {
				p := &packet.Publish{Topic: fmt.Sprint("fanin/", i), QoS: qos, Payload: payload}
				if qos > 0 {
					p.PacketID = uint16(j%65535 + 1)
				}
				buf, _ = packet.Append(buf[:0], p, packet.V311)
				if _, err := w.Write(buf); err != nil {
					return
				}
			}
			w.Flush()
		}(i)
	}
	wg.Wait()
	got := <-recvd
	elapsed := time.Since(start)
	b.mu.Lock()
	s := b.sessions.get("fanin-sub")
	b.mu.Unlock()
	s.mu.Lock()
	depth := int(s.qmax)
	s.mu.Unlock()
	sub.NC.Close()
	return got, elapsed, depth
}

// TestBurstQueueDepth: with the default limits, a 4-publisher QoS 1 burst
// into one subscriber that keeps reading loses nothing (issue 3: Mosquitto's
// 1000-message default lost 62% here). It logs how deep the queue went,
// which is what the 100,000-message default is sized from (doc.go).
func TestBurstQueueDepth(t *testing.T) {
	n := 10000
	if testing.Short() {
		n = 2000
	}
	b, addr := startBroker(t, nil)
	got, el, depth := fanIn(t, b, addr, 4, n, 1)
	t.Logf("4×%d QoS 1: received %d in %v (%.0f msg/s), max queue depth %d", n, got, el, float64(got)/el.Seconds(), depth)
	if got != 4*n {
		t.Fatalf("lost %d of %d QoS 1 messages", 4*n-got, 4*n)
	}
	if depth >= DefaultOptions().MaxQueuedMessages/2 {
		t.Fatalf("queue depth %d leaves less than 2x margin under the default limit", depth)
	}
}

// BenchmarkFanIn measures 4 publishers → 1 subscriber (64-byte payloads).
func BenchmarkFanInQoS0(b *testing.B) { benchFanIn(b, 0) }
func BenchmarkFanInQoS1(b *testing.B) { benchFanIn(b, 1) }

func benchFanIn(b *testing.B, qos byte) {
	br, addr := startBroker(b, nil)
	n := 20000
	var total, depth int
	var el time.Duration
	for i := 0; i < b.N; i++ {
		got, e, d := fanIn(b, br, addr, 4, n, qos)
		total += got
		el += e
		depth = max(depth, d)
	}
	b.ReportMetric(float64(total)/el.Seconds(), "msgs/s")
	b.ReportMetric(float64(depth), "max-queue")
	b.ReportMetric(float64(4*n*b.N-total), "lost")
}

var _ = net.Dial
