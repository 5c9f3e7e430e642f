package sn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/mqttkit/mqtt/internal/testutil"
	"github.com/mqttkit/mqtt/mqtt/broker"
	"github.com/mqttkit/mqtt/mqtt/client"
	"github.com/mqttkit/mqtt/mqtt/packet"
)

// refuseAll is an Authenticator that refuses every client.
type refuseAll struct{ broker.AllowAll }

func (refuseAll) Authenticate(context.Context, broker.ConnectInfo) packet.ReasonCode {
	return packet.NotAuthorized
}

// A broker that refuses the gateway's own connection for QoS -1 publishes (allow_anonymous
// false on an mqttsn listener): each refusal is logged as a warning, with what it cost.
func TestQoSMinus1RefusalLogged(t *testing.T) {
	for _, embedded := range []bool{false, true} {
		o := broker.DefaultOptions()
		o.Listeners = []string{"127.0.0.1:0"}
		o.SysInterval = 0
		o.Authenticator = refuseAll{}
		b, err := broker.New(o, slog.New(&testutil.LogLines{}))
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		addr := b.Addrs()[0].String()
		brokers.Store(addr, b)
		t.Cleanup(func() { b.Close(); brokers.Delete(addr) })
		log := &lineLog{level: slog.LevelDebug}
		_, gw := startGatewayLog(t, upstreamFor(t, addr, embedded), slog.New(log), nil)
		anon := dialSN(t, gw)
		short, _ := ShortTopicID("ab")
		anon.send(&Publish{QoS: QoSMinus1, TopicIDType: TopicShort, TopicID: short, Data: []byte("refused")})
		log.wait(t, "the broker refused the connection for QoS -1 publishes reason=Not authorized dropped=1")
		// While the refusal stands, what arrives is dropped with the reason.
		anon.send(&Publish{QoS: QoSMinus1, TopicIDType: TopicShort, TopicID: short, Data: []byte("refused too")})
		log.wait(t, "the broker refused the gateway's connection for QoS -1 publishes")
	}
}

// The broker restarts: the gateway's connection for QoS -1 publishes is opened again at
// once, and what arrives meanwhile waits for it (the newest anonMaxPending), instead of
// being dropped for a retry interval. (A message sent on the old connection before the
// gateway sees it end is lost with it: QoS 0 over TCP.)
func TestQoSMinus1AcrossBrokerRestart(t *testing.T) {
	start := func(listen string) (*broker.Broker, string) {
		t.Helper()
		o := broker.DefaultOptions()
		o.Listeners = []string{listen}
		o.SysInterval = 0
		w := &readWatch{reads: map[string]bool{}}
		o.Authorizer = w
		var b *broker.Broker
		var err error
		waitFor(t, "the broker to listen on "+listen, func() bool {
			if b, err = broker.New(o, slog.New(&testutil.LogLines{})); err != nil {
				t.Fatal(err)
			}
			if err = b.Start(context.Background()); err != nil {
				b.Close()
				return false
			}
			return true
		})
		addr := b.Addrs()[0].String()
		brokerWatch.Store(addr, w)
		brokers.Store(addr, b)
		t.Cleanup(func() { b.Close(); brokerWatch.Delete(addr); brokers.Delete(addr) })
		return b, addr
	}
	b1, addr := start("127.0.0.1:0")
	g, gw := startGatewayUp(t, &NetUpstream{Dial: client.Options{Server: addr}}, nil)
	anon := dialSN(t, gw)
	send := func(topic, text string) {
		id, _ := ShortTopicID(topic)
		anon.send(&Publish{QoS: QoSMinus1, Retain: true, TopicIDType: TopicShort, TopicID: id, Data: []byte(text)})
	}
	sub := startMosqSub(t, addr, 1, "-t", "ab")
	send("ab", "before")
	mustEqual(t, sub.wait(), []string{"ab before"})

	b1.Close()
	// While it restarts, the port accepts connections and closes them at once: the gateway
	// tries at least once and fails.
	var fake net.Listener
	waitFor(t, "the port to be free", func() bool {
		var err error
		fake, err = net.Listen("tcp", addr)
		return err == nil
	})
	tried := make(chan struct{})
	go func() {
		defer close(tried)
		if c, err := fake.Accept(); err == nil {
			c.Close()
		}
	}()
	select {
	case <-tried: // the gateway saw its connection end and tried again at once
	case <-time.After(10 * time.Second):
		t.Fatal("the gateway did not try to connect again")
	}
	send("ab", "while down")
	waitFor(t, "the publish to be read", func() bool { return g.Stats().QoSMinus1 == 2 })
	fake.Close()
	_, addr2 := start(addr)
	sub = startMosqSub(t, addr2, 1, "-t", "ab")
	mustEqual(t, sub.wait(), []string{"ab while down"})
	send("cd", "after")
	sub = startMosqSub(t, addr2, 1, "-t", "cd")
	mustEqual(t, sub.wait(), []string{"cd after"})
}

