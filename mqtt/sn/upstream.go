package sn

import (
	"bufio"
	"context"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/mqttkit/mqtt/mqtt/client"
	"github.com/mqttkit/mqtt/mqtt/packet"
)

// Upstream opens one MQTT connection for one MQTT-SN client: the gateway is transparent, so
// every MQTT-SN client has its own MQTT session on the broker, with its client id, will,
// clean session and keep alive.
//
// The gateway never calls an Upstream or UpstreamConn method while it holds a lock of its
// own, so implementations may call onPacket and onClose from within Send or Close; and it
// never calls Send or Close from within onPacket or onClose (a worker goroutine of the
// gateway makes those calls), as mqtt/broker's LocalConn requires.
type Upstream interface {
	// Open starts a connection for the MQTT-SN client at remote. onPacket receives every
	// packet the broker sends, in order, one call at a time; the packet and its slices are
	// the callee's to keep. onClose is called exactly once when the connection has ended
	// (after the last onPacket), whether the broker, the network or Close ended it. Open
	// may block until the transport is up (bounded by ctx); it does not send CONNECT.
	Open(ctx context.Context, remote net.Addr, onPacket func(packet.Packet), onClose func(error)) (UpstreamConn, error)
}

// UpstreamConn is one open upstream connection.
type UpstreamConn interface {
	// Send queues p, a packet from the client (CONNECT first), and returns without waiting
	// for the network. It must not keep p or its slices after it returns. A connection
	// that cannot take more returns ErrUpstreamBusy; one that has ended, ErrUpstreamClosed.
	Send(p packet.Packet) error
	// Close ends the connection once the packets already sent have been written. Unless one
	// of them was DISCONNECT, the broker sees a network failure and publishes the will.
	Close() error
}

// Errors of UpstreamConn.Send.
var (
	ErrUpstreamBusy   = errors.New("mqtt-sn: upstream connection busy")
	ErrUpstreamClosed = errors.New("mqtt-sn: upstream connection closed")
)

// NetUpstream opens a network connection to a broker for each client, with the transports
// of mqtt/client (tcp, tls, ws, wss, unix: client.DialConn), and speaks MQTT on it with
// mqtt/packet: one reader goroutine per connection, and a writer goroutine only while
// there is output.
type NetUpstream struct {
	// Dial names the broker: Server, TLSConfig, Dialer and LocalAddr are used.
	Dial client.Options
	// WriteBufferLimit is how many encoded bytes may wait for the network per connection
	// before Send returns ErrUpstreamBusy (0: 256 KiB).
	WriteBufferLimit int
	// WriteTimeout closes a connection whose socket accepts no bytes for this long
	// (0: 30 s).
	WriteTimeout time.Duration
	// MaxPacketSize bounds packets read from the broker (0: the protocol maximum).
	MaxPacketSize int
}

// Open dials the broker.
func (u *NetUpstream) Open(ctx context.Context, _ net.Addr, onPacket func(packet.Packet), onClose func(error)) (UpstreamConn, error) {
	nc, release, err := client.DialConn(ctx, u.Dial)
	if err != nil {
		return nil, err
	}
	c := &netConn{nc: nc, release: release, onPacket: onPacket, onClose: onClose,
		limit: u.WriteBufferLimit, wtimeout: u.WriteTimeout, maxIn: u.MaxPacketSize, ready: make(chan struct{})}
	if c.limit <= 0 {
		c.limit = 256 << 10
	}
	if c.wtimeout <= 0 {
		c.wtimeout = 30 * time.Second
	}
	go c.readLoop()
	return c, nil
}

// netConn is one NetUpstream connection.
type netConn struct {
	nc       net.Conn
	release  func()
	onPacket func(packet.Packet)
	onClose  func(error)
	limit    int
	wtimeout time.Duration
	maxIn    int

	ready chan struct{} // closed by the first Send (CONNECT names the version) or Close

	mu      sync.Mutex
	version byte
	started bool
	wbuf    []byte
	spare   []byte
	writing bool // a writeLoop goroutine runs
	closing bool // Close was called: close the socket once wbuf is written
	err     error
	writers sync.WaitGroup
}

func (c *netConn) Send(p packet.Packet) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing || c.err != nil {
		return ErrUpstreamClosed
	}
	if len(c.wbuf) >= c.limit {
		return ErrUpstreamBusy
	}
	if !c.started {
		if cp, ok := p.(*packet.Connect); ok {
			c.version = cp.ProtocolVersion
		}
	}
	b, err := packet.Append(c.wbuf, p, c.version)
	if err != nil {
		return err
	}
	c.wbuf = b
	if !c.started {
		c.started = true
		close(c.ready)
	}
	if !c.writing {
		c.writing = true
		c.writers.Add(1)
		go c.writeLoop()
	}
	return nil
}

func (c *netConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return nil
	}
	c.closing = true
	if !c.started {
		c.started = true
		close(c.ready)
	}
	if !c.writing {
		c.nc.Close()
	}
	return nil
}

// writeLoop writes what Send queued, then exits; Send starts it again when needed.
func (c *netConn) writeLoop() {
	defer c.writers.Done()
	for {
		c.mu.Lock()
		if len(c.wbuf) == 0 || c.err != nil {
			c.writing = false
			if c.closing {
				c.nc.Close()
			}
			c.mu.Unlock()
			return
		}
		out := c.wbuf
		c.wbuf = c.spare[:0]
		c.mu.Unlock()
		_ = c.nc.SetWriteDeadline(time.Now().Add(c.wtimeout))
		_, err := c.nc.Write(out)
		c.mu.Lock()
		c.spare = out[:0]
		if cap(c.spare) > 64<<10 {
			c.spare = nil // a burst's buffer is not kept for an idle connection
		}
		if err != nil && c.err == nil {
			c.err = err
			c.nc.Close()
		}
		c.mu.Unlock()
	}
}

// readLoop delivers the broker's packets, then reports the end once the writer is done.
func (c *netConn) readLoop() {
	<-c.ready
	c.mu.Lock()
	version, closing := c.version, c.closing && !c.writing && len(c.wbuf) == 0
	c.mu.Unlock()
	var err error
	if !closing {
		br := bufio.NewReaderSize(c.nc, 2048)
		for {
			var p packet.Packet
			p, err = packet.ReadPacket(br, version, c.maxIn)
			if err != nil {
				break
			}
			c.onPacket(p)
		}
	}
	c.nc.Close()
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	err = c.err
	c.mu.Unlock()
	c.writers.Wait()
	c.release()
	c.onClose(err)
}
