package broker

import (
	"context"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mqttkit/mqtt/mqtt/packet"
)

// serveMounted serves a second listener of b with lc and returns its address.
func serveMounted(t *testing.T, b *Broker, lc ListenerConfig) string {
	t.Helper()
	ln := listenLocal(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { b.ServeListenerConfig(ctx, ln, lc); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return ln.Addr().String()
}

// mount_point: a listener's clients publish and subscribe under its
// prefix without seeing it, and reach nothing outside it; their wills
// are mounted too.
func TestMountPoint(t *testing.T) {
	b, plain := startBroker(t, nil)
	site := serveMounted(t, b, ListenerConfig{MountPoint: "site1/"})
	outside := connectRaw(t, plain, packet.V311, "outside")
	outside.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "#"})

	in := connectRaw(t, site, packet.V5, "inside")
	in.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "#"}, packet.Subscription{Filter: "$share/g/cmd/+"})
	in.Send(&packet.Publish{Topic: "temp", Payload: []byte("21")})
	if p := outside.RecvPublish(); p.Topic != "site1/temp" {
		t.Fatalf("outside sees %q, want site1/temp", p.Topic)
	}
	if p := in.RecvPublish(); p.Topic != "temp" {
		t.Fatalf("inside sees %q, want temp (mount point removed)", p.Topic)
	}
	outside.Send(&packet.Publish{Topic: "elsewhere", Payload: []byte("x")})
	outside.Send(&packet.Publish{Topic: "site1/cmd/on", Payload: []byte("y")})
	for range 2 { // outside's own subscription
		outside.RecvPublish()
	}
	got := []string{in.RecvPublish().Topic}
	if p, err := in.RecvErr(200 * time.Millisecond); err == nil {
		got = append(got, p.(*packet.Publish).Topic)
	}
	if strings.Join(got, ",") != "cmd/on" && strings.Join(got, ",") != "cmd/on,cmd/on" {
		t.Fatalf("inside got %v, want only cmd/on (nothing outside site1/)", got)
	}

	// Retained messages under the prefix, and the will.
	outside.Send(&packet.Publish{Topic: "site1/cfg", Retain: true, Payload: []byte("c")})
	for { // outside's own copy: the message is routed (and retained) before willer subscribes
		if p := outside.RecvPublish(); p.Topic == "site1/cfg" {
			break
		}
	}
	r := dialRaw(t, site, packet.V311)
	r.Connect(&packet.Connect{ClientID: "willer", CleanStart: true, KeepAlive: 30, WillFlag: true, WillTopic: "status", WillPayload: []byte("gone")})
	r.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "cfg"})
	if p := r.RecvPublish(); p.Topic != "cfg" || !p.Retain {
		t.Fatalf("retained under the mount point: %+v", p)
	}
	r.NC.Close()
	for {
		if p := outside.RecvPublish(); p.Topic == "site1/status" {
			break
		}
	}
}

// use_username_as_clientid: the username is the client id; no username,
// no connection.
func TestUseUsernameAsClientID(t *testing.T) {
	b, _ := startBroker(t, nil)
	addr := serveMounted(t, b, ListenerConfig{UseUsernameAsClientID: true})
	for _, v := range []byte{packet.V311, packet.V5} {
		r := dialRaw(t, addr, v)
		ack := r.Connect(&packet.Connect{ClientID: "chosen", CleanStart: true, UsernameFlag: true, Username: "alice"})
		if ack.ReasonCode != 0 {
			t.Fatalf("v%d: %v", v, ack.ReasonCode)
		}
		found := false
		for _, c := range b.Clients() {
			found = found || (c.ClientID == "alice" && c.Connected)
		}
		if !found {
			t.Fatalf("v%d: no session alice in %+v", v, b.Clients())
		}
		r.Send(&packet.Disconnect{})
		r.ExpectClosed(3 * time.Second)
		if ack := dialRaw(t, addr, v).Connect(&packet.Connect{ClientID: "x", CleanStart: true}); ack.ReasonCode != packet.NotAuthorized {
			t.Fatalf("v%d without a username: %v", v, ack.ReasonCode)
		}
	}
}

