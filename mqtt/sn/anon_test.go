package sn

import (
	"context"
	"log/slog"
	"net"
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
