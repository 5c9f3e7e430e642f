package config

import (
	"bytes"
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mqttkit/mqtt/internal/listener/testcerts"
	"github.com/mqttkit/mqtt/internal/testutil"
	"github.com/mqttkit/mqtt/mqtt/broker"
	"github.com/mqttkit/mqtt/mqtt/packet"
)

// behaviourTests names, for every directive the table marks honoured (Supported or
// Deprecated), the test that shows its effect over a socket: a broker started from a file with
// the directive and driven by a real client. Tests in other packages are named with theirs.
// TestEveryHonouredDirectiveHasBehaviourTest fails for a directive missing here: give it a
// test, or mark it Pending or Ignored in directives.go so that it is warned about.
var behaviourTests = map[string]string{
	"per_listener_settings":        "TestBehaviourPerListenerSettings",
	"include_dir":                  "TestBehaviourIncludeDir",
	"listener":                     "TestBehaviourIncludeDir",
	"max_inflight_messages":        "TestBehaviourInflightAndReceiveMaximum",
	"max_inflight_bytes":           "TestBehaviourMaxInflightBytes",
	"max_queued_messages":          "TestBehaviourQueueLimits",
	"max_queued_bytes":             "TestBehaviourQueueLimits",
	"queue_qos0_messages":          "TestBehaviourQueueQoS0",
	"message_size_limit":           "TestBehaviourSizeLimits",
	"memory_limit":                 "TestBehaviourMemoryLimit",
	"mount_point":                  "TestBehaviourMountPointAndUsernameAsClientID",
	"use_username_as_clientid":     "TestBehaviourMountPointAndUsernameAsClientID",
	"upgrade_outgoing_qos":         "TestBehaviourUpgradeOutgoingQoS",
	"check_retain_source":          "internal/cli TestServeConfigCheckRetainSource",
	"max_packet_size":              "TestBehaviourSizeLimits",
	"max_keepalive":                "TestBehaviourConnackProperties",
	"retain_available":             "TestBehaviourConnackProperties",
	"max_qos":                      "TestBehaviourConnackProperties",
	"maximum_qos":                  "TestBehaviourConnackProperties",
	"max_topic_alias":              "TestBehaviourConnackProperties",
	"sys_interval":                 "TestBehaviourSysInterval",
	"persistent_client_expiration": "TestBehaviourPersistentClientExpiration",
	"persistence":                  "internal/cli TestServeConfigPersistence",
	"persistence_file":             "internal/cli TestServeConfigPersistence",
	"persistence_location":         "internal/cli TestServeConfigPersistence",
	"topic_alias_outbound":         "TestBehaviourTopicAliasOutbound",
	"protocol":                     "TestServeConfiguredListeners",
	"socket_domain":                "TestBehaviourSocketDomainAndBind",
	"bind_interface":               "TestBehaviourSocketDomainAndBind",
	"port":                         "TestBehaviourSocketDomainAndBind",
	"bind_address":                 "TestBehaviourSocketDomainAndBind",
	"max_connections":              "TestBehaviourMaxConnections",
	"cafile":                       "TestServeConfiguredListeners",
	"certfile":                     "TestServeConfiguredListeners",
	"keyfile":                      "TestServeConfiguredListeners",
	"capath":                       "TestBehaviourTLSClientCertificates",
	"require_certificate":          "TestBehaviourTLSClientCertificates",
	"use_identity_as_username":     "TestBehaviourTLSClientCertificates",
	"use_subject_as_username":      "TestBehaviourTLSClientCertificates",
	"crlfile":                      "internal/cli TestServeConfigCRL",
	"tls_version":                  "TestBehaviourTLSVersionAndCiphers",
	"ciphers":                      "TestBehaviourTLSVersionAndCiphers",
	"tls_keyform":                  "TestBehaviourTLSVersionAndCiphers",
	"allow_anonymous":              "TestBehaviourPerListenerSettings",
	"password_file":                "internal/cli TestServeConfigEndToEnd",
	"acl_file":                     "internal/cli TestServeConfigEndToEnd",
	"allow_zero_length_clientid":   "TestBehaviourClientIDs",
	"auto_id_prefix":               "TestBehaviourClientIDs",
	"allow_duplicate_messages":     "TestBehaviourOverlappingSubscriptions",
	"log_dest":                     "internal/cli TestServeConfigEndToEnd, TestServeConfigSyslogUnavailable",
	"log_type":                     "internal/cli TestServeConfigLogging",
	"log_timestamp":                "internal/cli TestServeConfigLogging",
	"log_timestamp_format":         "internal/cli TestServeConfigLogging",
	"log_facility":                 "internal/cli TestSyslogFacility",
	"connection_messages":          "internal/cli TestServeConfigEndToEnd",
	"pid_file":                     "internal/cli TestServeConfigEndToEnd",
	"user":                         "internal/cli TestServeConfigDropsPrivileges",
	"sn_gateway_id":                "internal/cli TestServeConfigSNListener",
	"sn_advertise_interval":        "internal/cli TestServeConfigSNListener",
	"sn_advertise_to":              "internal/cli TestServeConfigSNListener",
	"sn_predefined":                "internal/cli TestServeConfigSNListener",
	"sn_retry_interval":            "internal/cli TestServeConfigSNListener",
	"sn_max_retries":               "internal/cli TestServeConfigSNListener",
	"sn_max_message_size":          "internal/cli TestServeConfigSNListener",
}

