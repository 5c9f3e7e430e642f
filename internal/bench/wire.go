package bench

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mqttkit/mqtt/mqtt/packet"
)

// wireConn is one bench connection: MQTT spoken with mqtt/packet over a net.Conn. Reads
// belong to one goroutine; writes take wmu, because acknowledgements and PINGREQ share the
// socket with the publisher's batches.
type wireConn struct {
	nc      net.Conn
	release func()
	version byte
	id      string

	wmu       sync.Mutex
	lastWrite atomic.Int64 // Unix nanoseconds, for keep alive

	rd reader

	receiveMax    int    // v5 CONNACK Receive Maximum, 65535 when absent
	topicAliasMax uint16 // v5 CONNACK Topic Alias Maximum, 0 when absent
}

// ConnectError is a CONNACK that refused the connection.
type ConnectError struct {
	Version byte
	Code    byte // the 3.x return code or the v5 reason code, as sent
}

func (e *ConnectError) Error() string {
	if e.Version == packet.V5 {
		return fmt.Sprintf("connection refused: CONNACK reason code 0x%02X (%s)", e.Code, packet.ReasonCode(e.Code))
	}
	return fmt.Sprintf("connection refused: CONNACK return code %d (%s)", e.Code, connackText(e.Code))
}

func connackText(rc byte) string {
	switch rc {
	case 1:
		return "unacceptable protocol version"
	case 2:
		return "identifier rejected"
	case 3:
		return "server unavailable"
	case 4:
		return "bad user name or password"
	case 5:
		return "not authorised"
	}
	return "unknown return code"
}

// connect dials, sends CONNECT and waits for CONNACK. It returns the CONNACK latency
// (from starting to dial to CONNACK).
func connect(ctx context.Context, cfg *Config, id string, readBuf int) (*wireConn, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	start := time.Now()
	nc, release, err := dial(ctx, cfg.Server, cfg.TLSConfig)
	if err != nil {
		return nil, 0, err
	}
	c := &wireConn{nc: nc, release: release, version: cfg.Version, id: id, receiveMax: 65535}
	c.rd = reader{nc: nc, buf: make([]byte, readBuf)}
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Now()) })
	defer stop()

	cp := &packet.Connect{
		ProtocolName: "MQTT", ProtocolVersion: cfg.Version, CleanStart: !cfg.KeepSession,
		KeepAlive: cfg.KeepAlive, ClientID: id,
		UsernameFlag: cfg.HasUser, Username: cfg.Username,
		PasswordFlag: cfg.HasPass,
	}
	if cfg.HasPass {
		cp.Password = []byte(cfg.Password)
	}
	if cfg.Version == packet.V31 {
		cp.ProtocolName = "MQIsdp"
	}
	if cfg.Version == packet.V5 {
		cp.Properties = cfg.ConnectProperties
		if cfg.TopicAlias && !cp.Properties.HasTopicAliasMaximum {
			// Let the broker alias towards subscribers too.
			cp.Properties.TopicAliasMaximum, cp.Properties.HasTopicAliasMaximum = 10, true
		}
	}
	buf, err := packet.Append(nil, cp, cfg.Version)
	if err != nil {
		c.close()
		return nil, 0, fmt.Errorf("encoding CONNECT: %v", err)
	}
	if err := c.write(buf); err != nil {
		c.close()
		return nil, 0, err
	}
	first, body, err := c.rd.next(nil)
	if err != nil {
		c.close()
		if errors.Is(err, net.ErrClosed) || ctx.Err() != nil {
			return nil, 0, fmt.Errorf("no CONNACK within %s", connectTimeout)
		}
		return nil, 0, fmt.Errorf("waiting for CONNACK: %w", err)
	}
	if packet.Type(first>>4) != packet.CONNACK || len(body) < 2 {
		c.close()
		return nil, 0, fmt.Errorf("expected CONNACK, got %s", packet.Type(first>>4))
	}
	lat := time.Since(start)
	if body[1] != 0 {
		c.close()
		return nil, 0, &ConnectError{Version: cfg.Version, Code: body[1]}
	}
	if cfg.Version == packet.V5 {
		p, err := packet.Decode(cfg.Version, first, body)
		if err != nil {
			c.close()
			return nil, 0, fmt.Errorf("bad CONNACK: %v", err)
		}
		ca := p.(*packet.Connack)
		if ca.Properties.HasReceiveMaximum && ca.Properties.ReceiveMaximum > 0 {
			c.receiveMax = int(ca.Properties.ReceiveMaximum)
		}
		c.topicAliasMax = ca.Properties.TopicAliasMaximum
	}
	_ = nc.SetDeadline(time.Time{})
	return c, lat, nil
}

// subscribe sends one SUBSCRIBE and waits for its SUBACK.
func (c *wireConn) subscribe(ctx context.Context, filter string, qos byte) error {
	stop := context.AfterFunc(ctx, func() { _ = c.nc.SetDeadline(time.Now()) })
	defer stop()
	_ = c.nc.SetDeadline(time.Now().Add(connectTimeout))
	defer c.nc.SetDeadline(time.Time{})
	buf, err := packet.Append(nil, &packet.Subscribe{PacketID: 1,
		Subscriptions: []packet.Subscription{{Filter: filter, QoS: qos}}}, c.version)
	if err != nil {
		return fmt.Errorf("encoding SUBSCRIBE %q: %v", filter, err)
	}
	if err := c.write(buf); err != nil {
		return err
	}
	for {
		first, body, err := c.rd.read(nil)
		if err != nil {
			return fmt.Errorf("waiting for SUBACK: %w", err)
		}
		if packet.Type(first>>4) != packet.SUBACK {
			// A resumed session's messages (--disable-clean-session) and
			// matching PUBLISHes may come before SUBACK [MQTT-3.8.4]: kept
			// for the read loop, which acknowledges and counts them.
			c.rd.hold(first, body)
			continue
		}
		p, err := packet.Decode(c.version, first, body)
		if err != nil {
			return fmt.Errorf("bad SUBACK: %v", err)
		}
		sa := p.(*packet.Suback)
		if len(sa.ReasonCodes) != 1 || sa.ReasonCodes[0] >= 0x80 {
			code := byte(0x80)
			if len(sa.ReasonCodes) > 0 {
				code = byte(sa.ReasonCodes[0])
			}
			return fmt.Errorf("subscription to %q refused: SUBACK code 0x%02X", filter, code)
		}
		return nil
	}
}

