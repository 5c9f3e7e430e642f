package client

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// A local helper until internal/testutil lands: a real mosquitto on free
// loopback ports with a plain, a websocket and a TLS listener.

type mosq struct {
	TCP, WS, TLS string // host:port
	CAPool       *x509.CertPool
}

func requireTool(t *testing.T, name string, alt ...string) string {
	t.Helper()
	for _, p := range append([]string{name}, alt...) {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("MQTT_REQUIRE_INTEROP") != "" {
		t.Fatalf("%s is required (MQTT_REQUIRE_INTEROP is set) but not installed", name)
	}
	t.Skipf("%s not installed", name)
	return ""
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func startMosquitto(t *testing.T) *mosq {
	t.Helper()
	bin := requireTool(t, "mosquitto", "/usr/sbin/mosquitto")
	dir := t.TempDir()
	pool, certFile, keyFile, caFile := makeCerts(t, dir)
	m := &mosq{CAPool: pool}
	p1, p2, p3 := freePort(t), freePort(t), freePort(t)
	m.TCP = fmt.Sprintf("127.0.0.1:%d", p1)
	m.WS = fmt.Sprintf("127.0.0.1:%d", p2)
	m.TLS = fmt.Sprintf("127.0.0.1:%d", p3)
	// mosquitto started as root drops to the "mosquitto" user unless told
	// otherwise, and then cannot read the test's private temp files.
	conf := fmt.Sprintf(`per_listener_settings false
user root
allow_anonymous true
max_inflight_messages 0
listener %d 127.0.0.1
listener %d 127.0.0.1
protocol websockets
listener %d 127.0.0.1
cafile %s
certfile %s
keyfile %s
`, p1, p2, p3, caFile, certFile, keyFile)
	cf := filepath.Join(dir, "mosquitto.conf")
	if err := os.WriteFile(cf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-c", cf)
	logb := &syncBuf{}
	cmd.Stdout, cmd.Stderr = logb, logb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	for _, a := range []string{m.TCP, m.WS, m.TLS} {
		deadline := time.Now().Add(5 * time.Second)
		for {
			c, err := net.Dial("tcp", a)
			if err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("mosquitto did not listen on %s: %s", a, logb.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return m
}

type syncBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// makeCerts writes a CA and a server certificate for 127.0.0.1.
func makeCerts(t *testing.T, dir string) (*x509.CertPool, string, string, string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "mqtt test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	srvKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	srvTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:     []string{"localhost"},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, caCert, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(srvKey)
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ca := write("ca.pem", "CERTIFICATE", caDER)
	cert := write("server.pem", "CERTIFICATE", srvDER)
	key := write("server.key", "EC PRIVATE KEY", keyDER)
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	return pool, cert, key, ca
}

func (m *mosq) tlsConfig() *tls.Config {
	return &tls.Config{RootCAs: m.CAPool, MinVersion: tls.VersionTLS12}
}
