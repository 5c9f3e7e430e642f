package broker

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/mqttkit/mqtt/mqtt/packet"
	"github.com/mqttkit/mqtt/mqtt/topic"
)

// Persistence: what the broker tells its Store, when, and how it starts
// again from a Snapshot. Nothing here runs without Options.Store.
//
// A session is stored (Session.stored) while it is persistent: Session
// Expiry Interval above 0, or 3.x clean session 0. Its state (OpPutSession)
// is written at CONNECT, on SUBSCRIBE/UNSUBSCRIBE, on DISCONNECT and when
// the connection ends; every QoS 1/2 message queued for it (and QoS 0
// queued while it is offline) is written when queued (OpPutDelivery) and
// removed when acknowledged, expired or dropped; a QoS 2 message's packet
// id is written before its PUBLISH is sent, its PUBREC before PUBREL goes;
// a QoS 1 message's packet id when its connection ends with it still in
// flight (storeSentLocked); inbound QoS 2 packet ids are written before
// PUBREC and removed before PUBCOMP. The operations are committed under
// Session.mu, so the store sees each session's changes in the order they
// happened.
//
// Acknowledgements wait for the disk: a PUBLISH whose handling wrote
// anything (a retained message, a delivery to a stored session, an
// inbound QoS 2 id) is answered only once a barrier committed after
// those writes is durable (ackDurable); acknowledgements behind it on the
// same connection wait too, so they keep their order [MQTT-4.6.0-2].
// Messages with no durable effect and QoS 0 never wait. A stored
// session's SUBACK and UNSUBACK wait the same way (a subscription lost
// with a crash would lose what was acknowledged for it afterwards); a
// SUBSCRIBE the store could not keep is refused (0x97; 3.x 0x80) and taken
// back, an UNSUBSCRIBE gets 0x80 (a 3.x client, which has no code for
// it, is disconnected).

// commit hands operations to the store, which orders them after every
// earlier commit. It never waits.
func (b *Broker) commit(ops ...Op) {
	if grows(ops) {
		b.store.Commit(ops, b.commitDone)
	} else {
		b.store.Commit(ops, b.commitShrinkDone)
	}
}

// grows reports whether ops add data: only their success shows the store
// works again (on a full disk, deletes succeed while additions fail).
func grows(ops []Op) bool {
	for i := range ops {
		switch ops[i].Kind {
		case OpSetRetained, OpPutSession, OpPutDelivery, OpPutInbound:
			return true
		}
	}
	return false
}

// commitDone notes a store failure; the next barrier's done reports it to
// the connections waiting on it. A success ends the failure.
func (b *Broker) commitDone(err error) {
	if err != nil {
		b.storeFails.Add(1)
		b.storeFailed(err)
	} else if b.storeErr.Load() && b.storeErr.CompareAndSwap(true, false) && b.storeLogged.Swap(false) {
		b.log.Info("store: writing works again")
	}
}

// commitShrinkDone is commitDone for commits that only remove data.
func (b *Broker) commitShrinkDone(err error) {
	if err != nil {
		b.commitDone(err)
	}
}

// storeProbeEvery is how long after a failed commit the broker refuses,
// before routing them, the publishes that would need the store; then one
// goes through and tries it again.
const storeProbeEvery = time.Second

// storeRefuses reports whether a publish to name must be refused before
// it is routed because the store is failing (storeErr set) and the
// message would need it: retained, or QoS 1/2 matching a stored session.
// Refused there, it reaches no subscriber and changes no retained
// message. What remains is the window before a failure is known: a
// message routed (and retained) whose writes then fail is refused
// (0x97) but was delivered to online subscribers, and a retained one
// is served until the next restart.
func (b *Broker) storeRefuses(name string, qos byte, retain bool) bool {
	if !b.storeErr.Load() || time.Now().UnixNano()-b.storeFailAt.Load() >= b.storeProbe.Load() {
		return false
	}
	if retain {
		return true
	}
	return qos > 0 && b.matchesStored(name)
}