func TestEveryHonouredDirectiveHasBehaviourTest(t *testing.T) {
	for _, d := range Directives() {
		honoured := d.Status == Supported || d.Status == Deprecated
		_, listed := behaviourTests[d.Name]
		switch {
		case honoured && !listed:
			t.Errorf("%s is marked %s but no behavioural test is listed for it", d.Name, d.Status)
		case !honoured && listed:
			t.Errorf("%s is %s but listed as tested: move it to Supported", d.Name, d.Status)
		}
	}
}

// connectV5 connects an MQTT 5 client and returns it with its CONNACK.
func connectV5(t *testing.T, addr string, c *packet.Connect) (*testutil.Raw, *packet.Connack) {
	t.Helper()
	r := testutil.DialRaw(t, addr, packet.V5)
	return r, r.Connect(c)
}

func TestBehaviourPerListenerSettings(t *testing.T) {
	// Anonymous clients allowed on the first listener only.
	r := serveText(t, "per_listener_settings true\n"+lport(t)+"allow_anonymous true\n"+lport(t), nil)
	if _, ack := connectV5(t, r.addr(0), &packet.Connect{ClientID: "a", CleanStart: true}); ack.ReasonCode != packet.Success {
		t.Errorf("listener with allow_anonymous true: CONNACK %v", ack.ReasonCode)
	}
	if _, ack := connectV5(t, r.addr(1), &packet.Connect{ClientID: "b", CleanStart: true}); ack.ReasonCode != packet.NotAuthorized {
		t.Errorf("listener without: CONNACK %v, want not authorized", ack.ReasonCode)
	}
	// Without per_listener_settings, allow_anonymous under the second listener applies to both.
	r = serveText(t, lport(t)+lport(t)+"allow_anonymous true\n", nil)
	if _, ack := connectV5(t, r.addr(0), &packet.Connect{ClientID: "c", CleanStart: true}); ack.ReasonCode != packet.Success {
		t.Errorf("global allow_anonymous: CONNACK %v", ack.ReasonCode)
	}
}

func TestBehaviourIncludeDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "10-listener.conf"), []byte(lport(t)), 0o600); err != nil {
		t.Fatal(err)
	}
	r := serveText(t, "allow_anonymous true\ninclude_dir "+dir+"\n", nil)
	if len(r.addrs) != 1 {
		t.Fatalf("listeners %v", r.addrs)
	}
	testutil.ConnectRaw(t, r.addr(0), packet.V311, "inc")
}

func TestBehaviourInflightAndReceiveMaximum(t *testing.T) {
	r := serveText(t, lport(t)+"allow_anonymous true\nmax_inflight_messages 3\n", nil)
	sub, ack := connectV5(t, r.addr(0), &packet.Connect{ClientID: "sub", CleanStart: true})
	if !ack.Properties.HasReceiveMaximum || ack.Properties.ReceiveMaximum != 3 {
		t.Errorf("CONNACK Receive Maximum %v %d, want 3", ack.Properties.HasReceiveMaximum, ack.Properties.ReceiveMaximum)
	}
	sub.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "q/#", QoS: 1})
	pub := testutil.ConnectRaw(t, r.addr(0), packet.V311, "pub")
	for i := 1; i <= 5; i++ {
		pub.Send(&packet.Publish{Topic: "q/x", QoS: 1, PacketID: uint16(i), Payload: []byte{byte(i)}})
		if _, ok := pub.Recv().(*packet.Puback); !ok {
			t.Fatal("no PUBACK")
		}
	}
	// Three unacknowledged deliveries, then nothing until one is acknowledged.
	var ids []uint16
	for range 3 {
		ids = append(ids, sub.RecvPublish().PacketID)
	}
	sub.ExpectNothing(300 * time.Millisecond)
	sub.Send(&packet.Puback{PacketID: ids[0]})
	if p := sub.RecvPublish(); p.Payload[0] != 4 {
		t.Errorf("after one PUBACK got message %d, want 4", p.Payload[0])
	}

	// Inbound: a fourth unreleased QoS 2 message breaks the Receive Maximum of 3.
	in, _ := connectV5(t, r.addr(0), &packet.Connect{ClientID: "in", CleanStart: true})
	for i := 1; i <= 4; i++ {
		in.Send(&packet.Publish{Topic: "in/x", QoS: 2, PacketID: uint16(i)})
	}
	got := in.ExpectClosed(5 * time.Second)
	last, ok := got[len(got)-1].(*packet.Disconnect)
	if !ok || last.ReasonCode != packet.ReceiveMaximumExceeded {
		t.Errorf("fourth QoS 2 publish: got %+v, want DISCONNECT 0x93", got)
	}

	// Default: 20.
	r = serveText(t, lport(t)+"allow_anonymous true\n", nil)
	if _, ack := connectV5(t, r.addr(0), &packet.Connect{ClientID: "d", CleanStart: true}); ack.Properties.ReceiveMaximum != 20 {
		t.Errorf("default Receive Maximum %d, want 20", ack.Properties.ReceiveMaximum)
	}
}

