package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/mqttkit/mqtt/internal/testutil"
	"github.com/mqttkit/mqtt/mqtt/packet"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// collector gathers delivered messages.
type collector struct {
	mu   sync.Mutex
	msgs []*Message
	ch   chan struct{}
}

func newCollector() *collector { return &collector{ch: make(chan struct{}, 1<<16)} }

func (c *collector) on(m *Message) {
	c.mu.Lock()
	c.msgs = append(c.msgs, m)
	c.mu.Unlock()
	c.ch <- struct{}{}
}

func (c *collector) wait(t *testing.T, n int) []*Message {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for i := 0; i < n; i++ {
		select {
		case <-c.ch:
		case <-timeout:
			t.Fatalf("got %d of %d messages", i, n)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*Message(nil), c.msgs...)
}

func dial(t *testing.T, o Options) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, o)
	if err != nil {
		t.Fatalf("Dial %s: %v", o.Server, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestPubSubEveryQoSAndVersion publishes at each QoS under each protocol
// version over each transport and checks order and content.
func TestPubSubEveryQoSAndVersion(t *testing.T) {
	m := startMosquitto(t)
	transports := map[string]Options{
		"tcp": {Server: "tcp://" + m.TCP},
		"ws":  {Server: "ws://" + m.WS + "/mqtt"},
		"tls": {Server: "tls://" + m.TLS, TLSConfig: m.tlsConfig()},
	}
	for tname, base := range transports {
		for _, v := range []byte{packet.V31, packet.V311, packet.V5} {
			for qos := byte(0); qos <= 2; qos++ {
				t.Run(fmt.Sprintf("%s/v%d/qos%d", tname, v, qos), func(t *testing.T) {
					ctx := context.Background()
					col := newCollector()
					so := base
					so.ProtocolVersion, so.CleanStart, so.OnMessage = v, true, col.on
					so.ClientID = fmt.Sprintf("s-%s-%d-%d", tname, v, qos)
					sub := dial(t, so)
					topic := fmt.Sprintf("t/%s/%d/%d", tname, v, qos)
					sa, err := sub.Subscribe(ctx, []packet.Subscription{{Filter: topic + "/#", QoS: qos}}, nil)
					if err != nil {
						t.Fatal(err)
					}
					if sa.ReasonCodes[0] != packet.ReasonCode(qos) {
						t.Fatalf("granted %d, want %d", sa.ReasonCodes[0], qos)
					}
					po := base
					po.ProtocolVersion, po.CleanStart, po.MaxInflight = v, true, 10
					po.ClientID = fmt.Sprintf("p-%s-%d-%d", tname, v, qos)
					pub := dial(t, po)
					const n = 50
					var toks []*Token
					for i := 0; i < n; i++ {
						tok, err := pub.PublishAsync(ctx, Message{Topic: topic + "/x", QoS: qos, Payload: []byte(fmt.Sprint(i))})
						if err != nil {
							t.Fatal(err)
						}
						toks = append(toks, tok)
					}
					for _, tok := range toks {
						if err := tok.Wait(ctx); err != nil {
							t.Fatal(err)
						}
					}
					got := col.wait(t, n)
					for i, msg := range got {
						if string(msg.Payload) != fmt.Sprint(i) || msg.QoS != qos || msg.Topic != topic+"/x" {
							t.Fatalf("message %d: %q qos %d topic %q", i, msg.Payload, msg.QoS, msg.Topic)
						}
					}
					if err := pub.Disconnect(ctx, 0, nil); err != nil {
						t.Fatal(err)
					}
					if err := sub.Disconnect(ctx, 0, nil); err != nil {
						t.Fatal(err)
					}
				})
			}
		}
	}
}

func TestV5PropertiesAndAliases(t *testing.T) {
	m := startMosquitto(t)
	ctx := context.Background()
	col := newCollector()
	sub := dial(t, Options{Server: m.TCP, ProtocolVersion: packet.V5, CleanStart: true, OnMessage: col.on,
		ConnectProperties: packet.Properties{TopicAliasMaximum: 10, HasTopicAliasMaximum: true}})
	if _, err := sub.Subscribe(ctx, []packet.Subscription{{Filter: "p/#", QoS: 1}},
		&packet.Properties{SubscriptionIDs: []uint32{7}}); err != nil {
		t.Fatal(err)
	}
	pub := dial(t, Options{Server: m.TCP, ProtocolVersion: packet.V5, CleanStart: true, OutboundTopicAliases: true,
		KeepAlive: 1})
	if !pub.Connack().Properties.HasTopicAliasMaximum {
		t.Log("server sent no Topic Alias Maximum; aliases unused")
	}
	props := packet.Properties{ContentType: "text/plain", User: []packet.UserProperty{{Key: "k", Value: "v"}, {Key: "k", Value: "w"}},
		ResponseTopic: "r/t", CorrelationData: []byte{1, 2}, PayloadFormat: 1, HasPayloadFormat: true}
	for i := 0; i < 3; i++ {
		if err := pub.Publish(ctx, Message{Topic: "p/a", QoS: 1, Payload: []byte("x"), Properties: props}); err != nil {
			t.Fatal(err)
		}
	}
	// Keep alive 1 s: the connection must survive idle time via PINGREQ.
	time.Sleep(2500 * time.Millisecond)
	if err := pub.Publish(ctx, Message{Topic: "p/a", QoS: 2, Payload: []byte("y")}); err != nil {
		t.Fatal(err)
	}
	got := col.wait(t, 4)
	for _, g := range got[:3] {
		p := g.Properties
		if g.Topic != "p/a" || p.ContentType != "text/plain" || len(p.User) != 2 || p.User[1].Value != "w" ||
			p.ResponseTopic != "r/t" || !bytes.Equal(p.CorrelationData, []byte{1, 2}) || p.PayloadFormat != 1 ||
			len(p.SubscriptionIDs) != 1 || p.SubscriptionIDs[0] != 7 {
			t.Fatalf("properties lost: %+v topic %q", p, g.Topic)
		}
	}
	if string(got[3].Payload) != "y" {
		t.Fatalf("last payload %q", got[3].Payload)
	}
}

func TestConnectRefusedAndConnectionErrors(t *testing.T) {
	m := startMosquitto(t)
	ctx := context.Background()
	// v3.1 requires a non-empty client id: mosquitto refuses with code 2.
	_, err := Dial(ctx, Options{Server: m.TCP, ProtocolVersion: packet.V31, CleanStart: true})
	var ce *ConnectError
	if !errors.As(err, &ce) || ce.ReturnCode() != 2 {
		t.Fatalf("v3.1 empty id: %v", err)
	}
	// Closed port.
	addr := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	if _, err := Dial(ctx, Options{Server: addr}); err == nil {
		t.Fatal("dial to a closed port succeeded")
	}
	// TLS with a CA that does not match fails the handshake.
	if _, err := Dial(ctx, Options{Server: "tls://" + m.TLS}); err == nil {
		t.Fatal("TLS without the test CA succeeded")
	}
}

// TestSessionResume publishes while the subscriber is away and checks a
// persistent session gets the queued QoS 1 messages, and that the client
// resends an unacknowledged message with DUP.
func TestSessionResume(t *testing.T) {
	m := startMosquitto(t)
	ctx := context.Background()
	for _, v := range []byte{packet.V311, packet.V5} {
		t.Run(fmt.Sprint(v), func(t *testing.T) {
			id := fmt.Sprintf("persist-%d", v)
			o := Options{Server: m.TCP, ProtocolVersion: v, ClientID: id}
			if v == packet.V5 {
				o.ConnectProperties = packet.Properties{SessionExpiry: 60, HasSessionExpiry: true}
			}
			// v3.1.1 keeps a session only without Clean Session; v5 keeps
			// one with Clean Start when the expiry is non-zero.
			o.CleanStart = v == packet.V5
			c := dial(t, o)
			if _, err := c.Subscribe(ctx, []packet.Subscription{{Filter: "s/" + id, QoS: 1}}, nil); err != nil {
				t.Fatal(err)
			}
			c.Disconnect(ctx, 0, nil)

			pub := dial(t, Options{Server: m.TCP, ProtocolVersion: v, CleanStart: true})
			for i := 0; i < 5; i++ {
				if err := pub.Publish(ctx, Message{Topic: "s/" + id, QoS: 1, Payload: []byte(fmt.Sprint(i))}); err != nil {
					t.Fatal(err)
				}
			}
			col := newCollector()
			o.CleanStart, o.OnMessage = false, col.on
			c2 := dial(t, o)
			if !c2.Connack().SessionPresent {
				t.Fatal("session not present")
			}
			got := col.wait(t, 5)
			for i, g := range got {
				if string(g.Payload) != fmt.Sprint(i) {
					t.Fatalf("message %d = %q", i, g.Payload)
				}
			}
			c2.Close()
		})
	}
}

// TestRetransmitDup stores an unacknowledged message in a Session by hand
// and checks the next connection sends it.
func TestRetransmitDup(t *testing.T) {
	m := startMosquitto(t)
	ctx := context.Background()
	col := newCollector()
	sub := dial(t, Options{Server: m.TCP, CleanStart: true, OnMessage: col.on})
	if _, err := sub.Subscribe(ctx, []packet.Subscription{{Filter: "dup/#", QoS: 2}}, nil); err != nil {
		t.Fatal(err)
	}
	o := Options{Server: m.TCP, ClientID: "dup-pub"}
	c := dial(t, o)
	c.Close()
	sess := c.Session()
	sess.mu.Lock()
	sess.seq++
	sess.out[9] = &outbound{pub: &packet.Publish{QoS: 2, Topic: "dup/a", PacketID: 9, Payload: []byte("again")}, seq: sess.seq}
	sess.mu.Unlock()
	o.Session = sess
	c2 := dial(t, o)
	if !c2.Connack().SessionPresent {
		t.Fatal("session not present")
	}
	got := col.wait(t, 1)
	if string(got[0].Payload) != "again" {
		t.Fatalf("payload %q", got[0].Payload)
	}
	deadline := time.Now().Add(5 * time.Second)
	for sess.Pending() != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if sess.Pending() != 0 {
		t.Fatal("retransmitted message never completed")
	}
	c2.Disconnect(ctx, 0, nil)
}

func TestPacketTooLargeAndBadInput(t *testing.T) {
	m := startMosquitto(t)
	ctx := context.Background()
	c := dial(t, Options{Server: m.TCP, CleanStart: true})
	if err := c.Publish(ctx, Message{Topic: "a/+", Payload: nil}); err == nil {
		t.Fatal("wildcard topic accepted")
	}
	if err := c.Publish(ctx, Message{Topic: "a", QoS: 3}); err == nil {
		t.Fatal("QoS 3 accepted")
	}
	if _, err := c.Subscribe(ctx, []packet.Subscription{{Filter: "a/#/b"}}, nil); err == nil {
		t.Fatal("bad filter accepted")
	}
	// A 3 MB payload round trip.
	col := newCollector()
	sub := dial(t, Options{Server: m.TCP, CleanStart: true, OnMessage: col.on})
	if _, err := sub.Subscribe(ctx, []packet.Subscription{{Filter: "big", QoS: 1}}, nil); err != nil {
		t.Fatal(err)
	}
	big := make([]byte, 3<<20)
	for i := range big {
		big[i] = byte(i * 7)
	}
	if err := c.Publish(ctx, Message{Topic: "big", QoS: 1, Payload: big}); err != nil {
		t.Fatal(err)
	}
	if got := col.wait(t, 1); !bytes.Equal(got[0].Payload, big) {
		t.Fatal("3 MB payload changed in transit")
	}
}

func TestUnixSocket(t *testing.T) {
	// Check the unix transport against a local listener that answers
	// CONNACK, without depending on the broker's unix listener support.
	dir := t.TempDir()
	path := dir + "/s"
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Skip(err)
	}
	defer l.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		conn, err := l.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		if _, err := packet.ReadPacket(conn, packet.V311, 0); err != nil {
			return
		}
		b, _ := packet.Append(nil, &packet.Connack{}, packet.V311)
		conn.Write(b)
		packet.ReadPacket(conn, packet.V311, 0) // DISCONNECT
	}()
	c := dial(t, Options{Server: "unix://" + path, CleanStart: true})
	if err := c.Disconnect(context.Background(), 0, nil); err != nil {
		t.Fatal(err)
	}
	<-done
}

// A QoS 1 or 2 message that cannot be encoded (a Topic Alias of 0 [MQTT-3.3.2-8]) is an
// error at once, as at QoS 0, and frees its place in the window: it waited for an
// acknowledgement that could never come (mosquitto_pub -q 1 -D publish topic-alias 0 hung).
func TestPublishUnencodableIsAnError(t *testing.T) {
	m := startMosquitto(t)
	c := dial(t, Options{Server: m.TCP, ProtocolVersion: packet.V5, CleanStart: true, MaxInflight: 1})
	for _, qos := range []byte{0, 1, 2, 1} { // QoS 1 twice: the first freed its slot
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		msg := Message{Topic: "a", QoS: qos, Payload: []byte("x")}
		msg.Properties.HasTopicAlias = true
		err := c.Publish(ctx, msg)
		cancel()
		var pe *packet.Error
		if !errors.As(err, &pe) {
			t.Fatalf("QoS %d with Topic Alias 0: %v, want the encoding error", qos, err)
		}
	}
	// The connection goes on.
	if err := c.Publish(context.Background(), Message{Topic: "a", QoS: 1, Payload: []byte("x")}); err != nil {
		t.Fatalf("a good message after them: %v", err)
	}
}
