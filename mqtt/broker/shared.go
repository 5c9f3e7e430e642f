package broker

import (
	"github.com/mqttkit/mqtt/mqtt/topic"
)

// deliverShared gives m to one member of a shared subscription
// (members: one (Group, Filter) run from topic.Partition), round robin,
// preferring members that are connected and skipping exclude. If the
// chosen member's queue is full the next one is tried. stored: see
// Session.enqueue.
func (b *Broker) deliverShared(m *Message, members []topic.Subscription[*Session], exclude *Session) (ok, stored bool) {
	key := members[0].Group + "\x00" + members[0].Filter
	b.shareMu.Lock()
	start := b.shareNext[key]
	b.shareNext[key] = start + 1
	b.shareMu.Unlock()
	n := uint32(len(members))
	for pass := 0; pass < 2; pass++ {
		for i := uint32(0); i < n; i++ {
			sub := members[(start+i)%n]
			s := sub.Subscriber
			if s == exclude || (pass == 0 && s.flags.Load()&flagOnline == 0) || !b.canRead(s, m.Topic) {
				continue
			}
			d := delivery{msg: m, qos: b.deliveredQoS(m.QoS, sub.Options.QoS), group: sub.Group, filter: sub.Filter}
			if m.Retain && sub.Options.RetainAsPublished {
				d.retain = true
			}
			if sub.Options.Identifier != 0 {
				d.subIDs = []uint32{sub.Options.Identifier}
			}
			if ok, stored := s.enqueue(d); ok {
				return true, stored
			}
		}
	}
	return false, false
}

// redistribute hands the shared-subscription messages a member did not
// acknowledge to other members of the same group (MQTT 5 §4.8.2). If no
// other member takes one it goes back to from, unless from has ended.
func (b *Broker) redistribute(from *Session, ds []delivery) {
	if len(ds) == 0 {
		return
	}
	var buf []topic.Subscription[*Session]
	for _, d := range ds {
		buf = b.index.MatchAppend(buf[:0], d.msg.Topic)
		members := buf[:0]
		for _, s := range buf {
			if s.Group == d.group && s.Filter == d.filter {
				members = append(members, s)
			}
		}
		if len(members) > 0 {
			if ok, _ := b.deliverShared(d.msg, members, from); ok {
				continue
			}
		}
		d.id, d.dup = 0, false
		from.enqueue(d) // counts a drop itself
	}
}
