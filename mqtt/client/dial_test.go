package client

import (
	"context"
	"testing"
	"time"

	"github.com/mqttkit/mqtt/mqtt/packet"
)

// TestDialConnRaw: DialConn returns a bare transport on which the caller speaks MQTT itself,
// over every scheme Dial supports.
func TestDialConnRaw(t *testing.T) {
	m := startMosquitto(t)
	for name, o := range map[string]Options{
		"tcp":  {Server: m.TCP},
		"tcp:": {Server: "tcp://" + m.TCP},
		"ws":   {Server: "ws://" + m.WS + "/mqtt"},
		"tls":  {Server: "tls://" + m.TLS, TLSConfig: m.tlsConfig()},
	} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			nc, release, err := DialConn(ctx, o)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { nc.Close(); release() }()
			_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
			b, err := packet.Append(nil, &packet.Connect{ProtocolVersion: packet.V311, ClientID: "raw-" + name, CleanStart: true}, packet.V311)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := nc.Write(b); err != nil {
				t.Fatal(err)
			}
			p, err := packet.ReadPacket(nc, packet.V311, 0)
			if err != nil {
				t.Fatal(err)
			}
			if ca, ok := p.(*packet.Connack); !ok || ca.ReasonCode != 0 {
				t.Fatalf("got %#v, want an accepting CONNACK", p)
			}
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, _, err := DialConn(ctx, Options{Server: "gopher://x"}); err == nil {
		t.Fatal("unknown scheme dialed")
	}
}
