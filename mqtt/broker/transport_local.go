package broker

import (
	"errors"
	"fmt"
	"net"
	"sync"

	"github.com/mqttkit/mqtt/mqtt/packet"
)

// ErrConnClosed is returned by LocalConn.Send once the connection has
// ended (the broker closed it, or Close was called).
var ErrConnClosed = errors.New("broker: connection closed")

// LocalConfig describes an in-process client for Broker.Attach.
type LocalConfig struct {
	// Remote is the peer's address in logs and ClientInfo.Remote (an
	// MQTT-SN gateway passes its client's UDP address). Nil: "local".
	Remote net.Addr
	// Listener is ClientInfo.Listener, by which per-listener auth hooks
	// tell connections apart. Default "local".
	Listener string
	// Deliver receives every packet the broker sends this client (CONNACK,
	// PUBLISH, acks, DISCONNECT, ...), in order, one call at a time, from
	// the connection's writer goroutine. The packet is the callee's. It
	// must not block for long (the client's own queue backs up meanwhile;
	// routing to others does not wait) and must not call Send or Close of
	// the same LocalConn: hand such work to another goroutine. A panic in
	// Deliver ends this connection, not the broker.
	Deliver func(packet.Packet)
	// Closed, if set, is called once when the connection has ended, after
	// the last Deliver: with nil when the client ended it (DISCONNECT, or
	// Close), otherwise with why the broker did (a packet.ReasonCode such
	// as SessionTakenOver, KeepAliveTimeout or ServerShuttingDown, or the
	// protocol error). The same rule as Deliver: do not call Send or Close.
	Closed func(error)
}

// LocalConn is an MQTT connection to the broker from inside the process,
// without a socket: the client sends packets with Send and receives the
// broker's through LocalConfig.Deliver. It is the same protocol engine a
// network client gets (CONNECT first, every rule, limit, hook and ACL
// check applies), so an MQTT-SN gateway or a bridge can attach sessions
// with no TCP hop and no goroutine of their own while idle.
type LocalConn struct {
	conn
	cfg   LocalConfig
	smu   sync.Mutex // serializes Send, Close and the end of the connection
	ended bool       // under smu
	enc   []byte     // Send's encoding buffer, under smu

	// An in-process subscription (Subscribe) receives messages through
	// handler instead of PUBLISH packets, with the identity as (nil:
	// trusted) for the Authorizer.
	handler func(Delivery)
	as      *ClientInfo
}

type localAddr struct{}

func (localAddr) Network() string { return "local" }
func (localAddr) String() string  { return "local" }

// Attach connects an in-process client. The connection counts like a
// network one (in $SYS and Stats, in max_connections it does not) and ends
// when the client sends DISCONNECT, calls Close, or the broker ends it
// (takeover, keep alive, protocol error, Close of the broker). The first
// packet Sent must be CONNECT, within Options.ConnectTimeout.
//
// Errors: ErrBrokerClosed after Close; a LocalConfig without Deliver.
func (b *Broker) Attach(cfg LocalConfig) (*LocalConn, error) {
	if cfg.Deliver == nil {
		return nil, errors.New("broker: Attach: LocalConfig.Deliver is required")
	}
	if cfg.Remote == nil {
		cfg.Remote = localAddr{}
	}
	if cfg.Listener == "" {
		cfg.Listener = "local"
	}
	l := &LocalConn{cfg: cfg}
	l.init(b, l, cfg.Remote, cfg.Listener)
	if !b.register(&l.conn) {
		return nil, ErrBrokerClosed
	}
	b.log.Info("New connection from " + l.remoteStr() + " on port " + l.info.Listener + ".")
	return l, nil
}

