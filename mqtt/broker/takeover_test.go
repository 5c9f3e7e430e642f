package broker

import (
	"fmt"
	"testing"
	"time"

	"github.com/mqttkit/mqtt/mqtt/packet"
)

// A client that sends DISCONNECT, closes its socket and at once connects
// again with the same client id: the broker reads what the old
// connection already sent before it takes the session over, so the
// DISCONNECT counts — no will is published, and a v5 session with expiry
// 0 on that DISCONNECT is not carried over.
func TestTakeoverReadsPendingDisconnect(t *testing.T) {
	_, addr := startBroker(t, nil)
	watch := connectRaw(t, addr, packet.V311, "watch")
	watch.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "will/#"})
	for i := range 100 {
		old := dialRaw(t, addr, packet.V5)
		old.Connect(&packet.Connect{ClientID: "flapper", WillFlag: true, WillTopic: "will/flapper", WillPayload: []byte(fmt.Sprint(i)),
			Properties: packet.Properties{SessionExpiry: 60, HasSessionExpiry: true}})
		old.Send(&packet.Disconnect{Properties: packet.Properties{SessionExpiry: 0, HasSessionExpiry: true}})
		old.NC.Close()
		r := dialRaw(t, addr, packet.V5)
		ack := r.Connect(&packet.Connect{ClientID: "flapper", Properties: packet.Properties{SessionExpiry: 60, HasSessionExpiry: true}})
		if ack.SessionPresent {
			t.Fatalf("round %d: the session ended by DISCONNECT with expiry 0 was carried over", i)
		}
		r.Send(&packet.Disconnect{})
		r.ExpectClosed(3 * time.Second)
	}
	watch.Send(&packet.Pingreq{})
	for {
		switch p := watch.Recv().(type) {
		case *packet.Pingresp:
			return
		case *packet.Publish:
			t.Fatalf("a will was published although its client disconnected normally: %q", p.Payload)
		}
	}
}

// Close sends MQTT 5 clients DISCONNECT 0x8B; with SilentShutdown it closes their sockets
// without one, as Mosquitto 2.0.11 does on SIGTERM, so Mosquitto's clients (which exit on a
// server DISCONNECT) reconnect to the restarted broker. In-process clients still get it.
func TestShutdownDisconnect(t *testing.T) {
	for _, silent := range []bool{false, true} {
		b, addr := startBroker(t, func(o *Options) { o.SilentShutdown = silent })
		r := connectRaw(t, addr, packet.V5, "c1")
		lc := attachLocal(t, b, nil)
		lc.connect(&packet.Connect{ProtocolVersion: packet.V5, ClientID: "local", CleanStart: true})
		b.Close()
		got := r.ExpectClosed(5 * time.Second)
		if silent && len(got) != 0 {
			t.Errorf("SilentShutdown: the client got %+v before the close, want nothing", got)
		}
		if !silent {
			if d, ok := got[0].(*packet.Disconnect); len(got) != 1 || !ok || d.ReasonCode != packet.ServerShuttingDown {
				t.Errorf("the client got %+v before the close, want DISCONNECT 0x8B", got)
			}
		}
		if d, ok := lc.recv().(*packet.Disconnect); !ok || d.ReasonCode != packet.ServerShuttingDown {
			t.Errorf("SilentShutdown %v: the in-process client got %+v, want DISCONNECT 0x8B", silent, d)
		}
	}
}

// TestTakeoverDoesNotWaitForOldSocketLinger: an MQTT 5 takeover sends the
// old connection DISCONNECT 0x8E and lingers on its socket for a moment
// (lingerAfterDisconnect, so the DISCONNECT is not lost to a reset). The
// new connection's CONNACK must not wait for that (a device reconnecting
// after a half-open NAT or Wi-Fi drop waited 250 ms every time): here the
// linger is a minute, and the CONNACK comes while the old socket is still
// open.
func TestTakeoverDoesNotWaitForOldSocketLinger(t *testing.T) {
	b, addr := startBrokerKnobs(t, testKnobs{disconnectLinger: time.Minute}, nil)
	old := connectRaw(t, addr, packet.V5, "roamer")
	r := dialRaw(t, addr, packet.V5)
	r.NC.SetReadDeadline(time.Now().Add(20 * time.Second))
	if ack := r.Connect(&packet.Connect{ClientID: "roamer", CleanStart: true}); ack.ReasonCode != packet.Success {
		t.Fatalf("CONNACK %v", ack.ReasonCode)
	}
	if p, err := old.RecvErr(10 * time.Second); err != nil {
		t.Fatal(err)
	} else if d, ok := p.(*packet.Disconnect); !ok || d.ReasonCode != packet.SessionTakenOver {
		t.Fatalf("old connection got %v, want DISCONNECT 0x8E", p)
	}
	if n := b.Stats().OpenConnections; n != 2 {
		t.Fatalf("%d connections open: the old socket should still linger", n)
	}
	old.NC.Close() // ends the linger
}
