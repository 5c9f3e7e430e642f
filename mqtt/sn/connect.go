package sn

import (
	"context"
	"fmt"
	"net"
	"strings"
	"unicode/utf8"

	"github.com/mqttkit/mqtt/mqtt/packet"
)

// MaxClientIDLength is the longest ClientId the gateway accepts, in octets. The spec says 1
// to 23 characters [MQTT-SN 5.3.1]; longer ones are accepted, as MQTT brokers accept them
// (a device's serial number or a UUID with a prefix), up to this bound on what each client
// costs.
const MaxClientIDLength = 256

// handleConnect handles CONNECT [MQTT-SN 6.2]: a new client, a client that moved to another
// address, a retransmission, or a sleeping client coming back to the active state
// [MQTT-SN 6.14]. It runs on the read loop.
func (g *Gateway) handleConnect(key peerKey, m *Connect) {
	if why := connectRefusal(m); why != "" {
		g.rejected.Add(1)
		g.debugFrom(key.addr, "CONNECT refused: "+why, "from", key.addr, "client", logString(m.ClientID))
		g.sendTo(key, &Connack{ReturnCode: RejectedNotSupported}, nil)
		return
	}
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return
	}
	s, other := g.byPeer[key], g.byID[m.ClientID]
	if s != nil && s.id != m.ClientID {
		// Another client id from this address: that client is gone.
		g.mu.Unlock()
		g.end(s, false, true, "a new client id connected from its address")
		g.mu.Lock()
		s, other = g.byPeer[key], g.byID[m.ClientID]
	}
	if s == nil && other != nil {
		other.mu.Lock()
		resumable := other.state == stAsleep || other.state == stAwake ||
			(other.state == stActive && !m.CleanSession && !m.Will)
		if resumable {
			// The client moved (a new source port after a reboot, another forwarder):
			// its session follows it, and its old address is told it has none.
			delete(g.byPeer, other.key)
			g.sendTo(other.key, &Disconnect{}, nil)
			other.key = key
			g.byPeer[key] = other
			s = other
		}
		other.mu.Unlock()
		if !resumable {
			g.mu.Unlock()
			g.end(other, true, true, "the client connected again from another address")
			g.mu.Lock()
		}
	}
	if s != nil {
		s.mu.Lock()
		g.mu.Unlock()
		if g.connectExisting(s, m) {
			g.unlock(s)
			return
		}
		g.unlock(s)
		g.end(s, false, true, "the client connected again")
		g.mu.Lock()
	}
	if g.closed {
		g.mu.Unlock()
		return
	}
	if len(g.byPeer) >= g.opts.MaxClients {
		g.mu.Unlock()
		g.rejected.Add(1)
		g.debug("CONNECT refused: too many clients", "from", key.addr, "client", logString(m.ClientID))
		g.sendTo(key, &Connack{ReturnCode: RejectedCongestion}, nil)
		return
	}
	now := g.now()
	s = &session{key: key, id: m.ClientID, clean: m.CleanSession, keep: m.Duration, lastIn: now}
	if st := g.takeStoredLocked(m.ClientID); st != nil {
		if !m.CleanSession {
			// [MQTT-SN 6.3] CleanSession false keeps the will (unless a new one is
			// given) and the topic ids.
			s.topics = st.topics
			if !m.Will {
				s.will = st.will
			}
		}
	}
	g.byPeer[key], g.byID[m.ClientID] = s, s
	s.mu.Lock()
	g.mu.Unlock()
	if m.Will {
		g.askWillTopic(s, now)
	} else {
		g.connectUpstream(s)
	}
	g.unlock(s)
}