// max_inflight_bytes: QoS 1 messages go to a client while fewer payload bytes than the
// limit are unacknowledged (so one larger than it goes alone), the rest wait for PUBACKs.
func TestBehaviourMaxInflightBytes(t *testing.T) {
	r := serveText(t, lport(t)+"allow_anonymous true\nmax_inflight_bytes 100\n", nil)
	sub := testutil.ConnectRaw(t, r.addr(0), packet.V311, "sub")
	sub.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "q", QoS: 1})
	pub := testutil.ConnectRaw(t, r.addr(0), packet.V311, "pub")
	for i, size := range []int{60, 30, 20, 500, 10} {
		pub.Send(&packet.Publish{Topic: "q", QoS: 1, PacketID: uint16(i + 1), Payload: bytes.Repeat([]byte{byte(i)}, size)})
		if _, ok := pub.Recv().(*packet.Puback); !ok {
			t.Fatal("no PUBACK")
		}
	}
	// 60, 30 (90 < 100), 20 (110): three in flight, then nothing until acknowledged.
	var ids []uint16
	for want := range 3 {
		p := sub.RecvPublish()
		if int(p.Payload[0]) != want {
			t.Fatalf("got message %d, want %d", p.Payload[0], want)
		}
		ids = append(ids, p.PacketID)
	}
	sub.ExpectNothing(300 * time.Millisecond)
	for _, id := range ids {
		sub.Send(&packet.Puback{PacketID: id})
	}
	// 500 bytes, more than the limit: alone.
	big := sub.RecvPublish()
	if len(big.Payload) != 500 {
		t.Fatalf("got %d bytes, want the 500-byte message", len(big.Payload))
	}
	sub.ExpectNothing(300 * time.Millisecond)
	sub.Send(&packet.Puback{PacketID: big.PacketID})
	if p := sub.RecvPublish(); p.Payload[0] != 4 {
		t.Fatalf("last: got message %d, want 4", p.Payload[0])
	}
}

// queued delivers n QoS 1 messages to an offline persistent session and returns how many
// arrive when it comes back.
func queued(t *testing.T, text string, n int, payload int) int {
	t.Helper()
	r := serveText(t, lport(t)+"allow_anonymous true\n"+text, nil)
	sub := testutil.DialRaw(t, r.addr(0), packet.V311)
	sub.Connect(&packet.Connect{ClientID: "offline", KeepAlive: 30})
	sub.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "q/#", QoS: 1})
	sub.Send(&packet.Disconnect{})
	sub.NC.Close()
	r.waitOffline(t, "offline")
	pub := testutil.ConnectRaw(t, r.addr(0), packet.V311, "pub")
	for i := 1; i <= n; i++ {
		pub.Send(&packet.Publish{Topic: "q/x", QoS: 1, PacketID: uint16(i), Payload: make([]byte, payload)})
		if _, ok := pub.Recv().(*packet.Puback); !ok {
			t.Fatal("no PUBACK")
		}
	}
	back := testutil.DialRaw(t, r.addr(0), packet.V311)
	back.Connect(&packet.Connect{ClientID: "offline", KeepAlive: 30})
	got := 0
	for {
		p, err := back.RecvErr(500 * time.Millisecond)
		if err != nil {
			return got
		}
		if pp, ok := p.(*packet.Publish); ok {
			got++
			back.Send(&packet.Puback{PacketID: pp.PacketID})
		}
	}
}

