package broker

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mqttkit/mqtt/internal/testutil"
	"github.com/mqttkit/mqtt/mqtt/packet"
)

// $SYS: retained snapshot at subscribe, exact counts, only changed values
// re-published, '#' does not match $SYS topics [MQTT-4.7.2-1].
func TestSys(t *testing.T) {
	_, addr := startBroker(t, func(o *Options) { o.SysInterval = 300 * time.Millisecond })
	all := connectRaw(t, addr, packet.V311, "all")
	all.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "#"})
	time.Sleep(400 * time.Millisecond) // at least one $SYS round
	all.ExpectNothing(100 * time.Millisecond)

	s := connectRaw(t, addr, packet.V311, "sys")
	s.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "$SYS/broker/#"})
	got := map[string]string{}
	for len(got) < 53 { // 26 values + 9 loads × 3
		p := s.RecvPublish()
		if !p.Retain {
			t.Fatalf("snapshot %s not retained", p.Topic)
		}
		got[p.Topic] = string(p.Payload)
	}
	for _, name := range []string{"version", "uptime", "clients/connected", "clients/total", "clients/maximum",
		"messages/received", "messages/sent", "bytes/received", "retained messages/count", "subscriptions/count",
		"publish/messages/received", "load/messages/received/1min", "load/bytes/sent/15min", "heap/current"} {
		if _, ok := got["$SYS/broker/"+name]; !ok {
			t.Errorf("missing $SYS/broker/%s", name)
		}
	}
	if got["$SYS/broker/version"] != "mqtt version test" || !strings.HasSuffix(got["$SYS/broker/uptime"], " seconds") {
		t.Fatalf("version/uptime: %q %q", got["$SYS/broker/version"], got["$SYS/broker/uptime"])
	}
	// Wait for a round that sees both clients connected.
	deadline := time.Now().Add(3 * time.Second)
	for (got["$SYS/broker/clients/connected"] != "2" || got["$SYS/broker/subscriptions/count"] != "2") && time.Now().Before(deadline) {
		p := s.RecvPublish()
		got[p.Topic] = string(p.Payload)
	}
	if got["$SYS/broker/clients/connected"] != "2" || got["$SYS/broker/subscriptions/count"] != "2" {
		t.Fatalf("connected %q subscriptions %q", got["$SYS/broker/clients/connected"], got["$SYS/broker/subscriptions/count"])
	}
	// Unchanged values are not re-published: version never comes again.
	end := time.Now().Add(700 * time.Millisecond)
	for time.Now().Before(end) {
		p, err := s.RecvErr(time.Until(end))
		if err != nil {
			break
		}
		if pub, ok := p.(*packet.Publish); ok && pub.Topic == "$SYS/broker/version" {
			t.Fatal("unchanged version re-published")
		}
	}
	all.ExpectNothing(100 * time.Millisecond)
}

// Authentication hook: refused clients get the hook's reason (3.x: the
// mapped return code) and are closed.
type passwordAuth struct{ AllowAll }

func (passwordAuth) Authenticate(_ context.Context, c ConnectInfo) packet.ReasonCode {
	if c.Username == "u" && string(c.Password) == "p" {
		return packet.Success
	}
	return packet.BadUserNameOrPassword
}

func TestAuthenticator(t *testing.T) {
	_, addr := startBroker(t, func(o *Options) { o.Authenticator = passwordAuth{} })
	for _, v := range []byte{packet.V311, packet.V5} {
		r := dialRaw(t, addr, v)
		if ack := r.Connect(&packet.Connect{ClientID: "x", CleanStart: true, UsernameFlag: true, Username: "u", PasswordFlag: true, Password: []byte("bad")}); ack.ReasonCode != packet.BadUserNameOrPassword {
			t.Fatalf("v%d: %v", v, ack.ReasonCode)
		}
		r.ExpectClosed(3 * time.Second)
		r = dialRaw(t, addr, v)
		if ack := r.Connect(&packet.Connect{ClientID: "x", CleanStart: true, UsernameFlag: true, Username: "u", PasswordFlag: true, Password: []byte("p")}); ack.ReasonCode != 0 {
			t.Fatalf("v%d: %v", v, ack.ReasonCode)
		}
	}
}

