package sn

import (
	"errors"
	"fmt"

	"github.com/mqttkit/mqtt/mqtt/packet"
	"github.com/mqttkit/mqtt/mqtt/topic"
)

// This file is the client-to-broker direction: REGISTER from the client, PUBLISH at QoS 0, 1,
// 2 and −1, and the broker's acknowledgements of those publishes.

// validName is topic.ValidateName, and refuses too the characters a broker may close the
// connection for (packet.Discouraged: control characters and non-characters): relayed,
// such a name would cut the client's upstream connection, or the shared one of QoS −1
// publishes, instead of being refused.
func validName(name string) error {
	if err := topic.ValidateName(name); err != nil {
		return err
	}
	return discouraged(name)
}

// validFilter is topic.ValidateFilter with the same refusal as validName.
func validFilter(filter string) error {
	if err := topic.ValidateFilter(filter); err != nil {
		return err
	}
	return discouraged(filter)
}

func discouraged(s string) error {
	if r, bad := packet.Discouraged(s); bad {
		return fmt.Errorf("topic %s contains %U, which MQTT brokers may refuse", logString(s), r)
	}
	return nil
}

// connected reports whether s may register, publish and subscribe: it has its CONNACK. A
// sleeping client counts: it is connected, only silent [MQTT-SN 6.14].
func (s *session) connected() bool {
	return s.state == stActive || s.state == stAwake || s.state == stAsleep
}

// onRegister handles the client's REGISTER [MQTT-SN 6.5]: assign (or return) the normal
// topic id of a topic name. s.mu is held.
func (g *Gateway) onRegister(s *session, m *Register) {
	if !s.connected() {
		g.drop(s.key, m, "not connected")
		return
	}
	if err := validName(m.TopicName); err != nil {
		g.rejected.Add(1)
		g.debug("REGISTER refused", "client", logString(s.id), "topic", logString(m.TopicName), "err", err)
		g.reply(s, &Regack{MsgID: m.MsgID, ReturnCode: RejectedNotSupported})
		return
	}
	id, ok := g.addTopic(s, m.TopicName, true)
	if !ok {
		g.rejected.Add(1)
		g.debug("REGISTER refused: topic table full", "client", logString(s.id), "topic", logString(m.TopicName))
		g.reply(s, &Regack{MsgID: m.MsgID, ReturnCode: RejectedCongestion})
		return
	}
	g.reply(s, &Regack{TopicID: id, MsgID: m.MsgID, ReturnCode: Accepted})
}

// publishTopic is the topic name a client's PUBLISH refers to [MQTT-SN 6.7], or a return
// code saying why there is none. clientID selects predefined topics ("" for AllClients only).
func (g *Gateway) publishTopic(topics *topicTable, clientID string, typ TopicIDType, id uint16) (string, ReturnCode) {
	var name string
	var ok bool
	switch typ {
	case TopicNormal:
		name, ok = topics.name(id)
	case TopicPredefined:
		name, ok = g.opts.Predefined.Topic(clientID, id)
	case TopicShort:
		name, ok = ShortTopicName(id), true
	default:
		return "", RejectedNotSupported
	}
	if !ok || validName(name) != nil {
		// Unknown, a predefined filter, or a short name with a wildcard or a character the
		// broker may close the connection for: no topic to publish to [MQTT-SN 6.6].
		return "", RejectedInvalidTopicID
	}
	return name, Accepted
}

// onPublish handles the client's PUBLISH at QoS 0, 1 or 2 [MQTT-SN 6.6] and returns the MQTT
// PUBLISH to send upstream (the gateway's reused g.pub), or nil when it answered itself.
// s.mu is held.
func (g *Gateway) onPublish(s *session, m *Publish) packet.Packet {
	if !s.connected() {
		g.drop(s.key, m, "not connected")
		return nil
	}
	name, rc := g.publishTopic(s.topics, s.id, m.TopicIDType, m.TopicID)
	if rc == Accepted && m.QoS > 0 && m.MsgID == 0 {
		rc = RejectedNotSupported // MQTT has no packet id 0 [MQTT-2.3.1-1]
	}
	if rc == Accepted && m.QoS > 0 && s.findPub(m.MsgID) < 0 && len(s.pubs) >= g.opts.MaxInflight {
		rc = RejectedCongestion
	}
	if rc != Accepted {
		g.rejected.Add(1)
		g.debug("PUBLISH refused", "client", logString(s.id), "topic_id", m.TopicID, "type", m.TopicIDType, "rc", rc.String())
		g.reply(s, &Puback{TopicID: m.TopicID, MsgID: m.MsgID, ReturnCode: rc})
		return nil
	}
	p := &g.pub
	*p = packet.Publish{QoS: byte(m.QoS), Retain: m.Retain, Topic: name, Payload: m.Data}
	if m.QoS > 0 {
		p.PacketID = m.MsgID
		if s.findPub(m.MsgID) >= 0 {
			p.Dup = true // the client sent it again: the broker deduplicates QoS 2
		} else {
			s.pubs = append(s.pubs, pubRef{msgID: m.MsgID, topicID: m.TopicID})
		}
	}
	return p
}

