package client

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mqttkit/mqtt/mqtt/packet"
)

// Client is one connection to an MQTT server. Its methods are safe for
// concurrent use.
type Client struct {
	opts    Options
	version byte
	conn    net.Conn
	stopTr  func()
	sess    *Session
	connack *packet.Connack

	// Limits learnt from CONNACK.
	serverMaxPacket uint32 // 0: unlimited
	serverMaxQoS    byte
	retainAvailable bool
	keepAlive       time.Duration
	maxIn           int // our Maximum Packet Size for reading

	slots chan struct{} // the inflight window

	// Writer state, under wmu.
	wmu      sync.Mutex
	wroom    chan struct{} // closed when the writer takes wbuf; made by a sender waiting for room
	wbuf     []byte
	spare    []byte
	wlimit   int
	aliasOut map[string]uint16
	aliasMax uint16
	werr     error
	kick     chan struct{}
	held     int // Batch calls running: the writer leaves wbuf alone (up to wlimit)

	wtimeout   time.Duration // per chunk written; 0: none
	lastWrite  atomic.Int64  // unix nanos of the last completed write
	writeStart atomic.Int64  // unix nanos when the write in progress began, 0 when none is
	pingSent   atomic.Int64  // unix nanos of the outstanding PINGREQ, 0 if none

	aliasIn map[uint16]string // reader goroutine only

	done     chan struct{} // closed when the connection has ended
	endOnce  sync.Once
	endErr   error
	closing  atomic.Bool
	discSent chan struct{} // closed by the writer after a DISCONNECT is written
	wg       sync.WaitGroup
}

// Dial connects to the server, sends CONNECT and waits for CONNACK. A
// refusal is a *ConnectError; the connection is then closed.
func Dial(ctx context.Context, opts Options) (*Client, error) {
	timeout := opts.ConnectTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	v := opts.version()
	if v != packet.V31 && v != packet.V311 && v != packet.V5 {
		return nil, fmt.Errorf("mqtt client: unsupported protocol version %d", v)
	}
	conn, stop, err := DialConn(ctx, opts)
	if err != nil {
		return nil, err
	}
	c := &Client{
		opts:     opts,
		version:  v,
		conn:     conn,
		stopTr:   stop,
		kick:     make(chan struct{}, 1),
		done:     make(chan struct{}),
		discSent: make(chan struct{}),
		aliasIn:  make(map[uint16]string),
		aliasOut: make(map[string]uint16),
		wlimit:   opts.WriteBufferLimit,
	}
	if c.wlimit <= 0 {
		c.wlimit = 4 << 20
	}
	c.sess = opts.Session
	if c.sess == nil {
		c.sess = NewSession()
	}
	c.maxIn = packet.DefaultMaxPacketSize
	if v == packet.V5 && opts.ConnectProperties.HasMaximumPacketSize {
		c.maxIn = int(opts.ConnectProperties.MaximumPacketSize)
	}

	br := bufio.NewReaderSize(conn, 64<<10)
	connack, err := c.handshake(ctx, br)
	if err != nil {
		conn.Close()
		stop()
		return nil, err
	}
	c.connack = connack
	c.applyConnack(connack)

	c.wtimeout = opts.WriteTimeout
	if c.wtimeout == 0 {
		c.wtimeout = 30 * time.Second
		if c.keepAlive > 0 {
			c.wtimeout = 2 * c.keepAlive
		}
	}
	c.wtimeout = max(c.wtimeout, 0)

	// A session the server does not have is dropped before the reader
	// starts: the server may send right behind its CONNACK, and a QoS 2
	// message recorded by then was lost with the old state (acknowledged
	// with PUBREC, then "unknown" at its PUBREL: never delivered with
	// AckBeforeDelivery, deliverable twice without).
	if !connack.SessionPresent {
		c.sess.discard(ErrSessionLost)
	}

	c.lastWrite.Store(time.Now().UnixNano())
	c.wg.Add(2)
	go c.readLoop(br)
	go c.writeLoop()
	if c.keepAlive > 0 {
		c.wg.Add(1)
		go c.keepAliveLoop()
	}

	// Resume the session's unacknowledged messages.
	if connack.SessionPresent {
		c.retransmit()
	}
	return c, nil
}

