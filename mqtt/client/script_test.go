package client

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mqttkit/mqtt/mqtt/packet"
)

// scriptServer is a fake server on loopback that accepts one connection and plays a script
// on it: what a real broker may send but ours never would (Mosquitto's reason codes outside
// the specification's lists, malformed packets, a refusal), byte for byte.
type scriptServer struct {
	t       *testing.T
	addr    string
	ln      net.Listener
	mu      sync.Mutex
	conn    net.Conn
	done    chan struct{}
	version byte
}

// startScript runs script on the first connection, in its own goroutine; the connection is
// closed when script returns. Failures are reported with t.Errorf.
func startScript(t *testing.T, version byte, script func(s *scriptServer, c net.Conn)) *scriptServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &scriptServer{t: t, addr: ln.Addr().String(), ln: ln, done: make(chan struct{}), version: version}
	go func() {
		defer close(s.done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conn = c
		s.mu.Unlock()
		defer c.Close()
		script(s, c)
	}()
	t.Cleanup(func() {
		ln.Close()
		// Let the script finish reading what the client sent last; a script stuck
		// (after a failure) is cut off.
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
		}
		s.mu.Lock()
		if s.conn != nil {
			s.conn.Close()
		}
		s.mu.Unlock()
		<-s.done
	})
	return s
}

// read returns the next packet from the client, or nil (after reporting) on error.
func (s *scriptServer) read(c net.Conn) packet.Packet {
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	p, err := packet.ReadPacket(c, s.version, 0)
	if err != nil {
		s.t.Errorf("script server: reading: %v", err)
		return nil
	}
	return p
}

// drain reads until the client closes the connection.
func (s *scriptServer) drain(c net.Conn) {
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		if _, err := packet.ReadPacket(c, s.version, 0); err != nil {
			return
		}
	}
}

// expect reads a packet and reports it unless it is a T.
func expect[T packet.Packet](s *scriptServer, c net.Conn) (T, bool) {
	p := s.read(c)
	v, ok := p.(T)
	if !ok && p != nil {
		var zero T
		s.t.Errorf("script server: got %T, want %T", p, zero)
	}
	return v, ok
}

// send writes raw bytes: a packet as Mosquitto would send it, valid or not.
func (s *scriptServer) send(c net.Conn, raw ...byte) {
	if _, err := c.Write(raw); err != nil {
		s.t.Errorf("script server: writing: %v", err)
	}
}

// accept answers the client's CONNECT with a plain CONNACK.
func (s *scriptServer) accept(c net.Conn) bool {
	if _, ok := expect[*packet.Connect](s, c); !ok {
		return false
	}
	if s.version == packet.V5 {
		s.send(c, 0x20, 3, 0, 0, 0)
	} else {
		s.send(c, 0x20, 2, 0, 0)
	}
	return true
}