// write sends b whole, under the write lock.
func (c *wireConn) write(b []byte) error {
	c.wmu.Lock()
	_, err := c.nc.Write(b)
	c.lastWrite.Store(time.Now().UnixNano())
	c.wmu.Unlock()
	return err
}

// ping sends PINGREQ when nothing was written for half the keep alive.
func (c *wireConn) ping(now time.Time, keepAlive time.Duration) {
	if now.UnixNano()-c.lastWrite.Load() < int64(keepAlive/2) {
		return
	}
	_ = c.write([]byte{byte(packet.PINGREQ) << 4, 0})
}

// disconnect sends DISCONNECT (best effort) and closes.
func (c *wireConn) disconnect() {
	_ = c.nc.SetWriteDeadline(time.Now().Add(time.Second))
	_ = c.write([]byte{byte(packet.DISCONNECT) << 4, 0})
	c.close()
}

func (c *wireConn) close() {
	_ = c.nc.Close()
	if c.release != nil {
		c.release()
	}
}

// reader parses packets out of a read buffer without allocating: the body returned by next
// is valid until the following call.
type reader struct {
	nc   net.Conn
	buf  []byte
	r, w int
	held []heldPacket // read before the caller was ready for them (hold); next returns them first
}

type heldPacket struct {
	first byte
	body  []byte
}

// hold keeps a copy of a packet for next to return before any other.
func (rd *reader) hold(first byte, body []byte) {
	rd.held = append(rd.held, heldPacket{first, bytes.Clone(body)})
}

// next returns the next packet. idle, when not nil, runs before each blocking read, so a
// caller can flush what it batched while packets were already buffered.
func (rd *reader) next(idle func() error) (first byte, body []byte, err error) {
	if len(rd.held) > 0 {
		h := rd.held[0]
		rd.held = rd.held[1:]
		if len(rd.held) == 0 {
			rd.held = nil
		}
		return h.first, h.body, nil
	}
	return rd.read(idle)
}

// read is next without the held packets.
func (rd *reader) read(idle func() error) (first byte, body []byte, err error) {
	for {
		need := 0
		if rd.w > rd.r {
			f, rem, n, err := packet.ParseHeader(rd.buf[rd.r:rd.w])
			switch {
			case err == nil:
				if rd.w-rd.r >= n+rem {
					body = rd.buf[rd.r+n : rd.r+n+rem]
					rd.r += n + rem
					return f, body, nil
				}
				need = n + rem
			case !errors.Is(err, packet.ErrIncomplete):
				return 0, nil, err
			}
		}
		if idle != nil {
			if err := idle(); err != nil {
				return 0, nil, err
			}
		}
		if rd.r > 0 {
			rd.w = copy(rd.buf, rd.buf[rd.r:rd.w])
			rd.r = 0
		}
		if need > len(rd.buf) {
			nb := make([]byte, need)
			copy(nb, rd.buf[:rd.w])
			rd.buf = nb
		}
		n, err := rd.nc.Read(rd.buf[rd.w:])
		rd.w += n
		if err != nil && n == 0 {
			return 0, nil, err
		}
	}
}

// publishPayload extracts qos, packet id and payload from a PUBLISH body without allocating.
func publishPayload(version, first byte, body []byte) (qos byte, id uint16, payload []byte, ok bool) {
	qos = first >> 1 & 3
	if len(body) < 2 {
		return 0, 0, nil, false
	}
	off := 2 + int(binary.BigEndian.Uint16(body))
	if qos > 0 {
		if len(body) < off+2 {
			return 0, 0, nil, false
		}
		id = binary.BigEndian.Uint16(body[off:])
		off += 2
	}
	if version == packet.V5 {
		n, m := uvarint(body[min(off, len(body)):])
		if m <= 0 {
			return 0, 0, nil, false
		}
		off += m + n
	}
	if off > len(body) {
		return 0, 0, nil, false
	}
	return qos, id, body[off:], true
}

// uvarint decodes an MQTT variable byte integer; m is its length, 0 or less when malformed.
func uvarint(b []byte) (v, m int) {
	for i := 0; i < 4 && i < len(b); i++ {
		v |= int(b[i]&0x7f) << (7 * i)
		if b[i]&0x80 == 0 {
			return v, i + 1
		}
	}
	return 0, -1
}

// appendAck appends a 2-byte-id acknowledgement (PUBACK, PUBREC, PUBREL, PUBCOMP); in v5
// the reason code Success and no properties are left out [MQTT-3.4.2-1].
func appendAck(dst []byte, t packet.Type, id uint16) []byte {
	first := byte(t) << 4
	if t == packet.PUBREL {
		first |= 0x02
	}
	return append(dst, first, 2, byte(id>>8), byte(id))
}
