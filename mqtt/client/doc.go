// Package client is an MQTT 3.1, 3.1.1 and 5.0 client: the one that
// `mqtt pub`, `mqtt sub`, the benchmark, bridges and the MQTT-SN gateway use.
//
// A Client is one network connection. Dial connects (TCP, TLS, unix socket,
// ws:// or wss:// with the "mqtt" subprotocol), sends CONNECT and returns once
// the server accepted it; a refusal is a *ConnectError carrying the CONNACK.
//
// Two goroutines serve a connection, both owned by the Client and stopped by
// Close or Disconnect: a reader that decodes packets, acknowledges inbound
// messages and calls Options.OnMessage in arrival order, and a writer that
// batches queued packets into as few writes as possible and sends PINGREQ
// when the connection has been idle for the keep alive.
//
// Publish waits for the acknowledgement (PUBACK at QoS 1, PUBCOMP at QoS 2);
// PublishAsync returns a Token as soon as the message is queued, so many
// messages can be in flight at once. The window is bounded by the server's
// Receive Maximum and by Options.MaxInflight.
//
// State that outlives a connection (unacknowledged outbound messages and
// inbound QoS 2 packet identifiers) lives in a Session. Pass the same
// Session to a later Dial with CleanStart false and unacknowledged messages
// are sent again with DUP set [MQTT-4.4.0-1].
package client
