package broker

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mqttkit/mqtt/internal/testutil"
	"github.com/mqttkit/mqtt/mqtt/packet"
)

// checkAlive proves the broker still serves other clients.
func checkAlive(t *testing.T, addr string) {
	t.Helper()
	c := connectRaw(t, addr, packet.V311, "alive-check")
	c.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "alive"})
	c.Send(&packet.Publish{Topic: "alive", Payload: []byte("yes")})
	if got := c.RecvPublish(); string(got.Payload) != "yes" {
		t.Fatal("broker not serving")
	}
	c.Send(&packet.Disconnect{})
}

func TestGarbageClosesOnlyThatConnection(t *testing.T) {
	_, addr := startBroker(t, nil)
	keeper := connectRaw(t, addr, packet.V5, "keeper")
	keeper.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "k"})
	cases := map[string][]byte{
		"zero bytes":             {0, 0, 0, 0},
		"endless length":         {0x10, 0xff, 0xff, 0xff, 0xff, 0xff},
		"http":                   []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
		"connect wrong protocol": {0x10, 0x0c, 0, 4, 'M', 'Q', 'X', 'X', 4, 2, 0, 60, 0, 0},
		"connect truncated":      {0x10, 0x05, 0, 4, 'M', 'Q', 'T'},
		"reserved flag":          {0x10, 0x0c, 0, 4, 'M', 'Q', 'T', 'T', 4, 3, 0, 60, 0, 0}, // [MQTT-3.1.2-3]
	}
	for name, b := range cases {
		r := dialRaw(t, addr, packet.V311)
		r.WriteBytes(b)
		got := r.ExpectClosed(3 * time.Second)
		for _, p := range got {
			if _, ok := p.(*packet.Connack); !ok {
				t.Errorf("%s: unexpected %T", name, p)
			}
		}
	}
	keeper.Send(&packet.Publish{Topic: "k", Payload: []byte("still here")})
	if got := keeper.RecvPublish(); string(got.Payload) != "still here" {
		t.Fatal("keeper lost")
	}
	checkAlive(t, addr)
}

// Unsupported protocol level: CONNACK 0x01 in the 3.1.1 format, then close
// [MQTT-3.1.2-2].
func TestUnsupportedProtocolVersion(t *testing.T) {
	_, addr := startBroker(t, nil)
	r := dialRaw(t, addr, packet.V311)
	r.WriteBytes([]byte{0x10, 0x0c, 0, 4, 'M', 'Q', 'T', 'T', 9, 2, 0, 60, 0, 0})
	got := r.ExpectClosed(3 * time.Second)
	if len(got) != 1 || got[0].(*packet.Connack).ReasonCode != packet.UnsupportedProtocolVersion {
		t.Fatalf("got %+v", got)
	}
}

// A malformed packet after CONNECT: MQTT 5 gets DISCONNECT 0x81
// [MQTT-4.13.1-1]; 3.1.1 is just closed.
func TestMalformedAfterConnect(t *testing.T) {
	_, addr := startBroker(t, nil)
	r := connectRaw(t, addr, packet.V5, "bad5")
	r.WriteBytes([]byte{0x36, 0x05, 0, 1, 'a', 0, 1}) // PUBLISH with QoS 3
	got := r.ExpectClosed(3 * time.Second)
	if len(got) != 1 || got[0].(*packet.Disconnect).ReasonCode != packet.MalformedPacket {
		t.Fatalf("v5 got %+v", got)
	}
	r = connectRaw(t, addr, packet.V311, "bad3")
	r.WriteBytes([]byte{0x82, 0x04, 0, 1, 0, 0}) // SUBSCRIBE without filters [MQTT-3.8.3-3]
	if got := r.ExpectClosed(3 * time.Second); len(got) != 0 {
		t.Fatalf("3.1.1 got %+v", got)
	}
	checkAlive(t, addr)
}

// A CONNECT that never comes: closed after ConnectTimeout.
func TestConnectTimeout(t *testing.T) {
	_, addr := startBroker(t, func(o *Options) { o.ConnectTimeout = 300 * time.Millisecond })
	r := dialRaw(t, addr, packet.V311)
	start := time.Now()
	r.ExpectClosed(3 * time.Second)
	if el := time.Since(start); el < 250*time.Millisecond || el > 2*time.Second {
		t.Fatalf("closed after %v", el)
	}
	// A half-sent CONNECT too.
	r = dialRaw(t, addr, packet.V311)
	r.WriteBytes([]byte{0x10, 0x0c, 0, 4})
	r.ExpectClosed(3 * time.Second)
}

// A 3.1.1 half-open client (no packets) is dropped after 1.5× keep alive
// [MQTT-3.1.2-24].
func TestKeepAliveTimeout311(t *testing.T) {
	_, addr := startBroker(t, nil)
	r := dialRaw(t, addr, packet.V311)
	r.Connect(&packet.Connect{ClientID: "ka", CleanStart: true, KeepAlive: 1})
	start := time.Now()
	r.ExpectClosed(5 * time.Second)
	if el := time.Since(start); el < 1400*time.Millisecond || el > 3*time.Second {
		t.Fatalf("closed after %v", el)
	}
}

// Options.MaxConnections counts network connections; in-process ones
// (Subscribe, Attach) do not take their places.
func TestMaxConnections(t *testing.T) {
	b, addr := startBroker(t, func(o *Options) { o.MaxConnections = 2 })
	for i := range 2 {
		sub, err := b.Subscribe("x", SubscribeOptions{ClientID: fmt.Sprintf("inproc%d", i)}, func(Delivery) {})
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Unsubscribe()
	}
	connectRaw(t, addr, packet.V311, "one")
	connectRaw(t, addr, packet.V311, "two")
	nc, err := dialConn(addr, nil)
	if err != nil && testTLS {
		return // closed before the TLS handshake could complete
	} else if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	testutil.NewRaw(t, nc, packet.V311).ExpectClosed(3 * time.Second)
}

