package broker

import (
	"context"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mqttkit/mqtt/internal/testutil"
	"github.com/mqttkit/mqtt/mqtt/packet"
)

// At Debug level every packet is logged in Mosquitto's words (checked
// against mosquitto -v 2.0.11 with mosquitto_pub/mosquitto_sub).
func TestPacketTrace(t *testing.T) {
	b, h := startBrokerLogging(t, slog.LevelDebug, nil)
	addr := b.Addrs()[0].String()
	if testTLS {
		addr, _ = serveTLS(t, b, nil, nil)
	}
	sub := connectRaw(t, addr, packet.V311, "subber")
	sub.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "a/#", QoS: 2}, packet.Subscription{Filter: "b"})
	pub := connectRaw(t, addr, packet.V311, "pubber")
	pub.Send(&packet.Publish{Topic: "a/x", QoS: 2, PacketID: 1, Payload: []byte("hello")})
	pub.Recv()
	pub.Send(&packet.Pubrel{PacketID: 1})
	pub.Recv()
	p := sub.RecvPublish()
	sub.Send(&packet.Pubrec{PacketID: p.PacketID})
	sub.Recv()
	sub.Send(&packet.Pubcomp{PacketID: p.PacketID})
	pub.Send(&packet.Publish{Topic: "a/y", QoS: 1, PacketID: 2, Payload: []byte("hi")})
	pub.Recv()
	pub.Send(&packet.Pingreq{})
	pub.Recv()
	pub.Send(&packet.Disconnect{})
	pub.ExpectClosed(3 * time.Second)
	want := []string{
		"No will message specified.",
		"Sending CONNACK to subber (0, 0)",
		"Received SUBSCRIBE from subber",
		"\ta/# (QoS 2)",
		"\tb (QoS 0)",
		"Sending SUBACK to subber",
		"Received PUBLISH from pubber (d0, q2, r0, m1, 'a/x', ... (5 bytes))",
		"Sending PUBREC to pubber (m1, rc0)",
		"Received PUBREL from pubber (Mid: 1)",
		"Sending PUBCOMP to pubber (m1)",
		"Sending PUBLISH to subber (d0, q2, r0, m1, 'a/x', ... (5 bytes))",
		"Received PUBREC from subber (Mid: 1)",
		"Sending PUBREL to subber (m1)",
		"Received PUBCOMP from subber (Mid: 1, RC:0)",
		"Received PUBLISH from pubber (d0, q1, r0, m2, 'a/y', ... (2 bytes))",
		"Sending PUBACK to pubber (m2, rc0)",
		"Received PINGREQ from pubber",
		"Sending PINGRESP to pubber",
		"Received DISCONNECT from pubber",
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		text := strings.Join(h.Lines(), "\n")
		missing := ""
		for _, w := range want {
			if !strings.Contains(text, w) {
				missing = w
				break
			}
		}
		if missing == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no trace line %q in:\n%s", missing, text)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The order of one client's lines is mosquitto -v's: no line for CONNECT itself, the will
	// after "New client connected", then CONNACK; each filter's trace line before its
	// subscribe line.
	inOrder := []string{
		"New connection from 127.0.0.1:",
		"New client connected from 127.0.0.1:",
		"No will message specified.",
		"Sending CONNACK to subber (0, 0)",
		"Received SUBSCRIBE from subber",
		"\ta/# (QoS 2)",
		"subber 2 a/#",
		"\tb (QoS 0)",
		"subber 0 b",
		"Sending SUBACK to subber",
	}
	var got []string
	for _, l := range h.Lines() {
		if strings.Contains(l, "pubber") || strings.HasPrefix(l, "Opening") {
			continue
		}
		got = append(got, l)
	}
	for i, w := range inOrder {
		if i >= len(got) || !strings.HasPrefix(got[i], w) {
			t.Fatalf("line %d: want %q; subber's lines:\n%s", i, w, strings.Join(got, "\n"))
		}
	}
}

// At Info level nothing is traced.
func TestNoTraceAtInfo(t *testing.T) {
	b, addr := startBroker(t, nil)
	r := connectRaw(t, addr, packet.V311, "quiet")
	r.Send(&packet.Pingreq{})
	r.Recv()
	for _, l := range b.log.Handler().(*testutil.LogLines).Lines() {
		if strings.HasPrefix(l, "Received ") || strings.HasPrefix(l, "Sending ") {
			t.Fatalf("traced at Info: %q", l)
		}
	}
}

// A PUBLISH over MessageSizeLimit is logged as mosquitto -v 2.0.11 logs it: one line
// "Dropped too large PUBLISH from ID (...)", not "Received PUBLISH" and "Denied PUBLISH".
func TestTraceTooLargePublish(t *testing.T) {
	b, h := startBrokerLogging(t, slog.LevelDebug, func(o *Options) {
		o.MessageSizeLimit = 10
	})
	pub := connectRaw(t, b.Addrs()[0].String(), packet.V311, "big")
	pub.Send(&packet.Publish{Topic: "big", QoS: 1, PacketID: 1, Payload: []byte("12345678901")})
	pub.Recv() // PUBACK: the lines about the PUBLISH are written
	text := strings.Join(h.Lines(), "\n")
	if !strings.Contains(text, "Dropped too large PUBLISH from big (d0, q1, r0, m1, 'big', ... (11 bytes))") {
		t.Errorf("no Dropped too large line in:\n%s", text)
	}
	if strings.Contains(text, "Received PUBLISH from big") || strings.Contains(text, "Denied PUBLISH from big") {
		t.Errorf("the too large PUBLISH is also logged as received or denied:\n%s", text)
	}
}

