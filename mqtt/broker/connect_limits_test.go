package broker

import (
	"bytes"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mqttkit/mqtt/internal/testutil"
	"github.com/mqttkit/mqtt/mqtt/packet"
)

// A CONNECT larger than MaxConnectSize is refused before it arrives. An
// MQTT 5 client is told with CONNACK 0x95 Packet too large
// [MQTT-3.2.2-8]; a 3.x client, which has no such code, is closed. Either
// writes all of its CONNECT first, over TLS too (one record at a time):
// the broker reads the rest and drops it before it closes, or the write
// would fail on the reset and the CONNACK be lost.
func TestOversizeConnect(t *testing.T) {
	_, addr := startBroker(t, nil)
	big := &packet.Connect{ClientID: "big", CleanStart: true, KeepAlive: 30,
		WillFlag: true, WillTopic: "w", WillPayload: bytes.Repeat([]byte("w"), 60000),
		UsernameFlag: true, Username: "u", PasswordFlag: true, Password: bytes.Repeat([]byte("p"), 10000)}
	for _, v := range []byte{packet.V5, packet.V311} {
		big.ProtocolVersion = v
		buf, err := packet.Append(nil, big, v)
		if err != nil {
			t.Fatal(err)
		}
		r := dialRaw(t, addr, v)
		if _, err := r.NC.Write(buf); err != nil {
			t.Fatal(err)
		}
		got := r.ExpectClosed(5 * time.Second)
		if v == packet.V5 {
			if len(got) != 1 || got[0].(*packet.Connack).ReasonCode != packet.PacketTooLarge {
				t.Fatalf("MQTT 5: got %+v, want CONNACK 0x95 and the connection closed", got)
			}
		} else if len(got) != 0 {
			t.Fatalf("MQTT 3.1.1: got %+v, want the connection closed", got)
		}
	}
}

// oversizeConnectStart is the start of an MQTT 5 CONNECT that announces
// total bytes after its fixed header: the header and n bytes of the body.
func oversizeConnectStart(total, n int) []byte {
	buf := []byte{0x10}
	for l := total; ; {
		b := byte(l % 128)
		l /= 128
		if l > 0 {
			b |= 0x80
		}
		buf = append(buf, b)
		if l == 0 {
			break
		}
	}
	body := append([]byte("\x00\x04MQTT\x05\x02\x00\x1e"), make([]byte, n)...)
	return append(buf, body[:n]...)
}

// The rest of a refused oversize CONNECT is read and discarded so that
// the client gets its CONNACK (TestOversizeConnect), within bounds: a
// client that stops sending it is closed a moment later
// (lingerAfterDisconnect), one that keeps the moment going no later than
// the connect timeout, one that announces more than maxRefusedRest at
// once; and while they wait the connections hold no goroutine and none
// of the bytes.
func TestOversizeConnectRestIsBounded(t *testing.T) {
	// A client that stops: closed long before the connect timeout.
	_, addr := startBroker(t, nil) // ConnectTimeout 10 s
	r := dialRaw(t, addr, packet.V5)
	t0 := time.Now()
	if _, err := r.NC.Write(oversizeConnectStart(200_000, 70_000)); err != nil {
		t.Fatal(err)
	}
	if got := r.ExpectClosed(8 * time.Second); len(got) != 1 || got[0].(*packet.Connack).ReasonCode != packet.PacketTooLarge {
		t.Fatalf("got %+v, want CONNACK 0x95 and the connection closed", got)
	}
	if d := time.Since(t0); d > 3*time.Second {
		t.Errorf("a client that stopped sending the rest of its refused CONNECT was closed after %v", d)
	}

	// With the moment longer than the connect timeout, as if the rest kept coming.
	const timeout = 3 * time.Second
	b, addr := startBrokerKnobs(t, testKnobs{disconnectLinger: time.Minute}, func(o *Options) { o.ConnectTimeout = timeout })
	base := runtime.NumGoroutine()
	const n = 30
	stalled := make([]*raw, n)
	start := time.Now()
	for i := range stalled {
		r := dialRaw(t, addr, packet.V5)
		if _, err := r.NC.Write(oversizeConnectStart(200_000, 70_000)); err != nil {
			t.Fatal(err)
		}
		if p, err := r.RecvErr(timeout); err != nil || p.(*packet.Connack).ReasonCode != packet.PacketTooLarge {
			t.Fatalf("client %d: got %v, %v; want CONNACK 0x95 while the rest is awaited", i, p, err)
		}
		stalled[i] = r
	}
	if held := b.pendingConnect.Load(); held != 0 {
		t.Errorf("%d bytes of the refused CONNECTs are held", held)
	}
	if !b.opts.BlockingIO {
		// Idle workers may stay (maxIdle); a goroutine per connection may not.
		for deadline := time.Now().Add(timeout / 2); runtime.NumGoroutine()-base >= n/2; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%d goroutines more with %d connections waiting for the rest of a refused CONNECT", runtime.NumGoroutine()-base, n)
			}
		}
	}

	// More than maxRefusedRest announced: closed at once (its write may
	// fail, or the CONNACK be lost, on the reset).
	big := dialRaw(t, addr, packet.V5)
	t0 = time.Now()
	big.NC.Write(oversizeConnectStart(maxRefusedRest+100_000, 70_000))
	big.ExpectClosed(timeout)
	if d := time.Since(t0); d > timeout/2 {
		t.Errorf("a CONNECT announcing %d bytes was closed after %v, want at once", maxRefusedRest+100_000, d)
	}

	for i, r := range stalled {
		if got := r.ExpectClosed(timeout + 2*time.Second); len(got) != 0 {
			t.Fatalf("client %d: got %+v after the CONNACK, want the connection closed", i, got)
		}
	}
	if d := time.Since(start); d > timeout+2*time.Second {
		t.Errorf("the refused connections were closed after %v, want the connect timeout (%v)", d, timeout)
	}
}

// A CONNECT with a will topic that is not a valid topic name: MQTT 5 gets
// CONNACK 0x90 [MQTT-3.1.3-11]; 3.x has no return code for it and is
// closed without CONNACK, as by Mosquitto. Either is logged once.
func TestInvalidWillTopic(t *testing.T) {
	b, addr := startBroker(t, nil)
	for _, v := range []byte{packet.V5, packet.V311} {
		r := dialRaw(t, addr, v)
		buf, err := packet.Append(nil, &packet.Connect{ProtocolVersion: v, ClientID: fmt.Sprint("w", v), CleanStart: true,
			WillFlag: true, WillTopic: "a/+", WillPayload: []byte("x")}, v)
		if err != nil {
			t.Fatal(err)
		}
		r.NC.Write(buf)
		got := r.ExpectClosed(5 * time.Second)
		if v == packet.V5 {
			if len(got) != 1 || got[0].(*packet.Connack).ReasonCode != packet.TopicNameInvalid {
				t.Fatalf("MQTT 5: got %+v, want CONNACK 0x90", got)
			}
		} else if len(got) != 0 {
			t.Fatalf("MQTT 3.1.1: got %+v, want the connection closed", got)
		}
		waitLogLine(t, b, fmt.Sprintf("Client w%d from 127.0.0.1:", v))
	}
	h := b.log.Handler().(*testutil.LogLines)
	text := strings.Join(h.Lines(), "\n")
	if n := strings.Count(text, "invalid will topic"); n != 2 {
		t.Fatalf("%d lines about the will topic for 2 clients, want one each:\n%s", n, text)
	}
}
