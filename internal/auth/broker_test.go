package auth

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mqttkit/mqtt/internal/listener"
	"github.com/mqttkit/mqtt/internal/listener/testcerts"
	"github.com/mqttkit/mqtt/internal/testutil"
	"github.com/mqttkit/mqtt/mqtt/broker"
	"github.com/mqttkit/mqtt/mqtt/packet"
)

// writePasswords writes a $7$ password file of user:password pairs.
func writePasswords(t *testing.T, path string, pairs ...string) {
	t.Helper()
	pf := NewPasswordFile(path)
	for i := 0; i < len(pairs); i += 2 {
		h, err := HashPBKDF2(pairs[i+1], 101)
		if err != nil {
			t.Fatal(err)
		}
		if err := pf.Set(pairs[i], h); err != nil {
			t.Fatal(err)
		}
	}
	if err := pf.WriteFile(path); err != nil {
		t.Fatal(err)
	}
}

// fileAuthBroker starts a broker whose security is the given files (either may be "").
func fileAuthBroker(t *testing.T, pwPath, aclPath string, anonymous bool) (*FileAuth, string) {
	t.Helper()
	store, _, err := NewStore(pwPath, aclPath)
	if err != nil {
		t.Fatal(err)
	}
	fa := NewFileAuth(&ListenerSecurity{Name: "test listener", Files: store, AllowAnonymous: anonymous}, nil)
	fa.FailureDelay = time.Millisecond
	fa.MaxFailureDelay = 4 * time.Millisecond
	t.Cleanup(fa.Close)
	_, addr := startBroker(t, func(o *broker.Options) { o.Authenticator, o.Authorizer = fa, fa })
	return fa, addr
}

// startBroker runs a broker on a loopback port for one test.
func startBroker(t testing.TB, mod func(*broker.Options)) (*broker.Broker, string) {
	t.Helper()
	o := broker.DefaultOptions()
	o.Listeners = []string{"127.0.0.1:0"}
	o.SysInterval = 0
	if mod != nil {
		mod(&o)
	}
	b, err := broker.New(o, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b, b.Addrs()[0].String()
}

func login(user, pass string) *packet.Connect {
	return &packet.Connect{ClientID: "c-" + user, CleanStart: true, KeepAlive: 30,
		UsernameFlag: true, Username: user, PasswordFlag: true, Password: []byte(pass)}
}

func TestFileAuthPasswords(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "passwd")
	writePasswords(t, pw, "alice", "secret", "bob", "hunter2")
	_, addr := fileAuthBroker(t, pw, "", false)

	for _, v := range []byte{packet.V311, packet.V5} {
		cases := []struct {
			name string
			c    *packet.Connect
			want packet.ReasonCode
		}{
			{"right password", login("alice", "secret"), packet.Success},
			{"wrong password", login("alice", "nope"), packet.BadUserNameOrPassword},                 // 0x86 / 3.1.1 rc 4
			{"unknown user", login("mallory", "secret"), packet.BadUserNameOrPassword},               // same answer: no user enumeration
			{"other user's password", login("bob", "secret"), packet.BadUserNameOrPassword},          //
			{"anonymous", &packet.Connect{ClientID: "anon", CleanStart: true}, packet.NotAuthorized}, // 0x87 / rc 5
			{"username without password", &packet.Connect{ClientID: "np", CleanStart: true, UsernameFlag: true, Username: "alice"}, packet.BadUserNameOrPassword},
		}
		for _, tc := range cases {
			r := testutil.DialRaw(t, addr, v)
			ack := r.Connect(tc.c)
			if ack.ReasonCode != tc.want {
				t.Fatalf("v%d %s: CONNACK %v, want %v", v, tc.name, ack.ReasonCode, tc.want)
			}
			if tc.want != packet.Success {
				r.ExpectClosed(3 * time.Second)
			}
		}
	}
	// The 3.1.1 return codes on the wire: 4 (bad username or password) and 5 (not authorized).
	for _, tc := range []struct {
		c    *packet.Connect
		want byte
	}{{login("alice", "nope"), 4}, {&packet.Connect{ClientID: "anon", CleanStart: true}, 5}} {
		r := testutil.DialRaw(t, addr, packet.V311)
		tc.c.ProtocolVersion, tc.c.ProtocolName = packet.V311, "MQTT"
		r.Send(tc.c)
		var b [4]byte
		r.NC.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(r.BR, b[:]); err != nil {
			t.Fatal(err)
		}
		if b[0] != 0x20 || b[3] != tc.want {
			t.Fatalf("CONNACK bytes % x, want return code %d", b, tc.want)
		}
	}
}