// connectRefusal says why a CONNECT is refused before anything else is looked at, or "".
func connectRefusal(m *Connect) string {
	switch {
	case m.ProtocolID != ProtocolID:
		return "protocol id " + itoa(int(m.ProtocolID)) // 0x01 is the only one [MQTT-SN 5.3.8]
	case m.ClientID == "":
		// [MQTT-SN 5.3.1] A ClientId is required: the gateway needs it to wake a sleeping
		// client, and it names the client's MQTT session.
		return "empty client id"
	case len(m.ClientID) > MaxClientIDLength:
		return "client id longer than " + itoa(MaxClientIDLength) + " octets"
	case !utf8.ValidString(m.ClientID):
		// The upstream CONNECT could not carry it [MQTT-1.5.4-1].
		return "client id is not UTF-8"
	case strings.IndexByte(m.ClientID, 0) >= 0:
		return "client id contains U+0000" // [MQTT-1.5.4-2]
	}
	if r, bad := packet.Discouraged(m.ClientID); bad {
		// A broker may close the connection for it [MQTT-1.5.3] (Mosquitto does): the
		// client would be told "congestion" and retry for ever.
		return fmt.Sprintf("client id contains %U", r)
	}
	return ""
}

// connectExisting handles a CONNECT for session s, which exists for this client id and
// address; false means s must end and a new session start. s.mu is held.
func (g *Gateway) connectExisting(s *session, m *Connect) bool {
	now := g.now()
	switch s.state {
	case stWillTopic:
		if !m.Will {
			return false
		}
		g.askWillTopic(s, now) // the client did not get WILLTOPICREQ
		return true
	case stWillMsg:
		if !m.Will {
			return false
		}
		s.deadline = now + int64(g.opts.ConnectTimeout)
		g.reply(s, &WillMsgReq{})
		return true
	case stConnecting:
		return true // a retransmission: CONNACK is on its way
	case stAsleep, stAwake:
		// [MQTT-SN 6.14] CONNECT takes a sleeping client back to the active state; it does
		// not start a new connection, so CleanSession is ignored. A will asked for is
		// prompted for and replaces the current one.
		s.keep = m.Duration
		if m.Will {
			s.willDial = true
			g.askWillTopic(s, now)
			return true
		}
		g.activate(s)
		return true
	case stActive:
		if m.CleanSession || m.Will {
			return false
		}
		// A retransmitted CONNECT (our CONNACK was lost) or a resuming client.
		s.keep = m.Duration
		g.activate(s)
		return true
	}
	return false
}

// askWillTopic starts (or repeats) the will dialogue [MQTT-SN 6.2]. s.mu is held.
func (g *Gateway) askWillTopic(s *session, now int64) {
	s.state = stWillTopic
	s.deadline = now + int64(g.opts.ConnectTimeout)
	g.reply(s, &WillTopicReq{})
}

// activate makes s active, acknowledges with CONNACK and delivers what is queued. s.mu is
// held.
func (g *Gateway) activate(s *session) {
	if s.state == stConnecting {
		g.log.Info("MQTT-SN client connected", "client", logString(s.id), "from", g.peerString(s.key),
			"keepalive", s.keep, "clean", s.clean, "will", s.will != nil && s.will.topic != "")
	}
	s.state = stActive
	s.lastIn = g.now()
	g.reply(s, &Connack{ReturnCode: Accepted})
	if s.out != nil && s.out.cur != nil {
		g.resend(s)
		return
	}
	g.pump(s)
}

// onWillTopic handles WILLTOPIC [MQTT-SN 5.4.7]. s.mu is held.
func (g *Gateway) onWillTopic(s *session, m *WillTopic) {
	if s.state == stWillMsg && s.will != nil && m.Topic != "" {
		s.will = nil // sent again: our WILLMSGREQ was lost; take it as new
		s.state = stWillTopic
	}
	if s.state != stWillTopic {
		g.drop(s.key, m, "not in the will dialogue")
		return
	}
	if m.Topic == "" {
		// The empty WILLTOPIC: no will, and no WILLMSGREQ.
		s.will = nil
		g.willDone(s)
		return
	}
	if m.QoS == QoSMinus1 || validName(m.Topic) != nil {
		g.rejected.Add(1)
		g.debug("will topic refused", "client", logString(s.id), "topic", logString(m.Topic), "qos", m.QoS)
		g.reply(s, &Connack{ReturnCode: RejectedNotSupported})
		g.endLater(s, "will topic refused")
		return
	}
	s.will = &will{topic: m.Topic, qos: m.QoS, retain: m.Retain}
	s.state = stWillMsg
	s.deadline = g.now() + int64(g.opts.ConnectTimeout)
	g.reply(s, &WillMsgReq{})
}

