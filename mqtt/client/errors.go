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
	// completed. A QoS 1/2 message may still be delivered when its
	// Session is resumed.
	ErrConnectionLost = errors.New("mqtt client: connection lost")
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
