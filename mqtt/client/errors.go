package client

import (
	"errors"
	"fmt"

	"github.com/mqttkit/mqtt/mqtt/packet"
)

var (
	// ErrClosed is returned by calls made after the connection ended
	// because this side closed it.
	ErrClosed = errors.New("mqtt client: connection closed")
	// ErrConnectionLost means the connection broke before an operation
	// completed (Dial: after the transport was up, before CONNACK). A QoS 1/2 message may still be delivered when its
	// Session is resumed.
	ErrConnectionLost = errors.New("mqtt client: connection lost")
	// ErrProtocol is wrapped, with ErrConnectionLost, by the end cause of a
	// connection on which the server broke the protocol: a malformed packet
	// (the *packet.Error is wrapped too), or one it must not send.
	ErrProtocol = errors.New("mqtt client: protocol error")
	// ErrSessionLost fails messages of a Session the server did not resume.
	ErrSessionLost = errors.New("mqtt client: server did not resume the session")
	// ErrPacketTooLarge: the packet exceeds the server's Maximum Packet Size.
	ErrPacketTooLarge = errors.New("mqtt client: packet exceeds the server's maximum packet size")
	// ErrQoSNotSupported: the server's Maximum QoS is below the message's.
	ErrQoSNotSupported = errors.New("mqtt client: QoS not supported by the server")
	// ErrRetainNotSupported: the server said Retain Available 0.
	ErrRetainNotSupported = errors.New("mqtt client: retain not supported by the server")
	// ErrKeepAliveTimeout: no PINGRESP came within the keep alive.
	ErrKeepAliveTimeout = errors.New("mqtt client: keep alive timeout (no PINGRESP)")
)

// TLSError is returned by Dial and DialConn when the TLS handshake fails:
// the server's certificate was not trusted, the server does not speak TLS,
// no protocol version or cipher suite was acceptable. Mosquitto's clients
// exit with MOSQ_ERR_TLS (8) then.
type TLSError struct {
	Err error
}

func (e *TLSError) Error() string { return "mqtt client: TLS handshake: " + e.Err.Error() }
func (e *TLSError) Unwrap() error { return e.Err }

// ConnectError is returned by Dial when the server refuses the connection.
type ConnectError struct {
	Connack *packet.Connack
	Version byte
}

// ReturnCode is the code as it was on the wire: the 3.x return code (0-5)
// for 3.1/3.1.1, the reason code for 5.0. Mosquitto's clients exit with it.
func (e *ConnectError) ReturnCode() int {
	if e.Version == packet.V5 {
		return int(e.Connack.ReasonCode)
	}
	return int(packet.ConnackReturnCode(e.Connack.ReasonCode))
}

func (e *ConnectError) Error() string {
	s := fmt.Sprintf("mqtt client: connection refused: reason code %d", e.ReturnCode())
	if e.Connack.Properties.ReasonString != "" {
		s += ": " + e.Connack.Properties.ReasonString
	}
	return s
}

// AckError reports a negative acknowledgement (reason code >= 0x80) of a
// PUBLISH (v5 PUBACK or PUBREC).
type AckError struct {
	PacketID     uint16
	Code         packet.ReasonCode
	ReasonString string
}

func (e *AckError) Error() string {
	s := fmt.Sprintf("mqtt client: publish %d failed: reason code 0x%02x", e.PacketID, byte(e.Code))
	if e.ReasonString != "" {
		s += ": " + e.ReasonString
	}
	return s
}

// DisconnectError is the connection's end cause when the server sent DISCONNECT.
type DisconnectError struct {
	Disconnect *packet.Disconnect
}

func (e *DisconnectError) Error() string {
	s := fmt.Sprintf("mqtt client: server disconnected: reason code 0x%02x", byte(e.Disconnect.ReasonCode))
	if e.Disconnect.Properties.ReasonString != "" {
		s += ": " + e.Disconnect.Properties.ReasonString
	}
	return s
}
