package broker

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mqttkit/mqtt/mqtt/packet"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// startBroker runs a broker on a loopback port for one test.
func startBroker(t testing.TB, mod func(*Options)) (*Broker, string) {
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
	var logger *slog.Logger
	if os.Getenv("BROKER_TEST_LOG") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	} else {
		logger = slog.New(&captureHandler{})
	}
	b, err := New(o, logger)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b, b.Addrs()[0].String()
}

// captureHandler keeps log lines so tests can assert on them.
type captureHandler struct {
	mu    sync.Mutex
	lines []string
}

func (h *captureHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *captureHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	h.lines = append(h.lines, r.Message)
	h.mu.Unlock()
	return nil
}
func (h *captureHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *captureHandler) WithGroup(string) slog.Handler      { return h }

// raw is a hand-driven MQTT client over a real socket, for exact packets.
type raw struct {
	t       testing.TB
	nc      net.Conn
	br      *bufio.Reader
	version byte
}

func dialRaw(t testing.TB, addr string, version byte) *raw {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &raw{t: t, nc: nc, br: bufio.NewReader(nc), version: version}
}

func (r *raw) send(p packet.Packet) {
	r.t.Helper()
	buf, err := packet.Append(nil, p, r.version)
	if err != nil {
		r.t.Fatalf("encode %T: %v", p, err)
	}
	r.writeBytes(buf)
}

func (r *raw) writeBytes(b []byte) {
	r.t.Helper()
	r.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := r.nc.Write(b); err != nil {
		r.t.Fatalf("write: %v", err)
	}
}

// recv reads the next packet within 5 s.
func (r *raw) recv() packet.Packet {
	r.t.Helper()
	p, err := r.recvErr(5 * time.Second)
	if err != nil {
		r.t.Fatalf("read: %v", err)
	}
	return p
}

func (r *raw) recvErr(d time.Duration) (packet.Packet, error) {
	r.nc.SetReadDeadline(time.Now().Add(d))
	return packet.ReadPacket(r.br, r.version, 0)
}

// expectClosed waits for the server to close the connection, returning the
// packets received before.
func (r *raw) expectClosed(d time.Duration) []packet.Packet {
	r.t.Helper()
	var got []packet.Packet
	deadline := time.Now().Add(d)
	for {
		p, err := r.recvErr(time.Until(deadline))
		if err == nil {
			got = append(got, p)
			continue
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || strings.Contains(err.Error(), "reset") {
			return got
		}
		r.t.Fatalf("connection not closed: %v (got %d packets)", err, len(got))
	}
}

// expectNothing asserts no packet arrives within d.
func (r *raw) expectNothing(d time.Duration) {
	r.t.Helper()
	if p, err := r.recvErr(d); err == nil {
		r.t.Fatalf("unexpected packet %T %+v", p, p)
	}
}

func (r *raw) connect(c *packet.Connect) *packet.Connack {
	r.t.Helper()
	if c.ProtocolVersion == 0 {
		c.ProtocolVersion = r.version
	}
	if c.ProtocolName == "" {
		c.ProtocolName = "MQTT"
		if c.ProtocolVersion == packet.V31 {
			c.ProtocolName = "MQIsdp"
		}
	}
	r.send(c)
	ack, ok := r.recv().(*packet.Connack)
	if !ok {
		r.t.Fatal("expected CONNACK")
	}
	return ack
}

// connectRaw dials and connects with client id (clean start) and keepalive 30.
func connectRaw(t testing.TB, addr string, version byte, id string) *raw {
	t.Helper()
	r := dialRaw(t, addr, version)
	ack := r.connect(&packet.Connect{ClientID: id, CleanStart: true, KeepAlive: 30})
	if ack.ReasonCode != packet.Success {
		t.Fatalf("CONNACK %v", ack.ReasonCode)
	}
	return r
}

func (r *raw) subscribe(id uint16, props packet.Properties, subs ...packet.Subscription) *packet.Suback {
	r.t.Helper()
	r.send(&packet.Subscribe{PacketID: id, Properties: props, Subscriptions: subs})
	for {
		p := r.recv()
		if sa, ok := p.(*packet.Suback); ok {
			if sa.PacketID != id {
				r.t.Fatalf("SUBACK id %d, want %d", sa.PacketID, id)
			}
			return sa
		}
		r.t.Fatalf("expected SUBACK, got %T", p)
	}
}

// recvPublish reads packets until a PUBLISH arrives.
func (r *raw) recvPublish() *packet.Publish {
	r.t.Helper()
	for {
		p := r.recv()
		if pub, ok := p.(*packet.Publish); ok {
			return pub
		}
	}
}

// requireTool returns the path of an outside program, skipping the test
// when it is absent unless MQTT_REQUIRE_INTEROP is set.
func requireTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("MQTT_REQUIRE_INTEROP") != "" {
			t.Fatalf("%s not found and MQTT_REQUIRE_INTEROP is set: %v", name, err)
		}
		t.Skipf("%s not installed", name)
	}
	return p
}

func hostPort(t testing.TB, addr string) (string, string) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return h, p
}
