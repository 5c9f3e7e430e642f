package broker

import (
	"context"
	"time"
)

// publishWill publishes a will message [MQTT-3.1.2-8]: its Message
// Expiry Interval starts now, and the client must still be allowed to
// publish to the will topic.
func (b *Broker) publishWill(w *Message) {
	if b.ctx.Err() != nil {
		return // shutting down: Mosquitto does not send wills on shutdown either
	}
	m := *w
	if m.Props != nil && m.Props.HasMessageExpiry {
		m.Expiry = time.Now().Add(time.Duration(m.Props.MessageExpiry) * time.Second)
		props := *m.Props // w keeps its own
		props.MessageExpiry, props.HasMessageExpiry = 0, false
		m.Props = &props
	}
	info := ClientInfo{ClientID: m.From}
	b.mu.Lock()
	if s := b.sessions.get(m.From); s != nil {
		if i := s.info.Load(); i != nil {
			info = *i
		}
	}
	b.mu.Unlock()
	if b.authz != nil && !b.authz.CanPublish(context.Background(), info, m.Topic, m.QoS, m.Retain) {
		b.dropped(0, DropNotAuthorized, m.From, &m)
		return
	}
	if rc := b.allowPublish(info, &m); rc >= 0x80 {
		b.dropped(0, DropNotAuthorized, m.From, &m)
		return
	}
	b.stats.add(0, statPubRecv0+statKind(m.QoS&3), 1)
	if m.Retain {
		b.retain(&m, &info)
	}
	b.route(&m, nil)
}