// handshake sends CONNECT and reads until CONNACK, answering AUTH.
func (c *Client) handshake(ctx context.Context, br *bufio.Reader) (*packet.Connack, error) {
	if dl, ok := ctx.Deadline(); ok {
		c.conn.SetDeadline(dl)
	}
	// Unblock the handshake if ctx is cancelled before its deadline.
	stop := context.AfterFunc(ctx, func() { c.conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	if err := c.writeNow(c.opts.connectPacket()); err != nil {
		return nil, err
	}
	for {
		p, err := packet.ReadPacketLenient(br, c.version, c.maxIn)
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("mqtt client: waiting for CONNACK: %w", ctx.Err())
			}
			var pe *packet.Error
			if errors.As(err, &pe) {
				return nil, fmt.Errorf("%w: %w: %w", ErrConnectionLost, ErrProtocol, err)
			}
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return nil, fmt.Errorf("%w: server closed the connection before CONNACK: %w", ErrConnectionLost, err)
			}
			return nil, fmt.Errorf("%w: waiting for CONNACK: %w", ErrConnectionLost, err)
		}
		c.trace(false, p)
		switch p := p.(type) {
		case *packet.Connack:
			if p.ReasonCode >= 0x80 || (c.version != packet.V5 && p.ReasonCode != 0) {
				if c.opts.DisconnectOnRefusal {
					_ = c.writeNow(&packet.Disconnect{})
				}
				return nil, &ConnectError{Connack: p, Version: c.version}
			}
			c.conn.SetDeadline(time.Time{})
			return p, nil
		case *packet.Auth:
			if c.opts.OnAuth == nil {
				return nil, fmt.Errorf("mqtt client: server sent AUTH but no OnAuth handler is set")
			}
			if reply := c.opts.OnAuth(p); reply != nil {
				if err := c.writeNow(reply); err != nil {
					return nil, err
				}
			}
		default:
			return nil, fmt.Errorf("%w: %w: expected CONNACK, got packet type %d", ErrConnectionLost, ErrProtocol, p.Type())
		}
	}
}

// writeNow encodes and writes p synchronously (handshake only).
func (c *Client) writeNow(p packet.Packet) error {
	buf, err := packet.Append(nil, p, c.version)
	if err != nil {
		return err
	}
	c.trace(true, p)
	_, err = c.conn.Write(buf)
	return err
}

func (c *Client) applyConnack(ca *packet.Connack) {
	window := c.opts.MaxInflight
	if window <= 0 || window > 65535 {
		window = 65535
	}
	c.serverMaxQoS = 2
	c.retainAvailable = true
	c.keepAlive = time.Duration(c.opts.KeepAlive) * time.Second
	if c.version == packet.V5 {
		pr := &ca.Properties
		if pr.HasReceiveMaximum && int(pr.ReceiveMaximum) < window && pr.ReceiveMaximum > 0 {
			window = int(pr.ReceiveMaximum)
		}
		if pr.HasMaximumPacketSize {
			c.serverMaxPacket = pr.MaximumPacketSize
		}
		if pr.HasMaximumQoS {
			c.serverMaxQoS = pr.MaximumQoS
		}
		if pr.HasRetainAvailable {
			c.retainAvailable = pr.RetainAvailable == 1
		}
		if pr.HasServerKeepAlive {
			c.keepAlive = time.Duration(pr.ServerKeepAlive) * time.Second
		}
		if c.opts.OutboundTopicAliases && pr.HasTopicAliasMaximum {
			c.aliasMax = pr.TopicAliasMaximum
		}
	}
	c.slots = make(chan struct{}, window)
}

// Connack returns the server's CONNACK (session present, reason code and,
// for v5, the server's properties and limits).
func (c *Client) Connack() *packet.Connack { return c.connack }