func TestBehaviourQueueLimits(t *testing.T) {
	if got := queued(t, "max_queued_messages 4\n", 10, 1); got != 4 {
		t.Errorf("max_queued_messages 4: %d of 10 queued messages delivered", got)
	}
	if got := queued(t, "max_queued_bytes 1000\n", 10, 300); got < 2 || got > 4 {
		t.Errorf("max_queued_bytes 1000 with 300-byte payloads: %d of 10 delivered, want about 3", got)
	}
	if got := queued(t, "", 10, 300); got != 10 {
		t.Errorf("defaults: %d of 10 delivered", got)
	}
}

func TestBehaviourQueueQoS0(t *testing.T) {
	for _, on := range []bool{false, true} {
		text := ""
		if on {
			text = "queue_qos0_messages true\n"
		}
		r := serveText(t, lport(t)+"allow_anonymous true\n"+text, nil)
		sub := testutil.DialRaw(t, r.addr(0), packet.V311)
		sub.Connect(&packet.Connect{ClientID: "offline", KeepAlive: 30})
		sub.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "q/#", QoS: 1})
		sub.Send(&packet.Disconnect{})
		sub.NC.Close()
		r.waitOffline(t, "offline")
		pub := testutil.ConnectRaw(t, r.addr(0), packet.V311, "pub")
		pub.Send(&packet.Publish{Topic: "q/x", Payload: []byte("qos0")})
		pub.Send(&packet.Pingreq{})
		pub.Recv() // PINGRESP: the publish before it has been routed
		back := testutil.DialRaw(t, r.addr(0), packet.V311)
		back.Connect(&packet.Connect{ClientID: "offline", KeepAlive: 30})
		_, err := back.RecvErr(500 * time.Millisecond)
		if got := err == nil; got != on {
			t.Errorf("queue_qos0_messages %v: QoS 0 message kept for the offline session = %v", on, got)
		}
	}
}

// mount_point and use_username_as_clientid on one listener: its client publishes under the
// prefix, seen from a plain listener; its session is named by its username.
func TestBehaviourMountPointAndUsernameAsClientID(t *testing.T) {
	r := serveText(t, lport(t)+"allow_anonymous true\n"+lport(t)+"mount_point site1/\nuse_username_as_clientid true\n", nil)
	outside := testutil.ConnectRaw(t, r.addr(0), packet.V311, "outside")
	outside.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "#"})
	in := testutil.DialRaw(t, r.addr(1), packet.V311)
	if ack := in.Connect(&packet.Connect{ClientID: "whatever", CleanStart: true, UsernameFlag: true, Username: "alice"}); ack.ReasonCode != 0 {
		t.Fatalf("CONNACK %v", ack.ReasonCode)
	}
	in.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "cmd"})
	in.Send(&packet.Publish{Topic: "temp", Payload: []byte("21")})
	if p := outside.RecvPublish(); p.Topic != "site1/temp" {
		t.Fatalf("mount_point: published as %q", p.Topic)
	}
	outside.Send(&packet.Publish{Topic: "site1/cmd", Payload: []byte("on")})
	outside.RecvPublish()
	if p := in.RecvPublish(); p.Topic != "cmd" {
		t.Fatalf("mount_point: delivered as %q", p.Topic)
	}
	// A second connection with the same username takes the session over, whatever its id.
	in2 := testutil.DialRaw(t, r.addr(1), packet.V311)
	in2.Connect(&packet.Connect{ClientID: "other", CleanStart: true, UsernameFlag: true, Username: "alice"})
	in.ExpectClosed(3 * time.Second)
	if ack := testutil.DialRaw(t, r.addr(1), packet.V311).Connect(&packet.Connect{ClientID: "anon", CleanStart: true}); ack.ReasonCode != packet.NotAuthorized {
		t.Fatalf("use_username_as_clientid without a username: %v", ack.ReasonCode)
	}
}

// upgrade_outgoing_qos true: a QoS 0 message reaches a QoS 1 subscription at QoS 1.
func TestBehaviourUpgradeOutgoingQoS(t *testing.T) {
	r := serveText(t, lport(t)+"allow_anonymous true\nupgrade_outgoing_qos true\n", nil)
	sub := testutil.ConnectRaw(t, r.addr(0), packet.V311, "s")
	sub.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "q", QoS: 1})
	pub := testutil.ConnectRaw(t, r.addr(0), packet.V311, "p")
	pub.Send(&packet.Publish{Topic: "q", Payload: []byte("0")})
	if p := sub.RecvPublish(); p.QoS != 1 {
		t.Fatalf("QoS %d, want 1", p.QoS)
	}
}

