//go:build linux

package broker

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"os"
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
	b, addr := startBrokerKnobs(t, testKnobs{
		linger: time.Hour,
		hookWait: func(c *conn) {
			if c.info.ClientID != "linger" {
				return
			}
			once.Do(func() {
				// The socket was just drained: a PINGREQ arrives now, and
				// Go's poller (idle, blocked in epoll_wait) records it.
				r := <-client
				r.Send(&packet.Pingreq{})
				client <- r
				time.Sleep(50 * time.Millisecond)
			})
		},
	}, nil)
	if b.poll == nil {
		t.Skip("no event loop (BlockingIO or not Linux)")
	}
	r := connectRaw(t, addr, packet.V311, "linger")
	// The run that read the CONNECT was not busy: it does not linger, and
	// the PINGREQ must not reach it (the hook would not run). Over TLS it
	// reads until EAGAIN, which leaves it more time to see one.
	s := eventLoopConn(t, b, "linger")
	for deadline := time.Now().Add(5 * time.Second); s.reading.Load(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the CONNECT's read run did not end")
		}
	}
	client <- r
	// The connection is busy (read within the linger): this run lingers.
	r.Send(&packet.Pingreq{})
	for i := 0; i < 2; i++ {
		p, err := r.RecvErr(3 * time.Second)
		if err != nil {
			t.Fatalf("PINGRESP %d of 2: %v", i+1, err)
		}
		if _, ok := p.(*packet.Pingresp); !ok {
			t.Fatalf("got %T, want PINGRESP", p)
		}
	}
}

// eventLoopConn is the event-loop socket of client id's connection.
func eventLoopConn(t *testing.T, b *Broker, id string) *socketConn {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, c := range b.conns.s {
		if c.info.ClientID != id {
			continue
		}
		switch s := c.t.(type) {
		case *socketConn:
			return s
		case *tlsConn:
			return &s.socketConn
		}
		t.Fatalf("%s: transport %T", id, c.t)
	}
	t.Fatalf("no connection of %s", id)
	return nil
}

// openFDs counts this process's open descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	return len(ents)
}

// TestEventLoopOwnsDescriptors: an event-loop connection keeps the bare
// descriptor and no net.Conn; the poll files it borrows while a writer
// waits for room (a subscriber that stopped reading) are given back, and
// once every client is gone, ended normally or by WriteTimeout, the
// process holds as many descriptors as before.
func TestEventLoopOwnsDescriptors(t *testing.T) {
	b, addr := startBroker(t, func(o *Options) { o.WriteTimeout = time.Second })
	if b.poll == nil {
		t.Skip("no event loop (BlockingIO or not Linux)")
	}
	base := openFDs(t)
	var clients []*raw
	for i := 0; i < 10; i++ {
		clients = append(clients, connectRaw(t, addr, packet.V311, fmt.Sprint("fd-", i)))
	}
	b.mu.Lock()
	for _, c := range b.conns.s {
		switch s := c.t.(type) {
		case *socketConn:
			if s.fd < 0 || s.netConn() != nil {
				t.Errorf("event-loop connection %s: fd %d, net.Conn %T", c.info.ClientID, s.fd, s.netConn())
			}
		case *tlsConn: // BROKER_TEST_TLS: the descriptor, and the tls.Conn over it
			if s.fd < 0 || s.hs != nil || s.netConn() == nil {
				t.Errorf("event-loop TLS connection %s: fd %d, handshake state %v", c.info.ClientID, s.fd, s.hs)
			}
		default:
			t.Errorf("event-loop connection %s: transport %T", c.info.ClientID, c.t)
		}
		if a, ok := c.info.Remote.(interface{ AddrPort() netip.AddrPort }); !ok || !a.AddrPort().Addr().IsLoopback() || a.AddrPort().Port() == 0 || c.info.Remote.Network() != "tcp" {
			t.Errorf("ClientInfo.Remote %#v, want the client's TCP address", c.info.Remote)
		}
	}
	b.mu.Unlock()
	// A subscriber that never reads: its writer fills the socket, waits on
	// a poll file and is closed after WriteTimeout.
	stuck := connectRaw(t, addr, packet.V311, "stuck")
	stuck.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "flood", QoS: 1})
	pub := connectRaw(t, addr, packet.V311, "pub")
	payload := bytes.Repeat([]byte("x"), 64<<10)
	for i := 0; i < 200; i++ { // 12.5 MiB, more than loopback buffers hold
		pub.Send(&packet.Publish{Topic: "flood", Payload: payload})
	}
	deadline := time.Now().Add(10 * time.Second)
	for b.nconns.Load() > 11 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := b.nconns.Load(); n != 11 {
		t.Fatalf("%d connections, want 11: the stuck subscriber was not closed after WriteTimeout", n)
	}
	stuck.NC.Close()
	pub.NC.Close()
	for _, r := range clients {
		r.Send(&packet.Disconnect{})
		r.NC.Close()
	}
	for b.nconns.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	var got int
	for {
		if got = openFDs(t); got <= base || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got > base {
		t.Fatalf("%d descriptors open after every client left, %d before", got, base)
	}
}

