//go:build !linux

package broker

import (
	"errors"
	"net"
)

// poller is the epoll event loop (netpoll_linux.go); elsewhere every
// connection has a reader goroutine.
type poller struct{}

func newPoller(*Broker) (*poller, error) { return nil, nil }
func (p *poller) add(*conn) error        { return errors.New("no event loop") }
func (p *poller) arm(*conn) error        { return errors.New("no event loop") }
func (p *poller) remove(*conn)           {}
func (p *poller) loop()                  {}
func (p *poller) stop()                  {}
func (p *poller) release()               {}
func readFD(int, []byte) (int, error)    { return 0, errors.New("no event loop") }
func socketFD(net.Conn) int              { return -1 }
func ownSocket(net.Conn) int             { return -1 }
func dupSocket(int) (int, error)         { return -1, errors.New("no event loop") }
func closeFD(int) error                  { return errors.New("no event loop") }
func socketEmpty(int, []byte) bool       { return false }
func writeFD(int, []byte) (int, error)   { return 0, errors.New("no event loop") }
