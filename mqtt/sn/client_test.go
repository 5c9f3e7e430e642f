package sn

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"
)

func newTestClient(t *testing.T, gw string, o ClientOptions) (*Client, chan *ClientMessage) {
	t.Helper()
	msgs := make(chan *ClientMessage, 100)
	o.Gateway = gw
	if o.RetryInterval == 0 {
		o.RetryInterval = 200 * time.Millisecond
	}
	o.OnMessage = func(m *ClientMessage) { msgs <- m }
	c, err := NewClient(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, msgs
}

func recvMsg(t *testing.T, ch chan *ClientMessage) *ClientMessage {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("no message within 5s")
		return nil
	}
}

// The client against the gateway: connect with a will, publish at every QoS including −1,
// subscribe to a wildcard (the client answers the gateway's REGISTER), sleep and wake.
func TestClient(t *testing.T) {
	addr := startBroker(t)
	pre := NewPredefined()
	if err := pre.Add(AllClients, "cl/pre", 5); err != nil {
		t.Fatal(err)
	}
	g, gwAddr := startGateway(t, addr, func(o *Options) { o.Predefined = pre })
	gw := gwAddr.String()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	sub := startMosqSub(t, addr, 5, "-t", "cl/#", "-t", "cs", "-q", "2")
	c, msgs := newTestClient(t, gw, ClientOptions{ClientID: "client-1", CleanSession: true, KeepAlive: 60,
		Will: &Will{Topic: "will/client-1", Payload: []byte("gone"), QoS: 1}, Predefined: pre})
	if err := c.Publish(ctx, PublishMessage{Topic: "cl/x", Payload: []byte("early")}); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("publish before connect: %v", err)
	}
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	for q := QoS0; q <= QoS2; q++ {
		if err := c.Publish(ctx, PublishMessage{Topic: "cl/q", QoS: q, Payload: []byte{'0' + byte(q)}}); err != nil {
			t.Fatalf("QoS %d: %v", q, err)
		}
	}
	if err := c.Publish(ctx, PublishMessage{TopicIDType: TopicPredefined, Topic: "cl/pre", QoS: 1, Payload: []byte("pre")}); err != nil {
		t.Fatal(err)
	}
	anon, _ := newTestClient(t, gw, ClientOptions{})
	if err := anon.Publish(ctx, PublishMessage{TopicIDType: TopicShort, Topic: "cs", QoS: QoSMinus1, Payload: []byte("m1")}); err != nil {
		t.Fatal(err)
	}
	got := sub.wait()
	mustEqual(t, len(got), 5)

	if _, err := c.Subscribe(ctx, SubscribeRequest{Topic: "down/+", QoS: 2}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Subscribe(ctx, SubscribeRequest{TopicIDType: TopicPredefined, TopicID: 5, QoS: 1}); err != nil {
		t.Fatal(err)
	}
	mosqPub(t, addr, "-t", "down/a", "-q", "2", "-m", "A")
	mosqPub(t, addr, "-t", "cl/pre", "-q", "1", "-m", "P")
	m := recvMsg(t, msgs)
	if m.Topic != "down/a" || string(m.Payload) != "A" || m.QoS != 2 {
		t.Fatalf("%+v", m)
	}
	m = recvMsg(t, msgs)
	if m.Topic != "cl/pre" || m.TopicIDType != TopicPredefined || string(m.Payload) != "P" {
		t.Fatalf("%+v", m)
	}
	if sa, err := c.Subscribe(ctx, SubscribeRequest{TopicIDType: TopicPredefined, TopicID: 99}); !errors.Is(err, RejectedInvalidTopicID) || sa == nil {
		t.Fatalf("unknown predefined id: %v", err)
	}
	if err := c.Unsubscribe(ctx, SubscribeRequest{TopicIDType: TopicPredefined, TopicID: 5}); err != nil {
		t.Fatal(err)
	}

	if err := c.Sleep(ctx, 30); err != nil {
		t.Fatal(err)
	}
	mosqPub(t, addr, "-t", "down/b", "-q", "1", "-m", "B")
	waitFor(t, "the message buffered", func() bool { return g.Stats().Queued == 1 })
	if err := c.Wake(ctx); err != nil {
		t.Fatal(err)
	}
	if m := recvMsg(t, msgs); m.Topic != "down/b" || string(m.Payload) != "B" {
		t.Fatalf("%+v", m)
	}
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.UpdateWill(ctx, Will{Topic: "will/new", Payload: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if gi, err := c.SearchGateway(ctx, 1); err != nil || gi.GwID != 7 {
		t.Fatalf("GWINFO %+v %v", gi, err)
	}
	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Disconnect(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Publish(ctx, PublishMessage{Topic: "cl/x"}); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("publish after disconnect: %v", err)
	}
}

// Through a forwarder; a gateway that closes tells the client (Gone); one that does not
// answer is retransmitted to, then given up on with ErrTimeout.
func TestClientForwarderAndTimeout(t *testing.T) {
	addr := startBroker(t)
	g, gwAddr := startGateway(t, addr, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, _ := newTestClient(t, gwAddr.String(), ClientOptions{ClientID: "fw", CleanSession: true, ForwarderNodeID: []byte{1, 2}})
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Publish(ctx, PublishMessage{Topic: "fw/t", QoS: 1}); err != nil {
		t.Fatal(err)
	}
	g.Close()
	select {
	case <-c.Gone():
	case <-time.After(5 * time.Second):
		t.Fatal("the gateway's DISCONNECT did not end the client")
	}
	if err := c.Publish(ctx, PublishMessage{Topic: "fw/t", QoS: 1}); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("publish after the gateway left: %v", err)
	}

	hole := blackHole(t, 0)
	d, _ := newTestClient(t, hole.LocalAddr().String(), ClientOptions{ClientID: "nobody-home", RetryInterval: 50 * time.Millisecond})
	start := time.Now()
	if err := d.Connect(ctx); !errors.Is(err, ErrTimeout) {
		t.Fatalf("got %v, want ErrTimeout", err)
	}
	if d := time.Since(start); d < 4*50*time.Millisecond {
		t.Fatalf("gave up after %s, before 3 retransmissions", d)
	}
	waitFor(t, "4 CONNECTs", func() bool { return hole.count() >= 4 })
}

// fakeGateway reads datagrams and answers the first n CONNECTs with CONNACK, nothing else.
type fakeGateway struct {
	*net.UDPConn
	mu sync.Mutex
	n  int
}

func (f *fakeGateway) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n
}

func blackHole(t *testing.T, connacks int) *fakeGateway {
	t.Helper()
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeGateway{UDPConn: pc}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 1024)
		for {
			n, from, err := pc.ReadFromUDP(buf)
			if err != nil {
				return
			}
			f.mu.Lock()
			f.n++
			f.mu.Unlock()
			if m, err := Decode(buf[:n]); err == nil && m.Type() == CONNECT && connacks > 0 {
				connacks--
				b, _ := Append(nil, &Connack{})
				_, _ = pc.WriteToUDP(b, from)
			}
		}
	}()
	t.Cleanup(func() { pc.Close(); <-done })
	return f
}