func TestFileAuthAnonymousAndNoPasswordFile(t *testing.T) {
	// allow_anonymous true with a password file: anonymous clients in, wrong passwords still out.
	pw := filepath.Join(t.TempDir(), "passwd")
	writePasswords(t, pw, "alice", "secret")
	_, addr := fileAuthBroker(t, pw, "", true)
	testutil.ConnectRaw(t, addr, packet.V5, "anon")
	if ack := testutil.DialRaw(t, addr, packet.V5).Connect(login("alice", "x")); ack.ReasonCode != packet.BadUserNameOrPassword {
		t.Fatalf("wrong password with allow_anonymous: %v", ack.ReasonCode)
	}

	// No password file, allow_anonymous false: a username nobody can check is as
	// anonymous as none, refused as Mosquitto refuses it (5 / 0x87); with allow_anonymous
	// true it is accepted.
	_, addr = fileAuthBroker(t, "", "", false)
	for _, v := range []byte{packet.V311, packet.V5} {
		if ack := testutil.DialRaw(t, addr, v).Connect(login("invented", "x")); ack.ReasonCode != packet.NotAuthorized {
			t.Fatalf("v%d, username without a password file: %v, want Not authorized", v, ack.ReasonCode)
		}
		if ack := testutil.DialRaw(t, addr, v).Connect(&packet.Connect{ClientID: "anon", CleanStart: true}); ack.ReasonCode != packet.NotAuthorized {
			t.Fatalf("v%d, anonymous: %v", v, ack.ReasonCode)
		}
	}
	_, addr = fileAuthBroker(t, "", "", true)
	if ack := testutil.DialRaw(t, addr, packet.V311).Connect(login("anyone", "")); ack.ReasonCode != packet.Success {
		t.Fatalf("username without a password file, allow_anonymous true: %v", ack.ReasonCode)
	}
}

// A reloaded ACL applies to messages already queued: those the new rules
// deny are not delivered (RulesVersion makes the broker check again).
func TestFileAuthReloadAppliesToQueuedMessages(t *testing.T) {
	dir := t.TempDir()
	pw, aclPath := filepath.Join(dir, "passwd"), filepath.Join(dir, "acl")
	writePasswords(t, pw, "alice", "a", "bob", "b")
	if err := os.WriteFile(aclPath, []byte(brokerTestACL), 0o600); err != nil {
		t.Fatal(err)
	}
	store, _, err := NewStore(pw, aclPath)
	if err != nil {
		t.Fatal(err)
	}
	fa := NewFileAuth(&ListenerSecurity{Name: "test listener", Files: store}, nil)
	t.Cleanup(fa.Close)
	b, addr := startBroker(t, func(o *broker.Options) { o.Authenticator, o.Authorizer = fa, fa })
	alice := testutil.DialRaw(t, addr, packet.V311)
	c := login("alice", "a")
	c.CleanStart = false
	alice.Connect(c)
	alice.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "sensors/#", QoS: 1})
	alice.NC.Close()
	// Queued, not in flight: the messages must find alice offline (sent
	// ones go again as they were sent [MQTT-4.4.0-1]).
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		offline := true
		for _, cs := range b.Clients() {
			if cs.ClientID == "alice" && cs.Connected {
				offline = false
			}
		}
		if offline {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("alice still connected 5 s after closing")
		}
	}
	bob := testutil.DialRaw(t, addr, packet.V311)
	bob.Connect(login("bob", "b"))
	for i := range 3 {
		bob.Send(&packet.Publish{Topic: "sensors/temp", QoS: 1, PacketID: uint16(i + 1), Payload: []byte("21")})
		bob.Recv()
	}
	// alice loses sensors/temp; her queue holds three such messages.
	if err := os.WriteFile(aclPath, []byte("user alice\ntopic read sensors/other\nuser bob\ntopic write sensors/#\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := fa.Reload(); err != nil {
		t.Fatal(err)
	}
	alice = testutil.DialRaw(t, addr, packet.V311)
	if ack := alice.Connect(c); !ack.SessionPresent {
		t.Fatal("alice's session is gone")
	}
	bob.Send(&packet.Publish{Topic: "sensors/other", QoS: 1, PacketID: 9, Payload: []byte("allowed")})
	bob.Recv()
	if p := alice.RecvPublish(); p.Topic != "sensors/other" {
		t.Fatalf("alice got %q queued under the old rules", p.Topic)
	}
}

