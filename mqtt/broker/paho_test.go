package broker

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// paho311 connects a github.com/eclipse/paho.mqtt.golang client (3.1.1).
func paho311(t testing.TB, addr, id string, clean bool, onMsg mqtt.MessageHandler) mqtt.Client {
	t.Helper()
	url := "tcp://" + addr
	if host, ok := strings.CutPrefix(addr, "tls://"); ok { // BROKER_TEST_TLS
		url = "ssl://" + host
	}
	o := mqtt.NewClientOptions().AddBroker(url).SetTLSConfig(&tls.Config{InsecureSkipVerify: true}).SetClientID(id).SetCleanSession(clean).
		SetProtocolVersion(4).SetAutoReconnect(false).SetConnectRetry(false).SetKeepAlive(30 * time.Second).
		SetOrderMatters(true).SetDefaultPublishHandler(onMsg)
	c := mqtt.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("paho connect: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(50) })
	return c
}

func wait(t testing.TB, tok mqtt.Token) {
	t.Helper()
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("paho: %v", tok.Error())
	}
}

type collector struct {
	mu   sync.Mutex
	msgs []string
	ch   chan struct{}
}

func newCollector() *collector { return &collector{ch: make(chan struct{}, 1000)} }

func (c *collector) add(s string) {
	c.mu.Lock()
	c.msgs = append(c.msgs, s)
	c.mu.Unlock()
	c.ch <- struct{}{}
}

func (c *collector) waitN(t testing.TB, n int) []string {
	t.Helper()
	for i := 0; ; i++ {
		c.mu.Lock()
		if len(c.msgs) >= n {
			out := append([]string(nil), c.msgs...)
			c.mu.Unlock()
			return out
		}
		c.mu.Unlock()
		select {
		case <-c.ch:
		case <-time.After(5 * time.Second):
			t.Fatalf("got %d of %d messages", len(c.msgs), n)
		}
	}
}

func TestPaho311RoundTripAndPersistentSession(t *testing.T) {
	b, addr := startBroker(t, nil)
	got := newCollector()
	handler := func(_ mqtt.Client, m mqtt.Message) {
		got.add(fmt.Sprintf("%s q%d r%v %s", m.Topic(), m.Qos(), m.Retained(), m.Payload()))
	}
	sub := paho311(t, addr, "paho-sub", false, handler)
	wait(t, sub.Subscribe("p/#", 2, nil))
	pub := paho311(t, addr, "paho-pub", true, nil)
	for q := byte(0); q <= 2; q++ {
		wait(t, pub.Publish("p/x", q, false, fmt.Sprint("m", q)))
	}
	want := "[p/x q0 rfalse m0 p/x q1 rfalse m1 p/x q2 rfalse m2]"
	if s := fmt.Sprint(got.waitN(t, 3)); s != want {
		t.Fatalf("got %s", s)
	}
	// Offline: QoS 1 and 2 are queued, QoS 0 is not. Paho hands m2 to
	// the handler before its PUBREC is written, and Disconnect may drop a
	// PUBREC still queued; the broker then sends m2 again on reconnect
	// (right at QoS 2, and paho delivers it again), so the exchange must
	// be complete first.
	waitInflight(t, b, "paho-sub", 0)
	sub.Disconnect(50)
	// Wait until the broker has read the DISCONNECT: otherwise the new
	// connection below may take the session over while m2's PUBREC is
	// still unread on the old socket, and m2 comes again with DUP (allowed
	// at QoS 2, but not what this test is about).
	waitOffline(t, b, "paho-sub")
	for q := byte(0); q <= 2; q++ {
		wait(t, pub.Publish("p/y", q, false, fmt.Sprint("o", q)))
	}
	wait(t, pub.Publish("p/ret", 1, true, "kept"))
	paho311(t, addr, "paho-sub", false, handler)
	all := got.waitN(t, 6)
	if s := fmt.Sprint(all[3:]); s != "[p/y q1 rfalse o1 p/y q2 rfalse o2 p/ret q1 rfalse kept]" {
		t.Fatalf("after reconnect: %s", s)
	}
	// Retained to a new subscriber, with the retain flag [MQTT-3.3.1-8].
	late := newCollector()
	c3 := paho311(t, addr, "paho-late", true, func(_ mqtt.Client, m mqtt.Message) {
		late.add(fmt.Sprintf("%s r%v %s", m.Topic(), m.Retained(), m.Payload()))
	})
	wait(t, c3.Subscribe("p/ret", 1, nil))
	if s := fmt.Sprint(late.waitN(t, 1)); s != "[p/ret rtrue kept]" {
		t.Fatalf("retained: %s", s)
	}
}