// matchesStored reports whether a message on name would be queued for a
// stored session (a second index match: used only off the hot path).
func (b *Broker) matchesStored(name string) bool {
	bufp := matchPool.Get().(*[]topic.Subscription[*Session])
	subs := b.index.MatchAppend((*bufp)[:0], name)
	found := false
	for i := range subs {
		s := subs[i].Subscriber
		s.mu.Lock()
		found = s.stored
		s.mu.Unlock()
		if found {
			break
		}
	}
	clear(subs)
	*bufp = subs[:0]
	matchPool.Put(bufp)
	return found
}

// tooLargeToStore reports whether p is larger than the store can ever
// hold (StoreSizeLimit) and would need it: retained, or QoS 1/2 for a
// stored session. Refusing it with 0x97 would have the client retry for
// ever; it gets 0x95 Packet too large (DISCONNECT; 3.x is disconnected).
//
// A QoS 2 message's stored copies (one per stored session it reaches,
// and the retained one) are written together (OpBegin/OpEnd: exactly
// once across a crash), so for QoS 2 the limit holds for all of them
// together (storedCopies); QoS 1 copies are written apart.
func (c *conn) tooLargeToStore(p *packet.Publish, name string) bool {
	b := c.b
	if !p.Retain && p.QoS == 0 {
		return false
	}
	size := packet.Size(p, c.version)
	if size > b.storeMax {
		if !p.Retain && !b.matchesStored(name) {
			return false
		}
		b.log.Warn("PUBLISH of " + itoa(size) + " bytes from " + c.info.ClientID + " on " + name + " refused: the store holds messages of up to " + itoa(b.storeMax) + " bytes; disconnecting the client (packet too large).")
		return true
	}
	if p.QoS != 2 {
		return false
	}
	n, total := b.storedCopies(name, size+len(c.info.ClientID), p.Retain)
	if n < 2 || total <= b.storeMax {
		return false
	}
	b.log.Warn("PUBLISH of " + itoa(size) + " bytes from " + c.info.ClientID + " on " + name + " refused: QoS 2 needs its " + itoa(n) + " stored copies (" + itoa(total) + " bytes) written together, and the store writes up to " + itoa(b.storeMax) + " bytes at once; disconnecting the client (packet too large).")
	return true
}

// copyOverhead bounds what a stored copy adds to the PUBLISH packet
// besides the topic and the session's client id (storedCopies).
const copyOverhead = 1024

// storedCopies counts the copies of a message of size bytes (its PUBLISH
// packet and its publisher's id) on name that the store would write: one
// per stored session a subscription reaches (one per shared group with a
// stored member, as if a stored member took it) and the retained one;
// total bounds their bytes.
func (b *Broker) storedCopies(name string, size int, retain bool) (n, total int) {
	if retain {
		n, total = 1, size+len(name)+copyOverhead
	}
	bufp := matchPool.Get().(*[]topic.Subscription[*Session])
	subs := b.index.MatchAppend((*bufp)[:0], name)
	var sessions []*Session // stored ones, each once (overlapping subscriptions)
	var groups map[string]struct{}
	for i := range subs {
		s := subs[i].Subscriber
		s.mu.Lock()
		stored := s.stored
		s.mu.Unlock()
		if !stored {
			continue
		}
		if g := subs[i].Group; g != "" {
			if _, ok := groups[g]; ok {
				continue
			}
			if groups == nil {
				groups = make(map[string]struct{})
			}
			groups[g] = struct{}{}
			n++
			total += size + len(name) + len(s.id) + len(g) + len(subs[i].Filter) + copyOverhead
			continue
		}
		sessions = append(sessions, s)
	}
	clear(subs)
	*bufp = subs[:0]
	matchPool.Put(bufp)
	slices.SortFunc(sessions, func(a, b *Session) int { return cmpSeq(a.num, b.num) })
	for _, s := range slices.Compact(sessions) {
		n++
		total += size + len(name) + len(s.id) + copyOverhead
	}
	return n, total
}

