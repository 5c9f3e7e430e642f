package sn

import (
	"time"

	"github.com/mqttkit/mqtt/mqtt/packet"
)

// This file is the broker-to-client direction: what arrives on the upstream connection, the
// per-client outbox (one QoS 1/2 message in flight at a time [MQTT-SN 6.6]), the REGISTER
// the gateway sends before the first PUBLISH on a topic the client has no id for
// [MQTT-SN 6.5], and the client's acknowledgements.

// onUpstream handles one packet from s's upstream connection, on that connection's
// goroutine.
// gen is the connection's generation: packets of a connection being replaced (see
// willSwap) are handled as any, but for its CONNACK.
func (g *Gateway) onUpstream(s *session, gen uint32, p packet.Packet) {
	s.mu.Lock()
	if s.state == stClosed {
		s.mu.Unlock()
		return
	}
	switch p := p.(type) {
	case *packet.Connack:
		if gen != s.gen {
			break
		}
		if sw := s.sw; sw != nil && sw.phase == swapOpening {
			select {
			case sw.connack <- p.ReasonCode:
			default:
			}
			break
		}
		if s.state != stConnecting {
			break
		}
		if rc := connackCode(p.ReasonCode); rc != Accepted {
			g.rejected.Add(1)
			g.debug("CONNECT refused by the broker", "client", logString(s.id), "reason", p.ReasonCode)
			g.reply(s, &Connack{ReturnCode: rc})
			s.mu.Unlock()
			g.end(s, false, true, "refused by the broker")
			return
		}
		g.activate(s)
	case *packet.Publish:
		g.deliver(s, p)
	case *packet.Puback:
		g.onBrokerAck(s, packet.PUBACK, p.PacketID, p.ReasonCode)
	case *packet.Pubrec:
		g.onBrokerAck(s, packet.PUBREC, p.PacketID, p.ReasonCode)
	case *packet.Pubcomp:
		g.onBrokerAck(s, packet.PUBCOMP, p.PacketID, p.ReasonCode)
	case *packet.Pubrel:
		g.onBrokerPubrel(s, p.PacketID)
	case *packet.Suback:
		g.onSuback(s, p)
	case *packet.Unsuback:
		g.onUnsuback(s, p)
	case *packet.Disconnect:
		g.debug("the broker sent DISCONNECT", "client", logString(s.id), "reason", p.ReasonCode)
	}
	g.unlockLater(s)
}

// onUpstreamClose is called once when s's upstream connection of generation gen has ended.
func (g *Gateway) onUpstreamClose(s *session, gen uint32, err error) {
	defer g.upWG.Done()
	s.mu.Lock()
	if gen != s.gen {
		// A connection replaced for a new will: its end is what the reconnection waits for.
		if sw := s.sw; sw != nil && sw.oldGen == gen {
			close(sw.oldDone)
		}
		s.mu.Unlock()
		return
	}
	if sw := s.sw; sw != nil && sw.phase == swapOpening {
		close(sw.ended)
		sw.phase = swapFailed
	}
	st := s.state
	if st == stConnecting {
		g.rejected.Add(1)
		g.reply(s, &Connack{ReturnCode: RejectedCongestion})
	}
	s.mu.Unlock()
	if st == stClosed {
		return
	}
	// The broker or the network ended it: an active client is told [MQTT-SN 5.4.21].
	g.end(s, st == stActive || st == stAwake, false, "upstream connection ended: "+errString(err))
}

func errString(err error) string {
	if err == nil {
		return "closed"
	}
	return err.Error()
}

// deliver queues a PUBLISH from the broker for s and sends what can be sent. s.mu is held.
func (g *Gateway) deliver(s *session, p *packet.Publish) {
	if p.Dup && p.QoS > 0 && g.redelivered(s, p) {
		return
	}
	if s.out == nil {
		s.out = &outbox{}
	}
	o, size := s.out, msgBytes(p)
	for (p.QoS == 0 && o.qos0 >= g.opts.MaxQueued) || (o.len() > 0 && o.bytes+size > g.opts.MaxQueuedBytes) {
		// Full: the newest reading is worth more than the oldest.
		if !o.dropOldestQoS0() {
			break
		}
		g.queued.Add(-1)
		g.dropped.Add(1)
		g.debug("oldest QoS 0 message dropped: queue full", "client", logString(s.id), "topic", logString(p.Topic),
			"queued", o.len(), "octets", o.bytes)
	}
	if p.QoS == 0 && o.len() > 0 && o.bytes+size > g.opts.MaxQueuedBytes {
		// What is queued is QoS 1/2, kept: this one has no room.
		g.dropped.Add(1)
		g.debug("QoS 0 message dropped: queue full of QoS 1/2 messages", "client", logString(s.id),
			"topic", logString(p.Topic), "queued", o.len(), "octets", o.bytes)
		g.pump(s)
		return
	}
	o.push(p)
	g.queued.Add(1)
	g.pump(s)
}