// flakyUpstream is an Upstream whose first connection accepts CONNECT and then ends while
// the gateway sends it what waited (between CONNACK and ready); later connections record
// the publishes they carry.
type flakyUpstream struct {
	mu     sync.Mutex
	opens  int
	topics []string
	got    chan string
}

func (u *flakyUpstream) Open(_ context.Context, _ net.Addr, onPacket func(packet.Packet), onClose func(error)) (UpstreamConn, error) {
	u.mu.Lock()
	u.opens++
	n := u.opens
	u.mu.Unlock()
	return &flakyConn{u: u, n: n, onPacket: onPacket, onClose: onClose}, nil
}

type flakyConn struct {
	u        *flakyUpstream
	n        int
	onPacket func(packet.Packet)
	onClose  func(error)
	mu       sync.Mutex
	ended    bool
}

func (c *flakyConn) end() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ended {
		return false
	}
	c.ended = true
	return true
}

func (c *flakyConn) Send(p packet.Packet) error {
	c.mu.Lock()
	ended := c.ended
	c.mu.Unlock()
	if ended {
		return ErrUpstreamClosed
	}
	switch p := p.(type) {
	case *packet.Connect:
		c.onPacket(&packet.Connack{})
	case *packet.Publish:
		if c.n == 1 {
			if c.end() {
				c.onClose(errors.New("taken over"))
			}
			return ErrUpstreamClosed
		}
		c.u.got <- p.Topic + " " + string(p.Payload)
	}
	return nil
}

func (c *flakyConn) Close() error {
	if c.end() {
		c.onClose(nil)
	}
	return nil
}

// The shared connection ends between its CONNACK and the moment it is ready (another
// gateway with the same client id took it over): it is not taken for ready, the publishes
// that waited are not lost, and a new connection carries them and the next ones.
func TestQoSMinus1ClosedBeforeReady(t *testing.T) {
	u := &flakyUpstream{got: make(chan string, 10)}
	_, gw := startGatewayUp(t, u, nil)
	anon := dialSN(t, gw)
	short, _ := ShortTopicID("ab")
	recv := func(want string) {
		t.Helper()
		select {
		case got := <-u.got:
			mustEqual(t, got, want)
		case <-time.After(10 * time.Second):
			t.Fatalf("%q did not go upstream", want)
		}
	}
	anon.send(&Publish{QoS: QoSMinus1, TopicIDType: TopicShort, TopicID: short, Data: []byte("first")})
	recv("ab first")
	anon.send(&Publish{QoS: QoSMinus1, TopicIDType: TopicShort, TopicID: short, Data: []byte("second")})
	recv("ab second")
}

// Two gateways with the same gateway id in front of one broker (two mqttsn listeners, or two
// sn-gateway processes) do not share the client id of their QoS -1 connections: they would
// take each other's over for ever, and messages were lost.
func TestQoSMinus1TwoGateways(t *testing.T) {
	addr := startBroker(t)
	g1, gw1 := startGateway(t, addr, nil)
	g2, gw2 := startGateway(t, addr, nil)
	if id1, id2 := g1.opts.QoSMinus1ClientID, g2.opts.QoSMinus1ClientID; id1 == id2 {
		t.Fatalf("both gateways use client id %q", id1)
	}
	a1, a2 := dialSN(t, gw1), dialSN(t, gw2)
	short, _ := ShortTopicID("ab")
	send := func(c *rawSN, text string) {
		c.send(&Publish{QoS: QoSMinus1, TopicIDType: TopicShort, TopicID: short, Data: []byte(text)})
	}
	send(a1, "warm1")
	send(a2, "warm2")
	waitFor(t, "both connections", func() bool { return g1.Stats().QoSMinus1 == 1 && g2.Stats().QoSMinus1 == 1 })
	sub := startMosqSub(t, addr, 6, "-t", "ab")
	var want []string
	for i := range 3 {
		send(a1, fmt.Sprintf("A%d", i))
		send(a2, fmt.Sprintf("B%d", i))
		want = append(want, fmt.Sprintf("ab A%d", i), fmt.Sprintf("ab B%d", i))
	}
	got := sub.wait()
	sort.Strings(got)
	sort.Strings(want)
	mustEqual(t, got, want)
}
