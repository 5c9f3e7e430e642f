package client

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mqttkit/mqtt/mqtt/packet"
)

// stallBroker is a fake broker on loopback that accepts one connection,
// answers its CONNECT with CONNACK and then never reads again, so the
// client's socket buffers fill and its writes block: a stalled broker.
type stallBroker struct {
	addr     string
	ln       net.Listener
	mu       sync.Mutex
	conn     net.Conn
	accepted chan struct{}
	done     chan struct{}
}

func startStallBroker(t *testing.T, version byte) *stallBroker {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &stallBroker{addr: ln.Addr().String(), ln: ln, accepted: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(b.done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		// A small receive buffer fills sooner.
		_ = c.(*net.TCPConn).SetReadBuffer(16 << 10)
		b.mu.Lock()
		b.conn = c
		b.mu.Unlock()
		close(b.accepted)
		if _, err := packet.ReadPacket(c, version, 0); err != nil {
			return
		}
		ack, _ := packet.Append(nil, &packet.Connack{}, version)
		_, _ = c.Write(ack)
		// From here on, nothing is read.
	}()
	t.Cleanup(b.close)
	return b
}

func (b *stallBroker) close() {
	b.ln.Close()
	<-b.done
	b.mu.Lock()
	if b.conn != nil {
		b.conn.Close()
	}
	b.mu.Unlock()
}

// fill publishes 64 KiB QoS 0 messages, each with a 200 ms context, until
// one cannot be queued: the socket buffers and the client's write buffer are
// full and the writer is blocked. It returns that publish's error. A client
// that ignores the context would block here for good, so the loop runs
// under a 30 s bound after which the client is closed and the test fails.
func fill(t *testing.T, c *Client) error {
	t.Helper()
	payload := bytes.Repeat([]byte{'x'}, 64<<10)
	res := make(chan error, 1)
	go func() {
		for i := 0; i < 4000; i++ { // 256 MiB at most; loopback buffers take a few MiB
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			err := c.Publish(ctx, Message{Topic: "stall", Payload: payload})
			cancel()
			if err != nil {
				res <- err
				return
			}
		}
		res <- errors.New("4000 publishes of 64 KiB were all queued by a broker that reads nothing")
	}()
	select {
	case err := <-res:
		return err
	case <-time.After(30 * time.Second):
		c.Close()
		<-res
		t.Fatal("filling the write buffer: a Publish with a 200 ms context blocked for 30 s")
		return nil
	}
}

// promptly runs f with a 200 ms context and checks it returns ctx's error
// well before a bound that only catches a call blocked for good.
func promptly(t *testing.T, c *Client, what string, f func(ctx context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	res := make(chan error, 1)
	go func() { res <- f(ctx) }()
	select {
	case err := <-res:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("%s against a stalled broker: %v, want context.DeadlineExceeded", what, err)
		}
	case <-time.After(10 * time.Second):
		c.Close()
		<-res
		t.Fatalf("%s ignored its 200 ms context for 10 s against a stalled broker", what)
	}
}

// Every blocking call returns its context's error when the broker stopped
// reading and the write buffer is full, and the connection stays usable in
// the sense that nothing half-queued is left behind (an alias included).
func TestStalledBrokerHonoursContext(t *testing.T) {
	for _, v := range []byte{packet.V311, packet.V5} {
		t.Run(versionName(v), func(t *testing.T) {
			b := startStallBroker(t, v)
			c := dial(t, Options{Server: b.addr, ProtocolVersion: v, CleanStart: true, WriteBufferLimit: 256 << 10})
			if err := fill(t, c); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Publish QoS 0 into a full buffer: %v, want context.DeadlineExceeded", err)
			}
			promptly(t, c, "Publish QoS 0", func(ctx context.Context) error {
				return c.Publish(ctx, Message{Topic: "stall", Payload: []byte("x")})
			})
			promptly(t, c, "Publish QoS 1", func(ctx context.Context) error {
				return c.Publish(ctx, Message{Topic: "stall", QoS: 1, Payload: []byte("x")})
			})
			if n := c.Session().Pending(); n != 0 {
				t.Errorf("a QoS 1 message that was never queued stays in the session (%d pending)", n)
			}
			promptly(t, c, "Publish QoS 2", func(ctx context.Context) error {
				return c.Publish(ctx, Message{Topic: "stall", QoS: 2, Payload: []byte("x")})
			})
			promptly(t, c, "Subscribe", func(ctx context.Context) error {
				_, err := c.Subscribe(ctx, []packet.Subscription{{Filter: "a/#", QoS: 1}}, nil)
				return err
			})
			promptly(t, c, "Unsubscribe", func(ctx context.Context) error {
				_, err := c.Unsubscribe(ctx, []string{"a/#"}, nil)
				return err
			})
			select {
			case <-c.Done():
				t.Fatalf("the connection ended: %v", c.Err())
			default:
			}
			promptly(t, c, "Disconnect", func(ctx context.Context) error {
				return c.Disconnect(ctx, 0, nil)
			})
			select {
			case <-c.Done():
			default:
				t.Fatal("Disconnect returned without closing the connection")
			}
			if !errors.Is(c.Err(), ErrClosed) {
				t.Fatalf("after Disconnect: %v, want ErrClosed", c.Err())
			}
		})
	}
}

