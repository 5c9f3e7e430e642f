package sn

import (
	"slices"
	"time"

	"github.com/mqttkit/mqtt/mqtt/packet"
)

// Will updates [MQTT-SN 6.4]. MQTT cannot change the will of a connection: the broker holds
// the will of CONNECT until the connection ends. So that it holds the current one (and
// publishes it, not the old one, if the gateway or its link to the broker fails), the
// gateway reconnects the client's MQTT session after WILLTOPICUPD or WILLMSGUPD: DISCONNECT
// (the old will is discarded), then, once the broker has closed that connection, a CONNECT
// with CleanSession false and the new will (or none). The session (subscriptions, messages
// queued or in flight) carries over; messages the broker sends again after the reconnection
// are recognised by their packet ids; what the client sends meanwhile waits and goes up in
// order once the new CONNACK has come.
//
// That needs the broker to keep the session across the reconnection, which a CleanSession
// true session does not (MQTT 3.1.1 ends it with its connection, and MQTT 5 cannot extend a
// Session Expiry of 0 at DISCONNECT): for such clients the gateway keeps the new will
// itself, and if the client is lost it publishes that will on the client's connection and
// ends it with DISCONNECT, so the broker drops the old one. If the gateway itself dies, the
// broker then publishes the will of CONNECT. Until a reconnection completes, the gateway
// does the same for a CleanSession false client.

// willSwap is a reconnection in progress (and, after it, the packet ids it acknowledged, for
// the broker's redeliveries). s.mu guards it.
type willSwap struct {
	phase   uint8
	rewill  bool // the will changed again after the new CONNECT went out
	lost    bool // the client was lost before the new connection: it ends without DISCONNECT
	old     UpstreamConn
	oldGen  uint32
	oldDone chan struct{}          // closed when the replaced connection has ended
	connack chan packet.ReasonCode // the new connection's CONNACK
	ended   chan struct{}          // closed when the new connection ended before its CONNACK
	held    []packet.Packet        // for upstream, until the new connection is ready
	acked   []uint16               // packet ids of PUBACK and PUBREC held
	doneAt  int64
}

// Phases of a willSwap.
const (
	swapClosing  uint8 = iota + 1 // the old connection is ending
	swapOpening                   // the new connection is open, its CONNACK due
	swapFinished                  // done; acked is kept for the broker's redeliveries
	swapFailed                    // the new connection ended before its CONNACK
)

// maxHeld bounds what waits for the new connection; beyond it the client's PUBLISHes get
// "rejected: congestion" (QoS 0 ones are dropped).
const maxHeld = 1024

// holding reports whether packets for upstream wait for a reconnection. s.mu is held.
func (s *session) holding() bool {
	return s.sw != nil && (s.sw.phase == swapClosing || s.sw.phase == swapOpening)
}

// hold keeps q and p for the new connection; p (the read loop's reused PUBLISH among them)
// is copied. It returns ErrUpstreamBusy for p when too much waits already. s.mu is held.
func (s *session) hold(q []packet.Packet, p packet.Packet) error {
	sw := s.sw
	for _, x := range q {
		switch x := x.(type) {
		case *packet.Pingreq:
			continue // the new connection is alive
		case *packet.Puback:
			sw.acked = append(sw.acked, x.PacketID)
		case *packet.Pubrec:
			sw.acked = append(sw.acked, x.PacketID)
		}
		sw.held = append(sw.held, x)
	}
	if p == nil {
		return nil
	}
	if len(sw.held) >= maxHeld {
		return ErrUpstreamBusy
	}
	if pp, ok := p.(*packet.Publish); ok {
		c := *pp
		c.Payload = slices.Clone(pp.Payload)
		p = &c
	}
	sw.held = append(sw.held, p)
	return nil
}

// startSwap hands a changed will to the broker by reconnecting s's session (see above), for
// a CleanSession false client with an upstream connection; for others it does nothing (the
// gateway keeps the will). s.mu is held.
func (g *Gateway) startSwap(s *session) {
	if s.clean || !s.connected() {
		return
	}
	if s.sw != nil && s.holding() {
		if s.sw.phase == swapOpening {
			s.sw.rewill = true // the CONNECT on its way has the previous will
		}
		return
	}
	if s.up == nil {
		return
	}
	old := s.up
	s.sw = &willSwap{phase: swapClosing, old: old, oldGen: s.gen, oldDone: make(chan struct{}),
		connack: make(chan packet.ReasonCode, 1), ended: make(chan struct{})}
	s.up = nil
	s.gen++
	// After whatever the worker has for the old connection: DISCONNECT (the broker discards
	// the will), and the broker closes it once it has answered what came before (closing
	// it ourselves would lose those answers).
	g.later(old, []packet.Packet{&packet.Disconnect{}}, false)
	g.wg.Add(1)
	go g.swapUpstream(s, s.sw, s.gen)
}