// memory_limit: once queued messages reach it, an MQTT 5 publisher's
// next message is refused with 0x97 Quota exceeded.
func TestBehaviourMemoryLimit(t *testing.T) {
	r := serveText(t, lport(t)+"allow_anonymous true\nmemory_limit 200000\n", nil)
	sub := testutil.DialRaw(t, r.addr(0), packet.V311)
	sub.Connect(&packet.Connect{ClientID: "offline", KeepAlive: 30})
	sub.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "m", QoS: 1})
	sub.NC.Close()
	pub, _ := connectV5(t, r.addr(0), &packet.Connect{ClientID: "pub", CleanStart: true})
	payload := make([]byte, 10_000)
	for i := range 40 { // 400 KB offered to the offline session
		pub.Send(&packet.Publish{Topic: "m", QoS: 1, PacketID: uint16(i + 1), Payload: payload})
		if ack := pub.Recv().(*packet.Puback); ack.ReasonCode == packet.QuotaExceeded {
			return
		}
	}
	t.Fatal("memory_limit 200000: 400 KB queued without a refusal")
}

func TestBehaviourSizeLimits(t *testing.T) {
	r := serveText(t, lport(t)+"allow_anonymous true\nmessage_size_limit 100\nmax_packet_size 1000\n", nil)
	c, ack := connectV5(t, r.addr(0), &packet.Connect{ClientID: "big", CleanStart: true})
	if ack.Properties.MaximumPacketSize != 1000 {
		t.Errorf("CONNACK Maximum Packet Size %d, want 1000", ack.Properties.MaximumPacketSize)
	}
	c.Send(&packet.Publish{Topic: "t", QoS: 1, PacketID: 1, Payload: make([]byte, 101)})
	if a, ok := c.Recv().(*packet.Puback); !ok || a.ReasonCode != packet.ImplementationSpecificError {
		t.Errorf("payload over message_size_limit: %+v, want PUBACK 0x83", a)
	}
	c.Send(&packet.Publish{Topic: "t", QoS: 1, PacketID: 2, Payload: make([]byte, 100)})
	if a, ok := c.Recv().(*packet.Puback); !ok || a.ReasonCode >= 0x80 {
		t.Errorf("payload at message_size_limit: %+v", a)
	}
	c.Send(&packet.Publish{Topic: "t", QoS: 0, Payload: make([]byte, 1000)})
	got := c.ExpectClosed(5 * time.Second)
	if len(got) == 0 || got[len(got)-1].(*packet.Disconnect).ReasonCode != packet.PacketTooLarge {
		t.Errorf("packet over max_packet_size: %+v, want DISCONNECT 0x95", got)
	}
}

func TestBehaviourConnackProperties(t *testing.T) {
	r := serveText(t, lport(t)+"allow_anonymous true\nmax_keepalive 30\nretain_available false\nmax_qos 1\nmax_topic_alias 3\n"+
		lport(t)+"maximum_qos 1\nmax_topic_alias 3\n", nil)
	c, ack := connectV5(t, r.addr(0), &packet.Connect{ClientID: "p", CleanStart: true, KeepAlive: 0})
	p := ack.Properties
	if !p.HasServerKeepAlive || p.ServerKeepAlive != 30 {
		t.Errorf("max_keepalive 30: Server Keep Alive %v %d", p.HasServerKeepAlive, p.ServerKeepAlive)
	}
	if !p.HasRetainAvailable || p.RetainAvailable != 0 {
		t.Errorf("retain_available false: Retain Available %v %d", p.HasRetainAvailable, p.RetainAvailable)
	}
	if !p.HasMaximumQoS || p.MaximumQoS != 1 {
		t.Errorf("max_qos 1: Maximum QoS %v %d", p.HasMaximumQoS, p.MaximumQoS)
	}
	if p.TopicAliasMaximum != 3 {
		t.Errorf("max_topic_alias 3: Topic Alias Maximum %d", p.TopicAliasMaximum)
	}
	if sa := c.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "a", QoS: 2}); sa.ReasonCodes[0] != packet.GrantedQoS1 {
		t.Errorf("max_qos 1: SUBACK %v", sa.ReasonCodes)
	}
	// maximum_qos, Mosquitto's other spelling, on the second listener.
	c2 := testutil.DialRaw(t, r.addr(1), packet.V311)
	c2.Connect(&packet.Connect{ClientID: "p2", CleanStart: true})
	if sa := c2.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "a", QoS: 2}); sa.ReasonCodes[0] != packet.GrantedQoS1 {
		t.Errorf("maximum_qos 1: SUBACK %v", sa.ReasonCodes)
	}

	// They are listener settings: each listener answers with its own.
	r = serveText(t, lport(t)+"allow_anonymous true\nmax_qos 0\nmax_topic_alias 0\n"+lport(t)+"max_topic_alias 7\n", nil)
	_, ack = connectV5(t, r.addr(0), &packet.Connect{ClientID: "l0", CleanStart: true})
	if p := ack.Properties; !p.HasMaximumQoS || p.MaximumQoS != 0 || p.HasTopicAliasMaximum {
		t.Errorf("listener with max_qos 0, max_topic_alias 0: CONNACK %+v", p)
	}
	c, ack = connectV5(t, r.addr(1), &packet.Connect{ClientID: "l1", CleanStart: true})
	if p := ack.Properties; p.HasMaximumQoS || p.TopicAliasMaximum != 7 {
		t.Errorf("listener with defaults and max_topic_alias 7: CONNACK %+v", p)
	}
	if sa := c.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "a", QoS: 2}); sa.ReasonCodes[0] != packet.GrantedQoS2 {
		t.Errorf("second listener's max_qos is its own (2): SUBACK %v", sa.ReasonCodes)
	}
}