// Enhanced authentication (MQTT 5 §4.12): a challenge/response through
// AUTH packets, then re-authentication; an unknown method gets 0x8C.
type challengeAuth struct{ AllowAll }

func (challengeAuth) AuthStep(_ context.Context, _ ConnectInfo, method string, data []byte, state *any) ([]byte, packet.ReasonCode) {
	if method != "CHAL" {
		return nil, packet.BadAuthenticationMethod
	}
	if *state == nil {
		*state = "challenged"
		return []byte("prove it"), packet.ContinueAuthentication
	}
	if string(data) == "proof" {
		return []byte("welcome"), packet.Success
	}
	return nil, packet.NotAuthorized
}

func TestV5EnhancedAuth(t *testing.T) {
	_, addr := startBroker(t, func(o *Options) { o.Authenticator = challengeAuth{} })
	r := dialRaw(t, addr, packet.V5)
	r.Send(&packet.Connect{ProtocolName: "MQTT", ProtocolVersion: 5, ClientID: "ea", CleanStart: true,
		Properties: packet.Properties{AuthMethod: "CHAL", AuthData: []byte("hello")}})
	a, ok := r.Recv().(*packet.Auth)
	if !ok || a.ReasonCode != packet.ContinueAuthentication || string(a.Properties.AuthData) != "prove it" {
		t.Fatalf("want AUTH 0x18, got %+v", a)
	}
	r.Send(&packet.Auth{ReasonCode: packet.ContinueAuthentication, Properties: packet.Properties{AuthMethod: "CHAL", AuthData: []byte("proof")}})
	ack, ok := r.Recv().(*packet.Connack)
	if !ok || ack.ReasonCode != 0 || ack.Properties.AuthMethod != "CHAL" || string(ack.Properties.AuthData) != "welcome" {
		t.Fatalf("CONNACK %+v", ack)
	}
	// Re-authentication [MQTT-4.12.1-1].
	r.Send(&packet.Auth{ReasonCode: packet.ReAuthenticate, Properties: packet.Properties{AuthMethod: "CHAL"}})
	if a := r.Recv().(*packet.Auth); a.ReasonCode != packet.ContinueAuthentication {
		t.Fatalf("re-auth: %+v", a)
	}
	r.Send(&packet.Auth{ReasonCode: packet.ContinueAuthentication, Properties: packet.Properties{AuthMethod: "CHAL", AuthData: []byte("proof")}})
	if a := r.Recv().(*packet.Auth); a.ReasonCode != packet.Success {
		t.Fatalf("re-auth: %+v", a)
	}

	r = dialRaw(t, addr, packet.V5)
	ack = r.Connect(&packet.Connect{ClientID: "eb", CleanStart: true, Properties: packet.Properties{AuthMethod: "OTHER"}})
	if ack.ReasonCode != packet.BadAuthenticationMethod {
		t.Fatalf("unknown method: %v", ack.ReasonCode)
	}
	// Without an enhanced authenticator any method is refused.
	_, addr2 := startBroker(t, nil)
	r = dialRaw(t, addr2, packet.V5)
	if ack := r.Connect(&packet.Connect{ClientID: "ec", CleanStart: true, Properties: packet.Properties{AuthMethod: "CHAL"}}); ack.ReasonCode != packet.BadAuthenticationMethod {
		t.Fatalf("no hook: %v", ack.ReasonCode)
	}
}