// The keep alive: an idle client pings, so the gateway keeps it; a gateway that stops
// answering ends the client (Gone, ErrTimeout).
func TestClientKeepAlive(t *testing.T) {
	addr := startBroker(t)
	g, gwAddr := startGateway(t, addr, nil)
	c, _ := newTestClient(t, gwAddr.String(), ClientOptions{ClientID: "ka", CleanSession: true, KeepAlive: 1,
		RetryInterval: 100 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	before := g.Stats().Received
	waitFor(t, "two keep-alive PINGREQs", func() bool { return g.Stats().Received >= before+2 })
	if g.Stats().Clients != 1 {
		t.Fatal("the gateway dropped a pinging client")
	}

	hole := blackHole(t, 1)
	d, _ := newTestClient(t, hole.LocalAddr().String(), ClientOptions{ClientID: "ka2", KeepAlive: 1,
		RetryInterval: 100 * time.Millisecond})
	if err := d.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-d.Gone():
	case <-time.After(10 * time.Second):
		t.Fatal("the client did not notice the gateway was gone")
	}
	if !errors.Is(d.Err(), ErrTimeout) {
		t.Fatalf("Err %v", d.Err())
	}
}

// A client that does not know the gateway's predefined topics learns the ids SUBACK gives:
// messages on a topic subscribed to by name carry its name whether the gateway sends a
// predefined or a normal id, and publishing by name still goes to that name.
func TestClientNamesFromSuback(t *testing.T) {
	addr := startBroker(t)
	pre := NewPredefined()
	for _, e := range []struct {
		client, topic string
		id            uint16
	}{{"*", "a/b", 1}, {"boiler", "a/b", 2}, {"boiler", "c/d", 1}, {"*", "bom/topic", 5}} {
		if err := pre.Add(e.client, e.topic, e.id); err != nil {
			t.Fatal(err)
		}
	}
	_, gw := startGateway(t, addr, func(o *Options) { o.Predefined = pre })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, msgs := newTestClient(t, gw.String(), ClientOptions{ClientID: "boiler", CleanSession: true, KeepAlive: 60})
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	topics := []string{"a/b", "c/d", "bom/topic", "plain/1"}
	for _, name := range topics {
		if _, err := c.Subscribe(ctx, SubscribeRequest{Topic: name, QoS: 1}); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range topics {
		mosqPub(t, addr, "-t", name, "-q", "1", "-m", name)
		if m := recvMsg(t, msgs); m.Topic != name || string(m.Payload) != name {
			t.Fatalf("message %q arrived with topic %q (id %d, %v)", m.Payload, m.Topic, m.TopicID, m.TopicIDType)
		}
		// Publishing by name registers the name: the message comes back on it.
		if err := c.Publish(ctx, PublishMessage{Topic: name, QoS: 1, Payload: []byte("echo " + name)}); err != nil {
			t.Fatal(err)
		}
		if m := recvMsg(t, msgs); m.Topic != name || string(m.Payload) != "echo "+name {
			t.Fatalf("echo on %s arrived as %q on %q", name, m.Payload, m.Topic)
		}
	}
}

// Nothing listens at the gateway's address (the host answers ICMP port unreachable): the
// client says so at once instead of retransmitting for MaxRetries x RetryInterval.
func TestClientNothingListens(t *testing.T) {
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	c, _ := newTestClient(t, addr, ClientOptions{ClientID: "nobody-there", RetryInterval: 10 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Connect(ctx); !errors.Is(err, ErrGatewayUnreachable) {
		t.Fatalf("Connect: %v, want ErrGatewayUnreachable", err)
	}
}