// A client whose connection ends with a TCP reset (killed, or closed with unread data) is
// logged as one that closed its connection, as by mosquitto 2.0.11, not as a protocol error.
func TestResetLoggedAsClosed(t *testing.T) {
	b, h := startBrokerLogging(t, slog.LevelInfo, nil)
	r := connectRaw(t, b.Addrs()[0].String(), packet.V311, "rst")
	tc, ok := r.NC.(*net.TCPConn)
	if !ok {
		t.Skipf("not a TCP connection: %T", r.NC)
	}
	_ = tc.SetLinger(0) // close sends RST
	tc.Close()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(strings.Join(h.Lines(), "\n"), "Client rst closed its connection.") {
		if time.Now().After(deadline) {
			t.Fatalf("no \"Client rst closed its connection.\" in:\n%s", strings.Join(h.Lines(), "\n"))
		}
		time.Sleep(10 * time.Millisecond)
	}

	// The same while the broker is writing to it: the failed write
	// (EPIPE, ECONNRESET) is the client closing too, not "disconnected"
	// (a fresh tester's finding).
	w := connectRaw(t, b.Addrs()[0].String(), packet.V311, "rstw")
	w.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "flood"})
	pub := connectRaw(t, b.Addrs()[0].String(), packet.V311, "pub")
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		payload := make([]byte, 4096)
		for i := 0; i < 100000; i++ {
			select {
			case <-stop:
				return
			default:
			}
			pub.NC.SetWriteDeadline(time.Now().Add(5 * time.Second))
			buf, _ := packet.Append(nil, &packet.Publish{Topic: "flood", Payload: payload}, packet.V311)
			if _, err := pub.NC.Write(buf); err != nil {
				return
			}
		}
	}()
	defer func() { close(stop); <-done }()
	w.NC.SetReadDeadline(time.Now().Add(5 * time.Second))
	w.RecvPublish() // messages are flowing to it
	_ = w.NC.(*net.TCPConn).SetLinger(0)
	w.NC.Close()
	for !strings.Contains(strings.Join(h.Lines(), "\n"), "Client rstw closed its connection.") {
		if time.Now().After(deadline) {
			t.Fatalf("no \"Client rstw closed its connection.\" in:\n%s", strings.Join(h.Lines(), "\n"))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if strings.Contains(strings.Join(h.Lines(), "\n"), "Client rstw disconnected") {
		t.Fatalf("a reset logged as a disconnect:\n%s", strings.Join(h.Lines(), "\n"))
	}
}

// Client addresses are logged as mosquitto 2.0.11 logs them: an IPv6 address without
// brackets (::1:PORT), a unix socket client as SOCKETPATH:0 on port 0.
func TestLogClientAddresses(t *testing.T) {
	b, h := startBrokerLogging(t, slog.LevelInfo, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sock := filepath.Join(t.TempDir(), "m.sock")
	uln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = b.ServeListener(ctx, uln) }()
	var want []string
	if ln6, err := net.Listen("tcp6", "[::1]:0"); err == nil {
		go func() { _ = b.ServeListener(ctx, ln6) }()
		port := strconv.Itoa(ln6.Addr().(*net.TCPAddr).Port)
		r := connectRaw(t, ln6.Addr().String(), packet.V311, "six")
		local := strconv.Itoa(r.NC.LocalAddr().(*net.TCPAddr).Port)
		want = append(want, "New connection from ::1:"+local+" on port "+port+".", "New client connected from ::1:"+local+" as six (")
		// Refused before CONNECT: the same form, not [::1]:PORT.
		bad, err := net.Dial("tcp6", ln6.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer bad.Close()
		bad.Write([]byte{0x30, 0x03, 0x00, 0x01, 'x'}) // a PUBLISH before CONNECT
		bad.SetReadDeadline(time.Now().Add(5 * time.Second))
		io.Copy(io.Discard, bad) // until the broker closes it
		line := "Client ::1:" + strconv.Itoa(bad.LocalAddr().(*net.TCPAddr).Port) + " disconnected"
		for deadline := time.Now().Add(5 * time.Second); !strings.Contains(strings.Join(h.Lines(), "\n"), line); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("no line %q in:\n%s", line, strings.Join(h.Lines(), "\n"))
			}
		}
	} else {
		t.Logf("no IPv6 loopback: %v", err)
	}
	nc, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	r := testutil.NewRaw(t, nc, packet.V311)
	t.Cleanup(func() { nc.Close() })
	if ack := r.Connect(&packet.Connect{ClientID: "ux", CleanStart: true, KeepAlive: 30}); ack.ReasonCode != packet.Success {
		t.Fatalf("CONNACK %v", ack.ReasonCode)
	}
	want = append(want, "New connection from "+sock+":0 on port 0.", "New client connected from "+sock+":0 as ux (")
	text := strings.Join(h.Lines(), "\n")
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("no line %q in:\n%s", w, text)
		}
	}
}