// Request Response Information [MQTT-3.1.2-28]: Response Information is
// sent only when requested.
func TestV5ResponseInformation(t *testing.T) {
	_, addr := startBroker(t, func(o *Options) { o.ResponseInformation = "responses/%c" })
	r := dialRaw(t, addr, packet.V5)
	ack := r.Connect(&packet.Connect{ClientID: "rr", CleanStart: true, Properties: packet.Properties{RequestResponseInfo: 1, HasRequestResponseInfo: true}})
	if ack.Properties.ResponseInfo != "responses/rr" {
		t.Fatalf("response info %q", ack.Properties.ResponseInfo)
	}
	r = dialRaw(t, addr, packet.V5)
	if ack := r.Connect(&packet.Connect{ClientID: "rs", CleanStart: true}); ack.Properties.ResponseInfo != "" {
		t.Fatal("response info not requested but sent")
	}
}

// Log lines follow `mosquitto -v`.
func TestVerboseLogLines(t *testing.T) {
	b, addr := startBroker(t, nil)
	r := dialRaw(t, addr, packet.V311)
	r.Connect(&packet.Connect{ClientID: "logcid", CleanStart: true, KeepAlive: 60})
	r.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "a/b"})
	r.Send(&packet.Disconnect{})
	r.ExpectClosed(3 * time.Second)
	h := b.log.Handler().(*testutil.LogLines)
	want := []string{"New connection from 127.0.0.1:", "New client connected from 127.0.0.1:", " as logcid (p2, c1, k60).", "logcid 0 a/b", "Client logcid disconnected."}
	deadline := time.Now().Add(2 * time.Second)
	for {
		text := strings.Join(h.Lines(), "\n")
		missing := ""
		for _, w := range want {
			if !strings.Contains(text, w) {
				missing = w
			}
		}
		if missing == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("log lacks %q:\n%s", missing, text)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// $SYS/broker/store/messages/bytes counts the bytes (topic and payload) of what
// store/messages/count counts, retained messages ($SYS's included, as Mosquitto's) among them:
// it stayed 0 when only retained messages were stored.
func TestSysStoreBytes(t *testing.T) {
	_, addr := startBroker(t, func(o *Options) { o.SysInterval = 100 * time.Millisecond })
	pub := connectRaw(t, addr, packet.V311, "pub")
	pub.Send(&packet.Publish{Topic: "r/a", Retain: true, QoS: 1, PacketID: 1, Payload: []byte("hello")})
	pub.Recv()
	s := connectRaw(t, addr, packet.V311, "sys")
	s.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "$SYS/broker/store/messages/#"})
	got := map[string]string{}
	deadline := time.Now().Add(5 * time.Second)
	for {
		count, _ := strconv.Atoi(got["$SYS/broker/store/messages/count"])
		bytes, _ := strconv.Atoi(got["$SYS/broker/store/messages/bytes"])
		if count >= 1 && bytes >= len("r/ahello") {
			return
		}
		p, err := s.RecvErr(time.Until(deadline))
		if err != nil {
			t.Fatalf("store/messages: %v, want the bytes of the messages counted (%v)", got, err)
		}
		if pub, ok := p.(*packet.Publish); ok {
			got[pub.Topic] = string(pub.Payload)
		}
	}
}

// A PUBLISH that uses a topic alias is logged with the topic the alias
// stands for, as Mosquitto logs it, not with an empty topic.
func TestVerboseLogTopicAlias(t *testing.T) {
	b, h := startBrokerLogging(t, slog.LevelDebug, nil)
	r := connectRaw(t, b.Addrs()[0].String(), packet.V5, "al")
	r.Send(&packet.Publish{Topic: "ta/one", Payload: []byte("1"), Properties: packet.Properties{TopicAlias: 1, HasTopicAlias: true}})
	r.Send(&packet.Publish{Payload: []byte("2"), Properties: packet.Properties{TopicAlias: 1, HasTopicAlias: true}})
	r.Send(&packet.Pingreq{})
	r.Recv()
	text := strings.Join(h.Lines(), "\n")
	if n := strings.Count(text, "Received PUBLISH from al (d0, q0, r0, m0, 'ta/one', ... (1 bytes))"); n != 2 {
		t.Fatalf("%d lines with the topic, want 2:\n%s", n, text)
	}
}