// storeLogEvery spaces the failure log: on a full disk, commits that free
// room (acknowledged deliveries leaving) succeed between the ones that
// fail, and each would end and start an episode.
const storeLogEvery = time.Minute

func (b *Broker) storeFailed(err error) {
	b.storeFailAt.Store(time.Now().UnixNano())
	if b.storeErr.Swap(true) {
		return
	}
	now := time.Now().UnixNano()
	if last := b.storeLogAt.Load(); last != 0 && now-last < int64(storeLogEvery) || !b.storeLogAt.CompareAndSwap(last, now) {
		return
	}
	b.storeLogged.Store(true)
	b.log.Error("store: writing failed; messages that must be stored are refused until it works again", "err", err)
}

// syncStore waits until everything committed so far is durable.
func (b *Broker) syncStore() error {
	if b.store == nil {
		return nil
	}
	done := make(chan error, 1)
	b.store.Commit(nil, func(err error) { done <- err })
	return <-done
}

// state is the stored form of a delivery.
func (d *delivery) state() *DeliveryState {
	return &DeliveryState{Seq: d.seq, Message: d.msg, QoS: d.qos, Retain: d.retain, Dup: d.dup, PacketID: d.id,
		Released: d.rel, SubIDs: d.subIDs, Group: d.group, Filter: d.filter}
}

// unstoreLocked removes d from the store, if it is there.
func (s *Session) unstoreLocked(d *delivery) {
	if d.stored {
		d.stored = false
		s.b.commit(Op{Kind: OpDeleteDelivery, ClientID: s.id, Seq: d.seq})
	}
}

// saveLocked writes the session's state to the store, or removes it once
// the session is no longer persistent.
func (s *Session) saveLocked() {
	b := s.b
	if b.store == nil {
		return
	}
	if s.expiry == 0 || s.ended {
		if s.stored {
			s.stored = false
			b.commit(Op{Kind: OpDeleteSession, ClientID: s.id})
		}
		return
	}
	s.stored = true
	st := &SessionState{ClientID: s.id, ProtocolVersion: s.version, Expiry: s.expiry,
		Subscriptions: make([]SubscriptionState, 0, len(s.subs))}
	if i := s.info.Load(); i != nil {
		st.Username, st.HasUsername = i.Username, i.HasUsername
	}
	for f, o := range s.subs {
		st.Subscriptions = append(st.Subscriptions, SubscriptionState{Filter: f, Options: o})
	}
	slices.SortFunc(st.Subscriptions, func(a, b SubscriptionState) int { return cmpString(a.Filter, b.Filter) })
	if s.conn != nil {
		// A crash ends this connection without a word: its will goes out
		// (after its delay) when the broker is back.
		st.Will, st.WillDelay = s.conn.willMsg(), s.conn.willDelay()
	} else if s.off != nil {
		st.DisconnectedAt = s.off.since
		if s.off.will != nil {
			st.Will, st.WillAt = s.off.will, s.off.willAt
		}
	}
	b.commit(Op{Kind: OpPutSession, Session: st})
}

// storeSentLocked records, as its connection ends, the packet id of each
// stored QoS 1 message in flight, so that after a restart the client gets
// them again under those ids, with DUP [MQTT-4.4.0-1], [MQTT-3.3.1-1]. A
// QoS 1 message's id is not written when it is sent, which would be a
// write per message for what is nearly always acknowledged within the
// same group commit (QoS 2 pays it: an id that PUBREL and PUBCOMP refer
// to must survive a crash); once the connection is gone nothing changes
// the window until the next one, and the broker's Close ends every
// connection before the store closes. A crash still loses them: those
// messages come back queued, sent under new ids without DUP (at least
// once, as QoS 1 allows).
func (s *Session) storeSentLocked() {
	if !s.stored || s.inflight.len() == 0 {
		return
	}
	var ops []Op
	for _, d := range s.inflight.appendAll(nil) {
		if d.qos == 1 && d.stored {
			d.dup = true
			ops = append(ops, Op{Kind: OpPutDelivery, ClientID: s.id, Delivery: d.state()})
		}
	}
	if len(ops) > 0 {
		s.b.commit(ops...)
	}
}

