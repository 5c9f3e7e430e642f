package broker

import (
	"crypto/tls"
	"net"
	"time"
)

// TLSHandoff is implemented by a net.Conn that a TLS listener accepted
// without starting its handshake (internal/listener's TLS connections
// are). Where the broker serves connections from its event loop (Linux,
// without Options.BlockingIO) it takes the TCP connection under it, runs
// the server handshake in a goroutine that ends with the handshake, and
// then serves the connection from the event loop like a plain one: an
// idle TLS connection holds no goroutine and no read buffer of ours.
// Elsewhere, or when raw is not a *net.TCPConn, the net.Conn itself is
// served (a reader goroutine), so a TLSHandoff must also work as an
// ordinary server-side TLS connection.
//
// TLSHandoff returns:
//   - raw: the accepted connection TLS runs over, nil once the
//     connection's own handshake has started (the broker then serves the
//     net.Conn itself);
//   - config: the server configuration (its GetConfigForClient may pick
//     another per handshake, e.g. after certificates were reloaded);
//   - timeout: how long the handshake may take (0 or less: 10 s); the
//     broker also ends it when it closes;
//   - explain: nil, or what turns a failed handshake's error into the one
//     the connection ends with and is logged with ("Client ADDR
//     disconnected: ERR.").
//
// It must have no side effects: the broker may not take raw. Once it
// has, it never calls the TLSHandoff's Read, Write or Close; it closes
// raw itself.
type TLSHandoff interface {
	net.Conn
	TLSHandoff() (raw net.Conn, config *tls.Config, timeout time.Duration, explain func(error) error)
}

// defaultHandshakeTimeout bounds a TLS handshake whose TLSHandoff gives
// no timeout.
const defaultHandshakeTimeout = 10 * time.Second
