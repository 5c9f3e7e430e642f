// Package client is an MQTT 3.1, 3.1.1 and 5.0 client: the one that
// `mqtt pub`, `mqtt sub`, the benchmark, bridges and the MQTT-SN gateway use.
//
// A Client is one network connection. Dial connects (TCP, TLS, unix socket,
// ws:// or wss:// with the "mqtt" subprotocol), sends CONNECT and returns once
// the server accepted it; a refusal is a *ConnectError carrying the CONNACK.
//
// Up to three goroutines serve a connection, all owned by the Client and
// stopped by Close or Disconnect: a reader that decodes packets, acknowledges
// inbound messages and calls Options.OnMessage in arrival order; a writer
// that batches queued packets into as few writes as possible, each write
// under a deadline (Options.WriteTimeout); and, with keep alive on, a keep
// alive loop that sends PINGREQ when nothing was written for half the keep
// alive and ends the connection with ErrKeepAliveTimeout when a PINGREQ goes
// unanswered, or a write is stuck, for the keep alive. It is separate from
// the writer so that a server that stops reading, which blocks the writer on
// a full socket, is still noticed.
//
// Every call that can block takes a context and returns its error when it
// ends first: waiting for a place in the inflight window, for room in the
// write buffer (Options.WriteBufferLimit, full when the server does not
// read), or for an acknowledgement. A publish given up on this way is not
// sent.
//
// DialConn opens the same transports without speaking MQTT, for programs
// that encode packets themselves.
//
// Publish waits for the acknowledgement (PUBACK at QoS 1, PUBCOMP at QoS 2);
// PublishAsync returns a Token as soon as the message is queued, so many
// messages can be in flight at once. The window is bounded by the server's
// Receive Maximum and by Options.MaxInflight.
//
// SubscribeAsync and UnsubscribeAsync likewise return once the packet is
// queued. Batch holds what its function queues until it returns, so the
// server answers none of it before the last packet is queued: libmosquitto's
// order for packets sent from its connect callback (mosquitto_sub -d -U).
//
// State that outlives a connection (unacknowledged outbound messages and
// inbound QoS 2 packet identifiers) lives in a Session. Pass the same
// Session to a later Dial with CleanStart false and unacknowledged messages
// are sent again with DUP set [MQTT-4.4.0-1].
package client
