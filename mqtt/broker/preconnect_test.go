package broker

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/mqttkit/mqtt/mqtt/packet"
)

// Memory follows bytes before CONNECT: a header promising 256 MB is
// refused before its bytes arrive, and so is any first packet larger
// than MaxConnectSize; a CONNECT within it works however it is split.
func TestPreConnectLimits(t *testing.T) {
	b, addr := startBroker(t, func(o *Options) { o.MaxConnectSize = 4096 })
	for name, bs := range map[string][]byte{
		"PUBLISH promising 256 MB": {0x30, 0xff, 0xff, 0xff, 0x7f},
		"CONNECT promising 5000":   {0x10, 0x88, 0x27},
	} {
		r := dialRaw(t, addr, packet.V311)
		r.WriteBytes(bs)
		if got := r.ExpectClosed(3 * time.Second); len(got) != 0 {
			t.Errorf("%s: got %v before the close", name, got)
		}
	}
	// A will payload larger than MaxConnectSize is refused...
	big := &packet.Connect{ProtocolName: "MQTT", ProtocolVersion: packet.V311, ClientID: "w", CleanStart: true,
		WillFlag: true, WillTopic: "w", WillPayload: bytes.Repeat([]byte("x"), 5000)}
	r := dialRaw(t, addr, packet.V311)
	enc, _ := packet.Append(nil, big, packet.V311)
	// The write may fail: the broker closes as soon as it has the header,
	// which over TLS can be before the client has written its last record.
	r.NC.Write(enc)
	r.ExpectClosed(3 * time.Second)
	// ...and one within it, trickled a byte at a time, is accepted.
	big.WillPayload = big.WillPayload[:3000]
	enc, _ = packet.Append(nil, big, packet.V311)
	r = dialRaw(t, addr, packet.V311)
	for i := range enc {
		r.WriteBytes(enc[i : i+1])
	}
	if ack, ok := r.Recv().(*packet.Connack); !ok || ack.ReasonCode != 0 {
		t.Fatalf("trickled CONNECT: %+v", ack)
	}
	if n := b.pendingConnect.Load(); n != 0 {
		t.Fatalf("%d pending bytes counted after the CONNECT completed", n)
	}
	checkAlive(t, addr)
}

// All connections still sending their CONNECT share a budget: past it
// the connection that would exceed it is closed, and the bytes held are
// given back when connections end.
func TestPendingConnectBudget(t *testing.T) {
	b, addr := startBroker(t, func(o *Options) { o.MaxPendingConnectBytes = 10_000 })
	// A CONNECT header announcing 3000 bytes, and 2000 of them.
	partial := append([]byte{0x10, 0xb8, 0x17}, bytes.Repeat([]byte{0}, 1997)...)
	var open []*raw
	closed := 0
	for range 8 {
		r := dialRaw(t, addr, packet.V311)
		r.WriteBytes(partial)
		// Wait until the broker holds the bytes (or has closed us).
		deadline := time.Now().Add(3 * time.Second)
		for b.pendingConnect.Load() < int64(2000*(len(open)+1)) && time.Now().Before(deadline) {
			if _, err := r.RecvErr(5 * time.Millisecond); err != nil && !isTimeout(err) {
				break
			}
		}
		if _, err := r.RecvErr(20 * time.Millisecond); err != nil && !isTimeout(err) {
			closed++
			continue
		}
		open = append(open, r)
	}
	if len(open) != 5 || closed != 3 {
		t.Fatalf("%d connections kept, %d closed; want 5 and 3 (budget 10,000 bytes, 2000 each)", len(open), closed)
	}
	for _, r := range open {
		r.NC.Close()
	}
	deadline := time.Now().Add(5 * time.Second)
	for b.pendingConnect.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d bytes still counted after the connections closed", b.pendingConnect.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
	checkAlive(t, addr)
}

func isTimeout(err error) bool {
	type timeout interface{ Timeout() bool }
	te, ok := err.(timeout)
	return ok && te.Timeout()
}

// TestPendingConnectBudgetLoggedOnce: a connection closed for the budget
// of pending CONNECT bytes is logged once, with why, not again as
// "disconnected".
func TestPendingConnectBudgetLoggedOnce(t *testing.T) {
	b, h := startBrokerLogging(t, slog.LevelInfo, func(o *Options) { o.MaxPendingConnectBytes = 5_000 })
	addr := b.Addrs()[0].String()
	partial := append([]byte{0x10, 0xb8, 0x17}, bytes.Repeat([]byte{0}, 1997)...)
	for range 4 {
		r := dialRaw(t, addr, packet.V311)
		defer r.NC.Close()
		r.WriteBytes(partial)
	}
	deadline := time.Now().Add(5 * time.Second)
	for strings.Count(strings.Join(h.Lines(), "\n"), "hold more than 5000 bytes together") < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("the budget's closes were not logged:\n%s", strings.Join(h.Lines(), "\n"))
		}
		time.Sleep(5 * time.Millisecond)
	}
	for b.nconns.Load() > 2 { // the closed ones are torn down (and logged)
		if time.Now().After(deadline) {
			t.Fatalf("%d connections, want the 2 within the budget", b.nconns.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if text := strings.Join(h.Lines(), "\n"); strings.Contains(text, "disconnected: too many bytes pending") {
		t.Fatalf("a budget close was logged twice:\n%s", text)
	}
}
