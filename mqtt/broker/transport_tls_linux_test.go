package broker

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mqttkit/mqtt/internal/listener"
	"github.com/mqttkit/mqtt/internal/listener/testcerts"
	"github.com/mqttkit/mqtt/mqtt/packet"
)

// feedConn is the server's net.Conn in TestCryptoTLSWouldBlock: the real
// socket for the handshake and for writes; once feeding, Read hands out
// only the bytes the test fed and errWouldBlock when there are none, as
// tlsWire does on an empty socket.
type feedConn struct {
	net.Conn
	feeding bool
	fed     []byte
}

func (f *feedConn) Read(p []byte) (int, error) {
	if !f.feeding {
		return f.Conn.Read(p)
	}
	if len(f.fed) == 0 {
		return 0, errWouldBlock
	}
	n := copy(p, f.fed)
	f.fed = f.fed[n:]
	return n, nil
}

// captureConn is the client's: once capturing, what it writes is kept
// (whole records, as crypto/tls writes them) instead of sent.
type captureConn struct {
	net.Conn
	capturing bool
	out       []byte
}

func (c *captureConn) Write(p []byte) (int, error) {
	if c.capturing {
		c.out = append(c.out, p...)
		return len(p), nil
	}
	return c.Conn.Write(p)
}

func (c *captureConn) take() []byte {
	out := c.out
	c.out = nil
	return out
}

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// The event loop's TLS rests on one behaviour of crypto/tls
// (conn.go, readRecordOrCCS: an error from the underlying Read that is a
// net.Error with Temporary() true is returned without being made the
// connection's permanent error, and the bytes of a partial record stay
// buffered): tlsWire's Read says "would block" that way when the socket is
// empty, and the next Read goes on where it stopped. If a Go release
// changed that, this test fails rather than TLS connections breaking
// after their first partial record.
func TestCryptoTLSWouldBlock(t *testing.T) {
	ca := testcerts.New(t, "ca")
	cert, err := tls.LoadX509KeyPair(ca.ServerCert, ca.ServerKey)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []struct {
		name string
		max  uint16
	}{{"TLS 1.3", tls.VersionTLS13}, {"TLS 1.2", tls.VersionTLS12}} {
		t.Run(v.name, func(t *testing.T) {
			cc, sc := tcpPair(t)
			cw, sw := &captureConn{Conn: cc}, &feedConn{Conn: sc}
			client := tls.Client(cw, &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1", MaxVersion: v.max})
			server := tls.Server(sw, &tls.Config{Certificates: []tls.Certificate{cert}, MaxVersion: v.max})
			hs := make(chan error, 1)
			go func() { hs <- server.Handshake() }()
			if err := client.Handshake(); err != nil {
				t.Fatal(err)
			}
			if err := <-hs; err != nil {
				t.Fatal(err)
			}
			sw.feeding, cw.capturing = true, true

			buf := make([]byte, 32<<10)
			wouldBlock := func(when string) {
				t.Helper()
				if n, err := server.Read(buf); n != 0 || !errors.Is(err, errWouldBlock) {
					t.Fatalf("%s: Read = %d, %v; want 0 and the wire's would-block error", when, n, err)
				}
			}
			client.Write([]byte("first"))
			r1 := cw.take()
			long := bytes.Repeat([]byte("s"), 20000) // two records
			client.Write(long)
			r2 := cw.take()

			wouldBlock("nothing fed")
			sw.fed = r1[:3] // part of a record header
			wouldBlock("3 bytes of a record")
			sw.fed = r1[3 : len(r1)-1]
			wouldBlock("all but the last byte of a record")
			sw.fed = append(r1[len(r1)-1:], r2[:10]...)
			if n, err := server.Read(buf); err != nil || string(buf[:n]) != "first" {
				t.Fatalf("after the record was complete: Read = %q, %v", buf[:n], err)
			}
			wouldBlock("part of the next record")
			sw.fed = r2[10:]
			var got []byte
			for len(got) < len(long) {
				n, err := server.Read(buf)
				if err != nil {
					t.Fatalf("after %d of %d bytes: %v", len(got), len(long), err)
				}
				got = append(got, buf[:n]...)
			}
			if !bytes.Equal(got, long) {
				t.Fatal("the two-record message came out different")
			}
			wouldBlock("all read")

			// Writing still works, and so does the end of the stream.
			if _, err := server.Write([]byte("reply")); err != nil {
				t.Fatalf("write after would-block reads: %v", err)
			}
			client.SetReadDeadline(time.Now().Add(5 * time.Second))
			if n, err := client.Read(buf); err != nil || string(buf[:n]) != "reply" {
				t.Fatalf("client read %q, %v", buf[:n], err)
			}
			client.CloseWrite()
			r3 := cw.take() // close_notify
			sw.fed = r3[:len(r3)/2]
			wouldBlock("half a close_notify")
			sw.fed = r3[len(r3)/2:]
			if n, err := server.Read(buf); n != 0 || err != io.EOF {
				t.Fatalf("after close_notify: Read = %d, %v; want io.EOF", n, err)
			}
		})
	}
}

// Idle TLS connections are on the event loop: once their handshakes are
// done and they are quiet, the broker holds no goroutine for them, only
// the descriptor and the tls.Conn; they are served when they speak again.
// Handshakes that fail leave no descriptor behind.
func TestTLSIdleConnectionsOnTheEventLoop(t *testing.T) {
	b, _ := startBroker(t, nil)
	if b.poll == nil {
		t.Skip("no event loop (BlockingIO or not Linux)")
	}
	addr, _ := serveTLS(t, b, nil, func(s *listener.Spec) { s.HandshakeTimeout = 200 * time.Millisecond })
	fds := openFDs(t)
	base := runtime.NumGoroutine()
	const n = 50
	var clients []*raw
	for i := range n {
		clients = append(clients, connectRaw(t, addr, packet.V311, fmt.Sprint("idle-", i)))
	}
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > base+2 {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines with %d idle TLS connections, %d before", runtime.NumGoroutine(), n, base)
		}
		time.Sleep(5 * time.Millisecond)
	}
	b.mu.Lock()
	for _, c := range b.conns.s {
		if tc, ok := c.t.(*tlsConn); !ok || tc.hs != nil || tc.fd < 0 {
			t.Errorf("%s: transport %T, want an event-loop TLS connection", c.info.ClientID, c.t)
		}
	}
	b.mu.Unlock()
	for _, r := range clients {
		r.Send(&packet.Pingreq{})
	}
	for i, r := range clients {
		if _, ok := r.Recv().(*packet.Pingresp); !ok {
			t.Fatalf("client %d: no PINGRESP", i)
		}
	}

	// Failed handshakes: a silent client (timeout), garbage, one gone halfway.
	host := strings.TrimPrefix(addr, "tls://")
	for _, first := range []string{"", "GET / HTTP/1.0\r\n\r\n", "\x16\x03\x01\x00\xa5\x01"} {
		nc, err := net.Dial("tcp", host)
		if err != nil {
			t.Fatal(err)
		}
		nc.Write([]byte(first))
		if first == "\x16\x03\x01\x00\xa5\x01" {
			nc.Close()
			continue
		}
		nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		io.ReadAll(nc)
		nc.Close()
	}
	for _, r := range clients {
		r.Send(&packet.Disconnect{})
		r.NC.Close()
	}
	deadline = time.Now().Add(10 * time.Second)
	for b.nconns.Load() > 0 || openFDs(t) > fds {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections, %d descriptors open after every client left, %d before", b.nconns.Load(), openFDs(t), fds)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