// saveSession writes s's state after a change of its subscriptions.
func (b *Broker) saveSession(s *Session) {
	if b.store == nil {
		return
	}
	s.mu.Lock()
	s.saveLocked()
	s.mu.Unlock()
}

// ackQueue holds a connection's acknowledgements while a durable write
// they depend on is under way, so they go out in order once it is done.
// Guarded by conn.mu.
type ackQueue struct {
	entries []ackEntry
	base    uint64 // seq of entries[0]
	// refused: QoS 2 ids whose PUBREC was a refusal while entries were
	// left behind it; a duplicate's PUBREC behind them is refused too
	// (it acknowledges the same message). Emptied with entries.
	refused []uint16
}

type ackEntry struct {
	cp    ctrlPacket
	wait  bool // waiting for its barrier
	error bool // its barrier failed: refuse instead of acknowledging
	// then, if set, runs once cp is queued (or refused), in order, with
	// no lock held: a SUBACK's retained messages follow it.
	then func(failed bool)
}

// ack queues an acknowledgement of an inbound message. With durable set
// it goes out only once everything committed so far is on disk; either
// way it stays behind acknowledgements that wait. mark is
// Broker.storeFails before the message's writes were committed: the
// barrier's own success does not cover them when the store wrote them
// in an earlier transaction that failed, so a failure counted since mark
// refuses the message too.
func (c *conn) ack(cp ctrlPacket, durable bool, mark uint64) {
	c.ackThen(cp, durable, mark, nil)
}

// ackThen is ack, with then run once cp went out (or was refused).
func (c *conn) ackThen(cp ctrlPacket, durable bool, mark uint64, then func(failed bool)) {
	if !durable {
		c.mu.Lock()
		if c.acks == nil || len(c.acks.entries) == 0 {
			c.mu.Unlock()
			c.queue(cp)
			if then != nil {
				then(false)
			}
			return
		}
		c.acks.entries = append(c.acks.entries, ackEntry{cp: cp, then: then})
		c.mu.Unlock()
		return
	}
	c.mu.Lock()
	if c.acks == nil {
		c.acks = &ackQueue{}
	}
	q := c.acks
	seq := q.base + uint64(len(q.entries))
	q.entries = append(q.entries, ackEntry{cp: cp, wait: true, then: then})
	c.mu.Unlock()
	c.b.store.Commit(nil, func(err error) {
		if err == nil && c.b.storeFails.Load() != mark {
			err = errFailedBefore
		}
		if id, ok := pubrecID(cp); ok && err != nil {
			c.freeInbound(id)
		}
		c.acked(seq, err)
	})
}

// errFailedBefore refuses a message whose writes may have been in a
// commit that failed before its barrier.
var errFailedBefore = errors.New("an earlier store commit failed")

// unacknowledged counts the client's inbound QoS 1/2 messages not yet
// acknowledged (Receive Maximum): QoS 2 ids until PUBREL, and the
// acknowledgements waiting for the store.
//
// A held PUBREC is not counted again: its id is in inQoS2 already (a
// QoS 2 message refused at once, with no id there, is left out while its
// PUBREC waits behind others: a rare undercount, not a double count that
// disconnects a client within its limit).
func (c *conn) unacknowledged() int {
	c.sess.mu.Lock()
	n := c.sess.inQoS2Locked()
	c.sess.mu.Unlock()
	c.mu.Lock()
	if c.acks != nil {
		for i := range c.acks.entries {
			if inboundAck(c.acks.entries[i].cp) {
				n++
			}
		}
	}
	c.mu.Unlock()
	return n
}