// Session returns the session state, to pass to a later Dial.
func (c *Client) Session() *Session { return c.sess }

// ProtocolVersion is the connection's protocol level.
func (c *Client) ProtocolVersion() byte { return c.version }

// Done is closed when the connection has ended; Err then says why.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err is the reason the connection ended (nil while it is up, ErrClosed
// after Close or Disconnect).
func (c *Client) Err() error {
	select {
	case <-c.done:
		return c.endErr
	default:
		return nil
	}
}

// end records why the connection ended, once, and wakes everyone.
func (c *Client) end(err error) {
	c.endOnce.Do(func() {
		c.endErr = err
		c.wmu.Lock()
		if c.werr == nil {
			c.werr = err
		}
		c.wmu.Unlock()
		close(c.done) // wakes senders waiting for room
		c.conn.Close()
		tokErr := ErrConnectionLost
		if err == ErrClosed {
			tokErr = ErrClosed
		}
		c.sess.connectionEnded(tokErr)
	})
}

// Close closes the connection without DISCONNECT (so a will is published)
// and waits for the client's goroutines to exit.
func (c *Client) Close() error {
	c.closing.Store(true)
	c.end(ErrClosed)
	c.wg.Wait()
	c.stopTr()
	return nil
}

// Disconnect sends DISCONNECT with the reason code and properties (v5;
// ignored for 3.x), waits until it is written, and closes. ctx bounds both
// the wait for room in the write buffer and the wait for the write; when it
// ends first, the connection is closed anyway and ctx's error returned.
func (c *Client) Disconnect(ctx context.Context, reason packet.ReasonCode, props *packet.Properties) error {
	d := &packet.Disconnect{ReasonCode: reason}
	if props != nil && c.version == packet.V5 {
		d.Properties = *props
	}
	err := c.send(ctx, d)
	if err == nil {
		select {
		case <-c.discSent:
		case <-c.done:
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	c.Close()
	return err
}

func (c *Client) trace(sent bool, p packet.Packet) {
	if c.opts.Trace != nil {
		c.opts.Trace(sent, p)
	}
}

// send queues p for the writer. While more than the write buffer limit is
// queued it waits for the writer to take the buffer, until ctx or the
// connection ends.
func (c *Client) send(ctx context.Context, p packet.Packet) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.waitRoomLocked(ctx); err != nil {
		return err
	}
	return c.appendLocked(p)
}

// Batch runs fn, which queues packets (SubscribeAsync, UnsubscribeAsync,
// Publish at QoS 0, ...), and has the writer send what it queued together
// once fn returns: the server sees none of them, so it can answer none of
// them, before fn has queued the last. That is the order of libmosquitto,
// which sends from its connect callback before it reads again: a tool that
// traces packets (mosquitto_sub -d) prints every "sending" of the batch
// before any "received" they cause. Batches may nest and run concurrently;
// the writer holds back while any runs, except for more than the write
// buffer limit (so fn cannot wait for room for ever) or once the connection
// has ended or DISCONNECT was queued. fn must not wait for the server (an
// acknowledgement, Subscribe, Disconnect): nothing it queued is sent yet.
func (c *Client) Batch(fn func() error) error {
	c.wmu.Lock()
	c.held++
	c.wmu.Unlock()
	defer func() {
		c.wmu.Lock()
		c.held--
		c.wmu.Unlock()
		select {
		case c.kick <- struct{}{}:
		default:
		}
	}()
	return fn()
}

// sendNow queues p without waiting for room: for PINGREQ, which must not
// wait behind a blocked writer, and for retransmitting a resumed session's
// messages, which are already held in memory.
func (c *Client) sendNow(p packet.Packet) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.appendLocked(p)
}

