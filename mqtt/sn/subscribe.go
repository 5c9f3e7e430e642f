package sn

import (
	"strings"

	"github.com/mqttkit/mqtt/mqtt/packet"
)

// maxPendingSubs bounds one client's SUBSCRIBE and UNSUBSCRIBE awaiting the broker.
const maxPendingSubs = 16

// subTopic resolves the topic of a SUBSCRIBE or UNSUBSCRIBE [MQTT-SN 6.9, 6.10]: the filter,
// and the topic id SUBACK returns (a normal id for a topic name without wildcards, the
// predefined id, or 0x0000 for wildcards and short names).
func (g *Gateway) subTopic(s *session, typ TopicIDType, name string, id uint16, register bool) (string, uint16, ReturnCode) {
	switch typ {
	case TopicNormal:
		if validFilter(name) != nil {
			return "", 0, RejectedNotSupported
		}
		if strings.ContainsAny(name, "+#") || !register {
			return name, 0, Accepted
		}
		if id, ok := g.opts.Predefined.ID(s.id, name); ok {
			// [MQTT-SN 5.4.16] SUBACK carries the id PUBLISH will use: the predefined one
			// (downTopic prefers it).
			return name, id, Accepted
		}
		tid, ok := g.addTopic(s, name, true)
		if !ok {
			return "", 0, RejectedCongestion
		}
		return name, tid, Accepted
	case TopicPredefined:
		f, ok := g.opts.Predefined.Topic(s.id, id)
		if !ok {
			return "", 0, RejectedInvalidTopicID
		}
		return f, id, Accepted
	case TopicShort:
		f := ShortTopicName(id)
		if validFilter(f) != nil {
			return "", 0, RejectedInvalidTopicID
		}
		return f, 0, Accepted
	}
	return "", 0, RejectedNotSupported
}

// onSubscribe handles SUBSCRIBE [MQTT-SN 6.9] and returns the MQTT SUBSCRIBE to send. s.mu
// is held.
func (g *Gateway) onSubscribe(s *session, m *Subscribe) packet.Packet {
	if !s.connected() {
		g.drop(s.key, m, "not connected")
		return nil
	}
	filter, tid, rc := g.subTopic(s, m.TopicIDType, m.TopicName, m.TopicID, true)
	if rc == Accepted && m.QoS == QoSMinus1 {
		rc = RejectedNotSupported // QoS −1 is for PUBLISH only [MQTT-SN 6.8]
	}
	if rc == Accepted && len(s.subs) >= maxPendingSubs {
		rc = RejectedCongestion
	}
	if rc != Accepted {
		g.rejected.Add(1)
		g.debug("SUBSCRIBE refused", "client", logString(s.id), "topic", logString(m.TopicName), "topic_id", m.TopicID, "rc", rc.String())
		g.reply(s, &Suback{MsgID: m.MsgID, ReturnCode: rc})
		return nil
	}
	pid := g.freePacketID(s)
	s.subs = append(s.subs, subRef{pid: pid, msgID: m.MsgID, topicID: tid})
	return &packet.Subscribe{PacketID: pid, Subscriptions: []packet.Subscription{{Filter: filter, QoS: byte(m.QoS)}}}
}

// onUnsubscribe handles UNSUBSCRIBE [MQTT-SN 6.10]. s.mu is held.
func (g *Gateway) onUnsubscribe(s *session, m *Unsubscribe) packet.Packet {
	if !s.connected() {
		g.drop(s.key, m, "not connected")
		return nil
	}
	filter, _, rc := g.subTopic(s, m.TopicIDType, m.TopicName, m.TopicID, false)
	if rc != Accepted || len(s.subs) >= maxPendingSubs {
		// UNSUBACK has no return code: nothing to unsubscribe from is done at once.
		g.reply(s, &Unsuback{MsgID: m.MsgID})
		return nil
	}
	pid := g.freePacketID(s)
	s.subs = append(s.subs, subRef{pid: pid, msgID: m.MsgID, unsub: true})
	return &packet.Unsubscribe{PacketID: pid, Filters: []string{filter}}
}

func (s *session) takeSub(pid uint16, unsub bool) (subRef, bool) {
	for i, r := range s.subs {
		if r.pid == pid && r.unsub == unsub {
			s.subs = append(s.subs[:i], s.subs[i+1:]...)
			if len(s.subs) == 0 {
				s.subs = nil
			}
			return r, true
		}
	}
	return subRef{}, false
}

// onSuback relays the broker's SUBACK. s.mu is held.
func (g *Gateway) onSuback(s *session, p *packet.Suback) {
	r, ok := s.takeSub(p.PacketID, false)
	if !ok || len(p.ReasonCodes) == 0 {
		return
	}
	code := p.ReasonCodes[0]
	if code >= 0x80 {
		g.reply(s, &Suback{MsgID: r.msgID, ReturnCode: ackCode(code)})
		return
	}
	g.reply(s, &Suback{QoS: QoS(code), TopicID: r.topicID, MsgID: r.msgID, ReturnCode: Accepted})
}

// onUnsuback relays the broker's UNSUBACK. s.mu is held.
func (g *Gateway) onUnsuback(s *session, p *packet.Unsuback) {
	if r, ok := s.takeSub(p.PacketID, true); ok {
		g.reply(s, &Unsuback{MsgID: r.msgID})
	}
}
