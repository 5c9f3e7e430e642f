package broker

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mqttkit/mqtt/mqtt/packet"
	"github.com/mqttkit/mqtt/mqtt/topic"
)

// Message is one application message as the broker routes it: created
// once per inbound PUBLISH (topic and payload copied once), immutable
// afterwards and shared by every subscriber's queue.
type Message struct {
	Topic   string
	Payload []byte
	QoS     byte
	Retain  bool
	refs    int32 // sessions holding it, counted only with Options.MemoryLimit (memHold)
	// Props carries the properties forwarded untouched [MQTT-3.3.2-17..20]:
	// payload format, content type, response topic, correlation data and
	// user properties; nil when there are none (a pointer keeps the
	// Message small: it is allocated once per PUBLISH). Topic alias and
	// subscription ids are per connection.
	Props *packet.Properties
	// Expiry is when the message expires (zero: never); the remaining
	// lifetime is sent as Message Expiry Interval [MQTT-3.3.2-6].
	Expiry time.Time
	// From is the publishing client id, "" for the broker ($SYS).
	From string
}

func (m *Message) size() int { return len(m.Topic) + len(m.Payload) }

func (m *Message) expired(now time.Time) bool {
	return !m.Expiry.IsZero() && !now.Before(m.Expiry)
}

// newMessage copies what the broker keeps from an inbound PUBLISH; the
// payload only when the buffer it was read into is to be reused (owned:
// a large packet read into a buffer of its own is kept instead).
func newMessage(from, name string, p *packet.Publish, v5, owned bool) *Message {
	var m *Message
	if owned {
		m = &Message{Payload: p.Payload}
		if m.Payload == nil {
			m.Payload = []byte{}
		}
	} else {
		var buf []byte
		m, buf = allocMessage(len(p.Payload))
		copy(buf, p.Payload)
		m.Payload = buf
	}
	m.Topic, m.QoS, m.Retain, m.From = name, p.QoS, p.Retain, from
	if v5 {
		m.Props = forwardProps(&p.Properties)
		if p.Properties.HasMessageExpiry {
			m.Expiry = time.Now().Add(time.Duration(p.Properties.MessageExpiry) * time.Second)
		}
	}
	return m
}

// allocMessage returns a new Message and n bytes for its payload (not
// nil; capacity n), in one allocation for the payloads of up to 256
// bytes most messages have: a copied payload was a second allocation
// per message, 3% of the broker's CPU in fan-in QoS 0. The payload's
// bytes live as long as the Message; nothing keeps one without the
// other for long.
func allocMessage(n int) (*Message, []byte) {
	switch {
	case n <= 16:
		x := new(struct {
			m Message
			b [16]byte
		})
		return &x.m, x.b[:n:n]
	case n <= 64:
		x := new(struct {
			m Message
			b [64]byte
		})
		return &x.m, x.b[:n:n]
	case n <= 128:
		x := new(struct {
			m Message
			b [128]byte
		})
		return &x.m, x.b[:n:n]
	case n <= 256:
		x := new(struct {
			m Message
			b [256]byte
		})
		return &x.m, x.b[:n:n]
	}
	return new(Message), make([]byte, n)
}

// forwardProps keeps the properties a server forwards with a message;
// nil when it has none.
func forwardProps(in *packet.Properties) *packet.Properties {
	if !in.HasPayloadFormat && in.ContentType == "" && in.ResponseTopic == "" && in.CorrelationData == nil && len(in.User) == 0 {
		return nil
	}
	return &packet.Properties{
		PayloadFormat:    in.PayloadFormat,
		HasPayloadFormat: in.HasPayloadFormat,
		ContentType:      in.ContentType,
		ResponseTopic:    in.ResponseTopic,
		CorrelationData:  bytes.Clone(in.CorrelationData),
		User:             slices.Clone(in.User),
	}
}