// waitRoomLocked returns once the write buffer is at most at its limit, or
// with the connection's error or ctx's. c.wmu is held on entry and on return.
func (c *Client) waitRoomLocked(ctx context.Context) error {
	for c.werr == nil && len(c.wbuf) > c.wlimit {
		if c.wroom == nil {
			c.wroom = make(chan struct{})
		}
		room := c.wroom
		c.wmu.Unlock()
		var err error
		select {
		case <-room:
		case <-c.done:
		case <-ctx.Done():
			err = ctx.Err()
		}
		c.wmu.Lock()
		if err != nil {
			return err
		}
	}
	return c.werr
}

// appendLocked encodes p onto the write buffer and wakes the writer.
func (c *Client) appendLocked(p packet.Packet) error {
	if c.werr != nil {
		return c.werr
	}
	buf, err := packet.Append(c.wbuf, p, c.version)
	if err != nil {
		return &encodeError{err}
	}
	c.trace(true, p)
	c.wbuf = buf
	if _, ok := p.(*packet.Disconnect); ok {
		c.werr = ErrClosed // nothing may follow DISCONNECT [MQTT-3.14.4-1]
	}
	select {
	case c.kick <- struct{}{}:
	default:
	}
	return nil
}

// encodeError is a packet that could not be encoded (an invalid property
// value): nothing was queued, and the connection goes on.
type encodeError struct{ err error }

func (e *encodeError) Error() string { return e.err.Error() }
func (e *encodeError) Unwrap() error { return e.err }

// writeChunk is the most one conn.Write is given at a time, so that the
// write deadline measures progress: a slow link that keeps moving is not cut
// off, one that moves nothing for the write timeout is.
const writeChunk = 64 << 10

// writeLoop drains the write buffer in as few writes as possible. Keep
// alive is keepAliveLoop's, so that a writer blocked on a full socket does
// not stop it from noticing a dead connection.
func (c *Client) writeLoop() {
	defer c.wg.Done()
	for {
		select {
		case <-c.done:
			return
		case <-c.kick:
		}
		c.wmu.Lock()
		if c.held > 0 && c.werr == nil && len(c.wbuf) <= c.wlimit {
			c.wmu.Unlock() // Batch kicks again when it ends
			continue
		}
		buf := c.wbuf
		c.wbuf = c.spare[:0]
		disc := c.werr == ErrClosed && !c.closing.Load()
		if c.wroom != nil {
			close(c.wroom)
			c.wroom = nil
		}
		c.wmu.Unlock()
		if len(buf) > 0 {
			if err := c.write(buf); err != nil {
				c.end(fmt.Errorf("%w: %v", ErrConnectionLost, err))
				return
			}
		}
		c.wmu.Lock()
		if cap(buf) <= 1<<20 {
			c.spare = buf[:0]
		} else {
			c.spare = nil
		}
		c.wmu.Unlock()
		if disc {
			c.wmu.Lock()
			empty := len(c.wbuf) == 0
			c.wmu.Unlock()
			if empty {
				close(c.discSent)
				return
			}
		}
	}
}

// write sends buf in chunks of at most writeChunk, each under the write
// deadline, and records when each began (for keepAliveLoop) and ended.
func (c *Client) write(buf []byte) error {
	defer c.writeStart.Store(0)
	for len(buf) > 0 {
		n := min(len(buf), writeChunk)
		now := time.Now()
		c.writeStart.Store(now.UnixNano())
		if c.wtimeout > 0 {
			if err := c.conn.SetWriteDeadline(now.Add(c.wtimeout)); err != nil {
				return err
			}
		}
		if _, err := c.conn.Write(buf[:n]); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return fmt.Errorf("nothing could be written for %s (write timeout): %w", c.wtimeout, err)
			}
			return err
		}
		c.lastWrite.Store(time.Now().UnixNano())
		buf = buf[n:]
	}
	return nil
}