// burstBytes bounds the octets of one burst of a backlog (see Options.DeliveryBurst).
const burstBytes = 64 << 10

// pump sends queued messages while none is in flight, in bursts: after DeliveryBurst
// messages (or burstBytes) the pacer sends the rest after a pause. An awake client gets
// PINGRESP once everything is delivered and goes back to sleep [MQTT-SN 6.14]. s.mu is
// held.
func (g *Gateway) pump(s *session) {
	if (s.state != stActive && s.state != stAwake) || s.paced {
		return
	}
	o := s.out
	sent, octets := 0, 0
	for o != nil && o.cur == nil && o.len() > 0 {
		if sent >= g.opts.DeliveryBurst || octets >= burstBytes {
			g.pace(s)
			return
		}
		p := o.pop()
		sent, octets = sent+1, octets+len(p.Payload)+len(p.Topic)
		g.queued.Add(-1)
		g.sendPublish(s, p, false)
	}
	if o != nil && o.idle() && cap(o.q) <= 64 {
		s.out = nil // nothing buffered: an idle client holds no outbox
	}
	if s.state == stAwake && (s.out == nil || s.out.idle()) {
		g.reply(s, &Pingresp{})
		s.state = stAsleep
		s.lastIn = g.now() // the sleep timer starts again
	}
}

// pace puts s in the pacer's list: pump continues its backlog after DeliveryPause. s.mu is
// held.
func (g *Gateway) pace(s *session) {
	s.paced = true
	g.paceMu.Lock()
	g.paced = append(g.paced, s)
	g.paceMu.Unlock()
	select {
	case g.paceKick <- struct{}{}:
	default:
	}
}

// paceLoop sends the next burst of every paced session after each DeliveryPause, while any
// is waiting.
func (g *Gateway) paceLoop() {
	defer g.wg.Done()
	var list []*session
	t := time.NewTimer(g.opts.DeliveryPause)
	defer t.Stop()
	for {
		select {
		case <-g.ctx.Done():
			return
		case <-g.paceKick:
		}
		for {
			t.Reset(g.opts.DeliveryPause)
			select {
			case <-g.ctx.Done():
				return
			case <-t.C:
			}
			g.paceMu.Lock()
			list, g.paced = g.paced, list[:0]
			g.paceMu.Unlock()
			if len(list) == 0 {
				break
			}
			for i, s := range list {
				s.mu.Lock()
				s.paced = false
				if s.state != stClosed {
					g.pump(s)
				}
				g.unlock(s)
				list[i] = nil
			}
		}
	}
}

// downTopic is how the gateway names topic to s [MQTT-SN 6.7]: a predefined id, a
// registered id, or the short name of a two-character topic. ok is false when the topic
// needs a REGISTER first.
func (g *Gateway) downTopic(s *session, name string) (TopicIDType, uint16, bool) {
	if id, ok := g.opts.Predefined.ID(s.id, name); ok {
		return TopicPredefined, id, true
	}
	if id, ok := s.topics.id(name); ok {
		return TopicNormal, id, true
	}
	if id, ok := ShortTopicID(name); ok {
		return TopicShort, id, true
	}
	return 0, 0, false
}