const brokerTestACL = `# anonymous: nothing
user alice
topic readwrite sensors/#
topic deny sensors/secret
topic read public/#
user bob
topic write sensors/#
topic readwrite public/#
pattern readwrite home/%u/#
`

func TestFileAuthACL(t *testing.T) {
	dir := t.TempDir()
	pw, aclPath := filepath.Join(dir, "passwd"), filepath.Join(dir, "acl")
	writePasswords(t, pw, "alice", "a", "bob", "b")
	if err := os.WriteFile(aclPath, []byte(brokerTestACL), 0o600); err != nil {
		t.Fatal(err)
	}
	fa, addr := fileAuthBroker(t, pw, aclPath, false)
	if !fa.HasACL() {
		t.Fatal("HasACL false with an acl_file")
	}
	for _, v := range []byte{packet.V311, packet.V5} {
		alice := testutil.DialRaw(t, addr, v)
		if ack := alice.Connect(login("alice", "a")); ack.ReasonCode != 0 {
			t.Fatal(ack.ReasonCode)
		}
		bob := testutil.DialRaw(t, addr, v)
		if ack := bob.Connect(login("bob", "b")); ack.ReasonCode != 0 {
			t.Fatal(ack.ReasonCode)
		}
		denied := packet.NotAuthorized // SUBACK 0x87
		if v != packet.V5 {
			denied = packet.UnspecifiedError // 3.1.1 SUBACK 0x80
		}
		sa := alice.Subscribe(1, packet.Properties{},
			packet.Subscription{Filter: "sensors/#", QoS: 1},
			packet.Subscription{Filter: "#", QoS: 1},
			packet.Subscription{Filter: "home/alice/#", QoS: 1},
			packet.Subscription{Filter: "home/bob/#", QoS: 1},
			packet.Subscription{Filter: "sensors/secret", QoS: 1})
		want := []packet.ReasonCode{1, denied, 1, denied, denied}
		for i, rc := range sa.ReasonCodes {
			if rc != want[i] {
				t.Fatalf("v%d SUBACK %v, want %v", v, sa.ReasonCodes, want)
			}
		}
		// bob publishes to a topic alice may read, then to the one denied to her: the
		// wildcard subscription must deliver the first only.
		bob.Send(&packet.Publish{Topic: "sensors/secret", QoS: 1, PacketID: 1, Payload: []byte("leak")})
		bob.Recv()
		bob.Send(&packet.Publish{Topic: "sensors/temp", QoS: 1, PacketID: 2, Payload: []byte("21")})
		bob.Recv()
		if p := alice.RecvPublish(); p.Topic != "sensors/temp" {
			t.Fatalf("v%d alice got %q (%s) through sensors/#", v, p.Topic, p.Payload)
		}
		// alice may not write public/#: v5 PUBACK 0x87, v3 PUBACK and the message dropped.
		bobSub := bob.Subscribe(2, packet.Properties{}, packet.Subscription{Filter: "public/#"})
		if bobSub.ReasonCodes[0] != 0 {
			t.Fatalf("bob public/#: %v", bobSub.ReasonCodes)
		}
		alice.Send(&packet.Publish{Topic: "public/news", QoS: 1, PacketID: 3, Payload: []byte("no")})
		ack, ok := alice.Recv().(*packet.Puback)
		if !ok {
			t.Fatal("expected PUBACK")
		}
		if v == packet.V5 && ack.ReasonCode != packet.NotAuthorized {
			t.Fatalf("v5 denied publish: PUBACK %v, want 0x87", ack.ReasonCode)
		}
		// %u: alice writes to home/alice, bob cannot read it.
		alice.Send(&packet.Publish{Topic: "home/alice/lamp", Payload: []byte("on")})
		if p := alice.RecvPublish(); p.Topic != "home/alice/lamp" {
			t.Fatalf("home/alice: %q", p.Topic)
		}
		bob.ExpectNothing(100 * time.Millisecond)
		alice.NC.Close()
		bob.NC.Close()
	}
}