// Send delivers p from the client to the broker, which handles it before
// Send returns (what the broker answers reaches Deliver, possibly before
// Send returns). p is encoded and decoded as on the network, so a packet
// the network path would refuse is refused the same way. Send returns
// ErrConnClosed after the connection ended, and the error that ended it
// when p did (a protocol error; the reason reached Deliver as DISCONNECT
// for MQTT 5). Safe from several goroutines; packets are handled in the
// order their Sends take the connection's lock.
func (l *LocalConn) Send(p packet.Packet) error {
	l.smu.Lock()
	defer l.smu.Unlock()
	if l.ended {
		return ErrConnClosed
	}
	if l.isClosed() {
		l.end(l.closeErr())
		return ErrConnClosed
	}
	v := l.version
	if cp, ok := p.(*packet.Connect); ok && !l.connectSeen {
		v = cp.ProtocolVersion
	}
	var err error
	if l.enc, err = packet.Append(l.enc[:0], p, v); err != nil {
		return err
	}
	l.noteRead(len(l.enc))
	if err := l.dispatchOne(l.enc); err != nil {
		l.end(err)
		if err == errNormal || err == errNormalWithWill {
			return nil
		}
		return err
	}
	if cap(l.enc) > 64<<10 {
		l.enc = nil // keep no large buffer while idle
	}
	return nil
}

// dispatchOne handles one encoded packet on the caller's goroutine.
func (l *LocalConn) dispatchOne(pkt []byte) (err error) {
	defer l.recoverHandler(&err)
	err = l.dispatchBytes(pkt)
	if err == nil && l.in != nil {
		l.takeIn()
		err = l.readError(&packet.Error{Code: packet.MalformedPacket, Msg: "incomplete packet"})
	}
	if err == nil && l.isClosed() {
		err = l.closeErr()
	}
	return err
}

// Close ends the connection as a network failure would: the will, if
// any, is published. It returns when the connection has ended; Closed is
// called with nil. Closing an ended connection does nothing.
func (l *LocalConn) Close() error {
	l.smu.Lock()
	defer l.smu.Unlock()
	if !l.ended {
		l.end(errLocalClose)
	}
	return nil
}

// end tears the connection down; under smu, once. Closed is called from
// release, inside the teardown.
func (l *LocalConn) end(err error) {
	l.ended = true
	l.teardown(err)
}

// release reports the end to LocalConfig.Closed.
func (l *LocalConn) release(err error) {
	if l.cfg.Closed == nil {
		return
	}
	why := l.endError(err)
	defer func() {
		if p := recover(); p != nil {
			l.b.log.Error("LocalConfig.Closed panicked", "client", l.info.ClientID, "panic", fmt.Sprint(p))
		}
	}()
	l.cfg.Closed(why)
}

// write decodes the encoded packets and hands each to Deliver.
func (l *LocalConn) write(out []byte) (n int, err error) {
	defer func() {
		if p := recover(); p != nil {
			l.b.log.Error("LocalConfig.Deliver panicked, closing the connection", "client", l.info.ClientID, "panic", fmt.Sprint(p))
			err = fmt.Errorf("deliver: panic: %v", p)
		}
	}()
	for n < len(out) {
		first, remaining, hn, err := packet.ParseHeader(out[n:])
		if err != nil {
			return n, err
		}
		body := append([]byte(nil), out[n+hn:n+hn+remaining]...)
		p, err := packet.Decode(l.version, first, body)
		if err != nil {
			return n, err
		}
		n += hn + remaining
		l.cfg.Deliver(p)
	}
	return n, nil
}

func (l *LocalConn) writeDone() {}
func (l *LocalConn) linger()    {}

// drainInput: Send handles each packet before it returns, nothing is pending.
func (l *LocalConn) drainInput() { l.close(reasonTakeover) }

// interrupt ends the connection from a goroutine of its own: close may
// be called with locks held or by this connection's writer, and a Send
// handling a packet ends it itself when the handler returns.
func (l *LocalConn) interrupt() { go l.endLater() }

func (l *LocalConn) endLater() {
	l.smu.Lock()
	defer l.smu.Unlock()
	if !l.ended {
		l.end(l.closeErr())
	}
}

func (l *LocalConn) netConn() net.Conn { return nil }
