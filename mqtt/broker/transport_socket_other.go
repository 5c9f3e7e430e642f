//go:build !linux

package broker

import "net"

// The event loop (transport_socket_linux.go) is Linux only; elsewhere
// every connection is a netConn with a reader goroutine.

type socketConn struct{ conn }

func (s *socketConn) linger() {}

func newSocketConn(*Broker, net.Conn, string) *socketConn { return nil }
func tcpProgress(net.Conn)                                {}
func (s *socketConn) start()                              {}

type tlsConn struct{ socketConn }

func newTLSConn(*Broker, TLSHandoff, string) (*tlsConn, func()) { return nil, nil }

type poller struct{}

func newPoller(*Broker) (*poller, error) { return nil, nil }
func (p *poller) loop()                  {}
func (p *poller) stop()                  {}
func (p *poller) release()               {}
func (p *poller) handoff(*conn)          {}

// Without the event loop no writer sends payloads from their Messages.
func (c *conn) vectored() bool                  { return false }
func (c *conn) writeBufs([][]byte) (int, error) { return 0, errClosed }
