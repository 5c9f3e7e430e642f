package broker

import (
	"context"
	"strconv"
	"time"

	"github.com/mqttkit/mqtt/mqtt/packet"
	"github.com/mqttkit/mqtt/mqtt/topic"
)

// handleSubscribe handles SUBSCRIBE [MQTT-3.8]: one SUBACK code per
// filter in order [MQTT-3.8.4-6], then the matching retained messages.
func (c *conn) handleSubscribe(p *packet.Subscribe) error {
	b, s := c.b, c.sess
	v5 := c.version == packet.V5
	var subID uint32
	if v5 && len(p.Properties.SubscriptionIDs) > 0 {
		subID = p.Properties.SubscriptionIDs[0]
	}
	codes := make([]packet.ReasonCode, len(p.Subscriptions))
	type retainReq struct {
		filter string
		opts   topic.Options
	}
	// Sized once: grown by append, the two slices were 29% of what a
	// SUBSCRIBE of 100 filters allocated (heap profile of the index load).
	retained := make([]retainReq, 0, len(p.Subscriptions))
	added := make([]string, 0, len(p.Subscriptions)) // new subscriptions by key, taken back if they cannot be stored
	mark := b.storeFails.Load()
	for i, sub := range p.Subscriptions {
		if b.trace.Load() { // each filter's trace line comes before its subscribe line, as in Mosquitto
			c.traceLines("\t" + sub.Filter + " (QoS " + strconv.Itoa(int(sub.QoS)) + ")")
		}
		sub.Filter = c.mount(sub.Filter) // validated mounted: the mount point is a topic prefix
		group, inner, shared, err := topic.ParseShared(sub.Filter)
		if err == nil && !shared {
			err = topic.ValidateFilter(inner)
		}
		if err != nil {
			// A malformed filter [MQTT-4.7.1-1], [MQTT-4.7.3-1] ends the
			// connection (MQTT 5: DISCONNECT 0x81 Malformed Packet
			// first), as Mosquitto 2.0 does.
			return &packet.Error{Code: packet.MalformedPacket, Msg: "SUBSCRIBE: " + err.Error()}
		}
		if topic.TooDeep(inner) {
			// Well formed but not allowed here: 0x8F (3.x: 0x80 Failure).
			codes[i] = packet.TopicFilterInvalid
			b.log.Info("Invalid subscription from " + c.info.ClientID + ": more than " + strconv.Itoa(topic.MaxLevels) + " levels")
			continue
		}
		if shared && sub.NoLocal && v5 {
			return &packet.Error{Code: packet.ProtocolError, Msg: "no local on a shared subscription"} // [MQTT-3.8.3-4]
		}
		if who := s.info.Load(); b.authz != nil && who != nil && !b.authz.CanSubscribe(context.Background(), *who, sub.Filter) {
			codes[i] = packet.NotAuthorized
			b.log.Info("Denied SUBSCRIBE from "+c.info.ClientID+" to "+sub.Filter, logSubscribe)
			continue
		}
		opts := topic.Options{QoS: min(sub.QoS, c.maxQoS()), Identifier: subID}
		if v5 {
			opts.NoLocal = sub.NoLocal
			opts.RetainAsPublished = sub.RetainAsPublished
			opts.RetainHandling = sub.RetainHandling
		}
		s.mu.Lock()
		_, again := s.subs[sub.Filter]
		if !again && len(s.subs) > 0 {
			s.flags.Or(flagMulti) // before the index has the second one (route)
		}
		s.mu.Unlock()
		existed := b.index.Subscribe(topic.Subscription[*Session]{Subscriber: s, Filter: inner, Group: group, Options: opts})
		s.mu.Lock()
		ended := s.ended
		if !ended {
			if s.subs == nil {
				s.subs = make(map[string]topic.Options)
			}
			s.subs[sub.Filter] = opts
		}
		s.mu.Unlock()
		if ended {
			// endSession takes out of the index only the subscriptions it
			// found recorded; this one came after: take it out here, or it
			// stays behind as a ghost subscriber. (Index first, then the
			// check: a session that ends in between is seen here.)
			b.index.Unsubscribe(s, inner, group)
			codes[i] = packet.UnspecifiedError
			continue
		}
		if !again {
			added = append(added, sub.Filter)
		}
		codes[i] = packet.ReasonCode(opts.QoS) // [MQTT-3.9.3-1]
		b.log.Info(c.info.ClientID+" "+strconv.Itoa(int(opts.QoS))+" "+sub.Filter, logSubscribe)
		if b.opts.Hooks.OnSubscribe != nil {
			b.emit(hookEvent{kind: evSubscribe, info: c.info, filter: sub.Filter, opts: opts})
		}
		// Retained messages are not sent for shared subscriptions
		// [MQTT-3.8.4-?] (MQTT 5 §4.8.2), and per Retain Handling
		// [MQTT-3.3.1-9], [MQTT-3.3.1-10], [MQTT-3.3.1-11].
		if !shared && (opts.RetainHandling == 0 || (opts.RetainHandling == 1 && !existed)) {
			retained = append(retained, retainReq{inner, opts})
		}
	}
	// Take the retained messages before SUBACK goes out: one published
	// after the client saw SUBACK then arrives once (live), not twice.
	var ds []delivery
	for _, r := range retained {
		ds = b.matchRetained(ds, s, r.filter, r.opts)
	}
	suback := &packet.Suback{PacketID: p.PacketID, ReasonCodes: codes}
	b.saveSession(s)
	s.mu.Lock()
	stored := s.stored
	s.mu.Unlock()
	if !stored {
		c.send(suback)
		for _, d := range ds {
			s.enqueue(d)
		}
		return nil
	}
	// A stored session's SUBACK waits for the store, as PUBACK does: a
	// crash right after it must not lose the subscription (and the
	// messages acknowledged for it afterwards). Its retained messages
	// follow it.
	c.ackThen(ctrlPacket{p: suback}, true, mark, func(failed bool) {
		if failed {
			b.unsubscribeAll(s, added)
			return
		}
		for _, d := range ds {
			s.enqueue(d)
		}
	})
	return nil
}