// tooLarge reports whether p's payload exceeds message_size_limit.
func (c *conn) tooLarge(p *packet.Publish) bool {
	lim := c.b.opts.MessageSizeLimit
	return lim > 0 && len(p.Payload) > lim
}

func isSysTopic(name string) bool {
	return name == "$SYS" || strings.HasPrefix(name, "$SYS/")
}

// handlePublish handles an inbound PUBLISH [MQTT-3.3].
func (c *conn) handlePublish(p *packet.Publish) error {
	b, s := c.b, c.sess
	v5 := c.version == packet.V5
	b.stats.add(c.shard, statPubRecv0+statKind(p.QoS&3), 1)
	b.stats.add(c.shard, statPubBytesRecv, int64(len(p.Payload)))

	if v5 && len(p.Properties.SubscriptionIDs) > 0 {
		return &packet.Error{Code: packet.ProtocolError, Msg: "PUBLISH from a client with a Subscription Identifier"} // [MQTT-3.3.4-6]
	}
	if p.QoS > c.maxQoS() {
		if v5 {
			return packet.QoSNotSupported // [MQTT-3.2.2-11]
		}
		return &packet.Error{Code: packet.ProtocolError, Msg: "QoS above the server maximum"}
	}
	if p.Retain && !b.opts.RetainAvailable {
		return packet.RetainNotSupported // [MQTT-3.2.2-14]
	}
	name := p.Topic
	if v5 && p.Properties.HasTopicAlias {
		a := p.Properties.TopicAlias
		if a == 0 || a > c.aliasMax() || c.x == nil { // nil: the CONNACK said 0 (connExtra)
			return packet.TopicAliasInvalid // [MQTT-3.3.2-9], [MQTT-3.3.2-10]
		}
		if name == "" {
			t, ok := c.x.aliasIn[a]
			if !ok {
				return &packet.Error{Code: packet.ProtocolError, Msg: "unknown topic alias"}
			}
			name = t
		} else {
			if c.x.aliasIn == nil {
				c.x.aliasIn = make(map[uint16]string)
			}
			c.x.aliasIn[a] = name
		}
	}
	if err := topic.ValidateName(name); err != nil {
		return packet.TopicNameInvalid // [MQTT-3.3.2-2]
	}
	name = c.mount(name)
	if p.QoS > 0 && v5 && c.unacknowledged() >= int(b.opts.ReceiveMaximum) {
		s.mu.Lock()
		dup := s.hasInQoS2Locked(p.PacketID)
		s.mu.Unlock()
		if !dup || p.QoS != 2 {
			return packet.ReceiveMaximumExceeded // [MQTT-3.3.4-9]
		}
	}
	if b.storeMax > 0 && c.tooLargeToStore(p, name) {
		return packet.PacketTooLarge
	}
	mark := b.storeFails.Load() // before this message's writes (ack)
	if p.QoS == 2 {
		s.mu.Lock()
		dup := s.hasInQoS2Locked(p.PacketID)
		s.mu.Unlock()
		if dup { // already routed: acknowledge again, deliver once [MQTT-4.3.3-10]
			c.ack(ctrlPacket{first: 0x50, id: p.PacketID}, false, mark)
			return nil
		}
		if b.store != nil {
			// Its deliveries and its packet id become durable together: with
			// the deliveries alone, the client's retry after a crash would be
			// routed again; with the id alone, it would be lost.
			b.commit(Op{Kind: OpBegin})
		}
	}

	rc := packet.Success
	reason := ""
	why := DropNotAuthorized
	switch {
	case b.opts.MemoryLimit > 0 && b.memoryLevel() == memFull:
		// Refused before it is routed or retained: MQTT 5 gets 0x97, a
		// 3.x QoS 1/2 publisher is disconnected unacknowledged (below).
		rc, reason, why = packet.QuotaExceeded, "memory_limit reached", DropMemoryLimit
	case b.store != nil && (p.Retain || p.QoS > 0) && b.storeRefuses(name, p.QoS, p.Retain):
		// Refused before it is routed or retained, like memory_limit.
		rc, reason, why = packet.QuotaExceeded, "the store cannot be written", DropStoreFailed
	case isSysTopic(name):
		rc, reason = packet.NotAuthorized, "$SYS topics are read-only"
	case topic.TooDeep(name):
		rc, reason, why = packet.TopicNameInvalid, "topic deeper than 200 levels", DropTooLarge
	case c.tooLarge(p):
		// 0x95 is not a valid PUBACK/PUBREC reason (§3.4.2.1); 0x83 is, and is what Mosquitto sends.
		rc, reason, why = packet.ImplementationSpecificError, "payload exceeds message_size_limit", DropTooLarge
	case b.authz != nil && !b.authz.CanPublish(context.Background(), c.info, name, p.QoS, p.Retain):
		rc = packet.NotAuthorized
	}
	m := newMessage(c.info.ClientID, name, p, v5, c.inOwned)
	if rc == packet.Success {
		if hrc := b.allowPublish(c.info, m); hrc >= 0x80 {
			rc = hrc
		}
	}
	durable := false // acknowledge only once the store has what this did
	if rc == packet.Success {
		if m.Retain {
			var src *ClientInfo
			if b.opts.CheckRetainSource && b.authz != nil {
				info := c.info // a copy: not a pointer into the connection
				src = &info
			}
			b.retain(m, src)
			durable = b.store != nil
		}
		matched, delivered, stored := b.route(m, c)
		durable = durable || stored
		switch {
		case matched > 0 && delivered == 0:
			rc = packet.QuotaExceeded
		case matched == 0:
			rc = packet.NoMatchingSubscribers
		}
	} else {
		b.dropped(c.shard, why, c.info.ClientID, m)
		// memory_limit is logged once per episode (memoryLevel); a message over
		// message_size_limit was traced as "Dropped too large PUBLISH", as by Mosquitto.
		if why != DropMemoryLimit && (rc != packet.ImplementationSpecificError || !c.tooLarge(p)) {
			b.log.Info("Denied PUBLISH from "+c.info.ClientID+" (d"+b01(p.Dup)+", q"+string('0'+p.QoS)+", r"+b01(p.Retain)+", m"+itoa(int(p.PacketID))+", '"+name+"', ... ("+itoa(len(p.Payload))+" bytes))", logDebug)
		}
	}
	if why == DropStoreFailed && p.QoS > 0 && !v5 {
		b.log.Warn("Message " + itoa(int(p.PacketID)) + " from " + c.info.ClientID + " could not be stored: not acknowledged; disconnecting the client, which sends it again when it reconnects.")
		return &packet.Error{Code: packet.QuotaExceeded, Msg: "the store cannot be written: PUBLISH QoS " + string('0'+p.QoS) + " not accepted"}
	}
	if why == DropMemoryLimit && rc == packet.QuotaExceeded && !v5 && p.QoS > 0 {
		// 3.x has no way to refuse a message: acknowledging it would lose
		// it silently. Unacknowledged, the client sends it again when it
		// reconnects (as Mosquitto, which disconnects on a failed
		// allocation).
		return &packet.Error{Code: packet.QuotaExceeded, Msg: "memory_limit reached: PUBLISH QoS " + string('0'+p.QoS) + " not accepted"}
	}
	props := packet.Properties{}
	if reason != "" && c.problemInfo {
		props.ReasonString = reason
	}
	switch p.QoS {
	case 1:
		if rc == packet.Success && props.ReasonString == "" || !v5 {
			c.ack(ctrlPacket{first: 0x40, id: p.PacketID}, durable, mark) // 3.x PUBACK has no reason code
		} else {
			c.ack(ctrlPacket{p: &packet.Puback{PacketID: p.PacketID, ReasonCode: rc, Properties: props}}, durable, mark)
		}
	case 2:
		if rc < 0x80 {
			s.mu.Lock()
			if !s.ended {
				s.addInQoS2Locked(p.PacketID)
				if s.stored {
					b.commit(Op{Kind: OpPutInbound, ClientID: s.id, PacketID: p.PacketID})
					durable = true
				}
			}
			s.mu.Unlock()
		}
		if b.store != nil {
			b.commit(Op{Kind: OpEnd})
		}
		if rc == packet.Success && props.ReasonString == "" || !v5 {
			c.ack(ctrlPacket{first: 0x50, id: p.PacketID}, durable, mark)
		} else {
			c.ack(ctrlPacket{p: &packet.Pubrec{PacketID: p.PacketID, ReasonCode: rc, Properties: props}}, durable, mark)
		}
	}
	return nil
}