// inboundAck reports whether cp ends an inbound QoS 1 exchange (PUBACK)
// or QoS 2 one (PUBCOMP): those count towards Receive Maximum while held.
func inboundAck(cp ctrlPacket) bool {
	switch cp.p.(type) {
	case *packet.Puback, *packet.Pubcomp:
		return true
	case nil:
		return cp.first == 0x40 || cp.first == 0x70
	}
	return false
}

// acked releases the acknowledgement seq (its barrier is done) and every
// ready one behind it. A 3.x client whose message was refused is
// disconnected: it has no reason code to be told, and resends an
// unacknowledged message only when it reconnects (as after memory_limit).
func (c *conn) acked(seq uint64, err error) {
	if err != nil && err != errFailedBefore { // that one was counted already
		c.b.storeFailed(err)
	}
	drop := false
	var thens []func()
	c.mu.Lock()
	q := c.acks
	if i := seq - q.base; i < uint64(len(q.entries)) {
		q.entries[i].wait = false
		q.entries[i].error = err != nil
	}
	n := 0
	for n < len(q.entries) && !q.entries[n].wait {
		e := q.entries[n]
		if id, rec := pubrecID(e.cp); rec {
			if e.error {
				q.refused = append(q.refused, id)
			} else if slices.Contains(q.refused, id) {
				e.error = true // a duplicate of the refused message
			}
		}
		if e.error {
			var refused bool
			e.cp, refused = c.refusal(e.cp)
			drop = drop || refused && c.version != packet.V5
		}
		if e.cp.p != nil || e.cp.first != 0 {
			if !c.closing {
				c.pushCtrlLocked(e.cp)
			}
		}
		if e.then != nil {
			then, failed := e.then, e.error
			thens = append(thens, func() { then(failed) })
		}
		n++
	}
	q.entries = append(q.entries[:0], q.entries[n:]...)
	q.base += uint64(n)
	if len(q.entries) == 0 {
		q.refused = q.refused[:0]
	}
	c.mu.Unlock()
	if n > 0 {
		c.notify()
	}
	for _, f := range thens {
		f()
	}
	if drop {
		c.close(closeReason{code: packet.QuotaExceeded})
	}
}

// pubrecID is the packet id of a PUBREC acknowledgement.
func pubrecID(cp ctrlPacket) (uint16, bool) {
	if p, ok := cp.p.(*packet.Pubrec); ok {
		return p.PacketID, true
	}
	return cp.id, cp.p == nil && cp.first == 0x50
}

// freeInbound forgets an inbound QoS 2 id whose message could not be
// stored. MQTT 5 gets PUBREC 0x97: that ends the exchange and frees the id
// [MQTT-4.3.3-8], so the client's next message with it is a new one, not a
// duplicate to drop. A 3.x client gets no PUBREC and sends the same
// message again (DUP): it must be routed and stored again, not taken for
// a duplicate of one the store never kept and acknowledged at once (lost
// at the next restart). Routed twice, it may reach an online subscriber
// twice: a duplicate rather than a loss.
// It runs before the refusal is queued, so the client cannot send that
// next message before the id is free.
func (c *conn) freeInbound(id uint16) {
	s := c.sess
	s.mu.Lock()
	if s.delInQoS2Locked(id) {
		if s.stored {
			c.b.commit(Op{Kind: OpDeleteInbound, ClientID: s.id, PacketID: id})
		}
	}
	s.mu.Unlock()
}