// onWillMsg handles WILLMSG [MQTT-SN 5.4.9]. s.mu is held.
func (g *Gateway) onWillMsg(s *session, m *WillMsg) {
	switch {
	case s.state == stConnecting:
		return // sent again while the broker is being asked: CONNACK follows
	case s.state == stActive && s.will != nil:
		g.reply(s, &Connack{ReturnCode: Accepted}) // sent again: our CONNACK was lost
		return
	case s.state != stWillMsg || s.will == nil:
		g.drop(s.key, m, "not in the will dialogue")
		return
	}
	s.will.msg = append([]byte(nil), m.Msg...)
	g.willDone(s)
}

// willDone ends the will dialogue: connect upstream, or for a sleeping client that came
// back, take the new will and become active. s.mu is held.
func (g *Gateway) willDone(s *session) {
	if s.willDial {
		s.willDial = false
		s.willUpd = true
		g.activate(s)
		g.startSwap(s)
		return
	}
	g.connectUpstream(s)
}

// endLater marks s to be ended by unlockSend once s.mu is released: for handlers, which hold
// s.mu, while ending takes the gateway's lock first. Only set-up phases end this way.
func (g *Gateway) endLater(s *session, why string) {
	g.debug("client refused", "client", logString(s.id), "reason", why)
	s.state = stClosing
}

// connectUpstream opens s's upstream connection in the background, or queues s when
// MaxConnecting are being opened already; CONNACK follows when the broker answers. Only the
// read loop calls it. s.mu is held.
func (g *Gateway) connectUpstream(s *session) {
	g.connMu.Lock()
	switch {
	case g.opening < g.opts.MaxConnecting:
		g.opening++
	case g.connQ != nil && len(g.connQ)-g.connQHead >= g.opts.MaxConnectQueue:
		g.connMu.Unlock()
		g.rejected.Add(1)
		g.debug("CONNECT refused: too many clients waiting to be connected upstream", "client", logString(s.id))
		g.reply(s, &Connack{ReturnCode: RejectedCongestion})
		g.endLater(s, "too many connections being opened")
		return
	default:
		g.connQ = append(g.connQ, s)
		g.connMu.Unlock()
		s.state = stConnecting
		s.deadline = g.now() + int64(g.opts.ConnectTimeout)
		return
	}
	g.connMu.Unlock()
	s.state = stConnecting
	s.deadline = g.now() + int64(g.opts.ConnectTimeout)
	g.wg.Add(1)
	go g.openUpstreams(s)
}

// openUpstreams opens s's upstream connection, then those of the clients queued meanwhile,
// until none waits. It runs on a goroutine of its own: opening may wait for the network.
func (g *Gateway) openUpstreams(s *session) {
	defer g.wg.Done()
	for s != nil {
		g.openUpstream(s)
		g.connMu.Lock()
		s = nil
		if g.connQHead < len(g.connQ) {
			s = g.connQ[g.connQHead]
			g.connQ[g.connQHead] = nil
			g.connQHead++
			if g.connQHead == len(g.connQ) {
				g.connQ, g.connQHead = g.connQ[:0], 0
			}
		} else {
			g.opening--
		}
		g.connMu.Unlock()
	}
}