func b01(v bool) string {
	if v {
		return "1"
	}
	return "0"
}

// matchPool recycles the per-publish match slices.
var matchPool = sync.Pool{New: func() any { s := make([]topic.Subscription[*Session], 0, 64); return &s }}

// route delivers m to every matching subscription: once per session
// (overlapping subscriptions merge: highest QoS, all subscription ids,
// MQTT 5 §3.3.4) and to one member of each shared subscription. It
// returns how many sessions matched, how many accepted the message, and
// whether any stored it (see Session.enqueue).
//
// Only sessions flagged flagMulti can match more than once; their
// matches are sorted together and merged, everyone else's go straight to
// their queue (no per-message sort for the usual one subscription each).
func (b *Broker) route(m *Message, from *conn) (matched, delivered int, durable bool) {
	bufp := matchPool.Get().(*[]topic.Subscription[*Session])
	subs := b.match((*bufp)[:0], m.Topic, from)
	direct, shared := topic.Partition(subs)
	multi := direct[:0]
	sharedOK := 0
	deliver := func(group []topic.Subscription[*Session]) {
		if d, ok := b.merge(m, group); ok {
			matched++
			s := group[0].Subscriber
			ok, stored := s.push(d)
			if ok {
				delivered++
			}
			if from != nil {
				if f := s.flags.Load(); f&flagBacklog == 0 {
					from.fed |= fedSession
				} else {
					if rb := from.rb; rb != nil && rb.throttle == nil && f&flagBacklogSlow == 0 {
						rb.throttle = s // the publisher pauses once this read is handled
					}
					from.fed |= fedBacklog
				}
			}
			durable = durable || stored
		}
	}
	for i := range direct {
		if direct[i].Subscriber.flags.Load()&flagMulti != 0 {
			multi = append(multi, direct[i]) // in place: multi trails i
			continue
		}
		deliver(direct[i : i+1])
	}
	if len(multi) > 1 {
		slices.SortFunc(multi, func(a, b topic.Subscription[*Session]) int { return cmpSeq(a.Subscriber.num, b.Subscriber.num) })
	}
	for i := 0; i < len(multi); {
		j := i + 1
		for j < len(multi) && multi[j].Subscriber == multi[i].Subscriber {
			j++
		}
		deliver(multi[i:j])
		i = j
	}
	for g, rest := topic.NextShareGroup(shared); len(g) > 0; g, rest = topic.NextShareGroup(rest) {
		matched++
		ok, stored := b.deliverShared(m, g, nil)
		if ok {
			delivered++
			sharedOK++ // counted by enqueue
		}
		durable = durable || stored
	}
	if n := delivered - sharedOK; n > 0 { // push does not count them
		shard := uint8(0)
		if from != nil {
			shard = from.shard
		}
		b.stats.add(shard, statQueued, int64(n))
		b.stats.add(shard, statQueuedBytes, int64(n*m.size()))
	}
	clear(subs)
	*bufp = subs[:0]
	matchPool.Put(bufp)
	return matched, delivered, durable
}

