package bench

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mqttkit/mqtt/internal/testutil"
	"github.com/mqttkit/mqtt/mqtt/client"
	"github.com/mqttkit/mqtt/mqtt/sn"
)

// startSNGateway runs an MQTT-SN gateway in front of the broker at addr.
func startSNGateway(t *testing.T, addr string) string {
	t.Helper()
	g, err := sn.New(sn.Options{GatewayID: 1}, &sn.NetUpstream{Dial: client.Options{Server: addr}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	pc, err := sn.ListenUDP(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Start(context.Background(), pc); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	return pc.LocalAddr().String()
}

// Publishers speak MQTT-SN through a gateway, subscribers MQTT: every message arrives once,
// with its latency, at QoS 0, 1 and 2.
func TestSNPubSub(t *testing.T) {
	m := testutil.StartMosquitto(t)
	gw := startSNGateway(t, m.Addr)
	for _, tc := range []struct {
		name       string
		qos        byte
		pubs, subs int
		rate       float64
	}{
		{"fan-in qos0", 0, 3, 1, 2000},
		{"fan-out qos1", 1, 1, 3, 0},
		{"qos2", 2, 3, 2, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const n = 200
			rep := run(t, Config{Scenario: ScenarioPubSub, Server: m.Addr, SN: true, SNGateway: gw, QoS: tc.qos,
				Clients: tc.pubs, Subs: tc.subs, Count: n, Rate: tc.rate, IDPrefix: "sn" + tc.name[:4]})
			want := uint64(tc.pubs * n * tc.subs)
			msg := rep.Messages
			if msg.Sent != uint64(tc.pubs*n) || msg.Received != want || msg.Lost != 0 || msg.Duplicated != 0 {
				t.Fatalf("messages %+v, want %d received; errors %v", msg, want, rep.Errors)
			}
			if tc.qos > 0 && msg.Acked != msg.Sent {
				t.Fatalf("acked %d of %d", msg.Acked, msg.Sent)
			}
			if rep.Latency.Count != int64(want) || rep.Latency.P50 <= 0 {
				t.Fatalf("latency %+v", rep.Latency)
			}
			if rep.Connections.Connected != tc.pubs+tc.subs || rep.Config.SNGateway != gw || rep.Config.Inflight != 1 {
				t.Fatalf("connections %+v config %+v", rep.Connections, rep.Config)
			}
		})
	}
	// conn: MQTT-SN clients held, their CONNACK latency measured.
	rep := run(t, Config{Scenario: ScenarioConn, Server: m.Addr, SN: true, SNGateway: gw, Clients: 50, Duration: 100 * time.Millisecond})
	if rep.Connections.Connected != 50 || rep.Connections.Lost != 0 || rep.Connections.Connack.Count != 50 {
		t.Fatalf("connections %+v", rep.Connections)
	}
	var b strings.Builder
	if err := rep.WriteTable(&b); err != nil || !strings.Contains(b.String(), "via MQTT-SN gateway "+gw) {
		t.Fatalf("table %q %v", b.String(), err)
	}
}

// No gateway answering: every client fails, and the run says why.
func TestSNNoGateway(t *testing.T) {
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, err = Run(ctx, Config{Scenario: ScenarioConn, Server: "127.0.0.1:1", SN: true, SNGateway: pc.LocalAddr().String(), Clients: 2})
	if err == nil || !strings.Contains(err.Error(), "no answer from the gateway") {
		t.Fatalf("got %v", err)
	}
}

func TestSNValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Scenario: ScenarioSub, SN: true, SNGateway: "h:1"}, "subscribers stay MQTT"},
		{Config{Scenario: ScenarioPub, SN: true}, "--sn-gateway"},
		{Config{Scenario: ScenarioPub, SN: true, SNGateway: "h:1", Size: 70000}, "at most 65000 bytes with --sn"},
	} {
		c := tc.cfg
		c.Server = "127.0.0.1:1"
		c.setDefaults()
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want %q", tc.cfg, err, tc.want)
		}
	}
}