// With the SUBACK never coming (the broker reads nothing) but room in the
// buffer, Subscribe still returns ctx's error.
func TestStalledBrokerNoAck(t *testing.T) {
	b := startStallBroker(t, packet.V311)
	c := dial(t, Options{Server: b.addr, CleanStart: true})
	promptly(t, c, "Subscribe", func(ctx context.Context) error {
		_, err := c.Subscribe(ctx, []packet.Subscription{{Filter: "a"}}, nil)
		return err
	})
	promptly(t, c, "Publish QoS 1", func(ctx context.Context) error {
		return c.Publish(ctx, Message{Topic: "a", QoS: 1})
	})
}

// A topic alias given to a PUBLISH that was never queued is not used later:
// the next PUBLISH on that topic must carry the topic name.
func TestAliasNotLeftByAbandonedPublish(t *testing.T) {
	b := startStallBroker(t, packet.V5)
	c := dial(t, Options{Server: b.addr, ProtocolVersion: packet.V5, CleanStart: true, WriteBufferLimit: 64 << 10})
	c.aliasMax = 10 // as if CONNACK had Topic Alias Maximum 10
	_ = fill(t, c)
	promptly(t, c, "Publish with a new alias", func(ctx context.Context) error {
		return c.Publish(ctx, Message{Topic: "fresh", Payload: []byte("x")})
	})
	c.wmu.Lock()
	_, leaked := c.aliasOut["fresh"]
	c.wmu.Unlock()
	if leaked {
		t.Fatal("the abandoned PUBLISH left its alias recorded; the next one would send the alias alone")
	}
}

// A broker that stops reading while keep alive is on: the writer blocks on
// the full socket, and keep alive, which runs beside it, still ends the
// connection with ErrKeepAliveTimeout, before the write deadline (twice the
// keep alive) would have.
func TestKeepAliveWhileWriterBlocked(t *testing.T) {
	b := startStallBroker(t, packet.V311)
	c := dial(t, Options{Server: b.addr, CleanStart: true, KeepAlive: 1, WriteBufferLimit: 64 << 10})
	start := time.Now()
	if err := fill(t, c); !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, ErrKeepAliveTimeout) {
		t.Fatalf("filling: %v", err)
	}
	select {
	case <-c.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("a broker that reads nothing was not noticed within 10 s with keep alive 1 s")
	}
	if !errors.Is(c.Err(), ErrKeepAliveTimeout) {
		t.Fatalf("ended with %v, want ErrKeepAliveTimeout", c.Err())
	}
	t.Logf("noticed after %s (keep alive 1 s)", time.Since(start).Round(time.Millisecond))
	// Every call now fails at once with the cause.
	if err := c.Publish(context.Background(), Message{Topic: "a", Payload: []byte("x")}); !errors.Is(err, ErrKeepAliveTimeout) {
		t.Fatalf("Publish after the end: %v", err)
	}
}

// Without keep alive a write that makes no progress for WriteTimeout ends
// the connection as lost, naming the timeout.
func TestWriteTimeout(t *testing.T) {
	b := startStallBroker(t, packet.V311)
	c := dial(t, Options{Server: b.addr, CleanStart: true, WriteBufferLimit: 64 << 10, WriteTimeout: 300 * time.Millisecond})
	_ = fill(t, c)
	select {
	case <-c.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("a write stuck past WriteTimeout did not end the connection")
	}
	if err := c.Err(); !errors.Is(err, ErrConnectionLost) || !strings.Contains(err.Error(), "write timeout") {
		t.Fatalf("ended with %v, want ErrConnectionLost naming the write timeout", err)
	}
}

func versionName(v byte) string {
	if v == packet.V5 {
		return "v5"
	}
	return "v3.1.1"
}