// routeMemo is the subscriptions matching one topic name, as of one
// version of the index (SubscriptionIndex.Version): a publisher sends to
// the same topic over and over, and walking the index for it (its
// read lock's two atomic operations on a line every publisher shares,
// a map lookup per level) was 9% of the broker's CPU in fan-in QoS 0.
// Each read handled has one (readBatch, pooled): it holds the last name
// routed; any change to the index makes it stale. Any publisher may use
// it: a match depends on the name and the index alone.
type routeMemo struct {
	index *topic.SubscriptionIndex[*Session] // whose Version ver is: readBatch's pool is every broker's
	name  string
	ver   uint64
	subs  []topic.Subscription[*Session]
	ok    bool
}

// routeMemoMax is the most subscriptions a memo keeps: past it,
// copying them costs about what walking the index does.
const routeMemoMax = 64

// match appends the subscriptions matching name to dst: from the read's
// memo when it holds name at the index's current version, else from the
// index (and into the memo).
func (b *Broker) match(dst []topic.Subscription[*Session], name string, from *conn) []topic.Subscription[*Session] {
	if from == nil || from.rb == nil {
		return b.index.MatchAppend(dst, name)
	}
	memo := &from.rb.route
	ver := b.index.Version() // before the walk: a change during it makes the memo stale
	if memo.ok && memo.ver == ver && memo.index == b.index && memo.name == name {
		return append(dst, memo.subs...)
	}
	first := len(dst)
	dst = b.index.MatchAppend(dst, name)
	clear(memo.subs) // a pooled memo keeps no session alive
	memo.subs, memo.ok = memo.subs[:0], false
	if len(dst)-first <= routeMemoMax {
		memo.subs = append(memo.subs, dst[first:]...)
		memo.index, memo.name, memo.ver, memo.ok = b.index, name, ver, true
	}
	return dst
}