// sendPublish sends p to s, REGISTERing its topic first when needed; a QoS 1/2 message (or
// a REGISTER) becomes the outbox's message in flight. s.mu is held; s.out is not nil.
func (g *Gateway) sendPublish(s *session, p *packet.Publish, dup bool) {
	o := s.out
	if n, max := publishSize(s.key, len(p.Payload)), g.maxSend(s.key); n > max {
		// It cannot reach the client: sending it would fail (EMSGSIZE) on every retry and
		// hold back everything queued behind it.
		g.dropped.Add(1)
		g.debug("message dropped: too large for the client", "client", logString(s.id), "topic", logString(p.Topic),
			"octets", n, "max", max)
		g.dropInFlight(s, p)
		return
	}
	typ, id, ok := g.downTopic(s, p.Topic)
	if !ok {
		if n, max := registerSize(s.key, len(p.Topic)), g.maxSend(s.key); n > max {
			// Its REGISTER cannot reach the client: it would be sent again until the client
			// counted as lost, taking what is queued behind it along.
			g.dropped.Add(1)
			g.debug("message dropped: topic too long to register with the client", "client", logString(s.id),
				"topic", logString(p.Topic), "octets", n, "max", max)
			g.dropInFlight(s, p)
			return
		}
		if id, ok = g.addTopic(s, p.Topic, false); !ok {
			g.dropped.Add(1)
			g.debug("message dropped: the client's topic table is full of topics it registered", "client", logString(s.id), "topic", logString(p.Topic))
			g.dropInFlight(s, p)
			return
		}
		o.cur, o.phase, o.regID = p, phWaitRegack, g.freeMsgID(s)
		o.sentAt = g.now()
		g.armRetry(s, o.sentAt)
		g.reply(s, &Register{TopicID: id, MsgID: o.regID, TopicName: p.Topic})
		return
	}
	m := &Publish{Dup: dup, QoS: QoS(p.QoS), Retain: p.Retain, TopicIDType: typ, TopicID: id, Data: p.Payload}
	if p.QoS > 0 {
		m.MsgID = p.PacketID
		o.cur, o.phase, o.sentAt = p, phWaitAck, g.now()
		g.armRetry(s, o.sentAt)
	}
	g.reply(s, m)
}

// dropInFlight acknowledges p upstream (ackUp) as sendPublish drops it; when it was the
// message in flight (its topic registered again after a REGACK or PUBACK) it no longer is,
// and the caller finishes it. s.mu is held.
func (g *Gateway) dropInFlight(s *session, p *packet.Publish) {
	g.ackUp(s, p)
	if o := s.out; o != nil && o.cur == p {
		o.cur, o.phase = nil, 0
	}
}

// registerSize is the encoded size of a REGISTER of a topic of n octets to key.
func registerSize(key peerKey, n int) int {
	total := frame(4 + n)
	if key.node != "" {
		total += 3 + len(key.node)
	}
	return total
}

// addTopic returns s's normal topic id of name, assigning one when it has none: never a
// number predefined for s, so that a topic id from SUBACK or REGISTER names one topic
// whatever TopicIdType the PUBLISHes then carry. pinned marks a topic the client asked for
// (REGISTER, SUBSCRIBE), which is never recycled. ok is false when the table is full of
// pinned topics. s.mu is held.
func (g *Gateway) addTopic(s *session, name string, pinned bool) (uint16, bool) {
	if s.topics == nil {
		s.topics = &topicTable{}
	}
	var skip func(uint16) bool
	if g.opts.Predefined.Len() > 0 {
		skip = func(id uint16) bool { _, ok := g.opts.Predefined.Topic(s.id, id); return ok }
	}
	keep := "" // the topic of the message in flight keeps its id
	if s.out != nil && s.out.cur != nil {
		keep = s.out.cur.Topic
	}
	return s.topics.add(name, pinned, g.opts.MaxTopics, g.opts.MaxTopicBytes, skip, keep)
}

// freeMsgID is the MsgId of a REGISTER from the gateway. s.mu is held.
func (g *Gateway) freeMsgID(s *session) uint16 {
	s.nextID++
	if s.nextID == 0 {
		s.nextID = 1
	}
	return s.nextID
}

// ackUp acknowledges a message the gateway drops, so the broker's window moves on: PUBACK at
// QoS 1, PUBREC at QoS 2 (the PUBREL that follows is answered by onBrokerPubrel). s.mu is
// held.
func (g *Gateway) ackUp(s *session, p *packet.Publish) {
	switch p.QoS {
	case 1:
		s.upq = append(s.upq, &packet.Puback{PacketID: p.PacketID})
	case 2:
		s.upq = append(s.upq, &packet.Pubrec{PacketID: p.PacketID})
	}
}

// finish ends the message in flight and sends the next. s.mu is held.
func (g *Gateway) finish(s *session) {
	s.out.cur, s.out.phase, s.tries = nil, 0, 0
	g.pump(s)
}

// resend retransmits the outbox's message in flight [MQTT-SN 6.13]. s.mu is held.
func (g *Gateway) resend(s *session) {
	o := s.out
	p := o.cur
	o.sentAt = g.now()
	switch o.phase {
	case phWaitRegack:
		if id, ok := s.topics.id(p.Topic); ok {
			g.reply(s, &Register{TopicID: id, MsgID: o.regID, TopicName: p.Topic})
		}
		g.armRetry(s, o.sentAt)
	case phWaitAck:
		g.sendPublish(s, p, true) // arms the timer
	case phWaitComp:
		g.reply(s, &Pubrel{MsgID: p.PacketID})
		g.armRetry(s, o.sentAt)
	}
}