// publishFailed answers a PUBLISH the upstream connection did not take. It runs on the read
// loop after unlockSend.
func (g *Gateway) publishFailed(s *session, m *Publish, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m.QoS == 0 {
		g.dropped.Add(1)
		g.debug("QoS 0 PUBLISH dropped", "client", logString(s.id), "err", err)
		return
	}
	if i := s.findPub(m.MsgID); i >= 0 {
		s.pubs = append(s.pubs[:i], s.pubs[i+1:]...)
	}
	g.rejected.Add(1)
	rc := RejectedCongestion
	if errors.Is(err, ErrUpstreamClosed) {
		rc = RejectedNotSupported
	}
	g.reply(s, &Puback{TopicID: m.TopicID, MsgID: m.MsgID, ReturnCode: rc})
}

// handlePublishMinus1 handles a QoS −1 PUBLISH [MQTT-SN 6.8]: from any address, connected or
// not, to a predefined topic id or a short topic name. A connected client's goes up its own
// connection; anyone else's through the gateway's shared one. Nothing is answered: the
// sender may not even be connected. It runs on the read loop.
func (g *Gateway) handlePublishMinus1(key peerKey, m *Publish) {
	if s := g.lookup(key); s != nil {
		s.mu.Lock()
		if s.connected() {
			name, rc := g.publishTopic(s.topics, s.id, m.TopicIDType, m.TopicID)
			if rc != Accepted {
				s.mu.Unlock()
				g.drop(key, m, "QoS -1 PUBLISH: "+rc.String())
				return
			}
			p := &g.pub
			*p = packet.Publish{Retain: m.Retain, Topic: name, Payload: m.Data}
			if err := g.unlockSend(s, p); err != nil {
				g.drop(key, m, "QoS -1 PUBLISH: "+err.Error())
				return
			}
			g.qosM1.Add(1)
			return
		}
		s.mu.Unlock()
	}
	if m.TopicIDType != TopicPredefined && m.TopicIDType != TopicShort {
		g.drop(key, m, "QoS -1 PUBLISH needs a predefined topic id or a short topic name")
		return
	}
	name, rc := g.publishTopic(nil, "", m.TopicIDType, m.TopicID)
	if rc != Accepted {
		g.drop(key, m, "QoS -1 PUBLISH: "+rc.String())
		return
	}
	if g.anon.publish(g, name, m.Data, m.Retain) {
		g.qosM1.Add(1)
	} else {
		g.drop(key, m, "QoS -1 PUBLISH: the shared upstream connection is not available")
	}
}

func (s *session) findPub(msgID uint16) int {
	for i := range s.pubs {
		if s.pubs[i].msgID == msgID {
			return i
		}
	}
	return -1
}

// ackCode maps an MQTT 5 PUBACK/PUBREC reason code to MQTT-SN's [MQTT-SN 5.3.10] (3.x
// acknowledgements always carry Success).
func ackCode(rc packet.ReasonCode) ReturnCode {
	switch {
	case rc < 0x80:
		return Accepted
	case rc == packet.QuotaExceeded || rc == packet.ServerBusy:
		return RejectedCongestion
	case rc == packet.TopicNameInvalid:
		return RejectedInvalidTopicID
	}
	return RejectedNotSupported
}

// onBrokerAck handles the broker's PUBACK, PUBREC and PUBCOMP of the client's publishes
// [MQTT-SN 6.6]. s.mu is held.
func (g *Gateway) onBrokerAck(s *session, t packet.Type, pid uint16, rc packet.ReasonCode) {
	i := s.findPub(pid)
	if i < 0 {
		if t == packet.PUBCOMP {
			// The answer to a PUBREL the client sent again because our PUBCOMP was lost.
			g.reply(s, &Pubcomp{MsgID: pid})
		}
		return // otherwise a duplicate, or a publish of a previous connection
	}
	ref := s.pubs[i]
	done := func() { s.pubs = append(s.pubs[:i], s.pubs[i+1:]...) }
	switch {
	case t == packet.PUBREC && rc < 0x80:
		g.reply(s, &Pubrec{MsgID: pid})
	case t == packet.PUBCOMP:
		done()
		g.reply(s, &Pubcomp{MsgID: pid})
	default: // PUBACK, or a PUBREC refusing a QoS 2 message: PUBACK carries the refusal
		done()
		g.reply(s, &Puback{TopicID: ref.topicID, MsgID: pid, ReturnCode: ackCode(rc)})
	}
	if len(s.pubs) == 0 && cap(s.pubs) > 8 {
		s.pubs = nil // a burst's table is not kept for an idle client
	}
}

// onPubrel handles the client's PUBREL of its QoS 2 publish: it goes to the broker.
// s.mu is held.
func (g *Gateway) onPubrel(s *session, m *Pubrel) packet.Packet {
	if !s.connected() {
		g.drop(s.key, m, "not connected")
		return nil
	}
	return &packet.Pubrel{PacketID: m.MsgID}
}
