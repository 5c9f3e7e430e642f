package broker

import (
	"sync"
	"testing"
	"time"

	"github.com/mqttkit/mqtt/mqtt/packet"
)

// TestLingerSeesBytesThatArriveBeforeTheWait: a busy event-loop
// connection drains its socket and then waits on Go's poller for more.
// Bytes that arrive in between, once Go's poller has noted them, must be
// read at once: RawConn.Read forgets that readiness when it starts, so a
// wait that does not look at the socket first slept until the linger
// deadline (up to 150 ms per occurrence; here the linger is an hour, so
// the old code never answered the second PINGREQ).
func TestLingerSeesBytesThatArriveBeforeTheWait(t *testing.T) {
	client := make(chan *raw, 1)
	var once sync.Once
	b, addr := startBroker(t, func(o *Options) {
		o.linger = time.Hour
		o.hookWait = func(c *conn) {
			if c.clientID != "linger" {
				return
			}
			once.Do(func() {
				// The socket was just drained: a PINGREQ arrives now, and
				// Go's poller (idle, blocked in epoll_wait) records it.
				r := <-client
				r.send(&packet.Pingreq{})
				client <- r
				time.Sleep(50 * time.Millisecond)
			})
		}
	})
	if b.poll == nil {
		t.Skip("no event loop (BlockingIO or not Linux)")
	}
	r := connectRaw(t, addr, packet.V311, "linger")
	client <- r
	// The connection is busy (read within the linger): this run lingers.
	r.send(&packet.Pingreq{})
	for i := 0; i < 2; i++ {
		p, err := r.recvErr(3 * time.Second)
		if err != nil {
			t.Fatalf("PINGRESP %d of 2: %v", i+1, err)
		}
		if _, ok := p.(*packet.Pingresp); !ok {
			t.Fatalf("got %T, want PINGRESP", p)
		}
	}
}
