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
	"path/filepath"
	"testing"
	"time"

	"github.com/mqttkit/mqtt/internal/testutil"
)

// startMosquitto runs a real mosquitto (internal/testutil) with a plain, a websocket and a
// TLS listener on free loopback ports.

type mosq struct {
	TCP, WS, TLS string // host:port
	CAPool       *x509.CertPool
}

func startMosquitto(t *testing.T) *mosq {
	t.Helper()
	dir := t.TempDir()
	pool, certFile, keyFile, caFile := makeCerts(t, dir)
	m := &mosq{CAPool: pool}
	p2, p3 := testutil.FreePort(t), testutil.FreePort(t)
	mq := testutil.StartMosquitto(t, "per_listener_settings false", "max_inflight_messages 0",
		fmt.Sprintf("listener %d 127.0.0.1", p2), "protocol websockets",
		fmt.Sprintf("listener %d 127.0.0.1", p3), "cafile "+caFile, "certfile "+certFile, "keyfile "+keyFile)
	m.TCP = mq.Addr
	m.WS = fmt.Sprintf("127.0.0.1:%d", p2)
	m.TLS = fmt.Sprintf("127.0.0.1:%d", p3)
	for _, a := range []string{m.WS, m.TLS} {
		deadline := time.Now().Add(5 * time.Second)
		for {
			c, err := net.Dial("tcp", a)
			if err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("mosquitto did not listen on %s: %s", a, mq.Log())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return m
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