// merge builds the delivery for one session from all its matching
// subscriptions; ok is false when none applies (no-local, ACL).
func (b *Broker) merge(m *Message, subs []topic.Subscription[*Session]) (d delivery, ok bool) {
	s := subs[0].Subscriber
	for _, sub := range subs {
		if sub.Options.NoLocal && m.From != "" && m.From == s.id {
			continue // [MQTT-3.8.3-3]
		}
		q := b.deliveredQoS(m.QoS, sub.Options.QoS)
		if !ok || q > d.qos {
			d.qos = q
		}
		if sub.Options.RetainAsPublished && m.Retain {
			d.retain = true // [MQTT-3.3.1-13]; otherwise 0 [MQTT-3.3.1-12]
		}
		if sub.Options.Identifier != 0 {
			d.subIDs = append(d.subIDs, sub.Options.Identifier) // [MQTT-3.3.4-3]
		}
		ok = true
	}
	if !ok || !b.canRead(s, m.Topic) {
		return delivery{}, false
	}
	d.msg = m
	return d, true
}

// handlePuback completes an outbound QoS 1 message [MQTT-4.3.2].
func (c *conn) handlePuback(p *packet.Puback) error {
	return c.sess.acknowledged(p.PacketID, 1)
}

// handlePubrec moves an outbound QoS 2 message to its PUBREL step
// [MQTT-4.3.3-3]; an error reason ends it [MQTT-4.3.3-4].
func (c *conn) handlePubrec(p *packet.Pubrec) error {
	s := c.sess
	mark := c.b.storeFails.Load()
	durable := false
	s.mu.Lock()
	var d delivery
	ip := s.inflight.get(p.PacketID)
	ok := ip != nil
	if ok {
		d = *ip
	}
	if ok && d.qos != 2 {
		s.mu.Unlock()
		return errWrongAck("PUBREC", d)
	}
	if ok && p.ReasonCode < 0x80 && !d.rel {
		d.rel = true
		c.b.stats.add(s.shard(), statInflightBytes, -int64(d.msg.size()))
		c.b.memRelease(s.shard(), d.msg)
		d.msg = nil // the message is delivered; free it
		*ip = d
		if d.stored {
			c.b.commit(Op{Kind: OpPutDelivery, ClientID: s.id, Delivery: d.state()})
			durable = true
		}
	}
	s.mu.Unlock()
	switch {
	case !ok || d.qos != 2:
		c.send(&packet.Pubrel{PacketID: p.PacketID, ReasonCode: packet.PacketIdentifierNotFound})
	case p.ReasonCode >= 0x80:
		s.complete(p.PacketID)
	case durable:
		// PUBREL only once the store knows the PUBREC came: after a crash
		// the broker must send PUBREL again, not the PUBLISH, which a
		// client that already had its PUBREL would take as a new message.
		c.ack(ctrlPacket{first: 0x62, id: p.PacketID}, true, mark)
	default:
		c.sendAck(0x62, p.PacketID)
	}
	return nil
}