// upgrade_outgoing_qos: a QoS 0 message reaches a QoS 1 subscription at
// QoS 1 (against [MQTT-3.8.4-8], as asked).
func TestUpgradeOutgoingQoS(t *testing.T) {
	for _, up := range []bool{false, true} {
		_, addr := startBroker(t, func(o *Options) { o.UpgradeOutgoingQoS = up })
		sub := connectRaw(t, addr, packet.V311, "s")
		sub.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "q", QoS: 1})
		pub := connectRaw(t, addr, packet.V311, "p")
		pub.Send(&packet.Publish{Topic: "q", Payload: []byte("0")})
		want := byte(0)
		if up {
			want = 1
		}
		if p := sub.RecvPublish(); p.QoS != want {
			t.Fatalf("upgrade %v: QoS %d, want %d", up, p.QoS, want)
		}
	}
}

// switchAuthz denies bob publishing once revoked is set.
type switchAuthz struct{ revoked *atomic.Bool }

func (a switchAuthz) CanPublish(_ context.Context, c ClientInfo, _ string, _ byte, _ bool) bool {
	return c.Username != "bob" || !a.revoked.Load()
}
func (switchAuthz) CanSubscribe(context.Context, ClientInfo, string) bool { return true }
func (switchAuthz) CanRead(context.Context, ClientInfo, string) bool      { return true }

// check_retain_source: a retained message whose publisher lost the right
// to publish there is not sent to new subscribers (unless turned off).
func TestCheckRetainSource(t *testing.T) {
	for _, check := range []bool{true, false} {
		var revoked atomic.Bool
		_, addr := startBroker(t, func(o *Options) { o.Authorizer = switchAuthz{&revoked}; o.CheckRetainSource = check })
		bob := dialRaw(t, addr, packet.V311)
		bob.Connect(&packet.Connect{ClientID: "bob", CleanStart: true, UsernameFlag: true, Username: "bob"})
		bob.Send(&packet.Publish{Topic: "cfg", QoS: 1, PacketID: 1, Retain: true, Payload: []byte("old")})
		bob.Recv()
		revoked.Store(true) // as a reloaded ACL would
		s := connectRaw(t, addr, packet.V311, "s")
		s.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "cfg"})
		_, err := s.RecvErr(200 * time.Millisecond)
		if got := err == nil; got == check {
			t.Fatalf("check_retain_source %v: retained message delivered = %v", check, got)
		}
	}
}

func listenLocal(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// A listener's MaxConnections refuses connections beyond it at accept,
// counts only that listener's, gives a place back when a connection
// ends, and leaves the accepted ones on the event loop (Mosquitto's
// per-listener max_connections).
func TestListenerMaxConnections(t *testing.T) {
	b, plain := startBroker(t, nil)
	limited := serveMounted(t, b, ListenerConfig{MaxConnections: 2})
	one := connectRaw(t, limited, packet.V311, "one")
	connectRaw(t, limited, packet.V311, "two")
	third := dialRaw(t, limited, packet.V311)
	third.ExpectClosed(3 * time.Second)
	connectRaw(t, plain, packet.V311, "other-listener") // not counted there

	if !b.opts.BlockingIO {
		b.mu.Lock()
		for _, c := range b.conns.s {
			if _, ok := c.t.(*socketConn); !ok && c.info.Listener == ListenerKey(mustAddr(t, limited)) {
				t.Errorf("%s: transport %T, want the event loop's", c.info.ClientID, c.t)
			}
		}
		b.mu.Unlock()
	}

	one.NC.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		r := dialRaw(t, limited, packet.V311)
		r.Send(&packet.Connect{ProtocolName: "MQTT", ProtocolVersion: packet.V311, ClientID: "again", CleanStart: true})
		if _, err := r.RecvErr(2 * time.Second); err == nil {
			break // one's place was given back
		}
		if time.Now().After(deadline) {
			t.Fatal("a place never came back after a connection closed")
		}
	}
}

func mustAddr(t *testing.T, hostport string) net.Addr {
	t.Helper()
	a, err := net.ResolveTCPAddr("tcp", hostport)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
