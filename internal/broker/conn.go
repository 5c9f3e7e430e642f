package broker

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime/debug"
	"sync"
	"time"

	"github.com/mqttkit/mqtt/mqtt/packet"
)

// closeReason says why a connection ends; it picks the log line and the
// MQTT 5 DISCONNECT reason code the server sends (if any).
type closeReason struct {
	code packet.ReasonCode
	send bool   // send a DISCONNECT (MQTT 5, after CONNACK) first
	log  string // "" for the default
}

var (
	reasonShutdown = closeReason{code: packet.ServerShuttingDown, send: true}
	reasonTakeover = closeReason{code: packet.SessionTakenOver, send: true}
)

// conn is one network connection. The reader goroutine (serve) decodes
// packets and calls the handlers; the writer goroutine (writeLoop) drains
// the control-packet queue and the session's message queue into a
// bufio.Writer and flushes once per batch. Handlers never write to the
// socket themselves: this is the seam the event-driven layer will replace.
type conn struct {
	b      *Broker
	nc     net.Conn
	port   string
	remote string
	br     *bufio.Reader

	// Set by the CONNECT handler before the writer starts, then read-only.
	version      byte
	clientID     string
	username     string
	sess         *Session // written under mu (with the CONNACK); the writer reads it under mu
	keepAlive    time.Duration
	maxOut       uint32 // client's Maximum Packet Size, 0: none
	window       int    // outbound inflight window
	aliasOutMax  uint16
	problemInfo  bool // Request Problem Information (MQTT 5), default true
	authMethod   string
	authState    any
	connAccepted bool
	info         ClientInfo

	// Reader-goroutine state.
	aliasIn     map[uint16]string
	will        *Message
	willDelay   uint32
	normalClose bool // DISCONNECT 0x00 received: discard the will
	sessionEnd  bool // DISCONNECT changed the session expiry
	expiry      uint32
	connectSeen bool
	inflightIn  int // inbound QoS 2 awaiting PUBREL (mirrors sess.inQoS2 size)

	// Writer-goroutine state.
	aliasOut map[string]uint16
	wbuf     []byte
	bw       *bufio.Writer

	mu      sync.Mutex // guards ctrl, reason, closing
	ctrl    []packet.Packet
	closing bool
	reason  closeReason

	wake     chan struct{} // buffered(1): writer has work
	quit     chan struct{} // closed by close()
	done     chan struct{} // closed when cleanup is complete
	wdone    chan struct{} // closed when the writer exits
	writerOn bool
}

func newConn(b *Broker, nc net.Conn, port string) *conn {
	return &conn{
		b:           b,
		nc:          nc,
		port:        port,
		remote:      nc.RemoteAddr().String(),
		problemInfo: true,
		wake:        make(chan struct{}, 1),
		quit:        make(chan struct{}),
		done:        make(chan struct{}),
		wdone:       make(chan struct{}),
	}
}

// close asks the connection to end. It is safe from any goroutine and
// idempotent; the first reason wins. The writer sends the MQTT 5
// DISCONNECT (when reason.send) and closes the socket.
func (c *conn) close(r closeReason) {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return
	}
	c.closing = true
	c.reason = r
	c.mu.Unlock()
	close(c.quit)
	// Unblock the reader now, and a writer stuck on a peer that does not
	// read within a second.
	c.nc.SetReadDeadline(time.Now())
	c.nc.SetWriteDeadline(time.Now().Add(time.Second))
}

// send queues a control packet (CONNACK, acks, SUBACK, PINGRESP, ...).
func (c *conn) send(p packet.Packet) {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return
	}
	c.ctrl = append(c.ctrl, p)
	c.mu.Unlock()
	c.notify()
}

func (c *conn) notify() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// serve is the reader goroutine; it owns the connection's lifetime.
func (c *conn) serve() {
	defer c.b.wg.Done()
	defer close(c.done)
	defer c.b.removeConn(c)
	c.b.log.Info("New connection from " + c.remote + " on port " + c.port + ".")
	err := c.readLoop()
	c.close(closeReason{}) // no-op if already closing
	if c.writerOn {
		<-c.wdone
	} else {
		c.nc.Close()
	}
	c.cleanup(err)
}

