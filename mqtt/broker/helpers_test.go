package broker

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mqttkit/mqtt/internal/listener"
	"github.com/mqttkit/mqtt/internal/listener/testcerts"
	"github.com/mqttkit/mqtt/internal/testutil"
	"github.com/mqttkit/mqtt/mqtt/packet"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// startBroker runs a broker on a loopback port for one test.
func startBroker(t testing.TB, mod func(*Options)) (*Broker, string) {
	t.Helper()
	return startBrokerKnobs(t, testKnobs{}, mod)
}

// startBrokerKnobs is startBroker with test knobs set before it listens.
func startBrokerKnobs(t testing.TB, k testKnobs, mod func(*Options)) (*Broker, string) {
	t.Helper()
	o := DefaultOptions()
	o.Listeners = []string{"127.0.0.1:0"}
	o.SysInterval = 0
	o.Version = "mqtt version test"
	// BROKER_TEST_BLOCKING=1 runs the suite on the goroutine-per-connection
	// read path instead of the event loop.
	o.BlockingIO = os.Getenv("BROKER_TEST_BLOCKING") != ""
	if mod != nil {
		mod(&o)
	}
	// BROKER_TEST_STORE=1 runs the suite with a MemoryStore, so every
	// test also drives the persistence path (ops, restores, acks that
	// wait for the store).
	if o.Store == nil && os.Getenv("BROKER_TEST_STORE") != "" {
		o.Store = NewMemoryStore()
	}
	var logger *slog.Logger
	if os.Getenv("BROKER_TEST_LOG") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	} else {
		logger = slog.New(&testutil.LogLines{})
	}
	b, err := New(o, logger)
	if err != nil {
		t.Fatal(err)
	}
	// BROKER_TEST_INLINE=1: no read run lingers, so every read of an
	// accepted plain connection is the event loop's own (readInline).
	if os.Getenv("BROKER_TEST_INLINE") != "" && k.linger == 0 {
		k.linger = time.Nanosecond
	}
	b.knobs = k
	if err := b.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	if testTLS {
		addr, _ := serveTLS(t, b, nil, nil)
		return b, addr
	}
	return b, b.Addrs()[0].String()
}

// testTLS: BROKER_TEST_TLS=1 runs the suite over TLS. Each test broker
// also serves a TLS listener, opened by internal/listener as `mqtt serve`
// opens one, and startBroker returns its address as "tls://HOST:PORT",
// which dialRaw, connectRaw and dialConn connect to with TLS. Tests whose
// clients cannot (Mosquitto's tools, paho) call needPlain.
var testTLS = os.Getenv("BROKER_TEST_TLS") != ""

// serveTLS makes b serve a TLS listener on a loopback port (the server
// certificate of ca, a throwaway CA when nil; mod may change the spec)
// and returns its address as "tls://HOST:PORT", and the listener.
func serveTLS(t testing.TB, b *Broker, ca *testcerts.Set, mod func(*listener.Spec)) (string, net.Listener) {
	t.Helper()
	if ca == nil {
		ca = testcerts.New(t, "ca")
	}
	spec := listener.Spec{Network: "tcp4", Address: "127.0.0.1:0",
		TLS: &listener.TLSSpec{CAFile: ca.CAFile, CertFile: ca.ServerCert, KeyFile: ca.ServerKey}}
	if mod != nil {
		mod(&spec)
	}
	ln, err := listener.Open(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.addListener(context.Background(), ln); err != nil {
		t.Fatal(err)
	}
	return "tls://" + ln.Addr().String(), ln
}

// needPlain skips a test whose clients speak plain TCP only when the
// suite runs over TLS.
func needPlain(t testing.TB) {
	t.Helper()
	if testTLS {
		t.Skip("BROKER_TEST_TLS: this test's clients do not speak TLS")
	}
}

// dialConn connects to addr: TLS for a "tls://" address (any server
// certificate: these tests are about the transport), else TCP.
func dialConn(addr string, cfg *tls.Config) (net.Conn, error) {
	d := &net.Dialer{Timeout: 5 * time.Second}
	if host, ok := strings.CutPrefix(addr, "tls://"); ok {
		if cfg == nil {
			cfg = &tls.Config{InsecureSkipVerify: true}
		}
		return tls.DialWithDialer(d, "tcp", host, cfg)
	}
	return d.Dial("tcp", addr)
}

// raw is testutil's hand-driven MQTT client over a real socket.
type raw = testutil.Raw

// dialRaw connects to addr (TLS for a "tls://" address); the connection
// is closed when the test ends.
func dialRaw(t testing.TB, addr string, version byte) *raw {
	t.Helper()
	nc, err := dialConn(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return testutil.NewRaw(t, nc, version)
}

// connectRaw dials and connects with client id (clean start, keep alive
// 30), failing the test unless CONNACK is Success.
func connectRaw(t testing.TB, addr string, version byte, id string) *raw {
	t.Helper()
	r := dialRaw(t, addr, version)
	if ack := r.Connect(&packet.Connect{ClientID: id, CleanStart: true, KeepAlive: 30}); ack.ReasonCode != packet.Success {
		t.Fatalf("CONNACK %v", ack.ReasonCode)
	}
	return r
}

func hostPort(t testing.TB, addr string) (string, string) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return h, p
}

// startBrokerLogging starts a broker on a loopback port whose log lines
// at level and above are kept in the returned LogLines (startBroker's
// keep Info and above, or go to stderr with BROKER_TEST_LOG); mod may
// change its options. The broker is closed when the test ends.
func startBrokerLogging(t *testing.T, level slog.Level, mod func(*Options)) (*Broker, *testutil.LogLines) {
	t.Helper()
	h := &testutil.LogLines{Level: level}
	o := DefaultOptions()
	o.Listeners = []string{"127.0.0.1:0"}
	o.SysInterval = 0
	if mod != nil {
		mod(&o)
	}
	b, err := New(o, slog.New(h))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b, h
}
