package broker

import "bytes"

// describeBadFirstBytes says what a connection that opened with b is, when b is not the start
// of an MQTT CONNECT, for a log line an operator can act on: a TLS handshake on a plain
// listener, an HTTP request, a websocket upgrade. what is "" when b is none of those.
func describeBadFirstBytes(b []byte) (what, advice string) {
	if len(b) >= 3 && b[0] == 0x16 && b[1] == 0x03 { // TLS record: handshake, version 3.x
		return "TLS handshake on a non-TLS listener", "use the TLS port, or connect without TLS"
	}
	for _, m := range []string{"GET ", "POST ", "HEAD ", "PUT ", "DELETE ", "OPTIONS ", "PATCH ", "CONNECT ", "TRACE ", "PRI * HTTP/2"} {
		if bytes.HasPrefix(b, []byte(m)) {
			if bytes.Contains(bytes.ToLower(b), []byte("upgrade: websocket")) {
				return "websocket upgrade on a plain MQTT listener", "use the websockets listener"
			}
			return "HTTP request on an MQTT listener", "MQTT clients speak MQTT here, browsers need a websockets listener"
		}
	}
	return "", ""
}

// explainFirst turns the error of a connection whose first bytes were
// not an MQTT CONNECT into what they were, when that is recognisable:
// "TLS handshake on a non-TLS listener from 10.0.0.5:51234: use the TLS
// port, or connect without TLS" says more than "reserved fixed header
// flags are 0x6".
func (c *conn) explainFirst(first []byte, err error) error {
	if what, advice := describeBadFirstBytes(first); what != "" {
		return &notMQTTError{what: what + " from " + c.logAddr() + ": " + advice, err: err}
	}
	return err
}

// notMQTTError is a connection that turned out not to speak MQTT; it
// is logged as it is (cleanup), a warning an operator can act on.
type notMQTTError struct {
	what string
	err  error
}

func (e *notMQTTError) Error() string { return e.what }
func (e *notMQTTError) Unwrap() error { return e.err }