// handlePubcomp completes an outbound QoS 2 message.
func (c *conn) handlePubcomp(p *packet.Pubcomp) error {
	return c.sess.acknowledged(p.PacketID, 2)
}

// handlePubrel releases an inbound QoS 2 packet id [MQTT-4.3.3-11]. A
// stored session's id leaves the store before PUBCOMP goes out: an id
// left behind by a crash would make the client's next message with it
// look like a duplicate.
func (c *conn) handlePubrel(p *packet.Pubrel) error {
	s := c.sess
	mark := c.b.storeFails.Load()
	s.mu.Lock()
	ok := s.delInQoS2Locked(p.PacketID)
	durable := ok && s.stored
	if durable {
		c.b.commit(Op{Kind: OpDeleteInbound, ClientID: s.id, PacketID: p.PacketID})
	}
	s.mu.Unlock()
	if ok || c.version != packet.V5 {
		c.ack(ctrlPacket{first: 0x70, id: p.PacketID}, durable, mark)
	} else {
		c.ack(ctrlPacket{p: &packet.Pubcomp{PacketID: p.PacketID, ReasonCode: packet.PacketIdentifierNotFound}}, false, mark)
	}
	return nil
}

// recheckLocked asks the Authorizer again about every queued message when
// its rules changed since the queue was last checked (VersionedAuthorizer):
// the ones the new rules deny are dropped, not delivered.
func (s *Session) recheckLocked() {
	va, ok := s.b.authz.(VersionedAuthorizer)
	if !ok {
		return
	}
	v := uint32(va.RulesVersion())
	if v == s.rules {
		return
	}
	s.rules = v
	s.queue.removeIf(func(d *delivery) bool {
		if s.b.canRead(s, d.msg.Topic) {
			return false
		}
		size := d.msg.size()
		s.qbytes -= size
		s.b.stats.add(s.shard(), statQueued, -1)
		s.b.stats.add(s.shard(), statQueuedBytes, -int64(size))
		s.unstoreLocked(d)
		s.b.memRelease(s.shard(), d.msg)
		s.b.dropped(s.shard(), DropNotAuthorized, s.id, d.msg)
		return true
	})
}

// deliveredQoS is the QoS a subscription granted sub gets a message
// published at pub: the lower of the two [MQTT-3.8.4-8], or the
// subscription's with Options.UpgradeOutgoingQoS (Mosquitto's
// upgrade_outgoing_qos, which breaks that rule on purpose).
func (b *Broker) deliveredQoS(pub, sub byte) byte {
	if b.opts.UpgradeOutgoingQoS {
		return sub
	}
	return min(pub, sub)
}

// canRead asks the Authorizer whether s may receive a message on topic;
// trusted sessions (in-process, without an identity) are not asked.
func (b *Broker) canRead(s *Session, topic string) bool {
	if b.authz == nil {
		return true
	}
	i := s.info.Load()
	return i == nil || b.authz.CanRead(context.Background(), *i, topic)
}

