package bench

import (
	"context"
	"crypto/tls"
	"net"

	"github.com/mqttkit/mqtt/mqtt/client"
)

// dial opens the transport named by server: tcp://host:port (or a bare host:port),
// tls://host:port, ws://host:port/path, wss://host:port/path or unix:///path.
//
// It is mqtt/client's transport dialer, so bench and the clients behind pub, sub and
// bridges reach brokers the same way (TLS server name, the websocket "mqtt" subprotocol
// and unlimited websocket messages); bench then speaks MQTT itself with mqtt/packet over
// the raw net.Conn, to keep the hot path at a few hundred nanoseconds per message.
func dial(ctx context.Context, server string, tlsCfg *tls.Config) (net.Conn, func(), error) {
	return client.DialConn(ctx, client.Options{Server: server, TLSConfig: tlsCfg})
}