// openUpstream opens s's upstream connection and sends CONNECT, unless s went away while it
// waited.
func (g *Gateway) openUpstream(s *session) {
	s.mu.Lock()
	if s.state != stConnecting || s.up != nil {
		s.mu.Unlock()
		return
	}
	remote := g.remoteAddr(s.key)
	s.gen++
	gen := s.gen
	s.mu.Unlock()
	conn, err := g.openConn(s, remote, gen)
	if err != nil {
		if g.ctx.Err() == nil {
			g.log.Warn("mqtt-sn gateway: connecting upstream", "client", logString(s.id), "err", err)
		}
		s.mu.Lock()
		ok := s.state == stConnecting
		if ok {
			g.rejected.Add(1)
			g.reply(s, &Connack{ReturnCode: RejectedCongestion})
		}
		s.mu.Unlock()
		if ok {
			g.end(s, false, true, "upstream connection failed")
		}
		return
	}
	s.mu.Lock()
	if s.state != stConnecting {
		s.mu.Unlock()
		_ = conn.Close() // the client went away meanwhile
		return
	}
	s.up, s.upKeep = conn, s.keep
	c := g.connectPacket(s, false)
	if err := g.unlockSend(s, c); err != nil {
		// The CONNECT cannot be sent (a field MQTT cannot carry): no CONNACK will come.
		g.log.Warn("mqtt-sn gateway: sending CONNECT upstream", "client", logString(s.id), "err", err)
		s.mu.Lock()
		ok := s.state == stConnecting
		if ok {
			g.rejected.Add(1)
			g.reply(s, &Connack{ReturnCode: RejectedNotSupported})
		}
		s.mu.Unlock()
		if ok {
			g.end(s, false, true, "the upstream CONNECT could not be sent")
		}
	}
}

// openConn opens an upstream connection of generation gen for s; on error the caller has
// nothing to undo.
func (g *Gateway) openConn(s *session, remote net.Addr, gen uint32) (UpstreamConn, error) {
	ctx, cancel := context.WithTimeout(g.ctx, g.opts.ConnectTimeout)
	defer cancel()
	g.upWG.Add(1)
	conn, err := g.up.Open(ctx, remote, func(p packet.Packet) { g.onUpstream(s, gen, p) },
		func(err error) { g.onUpstreamClose(s, gen, err) })
	if err != nil {
		g.upWG.Done()
	}
	return conn, err
}

// connectPacket is the upstream CONNECT of s: its client id, clean session, keep alive and
// will, with the gateway's credentials; resume asks for the session the broker keeps
// (CleanSession false) whatever the client's. s.mu is held.
func (g *Gateway) connectPacket(s *session, resume bool) *packet.Connect {
	o := &g.opts
	c := &packet.Connect{ProtocolVersion: o.ProtocolVersion, ClientID: s.id, CleanStart: s.clean && !resume,
		KeepAlive: s.keep, UsernameFlag: o.HasUsername, Username: o.Username,
		PasswordFlag: o.HasPassword, Password: o.Password}
	if o.ProtocolVersion == packet.V5 {
		c.Properties = o.ConnectProperties
		if !c.Properties.HasSessionExpiry && !s.clean {
			c.Properties.SessionExpiry, c.Properties.HasSessionExpiry = 0xFFFFFFFF, true
		}
		if !c.Properties.HasReceiveMaximum {
			c.Properties.ReceiveMaximum, c.Properties.HasReceiveMaximum = uint16(min(o.MaxQueued, 65535)), true
		}
	}
	if w := s.will; w != nil && w.topic != "" {
		c.WillFlag, c.WillTopic, c.WillPayload, c.WillRetain = true, w.topic, w.msg, w.retain
		if w.qos > 0 {
			c.WillQoS = byte(w.qos)
		}
		if c.WillPayload == nil {
			c.WillPayload = []byte{}
		}
	}
	return c
}

// connackCode maps the broker's CONNACK to MQTT-SN's return codes [MQTT-SN 5.3.10].
func connackCode(rc packet.ReasonCode) ReturnCode {
	switch {
	case rc < 0x80:
		return Accepted
	case rc == packet.ServerUnavailable || rc == packet.ServerBusy || rc == packet.QuotaExceeded ||
		rc == packet.ConnectionRateExceeded:
		return RejectedCongestion
	}
	return RejectedNotSupported
}