// A reload swaps the ACL in for connections already open; a reload that fails keeps the old
// rules and names FILE:LINE.
func TestFileAuthReload(t *testing.T) {
	dir := t.TempDir()
	pw, aclPath := filepath.Join(dir, "passwd"), filepath.Join(dir, "acl")
	writePasswords(t, pw, "alice", "a")
	if err := os.WriteFile(aclPath, []byte("user alice\ntopic read a/#\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fa, addr := fileAuthBroker(t, pw, aclPath, false)
	alice := testutil.DialRaw(t, addr, packet.V5)
	alice.Connect(login("alice", "a"))
	if sa := alice.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "b/#"}); sa.ReasonCodes[0] != packet.NotAuthorized {
		t.Fatalf("before reload: %v", sa.ReasonCodes)
	}
	if err := os.WriteFile(aclPath, []byte("user alice\ntopic readwrite b/#\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := fa.Reload(); err != nil {
		t.Fatal(err)
	}
	if sa := alice.Subscribe(2, packet.Properties{}, packet.Subscription{Filter: "b/#"}); sa.ReasonCodes[0] != 0 {
		t.Fatalf("after reload: %v", sa.ReasonCodes)
	}
	alice.Send(&packet.Publish{Topic: "b/1", Payload: []byte("x")})
	if p := alice.RecvPublish(); p.Topic != "b/1" {
		t.Fatal(p.Topic)
	}

	if err := os.WriteFile(aclPath, []byte("user alice\ntopic readwrite b/#\ntopic bogus c\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := fa.Reload()
	if err == nil || !strings.Contains(err.Error(), aclPath+":3") {
		t.Fatalf("bad ACL reload: %v, want %s:3", err, aclPath)
	}
	if sa := alice.Subscribe(3, packet.Properties{}, packet.Subscription{Filter: "b/#"}); sa.ReasonCodes[0] != 0 {
		t.Fatalf("a failed reload changed the rules: %v", sa.ReasonCodes)
	}
	// Password changes apply to new connections; the open one stays.
	writePasswords(t, pw, "alice", "new")
	if _, err := fa.Reload(); err == nil {
		t.Fatal("the bad ACL should still fail the reload")
	}
	if err := os.WriteFile(aclPath, []byte("user alice\ntopic readwrite b/#\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := fa.Reload(); err != nil {
		t.Fatal(err)
	}
	if ack := testutil.DialRaw(t, addr, packet.V5).Connect(login("alice", "a")); ack.ReasonCode != packet.BadUserNameOrPassword {
		t.Fatalf("old password after reload: %v", ack.ReasonCode)
	}
	second := login("alice", "new")
	second.ClientID = "alice-2" // not a takeover of the open connection
	if ack := testutil.DialRaw(t, addr, packet.V5).Connect(second); ack.ReasonCode != 0 {
		t.Fatalf("new password after reload: %v", ack.ReasonCode)
	}
	alice.Send(&packet.Pingreq{})
	if p := alice.Recv(); p.Type() != packet.PINGRESP {
		t.Fatalf("the open connection did not survive the reloads: got %T %+v", p, p)
	}
}

// use_identity_as_username: the certificate's CN is the username for the ACL; without a
// certificate the client is refused. Also checks per-listener security through Bind.
func TestFileAuthIdentityAsUsername(t *testing.T) {
	ca := testcerts.New(t, "ca")
	aclPath := filepath.Join(t.TempDir(), "acl")
	if err := os.WriteFile(aclPath, []byte("user client1\ntopic readwrite dev/#\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	store, _, err := NewStore("", aclPath)
	if err != nil {
		t.Fatal(err)
	}
	fa := NewFileAuth(nil, nil)
	t.Cleanup(fa.Close)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tlsLn, err := listener.Open(ctx, listener.Spec{Network: "tcp4", Address: "127.0.0.1:0", TLS: &listener.TLSSpec{
		CAFile: ca.CAFile, CertFile: ca.ServerCert, KeyFile: ca.ServerKey, RequireCertificate: true}})
	if err != nil {
		t.Fatal(err)
	}
	if err := fa.Bind(tlsLn, &ListenerSecurity{Name: "tls", Files: store, IdentityAsUsername: true}); err != nil {
		t.Fatal(err)
	}
	b, _ := startBroker(t, func(o *broker.Options) { o.Authenticator, o.Authorizer = fa, fa })
	go b.ServeListener(ctx, tlsLn)

	cert, err := tls.LoadX509KeyPair(ca.ClientCert, ca.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	dial := func(certs []tls.Certificate) *testutil.Raw {
		t.Helper()
		nc, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", tlsLn.Addr().String(),
			&tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1", Certificates: certs})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { nc.Close() })
		return testutil.NewRaw(t, nc, packet.V5)
	}
	r := dial([]tls.Certificate{cert})
	if ack := r.Connect(&packet.Connect{ClientID: "x", CleanStart: true, UsernameFlag: true, Username: "someone-else"}); ack.ReasonCode != 0 {
		t.Fatalf("client certificate: %v", ack.ReasonCode)
	}
	sa := r.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "dev/#"}, packet.Subscription{Filter: "other/#"})
	if sa.ReasonCodes[0] != 0 || sa.ReasonCodes[1] != packet.NotAuthorized {
		t.Fatalf("ACL by certificate CN: %v", sa.ReasonCodes)
	}
	// A listener that takes the username from a certificate it never gets refuses the client.
	plainLn, err := listener.Open(ctx, listener.Spec{Network: "tcp4", Address: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if err := fa.Bind(plainLn, &ListenerSecurity{Name: "plain", Files: store, IdentityAsUsername: true}); err != nil {
		t.Fatal(err)
	}
	go b.ServeListener(ctx, plainLn)
	if ack := testutil.DialRaw(t, plainLn.Addr().String(), packet.V5).Connect(&packet.Connect{ClientID: "y", CleanStart: true}); ack.ReasonCode != packet.BadUserNameOrPassword {
		t.Fatalf("no client certificate: %v, want 0x86", ack.ReasonCode)
	}

	// Two listeners on one port must agree.
	if err := fa.Bind(tlsLn, &ListenerSecurity{Name: "other", AllowAnonymous: true}); err == nil {
		t.Fatal("Bind accepted different settings for the same port")
	}
	open := &ListenerSecurity{Name: "open", AllowAnonymous: true}
	if err := fa.Rebind([]net.Listener{plainLn, plainLn}, []*ListenerSecurity{open, {Name: "closed"}}); err == nil {
		t.Fatal("Rebind accepted different settings for the same port")
	}
	if ack := testutil.DialRaw(t, plainLn.Addr().String(), packet.V5).Connect(&packet.Connect{ClientID: "z", CleanStart: true}); ack.ReasonCode != packet.BadUserNameOrPassword {
		t.Fatalf("a failed Rebind changed the rules: %v", ack.ReasonCode)
	}
	if err := fa.Rebind([]net.Listener{tlsLn, plainLn, nil}, []*ListenerSecurity{open, open, nil}); err != nil {
		t.Fatal(err)
	}
	if ack := testutil.DialRaw(t, plainLn.Addr().String(), packet.V5).Connect(&packet.Connect{ClientID: "z", CleanStart: true}); ack.ReasonCode != 0 {
		t.Fatalf("after Rebind: %v", ack.ReasonCode)
	}
}

func TestFailureDelayGrowsAndIsBounded(t *testing.T) {
	fa := NewFileAuth(nil, nil)
	now := time.Now()
	var got []time.Duration
	for i := 0; i < 8; i++ {
		got = append(got, fa.recordFailure("192.0.2.1", "alice", now))
	}
	want := []time.Duration{100, 200, 400, 800, 1600, 3000, 3000, 3000}
	for i := range want {
		if got[i] != want[i]*time.Millisecond {
			t.Fatalf("delays %v, want %v ms", got, want)
		}
	}
	if d := fa.recordFailure("192.0.2.2", "alice", now); d != 100*time.Millisecond {
		t.Fatalf("another address: %v", d)
	}
	// alice's typos do not slow bob down on the same host...
	if d := fa.recordFailure("192.0.2.1", "bob", now); d != 100*time.Millisecond {
		t.Fatalf("another user from the same address: %v", d)
	}
	// ...but a scan of usernames from one address is slowed once it passes ipFreeFailures.
	for i := 0; i < ipFreeFailures; i++ {
		fa.recordFailure("192.0.2.3", fmt.Sprint("user", i), now)
	}
	if d := fa.recordFailure("192.0.2.3", "another", now); d != 100*time.Millisecond {
		t.Fatalf("failure %d from one address: %v", ipFreeFailures+1, d)
	}
	if d := fa.recordFailure("192.0.2.3", "yet-another", now); d != 200*time.Millisecond {
		t.Fatalf("failure %d from one address: %v", ipFreeFailures+2, d)
	}
	if d := fa.recordFailure("192.0.2.1", "alice", now.Add(11*time.Minute)); d != 100*time.Millisecond {
		t.Fatalf("after the window: %v", d)
	}
	if d := fa.recordFailure("", "alice", now); d != 0 {
		t.Fatalf("unix socket peer: %v", d)
	}
	for i := 0; i < maxFailureRecords+50; i++ {
		fa.recordFailure(net.IPv4(10, byte(i>>16), byte(i>>8), byte(i)).String(), "u", now.Add(time.Duration(i)))
	}
	if n := len(fa.failures); n > maxFailureRecords {
		t.Fatalf("%d failure records, bound %d", n, maxFailureRecords)
	}
}

// Failures are logged (at debug level: the broker's notice is Mosquitto's line) with the client
// id and address, never the password.
func TestFileAuthLogsFailures(t *testing.T) {
	pw := filepath.Join(t.TempDir(), "passwd")
	writePasswords(t, pw, "alice", "secret")
	store, _, err := NewStore(pw, "")
	if err != nil {
		t.Fatal(err)
	}
	h := &testutil.LogLines{Level: slog.LevelDebug}
	fa := NewFileAuth(&ListenerSecurity{Name: "l", Files: store}, slog.New(h))
	fa.FailureDelay = time.Millisecond
	t.Cleanup(fa.Close)
	_, addr := startBroker(t, func(o *broker.Options) { o.Authenticator = fa })
	r := testutil.DialRaw(t, addr, packet.V311)
	c := login("alice", "TopSecretGuess")
	c.ClientID = "probe-7"
	r.Connect(c)
	found := false
	for _, l := range h.Lines() {
		if strings.Contains(l, "TopSecretGuess") {
			t.Fatalf("password in the log: %q", l)
		}
		if strings.Contains(l, "probe-7") && strings.Contains(l, "127.0.0.1:") && strings.Contains(l, "Authentication failed") {
			found = true
		}
	}
	if !found {
		t.Fatalf("no failure line with client id and address in %q", h.Lines())
	}
}

// BenchmarkFileAuthCanRead is the per-delivery cost an acl_file adds.
func BenchmarkFileAuthCanRead(b *testing.B) {
	aclPath := filepath.Join(b.TempDir(), "acl")
	if err := os.WriteFile(aclPath, []byte(brokerTestACL), 0o600); err != nil {
		b.Fatal(err)
	}
	store, _, err := NewStore("", aclPath)
	if err != nil {
		b.Fatal(err)
	}
	fa := NewFileAuth(&ListenerSecurity{Files: store}, nil)
	info := broker.ClientInfo{ClientID: "c1", Username: "alice", HasUsername: true, Listener: "1883"}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if !fa.CanRead(ctx, info, "sensors/room1/temp") {
			b.Fatal("denied")
		}
	}
}