// refusal turns an acknowledgement whose message could not be stored
// into MQTT 5 PUBACK/PUBREC 0x97 Quota exceeded; a 3.x client gets none
// (acked disconnects it: it will send the message again). refused
// reports whether cp acknowledged a message.
func (c *conn) refusal(cp ctrlPacket) (_ ctrlPacket, refused bool) {
	id := cp.id
	first := cp.first
	if cp.p != nil {
		switch p := cp.p.(type) {
		case *packet.Puback:
			id, first = p.PacketID, 0x40
		case *packet.Pubrec:
			id, first = p.PacketID, 0x50
		case *packet.Suback:
			// The subscriptions are not stored: failed (MQTT 5 0x97);
			// handleSubscribe takes them back.
			codes := make([]packet.ReasonCode, len(p.ReasonCodes))
			for i, rc := range p.ReasonCodes {
				switch {
				case rc >= 0x80:
					codes[i] = rc
				case c.version == packet.V5:
					codes[i] = packet.QuotaExceeded
				default:
					codes[i] = 0x80 // Failure
				}
			}
			c.b.log.Warn("Subscriptions of " + c.info.ClientID + " could not be stored: refused.")
			return ctrlPacket{p: &packet.Suback{PacketID: p.PacketID, ReasonCodes: codes}}, false
		case *packet.Unsuback:
			if c.version != packet.V5 {
				// No reason codes in 3.x: not acknowledged, as a message.
				c.b.log.Warn("UNSUBSCRIBE " + itoa(int(p.PacketID)) + " from " + c.info.ClientID + " could not be stored: not acknowledged; disconnecting the client.")
				return ctrlPacket{}, true
			}
			codes := slices.Clone(p.ReasonCodes)
			for i, rc := range codes {
				if rc < 0x80 {
					codes[i] = packet.UnspecifiedError
				}
			}
			c.b.log.Warn("UNSUBSCRIBE " + itoa(int(p.PacketID)) + " from " + c.info.ClientID + " could not be stored: refused.")
			return ctrlPacket{p: &packet.Unsuback{PacketID: p.PacketID, ReasonCodes: codes}}, false
		default:
			return cp, false
		}
	}
	if c.version != packet.V5 && first != 0x40 && first != 0x50 {
		return ctrlPacket{}, false // PUBREL, PUBCOMP: sent again after a reconnect
	}
	if first != 0x40 && first != 0x50 {
		return cp, false
	}
	if c.version != packet.V5 {
		c.b.log.Warn("Message " + itoa(int(id)) + " from " + c.info.ClientID + " could not be stored: not acknowledged; disconnecting the client, which sends it again when it reconnects.")
		return ctrlPacket{}, true
	}
	if first == 0x40 {
		return ctrlPacket{p: &packet.Puback{PacketID: id, ReasonCode: packet.QuotaExceeded}}, true
	}
	return ctrlPacket{p: &packet.Pubrec{PacketID: id, ReasonCode: packet.QuotaExceeded}}, true
}

