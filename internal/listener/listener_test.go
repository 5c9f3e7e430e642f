package listener

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/mqttkit/mqtt/internal/listener/testcerts"
	"github.com/mqttkit/mqtt/internal/testutil"
)

// serveEcho accepts from l and echoes every connection until l is closed. The accepted
// connections are sent on the returned channel (buffered) so tests can inspect them.
func serveEcho(t *testing.T, l net.Listener) <-chan net.Conn {
	t.Helper()
	accepted := make(chan net.Conn, 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			select {
			case accepted <- c:
			default:
			}
			go func() { // ends when the peer closes or the test closes c
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	t.Cleanup(func() {
		_ = l.Close()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("accept loop did not end after Close")
		}
	})
	return accepted
}

func roundTrip(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatalf("write: %v", err)
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatalf("read: %v", err)
	}
	if string(buf) != msg {
		t.Fatalf("echo = %q, want %q", buf, msg)
	}
}

func openT(t *testing.T, s Spec) net.Listener {
	t.Helper()
	if s.Address == "" {
		s.Address = "127.0.0.1:0"
	}
	l, err := Open(context.Background(), s)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return l
}

func TestTCPRoundTrip(t *testing.T) {
	l := openT(t, Spec{Network: "tcp4"})
	serveEcho(t, l)
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	roundTrip(t, c, "hello tcp")
}

func TestMaxConnections(t *testing.T) {
	l := openT(t, Spec{Network: "tcp4", MaxConnections: 1})
	serveEcho(t, l)
	c1, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, c1, "first")
	c2, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	_ = c2.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c2.Read(make([]byte, 1)); err == nil {
		t.Fatal("second connection over max_connections 1 was not closed")
	}
	c1.Close()
	// The slot is free again once the first connection is gone.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c3, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		_ = c3.SetDeadline(time.Now().Add(time.Second))
		_, werr := c3.Write([]byte("x"))
		buf := make([]byte, 1)
		_, rerr := io.ReadFull(c3, buf)
		c3.Close()
		if werr == nil && rerr == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("connection slot not released after the first connection closed")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func tlsSpec(s *testcerts.Set) *TLSSpec {
	return &TLSSpec{CAFile: s.CAFile, CertFile: s.ServerCert, KeyFile: s.ServerKey}
}