// TestInlineReadHandsTheLoopOnWhenItMustWait: the event loop handles a
// quiet connection's read on its own goroutine (readInline), answers
// included. A client that publishes to its own subscription and never
// reads fills its socket; the write that would wait for room must first
// hand the loop to another goroutine, or no other connection is read
// until the write timeout (a minute here) ends the first.
func TestInlineReadHandsTheLoopOnWhenItMustWait(t *testing.T) {
	needPlain(t)
	handedOff := make(chan string, 16)
	b, addr := startBrokerKnobs(t, testKnobs{
		linger: time.Nanosecond, // no read run lingers: a quiet socket's read is inline
		handoff: func(c *conn) {
			select {
			case handedOff <- c.info.ClientID:
			default:
			}
		},
	}, func(o *Options) { o.WriteTimeout = time.Minute })
	if b.poll == nil {
		t.Skip("no event loop (BROKER_TEST_BLOCKING)")
	}

	// "watch" sees each message, so "stuck" sends the next only once the
	// broker has read the last: one message per read, each read inline.
	watch := connectRaw(t, addr, packet.V311, "watch")
	watch.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "self"})
	seen := make(chan struct{}, 1)
	go func() {
		for {
			if _, err := watch.RecvErr(time.Minute); err != nil {
				return
			}
			seen <- struct{}{}
		}
	}()
	stuck := connectRaw(t, addr, packet.V311, "stuck")
	stuck.NC.(*net.TCPConn).SetReadBuffer(4 << 10)
	stuck.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "self"})
	for len(handedOff) > 0 { // the SUBSCRIBEs': retained messages are not the loop's work
		<-handedOff
	}
	pub, err := packet.Append(nil, &packet.Publish{Topic: "self", Payload: bytes.Repeat([]byte("x"), 8<<10)}, packet.V311)
	if err != nil {
		t.Fatal(err)
	}
	stuck.NC.SetWriteDeadline(time.Now().Add(30 * time.Second))
	for i := 0; ; i++ {
		if i == 5_000 {
			t.Fatal("the broker wrote 40 MiB to a client that reads nothing and never waited for room")
		}
		if _, err := stuck.NC.Write(pub); err != nil {
			t.Fatal(err)
		}
		select {
		case id := <-handedOff:
			if id != "stuck" {
				t.Fatalf("the loop was handed on reading %q", id)
			}
		case <-seen:
			continue
		case <-time.After(20 * time.Second):
			t.Fatal("message not routed")
		}
		break
	}
	// The loop goes on: another client is served while stuck's write
	// waits for room.
	other := connectRaw(t, addr, packet.V311, "other")
	other.Send(&packet.Pingreq{})
	if p, err := other.RecvErr(10 * time.Second); err != nil {
		t.Fatalf("another client after the handoff: %v", err)
	} else if _, ok := p.(*packet.Pingresp); !ok {
		t.Fatalf("got %T, want PINGRESP", p)
	}
	stuck.NC.Close()
	watch.NC.Close()
}
