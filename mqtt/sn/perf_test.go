package sn

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/mqttkit/mqtt/internal/testutil"
	"github.com/mqttkit/mqtt/mqtt/broker"
	"github.com/mqttkit/mqtt/mqtt/client"
)

// TestPerfGateway serves a broker on $MQTT_SN_PERF_BROKER with an MQTT-SN gateway on
// $MQTT_SN_PERF_GATEWAY (embedded, or with MQTT_SN_PERF_STANDALONE=1 over TCP) for
// $MQTT_SN_PERF_FOR (default 30s), so that `go test -run TestPerfGateway -cpuprofile` profiles
// them while `mqtt bench --sn` drives them from another process. Skipped unless the
// addresses are set.
func TestPerfGateway(t *testing.T) {
	baddr, gaddr := os.Getenv("MQTT_SN_PERF_BROKER"), os.Getenv("MQTT_SN_PERF_GATEWAY")
	if baddr == "" || gaddr == "" {
		t.Skip("set MQTT_SN_PERF_BROKER=127.0.0.1:PORT and MQTT_SN_PERF_GATEWAY=127.0.0.1:PORT to profile")
	}
	d, err := time.ParseDuration(os.Getenv("MQTT_SN_PERF_FOR"))
	if err != nil {
		d = 30 * time.Second
	}
	o := broker.DefaultOptions()
	o.Listeners = []string{baddr}
	b, err := broker.New(o, slog.New(&testutil.LogLines{}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var up Upstream = &BrokerUpstream{Broker: b}
	if os.Getenv("MQTT_SN_PERF_STANDALONE") != "" {
		up = &NetUpstream{Dial: client.Options{Server: baddr}}
	}
	g, err := New(Options{}, up, nil)
	if err != nil {
		t.Fatal(err)
	}
	pc, err := ListenUDP(ctx, gaddr)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Serve(ctx, pc); err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", g.Stats())
}
