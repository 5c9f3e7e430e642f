package broker

import (
	"runtime"
	"testing"
	"time"

	"github.com/mqttkit/mqtt/mqtt/packet"
)

// An offline persistent session keeps what a session needs, not its last
// connection: the connection (with its topic alias tables, buffers and
// will) is garbage once it has ended.
func TestOfflineSessionReleasesConnection(t *testing.T) {
	b, addr := startBroker(t, func(o *Options) { o.TopicAliasMaximum = 100 })
	r := dialRaw(t, addr, packet.V5)
	r.Connect(&packet.Connect{ClientID: "sleeper", Properties: packet.Properties{SessionExpiry: 3600, HasSessionExpiry: true}})
	r.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "x", QoS: 1})
	for i := range 50 { // fill the inbound alias table
		r.Send(&packet.Publish{Topic: "alias/" + string(rune('a'+i%26)) + string(rune('a'+i/26)), Payload: []byte("p"),
			Properties: packet.Properties{TopicAlias: uint16(i + 1), HasTopicAlias: true}})
	}
	r.Send(&packet.Pingreq{})
	r.Recv()
	b.mu.Lock()
	s := b.sessions.get("sleeper")
	b.mu.Unlock()
	s.mu.Lock()
	c := s.conn
	s.mu.Unlock()
	freed := whenFreed(t, c.t)
	c = nil
	r.NC.Close()
	waitOffline(t, b, "sleeper")
	deadline := time.After(5 * time.Second)
	for {
		runtime.GC()
		select {
		case <-freed:
			if s.info.Load().ClientID != "sleeper" {
				t.Fatalf("offline session info: %+v", s.info.Load())
			}
			return
		case <-deadline:
			t.Fatal("the ended connection is still reachable from its offline session")
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// whenFreed returns a channel closed once the garbage collector has freed
// tr's allocation (the transport embedding its conn). A cleanup, not a
// finalizer: a TLS connection is a cycle (tlsConn, its tls.Conn, the wire
// pointing back), and a finalizer would keep a cycle alive for good.
func whenFreed(t *testing.T, tr transport) <-chan struct{} {
	freed := make(chan struct{})
	done := func(ch chan struct{}) { close(ch) }
	switch x := tr.(type) {
	case *socketConn:
		runtime.AddCleanup(x, done, freed)
	case *tlsConn:
		runtime.AddCleanup(x, done, freed)
	case *netConn:
		runtime.AddCleanup(x, done, freed)
	default:
		t.Fatalf("transport %T", tr)
	}
	return freed
}