// readLoop reads and dispatches packets until an error. A panic in a
// handler is recovered here: it closes only this connection.
func (c *conn) readLoop() (err error) {
	defer func() {
		if p := recover(); p != nil {
			c.b.log.Error("internal error handling client, closing its connection",
				"client", c.clientID, "remote", c.remote, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			c.close(closeReason{code: packet.ImplementationSpecificError, send: true})
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	c.br = bufio.NewReaderSize(countingReader{c.nc, &c.b.stats}, 4096)
	c.nc.SetReadDeadline(time.Now().Add(c.b.opts.ConnectTimeout))
	maxIn := int(c.b.opts.MaxPacketSize)
	for {
		p, err := packet.ReadPacket(c.br, c.version, maxIn)
		if err != nil {
			return c.readError(err)
		}
		c.b.stats.msgsRecv.Add(1)
		if err := c.dispatch(p); err != nil {
			return c.handlerError(err)
		}
		if c.keepAlive > 0 {
			c.nc.SetReadDeadline(time.Now().Add(c.keepAlive * 3 / 2)) // [MQTT-3.1.2-24]
		} else {
			c.nc.SetReadDeadline(time.Time{})
		}
		// close() sets a past read deadline after closing quit: checking
		// quit after our SetReadDeadline cannot miss it.
		select {
		case <-c.quit:
			return errClosed
		default:
		}
	}
}

var (
	errClosed       = errors.New("connection closed by the server")
	errNormal       = errors.New("client disconnected")
	errConnectFirst = errors.New("first packet was not CONNECT")
)

// readError maps a read or decode error onto the close reason.
func (c *conn) readError(err error) error {
	select {
	case <-c.quit:
		return errClosed
	default:
	}
	var pe *packet.Error
	var rc packet.ReasonCode
	if !c.connectSeen && packet.ReasonOf(err) == packet.UnsupportedProtocolVersion {
		// Answer in the 3.1.1 format: CONNACK return code 1 [MQTT-3.1.2-2].
		c.version = packet.V311
		c.startWriter()
		c.send(&packet.Connack{ReasonCode: packet.UnsupportedProtocolVersion})
		c.close(closeReason{})
		return err
	}
	switch {
	case errors.As(err, &pe):
		c.close(closeReason{code: pe.Code, send: true})
		return err
	case errors.As(err, &rc):
		c.close(closeReason{code: rc, send: true})
		return err
	case errors.Is(err, os.ErrDeadlineExceeded):
		if !c.connectSeen {
			return errors.New("no CONNECT within the connect timeout")
		}
		c.close(closeReason{code: packet.KeepAliveTimeout, send: true})
		return errKeepAlive
	}
	return err
}

var errKeepAlive = errors.New("keep alive timeout")

func (c *conn) handlerError(err error) error {
	if err == errNormal || err == errNormalWithWill {
		c.close(closeReason{})
		return err
	}
	select {
	case <-c.quit:
		return err
	default:
	}
	c.close(closeReason{code: packet.ReasonOf(err), send: true})
	return err
}

// dispatch calls the handler for p. A returned error closes the
// connection; its reason code (packet.ReasonOf) goes into DISCONNECT.
func (c *conn) dispatch(p packet.Packet) error {
	if !c.connectSeen {
		cp, ok := p.(*packet.Connect)
		if !ok {
			return errConnectFirst // [MQTT-3.1.0-1]
		}
		c.connectSeen = true
		return c.handleConnect(cp)
	}
	switch p := p.(type) {
	case *packet.Publish:
		return c.handlePublish(p)
	case *packet.Puback:
		return c.handlePuback(p)
	case *packet.Pubrec:
		return c.handlePubrec(p)
	case *packet.Pubrel:
		return c.handlePubrel(p)
	case *packet.Pubcomp:
		return c.handlePubcomp(p)
	case *packet.Subscribe:
		return c.handleSubscribe(p)
	case *packet.Unsubscribe:
		return c.handleUnsubscribe(p)
	case *packet.Pingreq:
		c.send(&packet.Pingresp{})
		return nil
	case *packet.Disconnect:
		return c.handleDisconnect(p)
	case *packet.Auth:
		return c.handleAuth(p)
	case *packet.Connect:
		return &packet.Error{Code: packet.ProtocolError, Msg: "second CONNECT"} // [MQTT-3.1.0-2]
	default:
		// CONNACK, SUBACK, UNSUBACK, PINGRESP are server-to-client only.
		return &packet.Error{Code: packet.ProtocolError, Msg: fmt.Sprintf("unexpected packet type %d from a client", p.Type())}
	}
}

// startWriter starts the writer goroutine; called once CONNACK is queued.
func (c *conn) startWriter() {
	c.writerOn = true
	c.bw = bufio.NewWriterSize(countingWriter{c.nc, &c.b.stats}, 16<<10)
	go c.writeLoop()
}

// writeLoop drains control packets, retransmissions and queued messages,
// encoding them into one buffer and flushing when nothing is left, so a
// burst of packets costs one syscall.
func (c *conn) writeLoop() {
	defer close(c.wdone)
	defer c.nc.Close()
	var ctrl []packet.Packet
	var msgs []delivery
	for {
		select {
		case <-c.wake:
		case <-c.quit:
			c.finish()
			return
		}
		for {
			c.mu.Lock()
			ctrl, c.ctrl = c.ctrl, ctrl[:0]
			sess := c.sess // set with the CONNACK, so messages never precede it
			c.mu.Unlock()
			msgs = sess.takeForSend(c, msgs[:0])
			if len(ctrl) == 0 && len(msgs) == 0 {
				break
			}
			c.nc.SetWriteDeadline(time.Now().Add(c.b.opts.WriteTimeout))
			for i, p := range ctrl {
				if err := c.writePacket(p); err != nil {
					c.writeFailed(err)
					return
				}
				ctrl[i] = nil
			}
			for i := range msgs {
				if err := c.writeDelivery(&msgs[i]); err != nil {
					c.writeFailed(err)
					return
				}
				msgs[i] = delivery{}
			}
		}
		c.nc.SetWriteDeadline(time.Now().Add(c.b.opts.WriteTimeout))
		if err := c.bw.Flush(); err != nil {
			c.writeFailed(err)
			return
		}
	}
}

func (c *conn) writeFailed(err error) {
	c.b.log.Debug("write failed", "client", c.clientID, "err", err)
	c.close(closeReason{log: "write"})
}

// finish flushes what is queued for the socket (acks, CONNACK with an
// error code) and the MQTT 5 DISCONNECT, under a short deadline.
func (c *conn) finish() {
	c.mu.Lock()
	ctrl := c.ctrl
	c.ctrl = nil
	r := c.reason
	c.mu.Unlock()
	c.nc.SetWriteDeadline(time.Now().Add(time.Second))
	for _, p := range ctrl {
		if c.writePacket(p) != nil {
			return
		}
	}
	// [MQTT-4.13.1-1]: 3.x has no server DISCONNECT; MQTT 5 gets one only
	// after a successful CONNACK and only with an error reason.
	if r.send && c.version == packet.V5 && c.connAccepted && r.code >= 0x80 {
		d := &packet.Disconnect{ReasonCode: r.code}
		if c.writePacket(d) != nil {
			return
		}
	}
	c.bw.Flush()
}

// writePacket encodes p into the buffered writer, honouring the client's
// Maximum Packet Size for packets other than PUBLISH by dropping the
// reason string and user properties first [MQTT-3.1.2-25].
func (c *conn) writePacket(p packet.Packet) error {
	if c.maxOut > 0 && packet.Size(p, c.version) > int(c.maxOut) {
		stripOptional(p)
		if packet.Size(p, c.version) > int(c.maxOut) {
			return nil // cannot be sent at all; drop it
		}
	}
	var err error
	c.wbuf, err = packet.Append(c.wbuf[:0], p, c.version)
	if err != nil {
		c.b.log.Error("encoding failed", "client", c.clientID, "type", p.Type(), "err", err)
		return nil
	}
	c.b.stats.msgsSent.Add(1)
	_, err = c.bw.Write(c.wbuf)
	return err
}

// stripOptional removes the reason string and user properties, which
// the server may omit when the packet would be too large.
func stripOptional(p packet.Packet) {
	var pr *packet.Properties
	switch p := p.(type) {
	case *packet.Connack:
		pr = &p.Properties
	case *packet.Puback:
		pr = &p.Properties
	case *packet.Pubrec:
		pr = &p.Properties
	case *packet.Pubrel:
		pr = &p.Properties
	case *packet.Pubcomp:
		pr = &p.Properties
	case *packet.Suback:
		pr = &p.Properties
	case *packet.Unsuback:
		pr = &p.Properties
	case *packet.Disconnect:
		pr = &p.Properties
	case *packet.Auth:
		pr = &p.Properties
	default:
		return
	}
	pr.ReasonString = ""
	pr.User = nil
}

// cleanup runs after both goroutines stopped: logs, will, session detach.
func (c *conn) cleanup(err error) {
	if c.sess == nil {
		if err != nil && err != errClosed && !errors.Is(err, io.EOF) {
			c.b.log.Info("Client " + c.remote + " disconnected: " + err.Error() + ".")
		}
		return
	}
	c.b.stats.clientsConnected.Add(-1)
	switch {
	case err == errNormal || err == errNormalWithWill:
		c.b.log.Info("Client " + c.clientID + " disconnected.")
	case err == errKeepAlive:
		c.b.log.Info("Client " + c.clientID + " has exceeded timeout, disconnecting.")
	case err == errClosed:
		c.mu.Lock()
		r := c.reason
		c.mu.Unlock()
		if r.code == packet.SessionTakenOver {
			c.b.log.Info("Client " + c.clientID + " already connected, closing old connection.")
		} else {
			c.b.log.Info("Client " + c.clientID + " disconnected.")
		}
	case errors.Is(err, io.EOF):
		c.b.log.Info("Client " + c.clientID + " closed its connection.")
	default:
		c.b.log.Info("Client " + c.clientID + " disconnected due to protocol error: " + err.Error() + ".")
	}
	c.b.detach(c)
}

// countingReader and countingWriter feed $SYS/broker/bytes/*.
type countingReader struct {
	r io.Reader
	s *stats
}

func (r countingReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.s.bytesRecv.Add(int64(n))
	return n, err
}

type countingWriter struct {
	w io.Writer
	s *stats
}

func (w countingWriter) Write(p []byte) (int, error) {
	n, err := w.w.Write(p)
	w.s.bytesSent.Add(int64(n))
	return n, err
}
