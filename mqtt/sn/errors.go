package sn

import (
	"errors"
	"fmt"
)

// Kinds of decoding and encoding errors; every *Error wraps one, so callers test them with
// errors.Is(err, sn.ErrTruncated).
var (
	// ErrTruncated: the datagram ends before the message its Length field announces, or
	// before a fixed field.
	ErrTruncated = errors.New("mqtt-sn: truncated message")
	// ErrLength: the Length field is invalid (0, or 3-octet form shorter than its header)
	// or the datagram holds bytes after the message [MQTT-SN 5.2.1].
	ErrLength = errors.New("mqtt-sn: bad length")
	// ErrReservedType: the MsgType is one of the reserved values [MQTT-SN 5.2.2].
	ErrReservedType = errors.New("mqtt-sn: reserved message type")
	// ErrMalformed: a field has a size or value the message cannot have.
	ErrMalformed = errors.New("mqtt-sn: malformed message")
	// ErrTooLarge: a message to encode does not fit the 65,535-octet Length field.
	ErrTooLarge = errors.New("mqtt-sn: message too large")
)

// Error is a decoding or encoding error: its kind (one of the Err values above), the message
// type when it was known, and what was wrong.
type Error struct {
	Kind    error
	Type    MsgType
	HasType bool
	Msg     string
}

func (e *Error) Error() string {
	kind := "error"
	if e.Kind != nil {
		kind = e.Kind.Error()
	}
	if e.HasType {
		return fmt.Sprintf("%s: %s: %s", kind, e.Type, e.Msg)
	}
	return kind + ": " + e.Msg
}

// Unwrap returns the kind.
func (e *Error) Unwrap() error { return e.Kind }

func errf(kind error, t MsgType, format string, args ...any) *Error {
	return &Error{Kind: kind, Type: t, HasType: true, Msg: fmt.Sprintf(format, args...)}
}
