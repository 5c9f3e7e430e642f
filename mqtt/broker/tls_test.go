package broker

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mqttkit/mqtt/internal/listener"
	"github.com/mqttkit/mqtt/internal/listener/testcerts"
	"github.com/mqttkit/mqtt/internal/testutil"
	"github.com/mqttkit/mqtt/mqtt/packet"
)

// The TLS tests run over a TLS listener opened by internal/listener, as
// `mqtt serve` opens one; on Linux its connections are served from the
// event loop after the handshake (transport_tls_linux.go), elsewhere and
// with BROKER_TEST_BLOCKING by a reader goroutine each. BROKER_TEST_TLS
// runs the whole suite over TLS besides (helpers_test.go).

var _ TLSHandoff = (*listener.TLSConn)(nil)

// trusting is a client configuration that verifies the server against ca.
func trusting(ca *testcerts.Set, certs ...tls.Certificate) *tls.Config {
	return &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1", Certificates: certs}
}

// dialTLSRaw connects a hand-driven client to a "tls://" address with cfg.
func dialTLSRaw(t testing.TB, addr string, cfg *tls.Config, version byte) (*raw, error) {
	t.Helper()
	nc, err := dialConn(addr, cfg)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { nc.Close() })
	return testutil.NewRaw(t, nc, version), nil
}

// certAuth takes the username from the client certificate's common name,
// as use_identity_as_username does (internal/auth), through the net.Conn
// a ConnAuthenticator gets.
type certAuth struct{ AllowAll }

func (certAuth) AuthenticateConn(_ context.Context, nc net.Conn, info *ConnectInfo) packet.ReasonCode {
	cn, _, ok := listener.PeerIdentity(nc)
	if !ok {
		return packet.NotAuthorized
	}
	info.Username, info.HasUsername = cn, true
	return packet.Success
}

