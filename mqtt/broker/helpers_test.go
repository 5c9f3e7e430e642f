package broker

import (
	"context"
	"log/slog"
	"net"
	"os"
	"testing"

	"github.com/mqttkit/mqtt/internal/testutil"
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
	b.knobs = k
	if err := b.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b, b.Addrs()[0].String()
}

// raw is testutil's hand-driven MQTT client over a real socket.
type raw = testutil.Raw

func dialRaw(t testing.TB, addr string, version byte) *raw { return testutil.DialRaw(t, addr, version) }
func connectRaw(t testing.TB, addr string, version byte, id string) *raw {
	t.Helper()
	return testutil.ConnectRaw(t, addr, version, id)
}

func hostPort(t testing.TB, addr string) (string, string) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return h, p
}