func TestBehaviourSysInterval(t *testing.T) {
	r := serveText(t, lport(t)+"allow_anonymous true\nsys_interval 1\n", nil)
	c := testutil.ConnectRaw(t, r.addr(0), packet.V311, "sys")
	c.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "$SYS/broker/uptime"})
	c.RecvPublish() // retained snapshot
	start := time.Now()
	c.RecvPublish() // the next period's
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("sys_interval 1: next $SYS update after %v", d)
	}

	r = serveText(t, lport(t)+"allow_anonymous true\nsys_interval 0\n", nil)
	c = testutil.ConnectRaw(t, r.addr(0), packet.V311, "nosys")
	c.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "$SYS/#"})
	c.ExpectNothing(1500 * time.Millisecond)
}

func TestBehaviourPersistentClientExpiration(t *testing.T) {
	// The directive's units start at an hour: check the mapping, then run the broker with
	// the same option shortened so the expiry can be seen.
	text := lport(t) + "allow_anonymous true\npersistent_client_expiration 1h\n"
	r := serveText(t, text, func(o *broker.Options) {
		if o.PersistentClientExpiration != time.Hour {
			t.Errorf("persistent_client_expiration 1h: option %v", o.PersistentClientExpiration)
		}
		o.PersistentClientExpiration = 300 * time.Millisecond
	})
	c := testutil.DialRaw(t, r.addr(0), packet.V311)
	c.Connect(&packet.Connect{ClientID: "old", KeepAlive: 30})
	c.Send(&packet.Disconnect{})
	c.NC.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c = testutil.DialRaw(t, r.addr(0), packet.V311)
		ack := c.Connect(&packet.Connect{ClientID: "old", KeepAlive: 30})
		if !ack.SessionPresent {
			return // expired
		}
		c.Send(&packet.Disconnect{})
		c.NC.Close()
		if time.Now().After(deadline) {
			t.Fatal("the persistent session never expired")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestBehaviourTopicAliasOutbound(t *testing.T) {
	for _, on := range []bool{false, true} {
		text := lport(t) + "allow_anonymous true\n"
		if on {
			text += "topic_alias_outbound true\n"
		}
		r := serveText(t, text, nil)
		sub, _ := connectV5(t, r.addr(0), &packet.Connect{ClientID: "s", CleanStart: true,
			Properties: packet.Properties{TopicAliasMaximum: 10, HasTopicAliasMaximum: true}})
		sub.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "long/topic/name"})
		pub := testutil.ConnectRaw(t, r.addr(0), packet.V311, "p")
		aliased := false
		for range 2 {
			pub.Send(&packet.Publish{Topic: "long/topic/name", Payload: []byte("x")})
			if p := sub.RecvPublish(); p.Properties.HasTopicAlias {
				aliased = true
			}
		}
		if aliased != on {
			t.Errorf("topic_alias_outbound %v: aliases sent = %v", on, aliased)
		}
	}
}