// require_certificate: a client with a certificate from the CA connects
// and is known by its certificate's name; one without is refused in the
// handshake, and the log says why.
func TestTLSClientCertificate(t *testing.T) {
	b, _ := startBroker(t, func(o *Options) { o.Authenticator = certAuth{} })
	ca := testcerts.New(t, "ca")
	addr, _ := serveTLS(t, b, ca, func(s *listener.Spec) { s.TLS.RequireCertificate = true })
	cert, err := tls.LoadX509KeyPair(ca.ClientCert, ca.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	r, err := dialTLSRaw(t, addr, trusting(ca, cert), packet.V5)
	if err != nil {
		t.Fatal(err)
	}
	if ack := r.Connect(&packet.Connect{ClientID: "certified", CleanStart: true}); ack.ReasonCode != packet.Success {
		t.Fatalf("CONNACK %v", ack.ReasonCode)
	}
	var found bool
	for _, c := range b.Clients() {
		if c.ClientID == "certified" {
			found = true
			if c.Username != "client1" || c.Remote == nil || !strings.HasPrefix(c.Remote.String(), "127.0.0.1:") {
				t.Errorf("ClientStatus %+v: want username client1 from the certificate and the remote address", c)
			}
		}
	}
	if !found {
		t.Fatal("the certified client is not listed")
	}

	// TLS 1.3: the client finishes its side before the server checks its
	// certificate, and learns of the refusal on its first read.
	if r, err := dialTLSRaw(t, addr, trusting(ca), packet.V5); err == nil {
		r.Send(&packet.Connect{ProtocolName: "MQTT", ProtocolVersion: packet.V5, ClientID: "anonymous"})
		if p, err := r.RecvErr(5 * time.Second); err == nil {
			t.Fatalf("a client without a certificate got %T", p)
		}
	}
	waitLogLine(t, b, "TLS handshake failed: the client sent no certificate, and require_certificate is true")
}

// A plain MQTT client on the TLS port is told it does not speak TLS.
func TestTLSPlainClientExplained(t *testing.T) {
	b, _ := startBroker(t, nil)
	addr, _ := serveTLS(t, b, nil, nil)
	nc, err := net.DialTimeout("tcp", strings.TrimPrefix(addr, "tls://"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	connect, _ := packet.Append(nil, &packet.Connect{ProtocolName: "MQTT", ProtocolVersion: packet.V311, ClientID: "plain"}, packet.V311)
	nc.Write(connect)
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(nc); err != nil {
		t.Fatalf("the plain client's connection was not closed: %v", err)
	}
	waitLogLine(t, b, "TLS handshake failed: the client does not speak TLS")
}

// Clients that never finish their handshake (silent, or stuck halfway
// through a ClientHello, or gone halfway) hold up nobody: the handshake
// timeout here is far longer than the good client would wait, so a
// blocked accept or event loop would fail it.
func TestTLSStalledHandshakesHoldUpNobody(t *testing.T) {
	b, _ := startBroker(t, nil)
	addr, _ := serveTLS(t, b, nil, func(s *listener.Spec) { s.HandshakeTimeout = time.Minute })
	host := strings.TrimPrefix(addr, "tls://")
	for _, first := range []string{"", "\x16\x03\x01\x00\xa5\x01\x00", "\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03"} {
		nc, err := net.Dial("tcp", host)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		nc.Write([]byte(first))
	}
	gone, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	gone.Write([]byte("\x16\x03\x01\x00\xa5\x01\x00"))
	gone.Close()
	r := connectRaw(t, addr, packet.V311, "good")
	r.Send(&packet.Pingreq{})
	if _, ok := r.Recv().(*packet.Pingresp); !ok {
		t.Fatal("no PINGRESP")
	}
	// The stalled handshakes end with the broker (goleak checks that their
	// goroutines are gone).
}

// A handshake that does not complete in time ends, and is logged so.
func TestTLSHandshakeTimeout(t *testing.T) {
	b, _ := startBroker(t, nil)
	addr, _ := serveTLS(t, b, nil, func(s *listener.Spec) { s.HandshakeTimeout = 200 * time.Millisecond })
	nc, err := net.Dial("tcp", strings.TrimPrefix(addr, "tls://"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(nc); err != nil {
		t.Fatalf("a silent client was not closed after the handshake timeout: %v", err)
	}
	waitLogLine(t, b, "TLS handshake failed: the client did not complete the handshake in time")
	deadline := time.Now().Add(5 * time.Second)
	for b.nconns.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections still registered", b.nconns.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Large messages both ways (many TLS records each, more than the socket
// buffers hold) and a pipelined burst of small ones arrive whole and in
// order.
func TestTLSLargeAndPipelinedMessages(t *testing.T) {
	b, _ := startBroker(t, nil)
	addr, _ := serveTLS(t, b, nil, nil)
	sub := connectRaw(t, addr, packet.V311, "sub")
	sub.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "big/#", QoS: 1})
	pub := connectRaw(t, addr, packet.V311, "pub")
	big := make([]byte, 3<<20)
	for i := range big {
		big[i] = byte(i * 7)
	}
	var burst []byte
	burst, _ = packet.Append(burst, &packet.Publish{Topic: "big/1", QoS: 1, PacketID: 1, Payload: big}, packet.V311)
	const small = 500
	for i := range small {
		burst, _ = packet.Append(burst, &packet.Publish{Topic: "big/small", QoS: 1, PacketID: uint16(i + 2), Payload: []byte(fmt.Sprint(i))}, packet.V311)
	}
	wrote := make(chan error, 1)
	go func() { // the test reads the subscriber meanwhile
		_, err := pub.NC.Write(burst)
		wrote <- err
	}()
	if p := sub.RecvPublish(); p.Topic != "big/1" || !bytes.Equal(p.Payload, big) {
		t.Fatalf("big message: topic %q, %d bytes, equal %v", p.Topic, len(p.Payload), bytes.Equal(p.Payload, big))
	} else {
		sub.Send(&packet.Puback{PacketID: p.PacketID})
	}
	for i := range small {
		p := sub.RecvPublish()
		if string(p.Payload) != fmt.Sprint(i) {
			t.Fatalf("small message %d: %q", i, p.Payload)
		}
		sub.Send(&packet.Puback{PacketID: p.PacketID})
	}
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	for i := 0; i < small+1; i++ {
		if _, ok := pub.Recv().(*packet.Puback); !ok {
			t.Fatalf("acknowledgement %d is not a PUBACK", i)
		}
	}
}

// SIGHUP's certificate reload: new handshakes present the new
// certificate, connections already open keep working.
func TestTLSReload(t *testing.T) {
	ca := testcerts.New(t, "ca")
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key")
	copyTo := func(from, to string) {
		data, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(to, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	copyTo(ca.ServerCert, certFile)
	copyTo(ca.ServerKey, keyFile)
	b, _ := startBroker(t, nil)
	addr, ln := serveTLS(t, b, ca, func(s *listener.Spec) { s.TLS.CertFile, s.TLS.KeyFile = certFile, keyFile })
	serial := func(r *raw) string {
		return r.NC.(*tls.Conn).ConnectionState().PeerCertificates[0].SerialNumber.String()
	}
	connect := func(id string) *raw {
		r, err := dialTLSRaw(t, addr, trusting(ca), packet.V311)
		if err != nil {
			t.Fatal(err)
		}
		if ack := r.Connect(&packet.Connect{ClientID: id, CleanStart: true}); ack.ReasonCode != packet.Success {
			t.Fatalf("CONNACK %v", ack.ReasonCode)
		}
		return r
	}
	old := connect("old")
	before := serial(old)
	newCert, newKey, sn := ca.Issue(t, "server2", "localhost", false)
	copyTo(newCert, certFile)
	copyTo(newKey, keyFile)
	if err := ln.(listener.Reloader).Reload(); err != nil {
		t.Fatal(err)
	}
	if got := serial(connect("new")); got != sn.String() || got == before {
		t.Fatalf("after Reload the server presented serial %s, want the new %s", got, sn)
	}
	old.Send(&packet.Pingreq{})
	if _, ok := old.Recv().(*packet.Pingresp); !ok {
		t.Fatal("the connection made before the reload stopped working")
	}
}

// Mosquitto's clients (OpenSSL) over TLS, QoS 1 both ways.
func TestTLSMosquittoClients(t *testing.T) {
	pub := testutil.RequireTool(t, "mosquitto_pub")
	subBin := testutil.RequireTool(t, "mosquitto_sub")
	b, _ := startBroker(t, nil)
	ca := testcerts.New(t, "ca")
	addr, _ := serveTLS(t, b, ca, nil)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(addr, "tls://"))
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	sub := exec.CommandContext(ctx, subBin, "-h", "127.0.0.1", "-p", port, "--cafile", ca.CAFile, "-q", "1", "-t", "tls/#", "-C", "2", "-v", "-W", "10")
	var out, errb bytes.Buffer
	sub.Stdout, sub.Stderr = &out, &errb
	if err := sub.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); b.subscribers("tls/#") == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("mosquitto_sub did not subscribe over TLS")
		}
	}
	big := strings.Repeat("x", 100<<10)
	for _, m := range []string{"hello", big} {
		if o, err := exec.CommandContext(ctx, pub, "-h", "127.0.0.1", "-p", port, "--cafile", ca.CAFile, "-q", "1", "-t", "tls/m", "-m", m).CombinedOutput(); err != nil {
			t.Fatalf("mosquitto_pub over TLS: %v: %s", err, o)
		}
	}
	if err := sub.Wait(); err != nil {
		t.Fatalf("mosquitto_sub: %v: %s", err, errb.String())
	}
	if got := out.String(); got != "tls/m hello\ntls/m "+big+"\n" {
		t.Fatalf("mosquitto_sub printed %d bytes: %.80q", len(got), got)
	}
}

// A TLS listener whose connections cannot be handed over (max_connections
// wraps the TCP connection) is served as before, by a reader goroutine.
func TestTLSWithoutHandoff(t *testing.T) {
	b, _ := startBroker(t, nil)
	addr, _ := serveTLS(t, b, nil, func(s *listener.Spec) { s.MaxConnections = 5 })
	r := connectRaw(t, addr, packet.V311, "wrapped")
	r.Send(&packet.Pingreq{})
	if _, ok := r.Recv().(*packet.Pingresp); !ok {
		t.Fatal("no PINGRESP")
	}
	b.mu.Lock()
	for _, c := range b.conns.s {
		if _, ok := c.t.(*netConn); !ok && c.info.ClientID == "wrapped" {
			t.Errorf("transport %T, want the net.Conn path", c.t)
		}
	}
	b.mu.Unlock()
	r.Send(&packet.Disconnect{})
	r.ExpectClosed(5 * time.Second)
}