// inFlight returns the outbox's message in flight when it is in phase ph with packet id id.
func (s *session) inFlight(ph uint8, id uint16) *packet.Publish {
	if o := s.out; o != nil && o.cur != nil && o.phase == ph && (ph == phWaitRegack || o.cur.PacketID == id) {
		return o.cur
	}
	return nil
}

// onRegack handles the client's REGACK of the gateway's REGISTER. s.mu is held.
func (g *Gateway) onRegack(s *session, m *Regack) {
	p := s.inFlight(phWaitRegack, 0)
	if p == nil || s.out.regID != m.MsgID {
		g.drop(s.key, m, "no REGISTER with this MsgId")
		return
	}
	s.out.cur = nil
	if m.ReturnCode != Accepted {
		g.dropped.Add(1)
		g.debug("message dropped: the client refused its topic", "client", logString(s.id), "topic", logString(p.Topic), "rc", m.ReturnCode.String())
		if id, ok := s.topics.id(p.Topic); ok {
			s.topics.forget(id)
		}
		g.ackUp(s, p)
		g.finish(s)
		return
	}
	g.sendPublish(s, p, false)
	if s.out.cur == nil {
		g.finish(s) // QoS 0: nothing to wait for
	}
}

// onPuback handles the client's PUBACK of a QoS 1 message (or its refusal of any). s.mu is
// held.
func (g *Gateway) onPuback(s *session, m *Puback) {
	p := s.inFlight(phWaitAck, m.MsgID)
	if p == nil {
		g.drop(s.key, m, "no PUBLISH in flight with this MsgId")
		return
	}
	switch {
	case m.ReturnCode == Accepted && p.QoS == 1:
		s.upq = append(s.upq, &packet.Puback{PacketID: p.PacketID})
	case m.ReturnCode == RejectedInvalidTopicID && s.tries < uint8(g.opts.MaxRetries):
		// The client lost the registration (it restarted?): register the topic again.
		if id, ok := s.topics.id(p.Topic); ok {
			s.topics.forget(id)
		}
		s.tries++
		g.sendPublish(s, p, false)
		if s.out.cur != nil {
			return
		}
		// Dropped: it cannot be registered any more.
	default:
		g.dropped.Add(1)
		g.debug("message dropped: refused by the client", "client", logString(s.id), "topic", logString(p.Topic), "rc", m.ReturnCode.String())
		g.ackUp(s, p)
	}
	g.finish(s)
}

// onPubrec handles the client's PUBREC of a QoS 2 message: it goes to the broker, whose
// PUBREL the gateway then relays. s.mu is held.
func (g *Gateway) onPubrec(s *session, m *Pubrec) {
	if p := s.inFlight(phWaitAck, m.MsgID); p != nil && p.QoS == 2 {
		s.out.phase = phWaitPubrel
		s.upq = append(s.upq, &packet.Pubrec{PacketID: p.PacketID})
		return
	}
	if p := s.inFlight(phWaitComp, m.MsgID); p != nil {
		g.reply(s, &Pubrel{MsgID: m.MsgID}) // our PUBREL was lost
		return
	}
	if s.inFlight(phWaitPubrel, m.MsgID) == nil {
		g.drop(s.key, m, "no QoS 2 PUBLISH in flight with this MsgId")
	}
}

// onBrokerPubrel relays the broker's PUBREL of the QoS 2 message in flight. s.mu is held.
func (g *Gateway) onBrokerPubrel(s *session, pid uint16) {
	if p := s.inFlight(phWaitPubrel, pid); p != nil {
		s.out.phase, s.out.sentAt, s.tries = phWaitComp, g.now(), 0
		g.armRetry(s, s.out.sentAt)
		g.reply(s, &Pubrel{MsgID: pid})
		return
	}
	if s.inFlight(phWaitComp, pid) != nil {
		return
	}
	// A message the gateway dropped, or one of a previous connection: complete it.
	s.upq = append(s.upq, &packet.Pubcomp{PacketID: pid})
}

// onPubcomp handles the client's PUBCOMP: the QoS 2 delivery is complete. s.mu is held.
func (g *Gateway) onPubcomp(s *session, m *Pubcomp) {
	p := s.inFlight(phWaitComp, m.MsgID)
	if p == nil {
		g.drop(s.key, m, "no PUBREL in flight with this MsgId")
		return
	}
	s.upq = append(s.upq, &packet.Pubcomp{PacketID: p.PacketID})
	g.finish(s)
}