// restore rebuilds retained messages and persistent sessions from the
// store when New starts the broker: offline sessions with their
// subscriptions in the index, their queues in order and their inflight
// messages (resent on reconnect), inbound QoS 2 ids, expiry timers that
// count the downtime, and pending wills.
func (b *Broker) restore() error {
	snap, err := b.store.Load()
	if err != nil {
		return fmt.Errorf("broker: loading the store: %w", err)
	}
	now := time.Now()
	for _, m := range snap.Retained {
		if !m.expired(now) {
			b.retained.set(m, nil) // its publisher's identity is not stored
		} else {
			b.commit(Op{Kind: OpClearRetained, Topic: m.Topic}) // expired while the broker was down
		}
	}
	var expired []*Session
	var wills []*Message
	for _, st := range snap.Sessions {
		s := b.newSession(st.ClientID, st.ProtocolVersion)
		s.expiry = st.Expiry
		s.stored = true
		s.info.Store(&ClientInfo{ClientID: st.ClientID, Username: st.Username, HasUsername: st.HasUsername, ProtocolVersion: st.ProtocolVersion})
		for _, sub := range st.Subscriptions {
			group, inner, shared, err := topic.ParseShared(sub.Filter)
			if err == nil && !shared {
				err = topic.ValidateFilter(inner)
			}
			if err != nil {
				return fmt.Errorf("broker: store: session %q: subscription %q: %v", st.ClientID, sub.Filter, err)
			}
			b.index.Subscribe(topic.Subscription[*Session]{Subscriber: s, Filter: inner, Group: group, Options: sub.Options})
			if s.subs == nil {
				s.subs = make(map[string]topic.Options)
			}
			s.subs[sub.Filter] = sub.Options
		}
		if len(s.subs) > 1 {
			s.flags.Or(flagMulti)
		}
		for _, ds := range st.Deliveries {
			d := delivery{msg: ds.Message, qos: ds.QoS, retain: ds.Retain, dup: ds.Dup, rel: ds.Released, stored: true,
				id: ds.PacketID, seq: ds.Seq, subIDs: ds.SubIDs, group: ds.Group, filter: ds.Filter}
			s.seq = max(s.seq, d.seq)
			if d.id != 0 {
				s.addInflightLocked(d)
				b.memHold(s.shard(), d.msg)
				continue
			}
			if d.msg == nil {
				continue
			}
			s.queue.push(d)
			s.qbytes += d.msg.size()
			b.memHold(s.shard(), d.msg)
			b.stats.add(s.shard(), statQueued, 1)
			b.stats.add(s.shard(), statQueuedBytes, int64(d.msg.size()))
		}
		for _, id := range st.Inbound {
			s.addInQoS2Locked(id)
		}
		since := st.DisconnectedAt
		s.off = &offState{since: since}
		if since.IsZero() {
			// Connected when the broker stopped without a word: offline
			// since it was last known to run (or from now, if unknown),
			// and its will is due after its delay from then.
			s.off.since = now
			if alive := snap.LastAlive; !alive.IsZero() && alive.Before(now) {
				s.off.since = alive
			}
			if st.Will != nil {
				st.WillAt = s.off.since.Add(time.Duration(st.WillDelay) * time.Second)
			}
		}
		if st.Will != nil {
			if !st.WillAt.After(now) {
				wills = append(wills, st.Will)
			} else {
				s.off.will, s.off.willAt = st.Will, st.WillAt
				s.off.willTimer = time.AfterFunc(st.WillAt.Sub(now), func() { b.fireWill(s) })
			}
		}
		b.sessions.put(s)
		if left, ok := b.expiryLeft(s.expiry, s.off.since, now); ok {
			if left <= 0 {
				expired = append(expired, s)
			} else {
				s.off.expireTimer = time.AfterFunc(left, func() { b.expireSession(s, false) })
			}
		}
	}
	for _, s := range expired {
		b.expireSession(s, false)
	}
	for _, w := range wills {
		b.publishWill(w)
	}
	if len(snap.Sessions) > 0 || len(snap.Retained) > 0 {
		b.log.Info(fmt.Sprintf("Restored %d retained message%s and %d session%s from the store.", len(snap.Retained), pluralS(len(snap.Retained)), len(snap.Sessions), pluralS(len(snap.Sessions))))
	}
	return nil
}

// expiryLeft is how long an offline session with this Session Expiry
// Interval, offline since since, has left; ok is false when it never
// expires. PersistentClientExpiration applies to "never".
func (b *Broker) expiryLeft(expiry uint32, since, now time.Time) (left time.Duration, ok bool) {
	d := time.Duration(expiry) * time.Second
	if expiry == neverExpire {
		if b.opts.PersistentClientExpiration <= 0 {
			return 0, false
		}
		d = b.opts.PersistentClientExpiration
	}
	return d - now.Sub(since), true
}

func cmpSeq(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// pluralS is the plural ending of a count's noun: "" for 1, "s" otherwise.
func pluralS(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