// keepAliveLoop sends PINGREQ when nothing was written for half the keep
// alive, and ends the connection when a PINGREQ has had no PINGRESP for the
// keep alive or a write has been stuck that long: a server that stops
// reading is noticed within about 1.25 × keep alive even while the writer
// is blocked.
func (c *Client) keepAliveLoop() {
	defer c.wg.Done()
	ka := int64(c.keepAlive)
	t := time.NewTicker(c.keepAlive / 4)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case tick := <-t.C:
			now := tick.UnixNano()
			if ws := c.writeStart.Load(); ws != 0 && now-ws >= ka {
				c.end(fmt.Errorf("%w: a write made no progress for %s", ErrKeepAliveTimeout, c.keepAlive))
				return
			}
			if ps := c.pingSent.Load(); ps != 0 && now-ps >= ka {
				c.end(ErrKeepAliveTimeout)
				return
			}
			if c.pingSent.Load() == 0 && now-c.lastWrite.Load() >= ka/2 {
				c.pingSent.Store(now)
				_ = c.sendNow(&packet.Pingreq{})
			}
		}
	}
}

// readLoop decodes packets until the connection ends.
func (c *Client) readLoop(br *bufio.Reader) {
	defer c.wg.Done()
	for {
		p, err := packet.ReadPacketLenient(br, c.version, c.maxIn)
		if err != nil {
			select {
			case <-c.done:
			case <-c.discSent:
				c.end(ErrClosed)
			default:
				var pe *packet.Error
				switch {
				case errors.As(err, &pe):
					c.protocolError(pe.Code, err)
				case errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed):
					c.end(ErrConnectionLost)
				default: // reset by the server, a truncated packet, ...
					c.end(fmt.Errorf("%w: %w", ErrConnectionLost, err))
				}
			}
			return
		}
		c.trace(false, p)
		if err := c.handle(p); err != nil {
			c.protocolError(packet.ReasonOf(err), err)
			return
		}
	}
}

// protocolError tells a v5 server why (DISCONNECT with the reason code,
// [MQTT-4.13.1-1]) and ends the connection.
func (c *Client) protocolError(code packet.ReasonCode, err error) {
	if c.version == packet.V5 && code >= 0x80 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		if c.send(ctx, &packet.Disconnect{ReasonCode: code}) == nil {
			select {
			case <-c.discSent:
			case <-c.done:
			case <-ctx.Done():
			}
		}
		cancel()
	}
	c.end(fmt.Errorf("%w: %w: %w", ErrConnectionLost, ErrProtocol, err))
}

func (c *Client) handle(p packet.Packet) error {
	switch p := p.(type) {
	case *packet.Publish:
		return c.handlePublish(p)
	case *packet.Puback:
		c.completeOut(p.PacketID, p.ReasonCode, &p.Properties)
	case *packet.Pubrec:
		return c.handlePubrec(p)
	case *packet.Pubcomp:
		c.completeOut(p.PacketID, p.ReasonCode, &p.Properties)
	case *packet.Pubrel:
		return c.handlePubrel(p)
	case *packet.Suback:
		c.deliverReq(p.PacketID, p)
	case *packet.Unsuback:
		c.deliverReq(p.PacketID, p)
	case *packet.Pingresp:
		c.pingSent.Store(0)
	case *packet.Disconnect:
		if c.opts.OnServerDisconnect != nil {
			c.opts.OnServerDisconnect(p)
		}
		c.end(&DisconnectError{Disconnect: p})
	case *packet.Auth:
		if c.opts.OnAuth != nil {
			if reply := c.opts.OnAuth(p); reply != nil {
				return c.send(context.Background(), reply)
			}
		}
	default:
		return &packet.Error{Code: packet.ProtocolError, Msg: fmt.Sprintf("unexpected packet type %d from server", p.Type())}
	}
	return nil
}

func (c *Client) deliverReq(id uint16, p packet.Packet) {
	c.sess.mu.Lock()
	r, ok := c.sess.req[id]
	delete(c.sess.req, id)
	c.sess.mu.Unlock()
	if ok {
		if r.onAck != nil {
			r.onAck(p) // on the reader goroutine: before any later packet is handled
		}
		r.ch <- p // buffered, capacity 1
	}
}
