package broker

import (
	"bytes"
	"log/slog"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/mqttkit/mqtt/internal/listener/testcerts"
	"github.com/mqttkit/mqtt/internal/testutil"
	"github.com/mqttkit/mqtt/mqtt/packet"
)

func TestDescribeBadFirstBytes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
	}{
		{"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", "TLS handshake on a non-TLS listener"},
		{"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP request on an MQTT listener"},
		{"POST /api HTTP/1.1\r\n", "HTTP request on an MQTT listener"},
		{"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "HTTP request on an MQTT listener"},
		{"GET /mqtt HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", "websocket upgrade on a plain MQTT listener"},
		{"GET /mqtt HTTP/1.1\r\nupgrade: WebSocket\r\n", "websocket upgrade on a plain MQTT listener"},
		{"\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c\x00\x00", ""}, // a CONNECT
		{"\x16", ""},
		{"", ""},
	} {
		if got, _ := describeBadFirstBytes([]byte(tc.in)); !strings.HasPrefix(got, tc.want) || (tc.want == "" && got != "") {
			t.Errorf("describeBadFirstBytes(%q) = %q, want %q...", tc.in, got, tc.want)
		}
	}
}

// A TLS client or a browser on a plain MQTT port is logged as what it is,
// with what to do about it: mosquitto_pub --cafile against a plain
// listener, and an HTTP request.
func TestNotMQTTLogged(t *testing.T) {
	b, addr := startBroker(t, nil)
	for _, tc := range []struct{ send, want string }{
		{"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03", "TLS handshake on a non-TLS listener from 127.0.0.1:"},
		{"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP request on an MQTT listener from 127.0.0.1:"},
		{"GET /mqtt HTTP/1.1\r\nUpgrade: websocket\r\n\r\n", "websocket upgrade on a plain MQTT listener from 127.0.0.1:"},
	} {
		r := dialRaw(t, addr, packet.V311)
		r.WriteBytes([]byte(tc.send))
		r.ExpectClosed(3 * time.Second)
		waitLogLine(t, b, tc.want)
	}
	t.Run("mosquitto_pub --cafile", func(t *testing.T) {
		pub := testutil.RequireTool(t, "mosquitto_pub")
		ca := testcerts.New(t, "ca").CAFile
		h := b.log.Handler().(*testutil.LogLines)
		before := strings.Count(strings.Join(h.Lines(), "\n"), "TLS handshake on a non-TLS listener")
		out, err := exec.Command(pub, "-h", "127.0.0.1", "-p", portOf(b.Addrs()[0]), "--cafile", ca, "-t", "x", "-m", "y").CombinedOutput()
		if err == nil {
			t.Fatalf("mosquitto_pub with TLS on a plain port succeeded: %s", out)
		}
		deadline := time.Now().Add(3 * time.Second)
		for strings.Count(strings.Join(h.Lines(), "\n"), "TLS handshake on a non-TLS listener") == before {
			if time.Now().After(deadline) {
				t.Fatalf("mosquitto_pub --cafile (%s) was not logged as a TLS handshake", out)
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
}

// waitLogLine waits for a log line of the test broker containing want.
func waitLogLine(t *testing.T, b *Broker, want string) {
	t.Helper()
	h, ok := b.log.Handler().(*testutil.LogLines)
	if !ok {
		t.Skip("BROKER_TEST_LOG: logs go to stderr")
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		for _, l := range h.Lines() {
			if strings.Contains(l, want) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line with %q in:\n%s", want, strings.Join(h.Lines(), "\n"))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestFirstPacketNotConnectLogged: a first packet that is not CONNECT is
// refused as that [MQTT-3.1.0-1] as soon as its first byte is read,
// before its length is parsed or the packet traced: garbage whose first
// byte is AUTH's was logged as a malformed AUTH, and a PUBLISH was
// traced as received.
func TestFirstPacketNotConnectLogged(t *testing.T) {
	b, h := startBrokerLogging(t, slog.LevelDebug, nil)
	addr := b.Addrs()[0].String()
	for _, send := range [][]byte{
		bytes.Repeat([]byte{0xff}, 100),
		{0x30, 0x07, 0x00, 0x01, 'x', 'h', 'e', 'l', 'o'}, // PUBLISH x "helo"
	} {
		r := dialRaw(t, addr, packet.V311)
		r.WriteBytes(send)
		r.ExpectClosed(3 * time.Second)
	}
	deadline := time.Now().Add(3 * time.Second)
	for strings.Count(strings.Join(h.Lines(), "\n"), "disconnected: first packet was not CONNECT") < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("want two 'first packet was not CONNECT' lines:\n%s", strings.Join(h.Lines(), "\n"))
		}
		time.Sleep(5 * time.Millisecond)
	}
	if text := strings.Join(h.Lines(), "\n"); strings.Contains(text, "AUTH") || strings.Contains(text, "Received PUBLISH") {
		t.Fatalf("logged as a packet it was not refused for:\n%s", text)
	}
}
