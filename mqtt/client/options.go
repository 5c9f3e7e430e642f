package client

import (
	"context"
	"crypto/tls"
	"net"
	"time"

	"github.com/mqttkit/mqtt/mqtt/packet"
)

// Options configures Dial. Only Server (or Dialer) is required: the rest
// defaults to MQTT 3.1.1, no keep alive, and a session that is not clean.
type Options struct {
	// Server names the broker as a URL: tcp://host:port (also mqtt://),
	// tls://host:port (also mqtts://, ssl://), ws://host:port/path,
	// wss://host:port/path, or unix:///path/to/socket. A bare "host:port"
	// means tcp. Ignored when Dialer is set.
	Server string

	// TLSConfig is used for tls:// and wss:// (nil: system roots).
	TLSConfig *tls.Config

	// Dialer, when set, makes the network connection instead of Server.
	Dialer func(ctx context.Context) (net.Conn, error)

	// LocalAddr binds the outgoing TCP socket (mosquitto's -A). Ignored
	// when NetDial is set.
	LocalAddr string

	// NetDial, when set, opens the TCP connection that tcp://, tls://, ws://
	// and wss:// run over (TLS and the websocket are still done by the
	// client): a SOCKS proxy, for example. Not used for unix://.
	NetDial func(ctx context.Context, network, addr string) (net.Conn, error)

	// ProtocolVersion is packet.V31, packet.V311 (default) or packet.V5.
	ProtocolVersion byte

	ClientID   string
	CleanStart bool
	// KeepAlive in seconds; 0 disables PINGREQ.
	KeepAlive uint16

	Username    string
	HasUsername bool
	Password    []byte
	HasPassword bool

	// Will is sent in CONNECT when non-nil.
	Will *Message

	// ConnectProperties are sent in the v5 CONNECT. Receive Maximum, Topic
	// Alias Maximum and Maximum Packet Size set here also bound what this
	// client accepts.
	ConnectProperties packet.Properties

	// MaxInflight bounds unacknowledged outbound QoS 1/2 messages (0: 65535);
	// the server's Receive Maximum bounds it further.
	MaxInflight int

	// OutboundTopicAliases makes PUBLISH use topic aliases, up to the
	// server's Topic Alias Maximum, so a repeated topic is sent only once.
	OutboundTopicAliases bool

	// Session carries unacknowledged messages across connections. nil: a
	// fresh one. Reuse it with CleanStart false to resume.
	Session *Session

	// OnMessage receives every inbound PUBLISH, in order, on the reader
	// goroutine. It must not wait for an acknowledgement of this client's
	// own publishes (use PublishAsync from here). The message and its
	// slices are the handler's to keep. The acknowledgement (PUBACK, or
	// PUBREC for QoS 2) is sent after the handler returns.
	OnMessage func(*Message)

	// AckBeforeDelivery acknowledges inbound messages before handing them
	// to OnMessage, in libmosquitto's order: a QoS 1 message's PUBACK is
	// queued before OnMessage runs, and a QoS 2 message is held until its
	// PUBREL and handed over once PUBCOMP is queued (the specification's
	// second way of delivering QoS 2, §4.3.3). mosquitto_sub's output order
	// and its -C count depend on it. By default the acknowledgement is sent
	// after OnMessage returns, so a message is acknowledged only once it was
	// handled.
	AckBeforeDelivery bool

	// DisconnectOnRefusal sends DISCONNECT before closing a connection the
	// server refused in CONNACK, as Mosquitto's clients do (mosquitto_sub's
	// -d output shows it). The server has closed or is closing its side, so
	// nothing depends on it arriving.
	DisconnectOnRefusal bool

	// OnServerDisconnect is called with a DISCONNECT sent by a v5 server.
	OnServerDisconnect func(*packet.Disconnect)

	// OnAuth is called with each AUTH packet from the server (v5 extended
	// authentication); it returns the AUTH to send, or nil to send nothing.
	OnAuth func(*packet.Auth) *packet.Auth

	// Trace, when set, sees every packet sent (sent true) and received, for
	// debug output such as mosquitto's -d. It runs on the I/O goroutines.
	Trace func(sent bool, p packet.Packet)

	// ConnectTimeout bounds dialing plus the CONNECT/CONNACK exchange when
	// the context has no earlier deadline (0: 30 s).
	ConnectTimeout time.Duration

	// WriteBufferLimit is how many encoded bytes may wait for the writer
	// before senders block (0: 4 MiB). A blocked sender still returns when
	// its context ends.
	WriteBufferLimit int

	// WriteTimeout is how long one write to the connection (at most 64 KiB)
	// may take before the connection is given up as lost (0: twice the keep
	// alive, or 30 s without keep alive; negative: no deadline). With keep
	// alive on, a write stuck for the keep alive already ends the connection
	// with ErrKeepAliveTimeout.
	WriteTimeout time.Duration
}

// Message is an application message, inbound or outbound.
type Message struct {
	Topic      string
	Payload    []byte
	QoS        byte
	Retain     bool
	Dup        bool   // inbound only
	PacketID   uint16 // inbound: as received (0 at QoS 0)
	Properties packet.Properties
}

func (o *Options) version() byte {
	if o.ProtocolVersion == 0 {
		return packet.V311
	}
	return o.ProtocolVersion
}

// connectPacket builds CONNECT from the options.
func (o *Options) connectPacket() *packet.Connect {
	v := o.version()
	c := &packet.Connect{
		ProtocolName:    "MQTT",
		ProtocolVersion: v,
		CleanStart:      o.CleanStart,
		KeepAlive:       o.KeepAlive,
		ClientID:        o.ClientID,
		UsernameFlag:    o.HasUsername,
		Username:        o.Username,
		PasswordFlag:    o.HasPassword,
		Password:        o.Password,
	}
	if v == packet.V31 {
		c.ProtocolName = "MQIsdp"
	}
	if v == packet.V5 {
		c.Properties = o.ConnectProperties
	}
	if w := o.Will; w != nil {
		c.WillFlag = true
		c.WillQoS = w.QoS
		c.WillRetain = w.Retain
		c.WillTopic = w.Topic
		c.WillPayload = w.Payload
		if v == packet.V5 {
			c.WillProperties = w.Properties
		}
	}
	return c
}