// A subscriber that stops reading never blocks the publisher or other
// subscribers; what does not fit its queue is dropped and counted.
func TestSlowConsumerDoesNotBlockOthers(t *testing.T) {
	b, addr := startBroker(t, func(o *Options) { o.MaxQueuedMessages = 100; o.WriteTimeout = 2 * time.Second })
	stuck := dialRaw(t, addr, packet.V311)
	stuck.Connect(&packet.Connect{ClientID: "stuck", CleanStart: true})
	stuck.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "flood", QoS: 1})
	// stuck never reads again.
	fast := connectRaw(t, addr, packet.V311, "fast")
	fast.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "flood"}, packet.Subscription{Filter: "end"})
	pub := connectRaw(t, addr, packet.V311, "pub")
	payload := bytes.Repeat([]byte("x"), 16<<10)
	const n = 500 // 8 MiB: more than the socket buffers hold
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < n; i++ {
			pub.Send(&packet.Publish{Topic: "flood", Payload: payload})
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("publisher blocked")
	}
	// fast keeps being served. At QoS 0 it may itself lose some of the
	// flood when the race detector makes its writer slower than the
	// publisher (that is the slow-consumer rule working), so the proof is
	// a marker sent after the flood, repeated until it gets through.
	got := make(chan int, 1)
	go func() {
		floods := 0
		for {
			p, err := fast.RecvErr(10 * time.Second)
			if err != nil {
				got <- -1
				return
			}
			if m, ok := p.(*packet.Publish); ok {
				if m.Topic == "end" {
					got <- floods
					return
				}
				floods++
			}
		}
	}()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(15 * time.Second)
	for {
		pub.Send(&packet.Publish{Topic: "end", Payload: []byte("end")})
		select {
		case floods := <-got:
			if floods < 0 {
				t.Fatal("fast subscriber stopped receiving")
			}
			t.Logf("fast subscriber received %d of %d flood messages before the marker", floods, n)
			if b.Stats().DroppedTotal == 0 {
				t.Fatal("no drops counted for the stuck subscriber")
			}
			return
		case <-tick.C:
		case <-deadline:
			t.Fatal("marker never reached the fast subscriber")
		}
	}
}

// A panic in a hook closes only that connection.
type panicAuthz struct{ AllowAll }

func (panicAuthz) CanPublish(_ context.Context, c ClientInfo, topic string, _ byte, _ bool) bool {
	if topic == "boom" {
		panic("hook exploded")
	}
	return true
}

func TestPanicClosesOnlyThatConnection(t *testing.T) {
	_, addr := startBroker(t, func(o *Options) { o.Authorizer = panicAuthz{} })
	r := connectRaw(t, addr, packet.V311, "bomber")
	r.Send(&packet.Publish{Topic: "boom"})
	r.ExpectClosed(3 * time.Second)
	checkAlive(t, addr)
}

// Two brokers in one process do not share anything.
func TestTwoBrokers(t *testing.T) {
	_, a1 := startBroker(t, nil)
	_, a2 := startBroker(t, nil)
	s1 := connectRaw(t, a1, packet.V311, "same")
	s2 := connectRaw(t, a2, packet.V311, "same") // no takeover across brokers
	s1.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "x"})
	s2.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "x"})
	p1 := connectRaw(t, a1, packet.V311, "p")
	p1.Send(&packet.Publish{Topic: "x", Payload: []byte("one")})
	if got := s1.RecvPublish(); string(got.Payload) != "one" {
		t.Fatal("broker 1")
	}
	s2.ExpectNothing(200 * time.Millisecond)
}

// ServeListener accepts a listener from outside (other transports).
func TestServeListener(t *testing.T) {
	o := DefaultOptions()
	o.SysInterval = 0
	b, err := New(o, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- b.ServeListener(ctx, ln) }()
	checkAlive(t, ln.Addr().String())
	cancel()
	<-done
	b.Close()
}

// A client that stops reading is closed after WriteTimeout, and
// OnDisconnect says so (not just "closed by the server").
func TestWriteTimeoutReason(t *testing.T) {
	ended := make(chan error, 1)
	_, addr := startBroker(t, func(o *Options) {
		o.WriteTimeout = time.Second
		o.Hooks.OnDisconnect = func(c ClientInfo, err error) {
			if c.ClientID == "stuck" {
				ended <- err
			}
		}
	})
	stuck := dialRaw(t, addr, packet.V311)
	stuck.Connect(&packet.Connect{ClientID: "stuck", CleanStart: true})
	stuck.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "flood"})
	// stuck never reads again.
	pub := connectRaw(t, addr, packet.V311, "pub")
	payload := bytes.Repeat([]byte("x"), 16<<10)
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; ; i++ {
		select {
		case err := <-ended:
			if err == nil || !strings.Contains(err.Error(), "stopped reading") {
				t.Fatalf("OnDisconnect error %v, want the write timeout's", err)
			}
			return
		default:
		}
		if time.Now().After(deadline) || i > 100_000 {
			t.Fatal("the subscriber that stopped reading was not closed")
		}
		pub.Send(&packet.Publish{Topic: "flood", Payload: payload})
		if i%64 == 63 {
			time.Sleep(10 * time.Millisecond) // let the broker's writer run into the full socket
		}
	}
}
