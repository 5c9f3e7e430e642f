package broker

import (
	"fmt"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/mqttkit/mqtt/internal/testutil"
	"github.com/mqttkit/mqtt/mqtt/packet"
)

// Connection churn: connect, subscribe, disconnect (cleanly or by
// dropping the socket) at a high rate; afterwards the broker's goroutines
// are back to their baseline (plus at most the workers kept idle for
// reuse, a fixed number) and no connection is left registered.
func TestChurnGoroutinesReturn(t *testing.T) {
	b, addr := startBroker(t, nil)
	checkAlive(t, addr)
	base := runtime.NumGoroutine()
	var wg sync.WaitGroup
	stop := time.Now().Add(3 * time.Second)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(stop); i++ {
				c, err := dialConn(addr, nil)
				if err != nil {
					continue
				}
				c.SetDeadline(time.Now().Add(5 * time.Second))
				buf, _ := packet.Append(nil, &packet.Connect{ProtocolName: "MQTT", ProtocolVersion: packet.V311,
					ClientID: fmt.Sprintf("churn-%d-%d", w, i%20), CleanStart: i%3 != 0, KeepAlive: 30}, packet.V311)
				buf, _ = packet.Append(buf, &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "churn/#", QoS: 1}}}, packet.V311)
				if i%2 == 0 {
					buf, _ = packet.Append(buf, &packet.Disconnect{}, packet.V311)
				}
				c.Write(buf)
				r := newRawFrom(t, c)
				if _, err := r.RecvErr(5 * time.Second); err == nil {
					r.RecvErr(5 * time.Second)
				}
				c.Close()
			}
		}()
	}
	wg.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b.mu.Lock()
		open := len(b.conns.s)
		b.mu.Unlock()
		if g := runtime.NumGoroutine(); open == 0 && g <= base+2+int(b.work.maxIdle) {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("after the churn: %d connections registered, %d goroutines (baseline %d, idle workers at most %d)", open, g, base, b.work.maxIdle)
		}
		time.Sleep(10 * time.Millisecond)
	}
	checkAlive(t, addr)
}

func newRawFrom(t *testing.T, c net.Conn) *raw {
	return testutil.NewRaw(t, c, packet.V311)
}
