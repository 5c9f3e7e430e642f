package sn

import "github.com/mqttkit/mqtt/mqtt/topic"

// Will updates [MQTT-SN 6.4]. MQTT cannot change the will of a connection, so after
// WILLTOPICUPD or WILLMSGUPD the broker still holds the will of CONNECT. The gateway then
// keeps the new will itself: if the client is lost it publishes that will on the client's
// connection and ends it with DISCONNECT, so the broker drops the old one. (If the gateway
// itself dies, the broker publishes the old will.)

// onWillTopicUpd handles WILLTOPICUPD; the empty one deletes the will. s.mu is held.
func (g *Gateway) onWillTopicUpd(s *session, m *WillTopicUpd) {
	if !s.connected() {
		g.drop(s.key, m, "not connected")
		return
	}
	if m.Topic == "" {
		s.will, s.willUpd = nil, true
		g.reply(s, &WillTopicResp{ReturnCode: Accepted})
		return
	}
	if m.QoS == QoSMinus1 || topic.ValidateName(m.Topic) != nil {
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
}