// writeDelivery encodes one outbound message (or its PUBREL) into the
// write buffer. It runs in the writer goroutine: packet id, topic alias,
// expiry and subscription ids are per connection.
func (c *conn) writeDelivery(d *delivery) error {
	if d.rel {
		c.ws.out = append(c.ws.out, 0x62, 2, byte(d.id>>8), byte(d.id)) // PUBREL, Success
		if c.b.trace.Load() {
			c.traceOut(nil, 0x62, d.id)
		}
		return c.wrote()
	}
	m := d.msg
	topicName := c.unmount(m.Topic)
	var expiry uint32
	if !m.Expiry.IsZero() {
		left := time.Until(m.Expiry)
		if left <= 0 { // expired while inflight or queued [MQTT-3.3.2-5]
			c.dropDelivery(d, DropExpired)
			return nil
		}
		expiry = uint32((left + time.Second - 1) / time.Second)
	}
	if l, ok := c.t.(*LocalConn); ok && l.handler != nil {
		l.deliverToHandler(d) // an in-process subscription: no PUBLISH to encode
		return nil
	}
	// The writer's own Publish: a local one would escape to the heap
	// through packet.Append, one allocation per subscriber and message.
	pub := &c.ws.pub
	*pub = packet.Publish{
		Dup:      d.dup,
		QoS:      d.qos,
		Retain:   d.retain,
		Topic:    topicName,
		PacketID: d.id,
		Payload:  m.Payload,
	}
	var alias uint16
	newAlias := false
	if c.version == packet.V5 {
		if m.Props != nil {
			pub.Properties = *m.Props
		}
		pub.Properties.SubscriptionIDs = d.subIDs
		if !m.Expiry.IsZero() {
			pub.Properties.MessageExpiry, pub.Properties.HasMessageExpiry = expiry, true
		}
		if aliasMax := c.aliasOutMax(); aliasMax > 0 {
			if a, ok := c.x.aliasOut[topicName]; ok {
				alias = a
				pub.Topic = ""
			} else if len(c.x.aliasOut) < int(aliasMax) {
				alias = uint16(len(c.x.aliasOut) + 1)
				newAlias = true
			}
			if alias != 0 {
				pub.Properties.TopicAlias, pub.Properties.HasTopicAlias = alias, true
			}
		}
	}
	if max := c.maxOut(); max > 0 && packet.Size(pub, c.version) > int(max) {
		// Too large for this client: discard it as if sent [MQTT-3.1.2-25],
		// with Mosquitto's notice.
		c.b.log.Info("Dropping too large outgoing PUBLISH for " + c.info.ClientID + " (" + itoa(packet.Size(pub, c.version)) + " bytes)")
		c.dropDelivery(d, DropTooLarge)
		return nil
	}
	if newAlias {
		if c.x.aliasOut == nil {
			c.x.aliasOut = make(map[string]uint16)
		}
		c.x.aliasOut[topicName] = alias
	}
	var err error
	if len(m.Payload) >= vecMin && c.vectored() {
		// The header only: flush writes the payload from the Message.
		c.ws.out, err = packet.AppendPublishHead(c.ws.out, pub, c.version)
		if err == nil {
			c.ws.vec = append(c.ws.vec, vecPart{at: len(c.ws.out), p: m.Payload})
			c.ws.vecLen += len(m.Payload)
		}
	} else {
		c.ws.out, err = packet.Append(c.ws.out, pub, c.version)
	}
	if err != nil {
		c.b.log.Error("encoding PUBLISH failed", "client", c.info.ClientID, "err", err)
		c.dropDelivery(d, DropTooLarge)
		return nil
	}
	c.b.stats.add(c.shard, statPubSent0+statKind(d.qos), 1)
	c.b.stats.add(c.shard, statPubBytesSent, int64(len(m.Payload)))
	if c.b.trace.Load() {
		c.traceLines(publishTrace("Sending", "to", c.who(), d.dup, d.qos, d.retain, d.id, topicName, len(m.Payload)))
	}
	return c.wrote()
}

func (c *conn) dropDelivery(d *delivery, why DropReason) {
	c.b.dropped(c.shard, why, c.info.ClientID, d.msg)
	if d.qos > 0 {
		c.sess.complete(d.id)
	}
}