// TestAckReasonOutsideTheSpecList: Mosquitto answers an oversized QoS 1 or 2 PUBLISH with
// PUBACK or PUBREC 0x95 (Packet too large), a code MQTT 5 does not list for them. The client
// reports it as the publish's failure and keeps the connection.
func TestAckReasonOutsideTheSpecList(t *testing.T) {
	for _, qos := range []byte{1, 2} {
		t.Run(fmt.Sprintf("qos%d", qos), func(t *testing.T) {
			s := startScript(t, packet.V5, func(s *scriptServer, c net.Conn) {
				if !s.accept(c) {
					return
				}
				p, ok := expect[*packet.Publish](s, c)
				if !ok {
					return
				}
				ack := byte(0x40)
				if qos == 2 {
					ack = 0x50
				}
				s.send(c, ack, 3, byte(p.PacketID>>8), byte(p.PacketID), 0x95)
				if _, ok := expect[*packet.Pingreq](s, c); ok {
					s.send(c, 0xD0, 0)
				}
				expect[*packet.Disconnect](s, c)
			})
			cl, err := Dial(context.Background(), Options{Server: s.addr, ProtocolVersion: packet.V5, CleanStart: true})
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err = cl.Publish(ctx, Message{Topic: "a", QoS: qos, Payload: []byte("too big")})
			var ae *AckError
			if !errors.As(err, &ae) || ae.Code != packet.PacketTooLarge {
				t.Fatalf("Publish: %v, want an AckError with 0x95", err)
			}
			// Still connected: a PINGREQ gets its answer.
			cl.pingSent.Store(time.Now().UnixNano())
			if err := cl.sendNow(&packet.Pingreq{}); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(10 * time.Second)
			for cl.pingSent.Load() != 0 {
				select {
				case <-cl.Done():
					t.Fatalf("connection ended: %v", cl.Err())
				case <-time.After(5 * time.Millisecond):
				}
				if time.Now().After(deadline) {
					t.Fatal("no PINGRESP")
				}
			}
			if err := cl.Disconnect(ctx, 0, nil); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestSubackOutsideTheSpecList: Mosquitto's ACL refusals reach an MQTT 3.1.1 client as
// SUBACK 0x87 (3.1.1 knows only 0x80); the client returns the code instead of failing.
func TestSubackOutsideTheSpecList(t *testing.T) {
	s := startScript(t, packet.V311, func(s *scriptServer, c net.Conn) {
		if !s.accept(c) {
			return
		}
		p, ok := expect[*packet.Subscribe](s, c)
		if !ok {
			return
		}
		s.send(c, 0x90, 4, byte(p.PacketID>>8), byte(p.PacketID), 0x87, 0x01)
		expect[*packet.Disconnect](s, c)
	})
	cl := dial(t, Options{Server: s.addr, CleanStart: true})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sa, err := cl.Subscribe(ctx, []packet.Subscription{{Filter: "a"}, {Filter: "b", QoS: 1}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sa.ReasonCodes[0] != 0x87 || sa.ReasonCodes[1] != 1 {
		t.Fatalf("reason codes %v", sa.ReasonCodes)
	}
	cl.Disconnect(ctx, 0, nil)
}

// TestSubscribeAsyncOrder: SUBSCRIBE and UNSUBSCRIBE go out before the SUBACK, and onAck
// runs before a message the server sends right behind the SUBACK (in the same segment)
// reaches OnMessage: what lets mosquitto_sub -E exit without printing retained messages.
func TestSubscribeAsyncOrder(t *testing.T) {
	for _, v := range []byte{packet.V311, packet.V5} {
		t.Run(versionName(v), func(t *testing.T) {
			s := startScript(t, v, func(s *scriptServer, c net.Conn) {
				if !s.accept(c) {
					return
				}
				sub, ok := expect[*packet.Subscribe](s, c)
				if !ok {
					return
				}
				unsub, ok := expect[*packet.Unsubscribe](s, c) // sent before any SUBACK
				if !ok {
					return
				}
				var out []byte
				sa := &packet.Suback{PacketID: sub.PacketID, ReasonCodes: []packet.ReasonCode{0}}
				ua := &packet.Unsuback{PacketID: unsub.PacketID}
				if v == packet.V5 {
					ua.ReasonCodes = []packet.ReasonCode{0}
				}
				out, _ = packet.Append(out, sa, v)
				out, _ = packet.Append(out, &packet.Publish{Topic: "a", Retain: true, Payload: []byte("retained")}, v)
				out, _ = packet.Append(out, ua, v)
				s.send(c, out...)
				expect[*packet.Disconnect](s, c)
			})
			var mu sync.Mutex
			var events []string
			add := func(e string) { mu.Lock(); events = append(events, e); mu.Unlock() }
			unsubacked := make(chan struct{})
			cl := dial(t, Options{Server: s.addr, ProtocolVersion: v, CleanStart: true,
				OnMessage: func(m *Message) { add("message " + m.Topic) }})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := cl.SubscribeAsync(ctx, []packet.Subscription{{Filter: "a"}}, nil, func(sa *packet.Suback) {
				add(fmt.Sprintf("suback %v", sa.ReasonCodes))
			}); err != nil {
				t.Fatal(err)
			}
			if err := cl.UnsubscribeAsync(ctx, []string{"b"}, nil, func(*packet.Unsuback) {
				add("unsuback")
				close(unsubacked)
			}); err != nil {
				t.Fatal(err)
			}
			select {
			case <-unsubacked:
			case <-ctx.Done():
				t.Fatal("no UNSUBACK")
			}
			mu.Lock()
			got := strings.Join(events, ", ")
			mu.Unlock()
			if want := "suback [Success], message a, unsuback"; got != want {
				t.Errorf("events %q, want %q", got, want)
			}
			cl.Disconnect(ctx, 0, nil)
		})
	}
}

// TestBatch: what a Batch queues reaches the server only once the batch ends, so a server
// that answers at once cannot have its SUBACK traced (or handled) between the SUBSCRIBE and
// the UNSUBSCRIBE queued after it: mosquitto_sub -d -U's order. A batch that queues more
// than the write buffer limit is written as it goes instead of waiting for room for ever.
func TestBatch(t *testing.T) {
	const big = 40
	s := startScript(t, packet.V311, func(s *scriptServer, c net.Conn) {
		if !s.accept(c) {
			return
		}
		sub, ok := expect[*packet.Subscribe](s, c)
		if !ok {
			return
		}
		var out []byte
		out, _ = packet.Append(out, &packet.Suback{PacketID: sub.PacketID, ReasonCodes: []packet.ReasonCode{0}}, s.version)
		s.send(c, out...) // at once, before reading on
		unsub, ok := expect[*packet.Unsubscribe](s, c)
		if !ok {
			return
		}
		out, _ = packet.Append(out[:0], &packet.Unsuback{PacketID: unsub.PacketID}, s.version)
		s.send(c, out...)
		for range big {
			if _, ok := expect[*packet.Publish](s, c); !ok {
				return
			}
		}
		expect[*packet.Disconnect](s, c)
	})
	var mu sync.Mutex
	var events []string
	add := func(e string) { mu.Lock(); events = append(events, e); mu.Unlock() }
	subacked := make(chan struct{})
	unsubacked := make(chan struct{})
	cl := dial(t, Options{Server: s.addr, ProtocolVersion: packet.V311, CleanStart: true, WriteBufferLimit: 1024,
		Trace: func(sent bool, p packet.Packet) {
			switch p.(type) {
			case *packet.Subscribe, *packet.Unsubscribe, *packet.Suback, *packet.Unsuback:
				add(fmt.Sprintf("%v %T", sent, p))
			}
		}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := cl.Batch(func() error {
		if err := cl.SubscribeAsync(ctx, []packet.Subscription{{Filter: "a"}}, nil, func(*packet.Suback) { close(subacked) }); err != nil {
			return err
		}
		// Nothing may come back while the batch runs: without it, the SUBACK
		// arrives within a millisecond or so here.
		select {
		case <-subacked:
			t.Error("SUBACK handled while the batch that sent the SUBSCRIBE was running")
		case <-time.After(100 * time.Millisecond):
		}
		return cl.UnsubscribeAsync(ctx, []string{"b"}, nil, func(*packet.Unsuback) { close(unsubacked) })
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, ch := range []chan struct{}{subacked, unsubacked} {
		select {
		case <-ch:
		case <-ctx.Done():
			t.Fatal("no SUBACK or UNSUBACK")
		}
	}
	mu.Lock()
	got := strings.Join(events, ", ")
	mu.Unlock()
	if want := "true *packet.Subscribe, true *packet.Unsubscribe, false *packet.Suback, false *packet.Unsuback"; got != want {
		t.Errorf("trace %q, want %q", got, want)
	}
	// 40 × ~100 bytes through a 1 KiB write buffer within one batch.
	err = cl.Batch(func() error {
		for range big {
			if err := cl.Publish(ctx, Message{Topic: "t", Payload: make([]byte, 100)}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("batch past the write buffer limit: %v", err)
	}
	cl.Disconnect(ctx, 0, nil)
}

// TestAckBeforeDelivery: libmosquitto's order (PUBACK before the message; a QoS 2 message at
// PUBREL, after PUBCOMP) with the option, the default order (message, then acknowledgement)
// without it.
func TestAckBeforeDelivery(t *testing.T) {
	for _, early := range []bool{false, true} {
		t.Run(fmt.Sprint("early=", early), func(t *testing.T) {
			gotComp := make(chan struct{})
			s := startScript(t, packet.V311, func(s *scriptServer, c net.Conn) {
				if !s.accept(c) {
					return
				}
				var out []byte
				out, _ = packet.Append(out, &packet.Publish{Topic: "q1", QoS: 1, PacketID: 1, Payload: []byte("1")}, s.version)
				out, _ = packet.Append(out, &packet.Publish{Topic: "q2", QoS: 2, PacketID: 2, Payload: []byte("2")}, s.version)
				s.send(c, out...)
				expect[*packet.Puback](s, c)
				expect[*packet.Pubrec](s, c)
				s.send(c, 0x62, 2, 0, 2)
				expect[*packet.Pubcomp](s, c)
				close(gotComp)
				expect[*packet.Disconnect](s, c)
			})
			var mu sync.Mutex
			var events []string
			add := func(e string) { mu.Lock(); events = append(events, e); mu.Unlock() }
			cl := dial(t, Options{Server: s.addr, CleanStart: true, AckBeforeDelivery: early,
				OnMessage: func(m *Message) { add("message " + m.Topic) },
				Trace: func(sent bool, p packet.Packet) {
					switch p.(type) {
					case *packet.Puback, *packet.Pubrec, *packet.Pubcomp:
						add(fmt.Sprintf("sent %T", p)[len("sent *packet."):])
					case *packet.Pubrel:
						add("PUBREL")
					}
				}})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			select {
			case <-gotComp:
			case <-ctx.Done():
				t.Fatal("no PUBCOMP")
			}
			cl.Disconnect(ctx, 0, nil)
			mu.Lock()
			got := strings.Join(events, ", ")
			mu.Unlock()
			want := "message q1, Puback, message q2, Pubrec, PUBREL, Pubcomp"
			if early {
				want = "Puback, message q1, Pubrec, PUBREL, Pubcomp, message q2"
			}
			if got != want {
				t.Errorf("events %q, want %q", got, want)
			}
		})
	}
}

// TestDialErrorsClassified: the causes Mosquitto's clients tell apart by exit code are
// told apart by the error: a refusal (ConnectError, and DISCONNECT first when asked), a
// connection lost before CONNACK, a protocol error, a failed TLS handshake.
func TestDialErrorsClassified(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	refused := startScript(t, packet.V311, func(s *scriptServer, c net.Conn) {
		if _, ok := expect[*packet.Connect](s, c); !ok {
			return
		}
		s.send(c, 0x20, 2, 0, 5)
		expect[*packet.Disconnect](s, c)
	})
	var sent []string
	_, err := Dial(ctx, Options{Server: refused.addr, DisconnectOnRefusal: true,
		Trace: func(out bool, p packet.Packet) {
			if out {
				sent = append(sent, fmt.Sprintf("%T", p))
			}
		}})
	var ce *ConnectError
	if !errors.As(err, &ce) || ce.ReturnCode() != 5 {
		t.Errorf("refused: %v", err)
	}
	<-refused.done
	if got := strings.Join(sent, " "); got != "*packet.Connect *packet.Disconnect" {
		t.Errorf("refused: sent %s", got)
	}

	closed := startScript(t, packet.V311, func(s *scriptServer, c net.Conn) { s.read(c) })
	_, err = Dial(ctx, Options{Server: closed.addr})
	if !errors.Is(err, ErrConnectionLost) || errors.Is(err, ErrProtocol) {
		t.Errorf("closed before CONNACK: %v", err)
	}

	garbage := startScript(t, packet.V311, func(s *scriptServer, c net.Conn) {
		s.read(c)
		s.send(c, 0x20, 1, 0) // CONNACK one byte short
	})
	_, err = Dial(ctx, Options{Server: garbage.addr})
	if !errors.Is(err, ErrProtocol) {
		t.Errorf("malformed CONNACK: %v", err)
	}

	notTLS := startScript(t, packet.V311, func(s *scriptServer, c net.Conn) {
		buf := make([]byte, 512)
		_, _ = c.Read(buf)
		s.send(c, 0x20, 2, 0, 0)
	})
	_, err = Dial(ctx, Options{Server: "tls://" + notTLS.addr, TLSConfig: &tls.Config{InsecureSkipVerify: true}})
	var te *TLSError
	if !errors.As(err, &te) {
		t.Errorf("TLS to a plain server: %v", err)
	}

	// A malformed packet after CONNACK ends the connection as a protocol error.
	later := startScript(t, packet.V311, func(s *scriptServer, c net.Conn) {
		if s.accept(c) {
			s.send(c, 0x40, 1, 0) // PUBACK one byte short
			s.drain(c)
		}
	})
	cl, err := Dial(ctx, Options{Server: later.addr})
	if err != nil {
		t.Fatal(err)
	}
	<-cl.Done()
	if err := cl.Err(); !errors.Is(err, ErrProtocol) || !errors.Is(err, ErrConnectionLost) {
		t.Errorf("malformed PUBACK: ended with %v", err)
	}
	cl.Close()

	// A connection reset is a lost connection, not a protocol error.
	reset := startScript(t, packet.V311, func(s *scriptServer, c net.Conn) {
		if s.accept(c) {
			_ = c.(*net.TCPConn).SetLinger(0) // close with RST
		}
	})
	cl, err = Dial(ctx, Options{Server: reset.addr})
	if err != nil {
		t.Fatal(err)
	}
	<-cl.Done()
	if err := cl.Err(); errors.Is(err, ErrProtocol) || !errors.Is(err, ErrConnectionLost) {
		t.Errorf("reset: ended with %v", err)
	}
	cl.Close()
}

// TestNetDial: NetDial opens the connection MQTT runs over (a proxy's, say).
func TestNetDial(t *testing.T) {
	s := startScript(t, packet.V311, func(s *scriptServer, c net.Conn) {
		if s.accept(c) {
			expect[*packet.Disconnect](s, c)
		}
	})
	var dialed []string
	cl := dial(t, Options{Server: "tcp://unreachable.invalid:1883", NetDial: func(ctx context.Context, network, addr string) (net.Conn, error) {
		dialed = append(dialed, network+" "+addr)
		var d net.Dialer
		return d.DialContext(ctx, "tcp", s.addr)
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl.Disconnect(ctx, 0, nil)
	if got := strings.Join(dialed, ","); got != "tcp unreachable.invalid:1883" {
		t.Errorf("NetDial called with %q", got)
	}
}