func dialTLS(addr string, cfg *tls.Config) (*tls.Conn, error) {
	d := &net.Dialer{Timeout: 5 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", addr, cfg)
	if err != nil {
		return nil, err
	}
	return c, nil
}

func TestTLS(t *testing.T) {
	ca := testcerts.New(t, "right CA")
	wrong := testcerts.New(t, "wrong CA")
	l := openT(t, Spec{Network: "tcp4", TLS: tlsSpec(ca)})
	serveEcho(t, l)

	t.Run("right CA", func(t *testing.T) {
		c, err := dialTLS(l.Addr().String(), &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1"})
		if err != nil {
			t.Fatalf("handshake with the right CA: %v", err)
		}
		defer c.Close()
		roundTrip(t, c, "hello tls")
	})
	t.Run("wrong CA", func(t *testing.T) {
		c, err := dialTLS(l.Addr().String(), &tls.Config{RootCAs: wrong.Pool(), ServerName: "127.0.0.1"})
		if err == nil {
			c.Close()
			t.Fatal("handshake succeeded although the client trusts another CA")
		}
		if !errors.As(err, &x509.UnknownAuthorityError{}) {
			t.Fatalf("err = %v, want an unknown-authority error", err)
		}
	})
	t.Run("min version", func(t *testing.T) {
		c, err := dialTLS(l.Addr().String(), &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1", MaxVersion: tls.VersionTLS11, MinVersion: tls.VersionTLS10})
		if err == nil {
			c.Close()
			t.Fatal("TLS 1.1 accepted by a listener whose minimum is TLS 1.2")
		}
	})
}

// A TLS connection offers what a broker needs to run the handshake itself (broker.TLSHandoff)
// until it has been used: the accepted TCP connection, the reloadable configuration, the
// timeout and the error explanation.
func TestTLSHandoff(t *testing.T) {
	ca := testcerts.New(t, "ca")
	l := openT(t, Spec{Network: "tcp4", TLS: tlsSpec(ca), HandshakeTimeout: 100 * time.Millisecond})
	defer l.Close()
	silent, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	c, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sc := c.(*TLSConn)
	raw, cfg, timeout, explain := sc.TLSHandoff()
	if _, ok := raw.(*net.TCPConn); !ok || cfg == nil || cfg.GetConfigForClient == nil || timeout != 100*time.Millisecond || explain == nil {
		t.Fatalf("TLSHandoff = %T, %v, %v, %v", raw, cfg, timeout, explain != nil)
	}
	var he *HandshakeError
	if !errors.As(explain(errors.New("tls: client didn't provide a certificate")), &he) || he.Why == "" {
		t.Fatalf("explain gives %v", he)
	}
	if err := sc.Handshake(); err == nil { // the silent client: the timeout
		t.Fatal("handshake with a silent client succeeded")
	}
	if raw, _, _, _ := sc.TLSHandoff(); raw != nil {
		t.Fatal("TLSHandoff offers a connection whose handshake has started")
	}
}

func TestTLSHandshakeDoesNotBlockAccept(t *testing.T) {
	ca := testcerts.New(t, "ca")
	l := openT(t, Spec{Network: "tcp4", TLS: tlsSpec(ca), HandshakeTimeout: 300 * time.Millisecond})
	accepted := serveEcho(t, l)

	// A client that connects and never sends a ClientHello, and one that sends garbage.
	silent, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	garbage, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer garbage.Close()
	_, _ = garbage.Write([]byte("GET / HTTP/1.0\r\n\r\n"))

	// A good client is still served at once.
	start := time.Now()
	c, err := dialTLS(l.Addr().String(), &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	roundTrip(t, c, "still served")
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("good client waited %v behind bad ones", d)
	}
	// The silent client is closed after the handshake timeout.
	_ = silent.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := silent.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("silent client: err = %v, want the connection closed by the handshake timeout", err)
	}
	for i := 0; i < 3; i++ {
		select {
		case <-accepted:
		case <-time.After(5 * time.Second):
			t.Fatal("not every connection was accepted")
		}
	}
}

func TestTLSRequireCertificate(t *testing.T) {
	ca := testcerts.New(t, "ca")
	other := testcerts.New(t, "other")
	spec := tlsSpec(ca)
	spec.RequireCertificate = true
	l := openT(t, Spec{Network: "tcp4", TLS: spec})
	accepted := serveEcho(t, l)

	clientCert, err := tls.LoadX509KeyPair(ca.ClientCert, ca.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	otherCert, err := tls.LoadX509KeyPair(other.ClientCert, other.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	base := func() *tls.Config { return &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1"} }

	t.Run("with client certificate", func(t *testing.T) {
		cfg := base()
		cfg.Certificates = []tls.Certificate{clientCert}
		c, err := dialTLS(l.Addr().String(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		roundTrip(t, c, "with cert")
		var sc net.Conn
		select {
		case sc = <-accepted:
		case <-time.After(5 * time.Second):
			t.Fatal("no accepted connection")
		}
		cn, subject, ok := PeerIdentity(sc)
		if !ok || cn != "client1" || subject != "CN=client1,O=Acme,C=GB" {
			t.Fatalf("PeerIdentity = %q, %q, %v; want client1, CN=client1,O=Acme,C=GB", cn, subject, ok)
		}
	})
	for _, tc := range []struct {
		name  string
		certs []tls.Certificate
	}{
		{"without client certificate", nil},
		{"client certificate from another CA", []tls.Certificate{otherCert}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base()
			cfg.Certificates = tc.certs
			c, err := dialTLS(l.Addr().String(), cfg)
			if err == nil {
				// TLS 1.3: the client learns of the rejection on its first read.
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				_, _ = c.Write([]byte("x"))
				_, err = c.Read(make([]byte, 1))
			}
			if err == nil {
				t.Fatal("connection accepted without a valid client certificate")
			}
		})
	}
}

func TestPeerIdentityPlain(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if _, _, ok := PeerIdentity(a); ok {
		t.Fatal("PeerIdentity ok on a plain connection")
	}
}

func TestTLSCRL(t *testing.T) {
	ca := testcerts.New(t, "ca")
	revokedCert, revokedKey, sn := ca.Issue(t, "revoked", "revoked-client", true)
	spec := tlsSpec(ca)
	spec.RequireCertificate = true
	spec.CRLFile = ca.CRL(t, sn)
	l := openT(t, Spec{Network: "tcp4", TLS: spec})
	serveEcho(t, l)
	try := func(certFile, keyFile string) error {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			t.Fatal(err)
		}
		c, err := dialTLS(l.Addr().String(), &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1", Certificates: []tls.Certificate{cert}})
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write([]byte("y")); err != nil {
			return err
		}
		_, err = c.Read(make([]byte, 1))
		return err
	}
	if err := try(ca.ClientCert, ca.ClientKey); err != nil {
		t.Fatalf("valid client refused: %v", err)
	}
	if err := try(revokedCert, revokedKey); err == nil {
		t.Fatal("revoked client certificate accepted")
	}
}

func TestTLSReload(t *testing.T) {
	ca := testcerts.New(t, "ca")
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key")
	copyFile(t, ca.ServerCert, certFile)
	copyFile(t, ca.ServerKey, keyFile)
	l := openT(t, Spec{Network: "tcp4", TLS: &TLSSpec{CertFile: certFile, KeyFile: keyFile}})
	serveEcho(t, l)

	serial := func() string {
		c, err := dialTLS(l.Addr().String(), &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1"})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].SerialNumber.String()
	}
	before := serial()
	newCert, newKey, sn := ca.Issue(t, "server2", "localhost", false)
	copyFile(t, newCert, certFile)
	copyFile(t, newKey, keyFile)
	if got := serial(); got != before {
		t.Fatalf("certificate changed before Reload: %s -> %s", before, got)
	}
	r, ok := l.(Reloader)
	if !ok {
		t.Fatal("TLS listener does not implement Reloader")
	}
	if err := r.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := serial(); got != sn.String() {
		t.Fatalf("after Reload serial = %s, want the new certificate's %s", got, sn)
	}
	// A broken file keeps the current certificate and reports the error.
	if err := os.WriteFile(keyFile, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := r.Reload(); err == nil {
		t.Fatal("Reload with a broken key succeeded")
	}
	if got := serial(); got != sn.String() {
		t.Fatalf("after a failed Reload serial = %s, want %s still", got, sn)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestWebSocketRoundTrip(t *testing.T) {
	for _, secure := range []bool{false, true} {
		name := map[bool]string{false: "ws", true: "wss"}[secure]
		t.Run(name, func(t *testing.T) {
			ca := testcerts.New(t, "ca")
			spec := Spec{Network: "tcp4", Protocol: "websockets"}
			httpClient := http.DefaultClient
			if secure {
				spec.TLS = tlsSpec(ca)
				httpClient = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1"}}}
			}
			l := openT(t, spec)
			accepted := serveEcho(t, l)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c, resp, err := websocket.Dial(ctx, name+"://"+l.Addr().String()+"/mqtt", &websocket.DialOptions{
				Subprotocols: []string{"mqtt"},
				HTTPClient:   httpClient,
			})
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			defer c.CloseNow()
			if resp.Header.Get("Sec-WebSocket-Protocol") != "mqtt" || c.Subprotocol() != "mqtt" {
				t.Fatalf("subprotocol = %q, want mqtt", c.Subprotocol())
			}
			msg := []byte{0x10, 0x02, 0x00, 0x00} // bytes, not text: binary frames
			if err := c.Write(ctx, websocket.MessageBinary, msg); err != nil {
				t.Fatal(err)
			}
			typ, got, err := c.Read(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if typ != websocket.MessageBinary || !bytes.Equal(got, msg) {
				t.Fatalf("echo = %v %x, want binary %x", typ, got, msg)
			}
			sc := <-accepted
			if _, ok := TLSState(sc); ok != secure {
				t.Fatalf("TLSState ok = %v on a %s connection", ok, name)
			}
			if !strings.HasPrefix(sc.RemoteAddr().String(), "127.0.0.1:") {
				t.Fatalf("RemoteAddr = %v, want the client's address", sc.RemoteAddr())
			}
		})
	}
}

func TestWebSocketBadUpgradeOnlyClosesThatConnection(t *testing.T) {
	l := openT(t, Spec{Network: "tcp4", Protocol: "websockets"})
	serveEcho(t, l)
	resp, err := http.Get("http://" + l.Addr().String() + "/mqtt") // no Upgrade header
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode < 400 {
		t.Fatalf("plain GET got status %d, want an error", resp.StatusCode)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws://"+l.Addr().String()+"/", &websocket.DialOptions{Subprotocols: []string{"mqtt"}})
	if err != nil {
		t.Fatalf("websocket after a failed upgrade: %v", err)
	}
	defer c.CloseNow()
	if err := c.Write(ctx, websocket.MessageBinary, []byte("ok")); err != nil {
		t.Fatal(err)
	}
	if _, got, err := c.Read(ctx); err != nil || string(got) != "ok" {
		t.Fatalf("echo = %q, %v", got, err)
	}
}

func TestUnixRoundTripAndStaleSocket(t *testing.T) {
	dir, err := os.MkdirTemp("", "mqttl") // short path: unix socket paths are limited to ~100 bytes
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "s.sock")

	// A stale socket file left by a process that died.
	stale, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	stale.(*net.UnixListener).SetUnlinkOnClose(false)
	stale.Close()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("stale socket not left behind: %v", err)
	}

	l, err := Open(context.Background(), Spec{Network: "unix", Address: path, UnixMode: 0o660})
	if err != nil {
		t.Fatalf("Open over a stale socket: %v", err)
	}
	serveEcho(t, l)
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o660 {
		t.Fatalf("socket mode = %v, %v; want 0660", fi.Mode().Perm(), err)
	}
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	roundTrip(t, c, "hello unix")

	// A live socket is not stolen.
	if _, err := Open(context.Background(), Spec{Network: "unix", Address: path}); err == nil {
		t.Fatal("second listener on a live socket succeeded")
	}
	// Nor is a regular file replaced.
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(context.Background(), Spec{Network: "unix", Address: file}); err == nil {
		t.Fatal("listener replaced a regular file")
	}
}

func TestOpenErrorsNameTheListener(t *testing.T) {
	taken := openT(t, Spec{Network: "tcp4"})
	defer taken.Close()
	_, err := Open(context.Background(), Spec{Name: "listener 1 (x.conf:3)", Network: "tcp4", Address: taken.Addr().String()})
	if err == nil || !strings.HasPrefix(err.Error(), "listener 1 (x.conf:3): ") || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("err = %v, want the listener's name and 'address already in use'", err)
	}
	_, err = Open(context.Background(), Spec{Network: "tcp4", Address: "127.0.0.1:0", TLS: &TLSSpec{CertFile: "/nonexistent.crt", KeyFile: "/nonexistent.key"}})
	if err == nil || !strings.Contains(err.Error(), "nonexistent") {
		t.Fatalf("err = %v, want the missing certificate named", err)
	}
	_, err = Open(context.Background(), Spec{Network: "tcp4", Address: "127.0.0.1:0", Protocol: "quic"})
	if err == nil {
		t.Fatal("unknown protocol accepted")
	}
}

func TestBindInterface(t *testing.T) {
	ifaces, _ := net.Interfaces()
	lo := ""
	for _, i := range ifaces {
		if i.Flags&net.FlagLoopback != 0 {
			lo = i.Name
		}
	}
	if lo == "" {
		t.Skip("no loopback interface")
	}
	l := openT(t, Spec{Network: "tcp4", Address: ":0", BindInterface: lo})
	serveEcho(t, l)
	if ip := l.Addr().(*net.TCPAddr).IP; !ip.IsLoopback() {
		t.Fatalf("bound to %v, want the loopback interface's address", ip)
	}
	if _, err := Open(context.Background(), Spec{Network: "tcp4", Address: ":0", BindInterface: "nosuchif0"}); err == nil {
		t.Fatal("unknown interface accepted")
	}
}

func TestParseCiphers(t *testing.T) {
	for _, tc := range []struct {
		in      string
		n       int
		notes   bool
		wantErr bool
	}{
		{"", 0, false, false},
		{"ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384", 2, false, false},
		{"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", 1, false, false},
		{"HIGH:!aNULL:!MD5", 0, true, false},
		{"ECDHE-ECDSA-AES128-GCM-SHA256:!RC4", 1, false, false},
		{"TLS_AES_128_GCM_SHA256", 0, true, false},
		{"FOO-BAR", 0, false, true},
		{"DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384", 0, false, true},
		// Mozilla's intermediate list: the DHE suites are left out with a note, the rest used.
		{"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384", 6, true, false},
		{"HIGH:FOO-BAR", 0, true, false},
		{"HIGH:!ECDHE", 0, false, true},
	} {
		suites, notes, err := ParseCiphers(tc.in)
		if (err != nil) != tc.wantErr || len(suites) != tc.n || (len(notes) > 0) != tc.notes {
			t.Errorf("ParseCiphers(%q) = %v, %v, %v", tc.in, suites, notes, err)
		}
	}
}

// TestMosquittoSubTLSHandshake checks that Mosquitto's client completes a TLS handshake with
// our listener (it then sends CONNECT, which the echo returns, and mosquitto_sub gives up: what
// matters is that it got past TLS).
func TestMosquittoSubTLSHandshake(t *testing.T) {
	bin := testutil.RequireTool(t, "mosquitto_sub")
	ca := testcerts.New(t, "ca")
	l := openT(t, Spec{Network: "tcp4", TLS: tlsSpec(ca)})
	accepted := serveEcho(t, l)
	port := l.Addr().(*net.TCPAddr).Port

	run := func(cafile string) (handshake bool, out string) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, "-h", "127.0.0.1", "-p", strconv.Itoa(port), "--cafile", cafile, "-t", "x", "-C", "1", "-W", "2")
		o, _ := cmd.CombinedOutput()
		select {
		case sc := <-accepted:
			st, _ := TLSState(sc)
			return st.HandshakeComplete, string(o)
		case <-time.After(5 * time.Second):
			return false, string(o)
		}
	}
	if ok, out := run(ca.CAFile); !ok {
		t.Fatalf("mosquitto_sub did not complete a TLS handshake with the right CA:\n%s", out)
	}
	wrong := testcerts.New(t, "wrong")
	if ok, out := run(wrong.CAFile); ok {
		t.Fatalf("mosquitto_sub completed a TLS handshake with the wrong CA:\n%s", out)
	}
}