func TestBehaviourSocketDomainAndBind(t *testing.T) {
	p := testutil.FreePort(t)
	r := serveText(t, "allow_anonymous true\nlistener "+strconv.Itoa(p)+"\nsocket_domain ipv4\n", nil)
	testutil.ConnectRaw(t, "127.0.0.1:"+strconv.Itoa(p), packet.V311, "v4")
	if ln, err := net.Listen("tcp6", "[::1]:0"); err == nil {
		ln.Close()
		if c, err := net.DialTimeout("tcp6", "[::1]:"+strconv.Itoa(p), time.Second); err == nil {
			c.Close()
			t.Error("socket_domain ipv4: the listener accepts IPv6")
		}
	}
	_ = r

	lo := loopbackName(t)
	r = serveText(t, "allow_anonymous true\nlistener "+strconv.Itoa(testutil.FreePort(t))+"\nbind_interface "+lo+"\nsocket_domain ipv4\n", nil)
	if a := r.addrs[0].(*net.TCPAddr); !a.IP.IsLoopback() {
		t.Errorf("bind_interface %s: listening on %v", lo, a)
	}
	testutil.ConnectRaw(t, r.addr(0), packet.V311, "lo")

	// The deprecated port and bind_address configure the default listener.
	p = testutil.FreePort(t)
	r = serveText(t, "allow_anonymous true\nport "+strconv.Itoa(p)+"\nbind_address 127.0.0.1\n", nil)
	if r.addr(0) != "127.0.0.1:"+strconv.Itoa(p) {
		t.Errorf("port/bind_address: listening on %v", r.addrs)
	}
	testutil.ConnectRaw(t, r.addr(0), packet.V311, "dep")
}

func TestBehaviourMaxConnections(t *testing.T) {
	r := serveText(t, lport(t)+"allow_anonymous true\nmax_connections 1\n", nil)
	testutil.ConnectRaw(t, r.addr(0), packet.V311, "first")
	second := testutil.DialRaw(t, r.addr(0), packet.V311)
	second.Send(&packet.Connect{ProtocolName: "MQTT", ProtocolVersion: packet.V311, ClientID: "second", CleanStart: true})
	if got := second.ExpectClosed(5 * time.Second); len(got) != 0 {
		t.Errorf("max_connections 1: the second connection got %+v", got)
	}
}

// tlsRaw connects over TLS with cfg and sends CONNECT; it returns the CONNACK, or the error.
func tlsRaw(t *testing.T, addr string, cfg *tls.Config, c *packet.Connect) (*testutil.Raw, *packet.Connack, error) {
	t.Helper()
	d := &net.Dialer{Timeout: 5 * time.Second}
	nc, err := tls.DialWithDialer(d, "tcp", addr, cfg)
	if err != nil {
		return nil, nil, err
	}
	t.Cleanup(func() { nc.Close() })
	r := testutil.NewRaw(t, nc, packet.V5)
	c.ProtocolName, c.ProtocolVersion = "MQTT", packet.V5
	r.Send(c)
	p, err := r.RecvErr(5 * time.Second)
	if err != nil {
		return r, nil, err
	}
	ack, _ := p.(*packet.Connack)
	return r, ack, nil
}