// swapUpstream runs a reconnection: it waits for the old connection to end (the broker has
// then read its DISCONNECT, and sent everything before it), opens the new one, sends CONNECT
// and waits for CONNACK, then sends what waited and lets packets go straight up again.
func (g *Gateway) swapUpstream(s *session, sw *willSwap, gen uint32) {
	defer g.wg.Done()
	t := time.NewTimer(g.opts.ConnectTimeout)
	defer t.Stop()
	select {
	case <-sw.oldDone:
	case <-t.C:
		// The broker should have closed it [MQTT-3.14.4]: do it, without a will (DISCONNECT
		// went first).
		g.later(sw.old, nil, true)
		select {
		case <-sw.oldDone:
		case <-g.ctx.Done():
			return
		}
	case <-g.ctx.Done():
		return
	}
	s.mu.Lock()
	if s.state == stClosed && !sw.lost {
		s.mu.Unlock()
		return
	}
	remote := g.remoteAddr(s.key)
	s.mu.Unlock()
	conn, err := g.openConn(s, remote, gen)
	s.mu.Lock()
	if err != nil {
		closed := s.state == stClosed
		s.mu.Unlock()
		if !closed {
			g.log.Warn("mqtt-sn gateway: reconnecting upstream for a new will", "client", logString(s.id), "err", err)
			g.end(s, true, true, "reconnecting upstream for a new will failed")
		}
		return
	}
	if s.state == stClosed {
		// Lost meanwhile: a CONNECT with the new will then an end without DISCONNECT makes
		// the broker publish it.
		c := g.connectPacket(s, true)
		lost := sw.lost
		s.mu.Unlock()
		if lost {
			_ = conn.Send(c)
		}
		_ = conn.Close()
		return
	}
	sw.phase = swapOpening
	s.up, s.lastUp = conn, g.now()
	c := g.connectPacket(s, true)
	s.mu.Unlock()
	if err := conn.Send(c); err != nil {
		g.end(s, true, true, "the upstream CONNECT could not be sent")
		return
	}
	t.Reset(g.opts.ConnectTimeout)
	var rc packet.ReasonCode
	select {
	case rc = <-sw.connack:
	case <-sw.ended:
		return // onUpstreamClose ended the session
	case <-t.C:
		g.end(s, true, false, "no CONNACK when reconnecting for a new will")
		return
	case <-g.ctx.Done():
		return
	}
	if rc >= 0x80 {
		g.log.Warn("mqtt-sn gateway: the broker refused the reconnection for a new will", "client", logString(s.id), "reason", rc)
		g.end(s, true, true, "the broker refused the reconnection for a new will")
		return
	}
	for {
		s.mu.Lock()
		if s.state == stClosed || s.sw != sw {
			s.mu.Unlock()
			return
		}
		held := sw.held
		sw.held = nil
		if len(held) == 0 {
			sw.phase, sw.doneAt = swapFinished, g.now()
			s.willUpd = sw.rewill // the broker holds the current will, unless it changed again
			if sw.rewill {
				g.startSwap(s)
			}
			s.mu.Unlock()
			return
		}
		s.lastUp = g.now()
		s.mu.Unlock()
		for _, p := range held {
			if err := conn.Send(p); err != nil {
				g.debug("upstream send", "packet", p.Type(), "err", err)
			}
		}
	}
}

// redelivered reports whether p, a PUBLISH the broker sends again (DUP), is one the gateway
// has already: queued or in flight (after a reconnection the broker sends again what it had
// not had acknowledged), or acknowledged while reconnecting, which is acknowledged again.
// s.mu is held.
func (g *Gateway) redelivered(s *session, p *packet.Publish) bool {
	if o := s.out; o != nil {
		if o.cur != nil && o.cur.QoS > 0 && o.cur.PacketID == p.PacketID {
			return true
		}
		for _, q := range o.q[o.head:] {
			if q.QoS > 0 && q.PacketID == p.PacketID {
				return true
			}
		}
	}
	if s.sw != nil && slices.Contains(s.sw.acked, p.PacketID) {
		g.ackUp(s, p)
		return true
	}
	return false
}

// onWillTopicUpd handles WILLTOPICUPD; the empty one deletes the will. s.mu is held.
func (g *Gateway) onWillTopicUpd(s *session, m *WillTopicUpd) {
	if !s.connected() {
		g.drop(s.key, m, "not connected")
		return
	}
	if m.Topic == "" {
		s.will, s.willUpd = nil, true
		g.reply(s, &WillTopicResp{ReturnCode: Accepted})
		g.startSwap(s)
		return
	}
	if m.QoS == QoSMinus1 || validName(m.Topic) != nil {
		g.rejected.Add(1)
		g.reply(s, &WillTopicResp{ReturnCode: RejectedNotSupported})
		return
	}
	w := &will{topic: m.Topic, qos: m.QoS, retain: m.Retain}
	if s.will != nil {
		w.msg = s.will.msg
	}
	s.will, s.willUpd = w, true
	g.reply(s, &WillTopicResp{ReturnCode: Accepted})
	g.startSwap(s)
}

// onWillMsgUpd handles WILLMSGUPD. s.mu is held.
func (g *Gateway) onWillMsgUpd(s *session, m *WillMsgUpd) {
	if !s.connected() {
		g.drop(s.key, m, "not connected")
		return
	}
	w := &will{msg: append([]byte(nil), m.Msg...)}
	if s.will != nil {
		w.topic, w.qos, w.retain = s.will.topic, s.will.qos, s.will.retain
	}
	s.will, s.willUpd = w, true
	g.reply(s, &WillMsgResp{ReturnCode: Accepted})
	g.startSwap(s)
}