// unsubscribeAll takes back subscriptions the store could not keep (their
// SUBACK said so), and stores the session as it is then.
func (b *Broker) unsubscribeAll(s *Session, keys []string) {
	for _, key := range keys {
		group, inner := subFilter(key)
		b.index.Unsubscribe(s, inner, group)
		s.mu.Lock()
		delete(s.subs, key)
		if len(s.subs) <= 1 {
			s.flags.And(^uint32(flagMulti)) // after the index let go of the other one
		}
		s.mu.Unlock()
	}
	b.saveSession(s)
}

// matchRetained appends the deliveries of the retained messages matching
// filter, with the retain flag set [MQTT-3.3.1-8] (3.1.1: [MQTT-3.3.1-8] too).
func (b *Broker) matchRetained(out []delivery, s *Session, filter string, opts topic.Options) []delivery {
	now := time.Now()
	for _, m := range b.retained.match(nil, filter) {
		if m.expired(now) || !b.canRead(s, m.Topic) {
			continue
		}
		if b.opts.CheckRetainSource && b.authz != nil {
			// Its publisher may have lost the right to publish there
			// since (Mosquitto's check_retain_source).
			if src := b.retained.source(m.Topic); src != nil && !b.authz.CanPublish(context.Background(), *src, m.Topic, m.QoS, true) {
				continue
			}
		}
		d := delivery{msg: m, qos: b.deliveredQoS(m.QoS, opts.QoS), retain: true, onSub: true}
		if opts.Identifier != 0 {
			d.subIDs = []uint32{opts.Identifier}
		}
		out = append(out, d)
	}
	return out
}

// handleUnsubscribe handles UNSUBSCRIBE [MQTT-3.10].
func (c *conn) handleUnsubscribe(p *packet.Unsubscribe) error {
	b, s := c.b, c.sess
	codes := make([]packet.ReasonCode, len(p.Filters))
	mark := b.storeFails.Load()
	for i, f := range p.Filters {
		if b.trace.Load() {
			c.traceLines("\t" + f)
		}
		f = c.mount(f)
		group, inner, shared, err := topic.ParseShared(f)
		if err == nil && !shared {
			err = topic.ValidateFilter(inner)
		}
		if err != nil {
			return &packet.Error{Code: packet.MalformedPacket, Msg: "UNSUBSCRIBE: " + err.Error()} // as in SUBSCRIBE
		}
		if b.index.Unsubscribe(s, inner, group) {
			codes[i] = packet.Success
			if b.opts.Hooks.OnUnsubscribe != nil {
				b.emit(hookEvent{kind: evUnsubscribe, info: c.info, filter: f})
			}
		} else {
			codes[i] = packet.NoSubscriptionExisted
		}
		s.mu.Lock()
		delete(s.subs, f)
		if len(s.subs) <= 1 {
			s.flags.And(^uint32(flagMulti)) // after the index let go of the other one
		}
		s.mu.Unlock()
		b.log.Info(c.info.ClientID+" "+f, logUnsubscribe)
	}
	ack := &packet.Unsuback{PacketID: p.PacketID}
	if c.version == packet.V5 {
		ack.ReasonCodes = codes
	}
	b.saveSession(s)
	s.mu.Lock()
	stored := s.stored
	s.mu.Unlock()
	c.ack(ctrlPacket{p: ack}, stored, mark) // [MQTT-3.10.4-4]; a stored session's once the store has it
	return nil
}