func TestBehaviourTLSClientCertificates(t *testing.T) {
	ca := testcerts.New(t, "ca")
	capath := filepath.Join(t.TempDir(), "certs")
	if err := os.Mkdir(capath, 0o755); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(ca.CAFile)
	if err := os.WriteFile(filepath.Join(capath, "ca.pem"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	acl := filepath.Join(t.TempDir(), "acl")
	if err := os.WriteFile(acl, []byte("user client1\ntopic write cn/#\nuser CN=client1,O=Acme,C=GB\ntopic write subject/#\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tlsLines := "certfile " + ca.ServerCert + "\nkeyfile " + ca.ServerKey + "\ncapath " + capath + "\nrequire_certificate true\n"
	r := serveText(t, "acl_file "+acl+"\n"+lport(t)+tlsLines+"use_identity_as_username true\n"+lport(t)+tlsLines+"use_subject_as_username true\n", nil)

	cert, err := tls.LoadX509KeyPair(ca.ClientCert, ca.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	with := &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost", Certificates: []tls.Certificate{cert}}
	without := &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost"}

	// require_certificate with capath: no certificate, no connection.
	if _, ack, err := tlsRaw(t, r.addr(0), without, &packet.Connect{ClientID: "x", CleanStart: true}); err == nil && ack != nil {
		t.Error("require_certificate: a client without a certificate connected")
	}
	for i, allowed := range []string{"cn/x", "subject/x"} {
		c, ack, err := tlsRaw(t, r.addr(i), with, &packet.Connect{ClientID: "c", CleanStart: true})
		if err != nil || ack == nil || ack.ReasonCode != packet.Success {
			t.Fatalf("listener %d: client certificate refused: %v %+v", i, err, ack)
		}
		denied := []string{"subject/x", "cn/x"}[i]
		for j, topic := range []string{allowed, denied} {
			c.Send(&packet.Publish{Topic: topic, QoS: 1, PacketID: uint16(j + 1)})
			a, ok := c.Recv().(*packet.Puback)
			if !ok || (j == 0) != (a.ReasonCode < 0x80) {
				t.Errorf("listener %d (%s): publish to %s: %+v", i, []string{"use_identity_as_username", "use_subject_as_username"}[i], topic, a)
			}
		}
	}
}

func TestBehaviourTLSVersionAndCiphers(t *testing.T) {
	ca := testcerts.New(t, "ca")
	tlsLines := "certfile " + ca.ServerCert + "\nkeyfile " + ca.ServerKey + "\ntls_keyform pem\n"
	r := serveText(t, "allow_anonymous true\n"+lport(t)+tlsLines+"tls_version tlsv1.3\n"+
		lport(t)+tlsLines+"tls_version tlsv1.2\nciphers ECDHE-ECDSA-AES128-GCM-SHA256\n", nil)
	base := &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost"}

	v12 := base.Clone()
	v12.MaxVersion = tls.VersionTLS12
	if _, ack, err := tlsRaw(t, r.addr(0), v12, &packet.Connect{ClientID: "a", CleanStart: true}); err == nil && ack != nil {
		t.Error("tls_version tlsv1.3: a TLS 1.2 client connected")
	}
	if _, ack, err := tlsRaw(t, r.addr(0), base, &packet.Connect{ClientID: "b", CleanStart: true}); err != nil || ack == nil {
		t.Errorf("tls_version tlsv1.3 (and tls_keyform pem): a TLS 1.3 client failed: %v", err)
	}

	other := v12.Clone()
	other.CipherSuites = []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384}
	if _, ack, err := tlsRaw(t, r.addr(1), other, &packet.Connect{ClientID: "c", CleanStart: true}); err == nil && ack != nil {
		t.Error("ciphers: a client offering only another cipher connected")
	}
	same := v12.Clone()
	same.CipherSuites = []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}
	if _, ack, err := tlsRaw(t, r.addr(1), same, &packet.Connect{ClientID: "d", CleanStart: true}); err != nil || ack == nil {
		t.Errorf("ciphers: a client offering the configured cipher failed: %v", err)
	}
}

func TestBehaviourClientIDs(t *testing.T) {
	r := serveText(t, lport(t)+"allow_anonymous true\nauto_id_prefix dev-\n", nil)
	_, ack := connectV5(t, r.addr(0), &packet.Connect{CleanStart: true})
	if !strings.HasPrefix(ack.Properties.AssignedClientID, "dev-") {
		t.Errorf("auto_id_prefix dev-: assigned %q", ack.Properties.AssignedClientID)
	}
	r = serveText(t, lport(t)+"allow_anonymous true\nallow_zero_length_clientid false\n", nil)
	c := testutil.DialRaw(t, r.addr(0), packet.V311)
	if ack := c.Connect(&packet.Connect{CleanStart: true}); ack.ReasonCode != packet.ClientIdentifierNotValid {
		t.Errorf("allow_zero_length_clientid false: CONNACK %v, want identifier rejected", ack.ReasonCode)
	}

	// With per_listener_settings each listener has its own.
	r = serveText(t, "per_listener_settings true\n"+lport(t)+"allow_anonymous true\nauto_id_prefix one-\n"+
		lport(t)+"allow_anonymous true\nallow_zero_length_clientid false\n", nil)
	if _, ack := connectV5(t, r.addr(0), &packet.Connect{CleanStart: true}); !strings.HasPrefix(ack.Properties.AssignedClientID, "one-") {
		t.Errorf("first listener's auto_id_prefix one-: assigned %q", ack.Properties.AssignedClientID)
	}
	c = testutil.DialRaw(t, r.addr(1), packet.V311)
	if ack := c.Connect(&packet.Connect{CleanStart: true}); ack.ReasonCode != packet.ClientIdentifierNotValid {
		t.Errorf("second listener's allow_zero_length_clientid false: CONNACK %v", ack.ReasonCode)
	}
}

// allow_duplicate_messages is deprecated in Mosquitto 2.0 and has no effect there: a client
// whose subscriptions overlap gets a message once (mosquitto 2.0.11 checked with
// mosquitto_sub -t 'a/#' -t a/b).
func TestBehaviourOverlappingSubscriptions(t *testing.T) {
	r := serveText(t, lport(t)+"allow_anonymous true\nallow_duplicate_messages true\n", nil)
	c := testutil.ConnectRaw(t, r.addr(0), packet.V311, "dup")
	c.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "a/#"}, packet.Subscription{Filter: "a/b"})
	pub := testutil.ConnectRaw(t, r.addr(0), packet.V311, "pub")
	pub.Send(&packet.Publish{Topic: "a/b", Payload: []byte("x")})
	c.RecvPublish()
	c.ExpectNothing(500 * time.Millisecond)
}