// paho5 connects a github.com/eclipse/paho.golang client (MQTT 5).
func paho5(t testing.TB, addr, id string, onMsg func(paho.PublishReceived) (bool, error)) *paho.Client {
	t.Helper()
	nc, err := dialConn(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := paho.ClientConfig{ClientID: id, Conn: lockedConn{Conn: nc, Mutex: new(sync.Mutex)}}
	if onMsg != nil {
		cfg.OnPublishReceived = []func(paho.PublishReceived) (bool, error){onMsg}
	}
	c := paho.NewClient(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ack, err := c.Connect(ctx, &paho.Connect{ClientID: id, CleanStart: true, KeepAlive: 30})
	if err != nil || ack.ReasonCode != 0 {
		t.Fatalf("paho5 connect: %v %+v", err, ack)
	}
	t.Cleanup(func() {
		c.Disconnect(&paho.Disconnect{})
		select {
		case <-c.Done():
		case <-time.After(5 * time.Second):
		}
	})
	return c
}

// lockedConn makes paho.golang write each packet whole. It writes a
// packet as net.Buffers (header, then body parts) from more than one
// goroutine (its pinger sends PINGREQ at once after CONNACK), and holds a
// lock around the buffers only when the connection is a sync.Locker. On a
// TCPConn the buffers go out in one writev, but a *tls.Conn takes them as
// separate Writes, so a PINGREQ could land inside a SUBSCRIBE; the broker
// rightly read "82 .. c0 00 00 01 .." as a malformed SUBSCRIBE.
type lockedConn struct {
	net.Conn
	*sync.Mutex
}

func TestPaho5RoundTripAndSharedSubscription(t *testing.T) {
	_, addr := startBroker(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got := newCollector()
	sub := paho5(t, addr, "p5-sub", func(pr paho.PublishReceived) (bool, error) {
		p := pr.Packet
		u := ""
		if p.Properties != nil {
			u = p.Properties.User.Get("k") + "/" + p.Properties.ContentType
		}
		got.add(fmt.Sprintf("%s q%d %s %s", p.Topic, p.QoS, p.Payload, u))
		return true, nil
	})
	if _, err := sub.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "p5/#", QoS: 2}}}); err != nil {
		t.Fatal(err)
	}
	pub := paho5(t, addr, "p5-pub", nil)
	for q := byte(0); q <= 2; q++ {
		_, err := pub.Publish(ctx, &paho.Publish{Topic: "p5/x", QoS: q, Payload: []byte(fmt.Sprint("m", q)),
			Properties: &paho.PublishProperties{ContentType: "text/plain", User: paho.UserProperties{{Key: "k", Value: "v"}}}})
		if err != nil {
			t.Fatal(err)
		}
	}
	if s := fmt.Sprint(got.waitN(t, 3)); s != "[p5/x q0 m0 v/text/plain p5/x q1 m1 v/text/plain p5/x q2 m2 v/text/plain]" {
		t.Fatalf("got %s", s)
	}

	// Shared subscription: two members share 10 messages, each once.
	var mu sync.Mutex
	counts := map[string]int{}
	seen := map[string]bool{}
	all := make(chan struct{}, 100)
	member := func(id string) {
		c := paho5(t, addr, id, func(pr paho.PublishReceived) (bool, error) {
			mu.Lock()
			counts[id]++
			seen[string(pr.Packet.Payload)] = true
			mu.Unlock()
			all <- struct{}{}
			return true, nil
		})
		if _, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "$share/grp/work", QoS: 1}}}); err != nil {
			t.Fatal(err)
		}
	}
	member("w1")
	member("w2")
	for i := 0; i < 10; i++ {
		if _, err := pub.Publish(ctx, &paho.Publish{Topic: "work", QoS: 1, Payload: []byte(fmt.Sprint(i))}); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 10; i++ {
		select {
		case <-all:
		case <-time.After(5 * time.Second):
			t.Fatalf("shared: got %d of 10", i)
		}
	}
	time.Sleep(100 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if counts["w1"] != 5 || counts["w2"] != 5 || len(seen) != 10 {
		t.Fatalf("round robin: %v, %d distinct", counts, len(seen))
	}
}

// BenchmarkPaho311QoS1 measures one paho.mqtt.golang publisher to one
// subscriber at QoS 1 (the client library is the bottleneck; it is a
// sanity figure, bench-compare has the real comparisons).
func BenchmarkPaho311QoS1(b *testing.B) {
	_, addr := startBroker(b, nil)
	const n = 20000
	got := make(chan struct{}, n)
	sub := paho311(b, addr, "bench-sub", true, func(mqtt.Client, mqtt.Message) { got <- struct{}{} })
	wait(b, sub.Subscribe("bench", 1, nil))
	pub := paho311(b, addr, "bench-pub", true, nil)
	payload := make([]byte, 64)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		toks := make([]mqtt.Token, 0, n)
		for j := 0; j < n; j++ {
			toks = append(toks, pub.Publish("bench", 1, false, payload))
		}
		for _, t := range toks {
			wait(b, t)
		}
		for j := 0; j < n; j++ {
			select {
			case <-got:
			case <-time.After(10 * time.Second):
				b.Fatalf("received %d of %d", j, n)
			}
		}
	}
	b.ReportMetric(float64(n*b.N)/time.Since(start).Seconds(), "msgs/s")
}

// waitOffline waits until the session of clientID has no connection.
// waitInflight waits until clientID's session has n messages in flight.
func waitInflight(t testing.TB, b *Broker, clientID string, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; {
		for _, ci := range b.Clients() {
			if ci.ClientID == clientID && ci.Inflight == n {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("session %q: not %d messages in flight after 5 s", clientID, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func waitOffline(t testing.TB, b *Broker, clientID string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; {
		b.mu.Lock()
		s := b.sessions.get(clientID)
		b.mu.Unlock()
		if s == nil || s.flags.Load()&flagOnline == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("session %q still online", clientID)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
