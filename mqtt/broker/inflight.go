package broker

import "slices"

// inflight is a session's inflight window: the QoS 1 and 2 messages sent
// (or to be resent) and not yet acknowledged, by packet id.
//
// Packet ids are handed out in sequence (Session.nextIDLocked), so the
// ids in flight are nearly always a short run: they live in a table
// indexed by the id's low bits, without hashing, and an acknowledgement
// clears its slot. The table doubles when it is three quarters full, so
// a run of ids never collides with itself. An id whose slot is taken by
// another (a message left unacknowledged while the ids went round the
// table, or ids restored from the store) goes to the small map more: the
// older message moves there, the new one takes the slot. A map was what
// the window used to be; its hashing, assignment and deletion were 10% of
// the broker's CPU with 50 publisher/subscriber pairs at QoS 1.
//
// After a reconnect the window is sent again (resend), in the order it
// was first sent, within the new connection's window: re holds what is
// still to be sent.
//
// Not safe for concurrent use: Session.mu guards it. A *delivery it
// returns is valid until the next add or del.
type inflight struct {
	slots []delivery // by id & (len(slots)-1); a free slot has id 0 (ids are never 0)
	more  map[uint16]*delivery
	n     int
	re    *resendState // nil but while a new connection is sent the window again
	// inQoS2: the inbound QoS 2 packet ids whose PUBREL has not come
	// (§4.3.3). Kept here rather than in the Session, so that a session
	// that never exchanges QoS 1 or 2 holds neither (8 bytes each).
	inQoS2 map[uint16]struct{}
}

// hasInQoS2Locked reports whether the inbound QoS 2 message id awaits
// its PUBREL; addInQoS2Locked records it, delInQoS2Locked forgets it,
// reporting whether it was there; inQoS2Locked counts them. Under s.mu.
func (s *Session) hasInQoS2Locked(id uint16) bool {
	if s.inflight == nil {
		return false
	}
	_, ok := s.inflight.inQoS2[id]
	return ok
}

func (s *Session) addInQoS2Locked(id uint16) {
	if s.inflight == nil {
		s.inflight = new(inflight)
	}
	if s.inflight.inQoS2 == nil {
		s.inflight.inQoS2 = make(map[uint16]struct{})
	}
	s.inflight.inQoS2[id] = struct{}{}
}

func (s *Session) delInQoS2Locked(id uint16) bool {
	if s.inflight == nil {
		return false
	}
	_, ok := s.inflight.inQoS2[id]
	delete(s.inflight.inQoS2, id)
	return ok
}

func (s *Session) inQoS2Locked() int {
	if s.inflight == nil {
		return 0
	}
	return len(s.inflight.inQoS2)
}

// resendState is the part of the window a new connection has not been
// sent yet. The client's Receive Maximum may be smaller than the
// previous connection's [MQTT-3.3.4-7]: only as many go as the new
// window holds, in their original order [MQTT-4.6.0-1], and the rest
// as acknowledgements free it. Nothing is added to the window until all
// went (queued messages are newer: they wait behind), so the messages
// still waiting are exactly those with a seq above that of the last one
// sent.
type resendState struct {
	ids  []uint16 // the window at the reconnect, by seq
	next int      // ids[next:] are still to be sent
	left int      // how many of ids[next:] are still in the window (one may be acknowledged before it is sent)
	seq  uint64   // seq of the last one sent again (0: none yet)
}

// inflightMinSlots is the table's size when the first message enters;
// inflightMaxSlots gives every packet id a slot of its own, so it never
// grows past it.
const (
	inflightMinSlots = 16
	inflightMaxSlots = 1 << 16
)

// len is the number of messages in flight; 0 for a nil window.
func (w *inflight) len() int {
	if w == nil {
		return 0
	}
	return w.n
}

// get returns the message in flight with packet id id, or nil.
func (w *inflight) get(id uint16) *delivery {
	if w == nil || id == 0 || len(w.slots) == 0 {
		return nil
	}
	if d := &w.slots[int(id)&(len(w.slots)-1)]; d.id == id {
		return d
	}
	if w.more != nil {
		return w.more[id]
	}
	return nil
}

// has reports whether packet id id is in flight.
func (w *inflight) has(id uint16) bool { return w.get(id) != nil }

// add puts d (its packet id is not 0) in the window; a message already
// in flight with its id is replaced, as by a map assignment.
func (w *inflight) add(d delivery) {
	if w.n+1 > len(w.slots)*3/4 && len(w.slots) < inflightMaxSlots {
		w.grow()
	}
	s := &w.slots[int(d.id)&(len(w.slots)-1)]
	if s.id == d.id {
		*s = d
		return
	}
	if p := w.more[d.id]; p != nil {
		*p = d
		return
	}
	w.n++
	if s.id != 0 {
		// The slot's message was left behind while the ids went round:
		// it waits in more, and the newer message (more likely to be
		// acknowledged soon) takes the slot.
		old := *s
		w.putMore(&old)
	}
	*s = d
}

func (w *inflight) putMore(d *delivery) {
	if w.more == nil {
		w.more = make(map[uint16]*delivery)
	}
	w.more[d.id] = d
}

// grow doubles the table (or makes the first one) and puts the messages
// back: those of the table keep distinct slots, those of more return to
// the table where their slot is free.
func (w *inflight) grow() {
	old := w.slots
	w.slots = make([]delivery, max(inflightMinSlots, 2*len(old)))
	mask := len(w.slots) - 1
	for i := range old {
		if d := &old[i]; d.id != 0 {
			w.slots[int(d.id)&mask] = *d
		}
	}
	for id, d := range w.more {
		if s := &w.slots[int(id)&mask]; s.id == 0 {
			*s = *d
			delete(w.more, id)
		}
	}
	if len(w.more) == 0 {
		w.more = nil
	}
}

// del removes packet id id from the window, if it is there.
func (w *inflight) del(id uint16) {
	if w == nil || id == 0 || len(w.slots) == 0 {
		return
	}
	if s := &w.slots[int(id)&(len(w.slots)-1)]; s.id == id {
		if w.re != nil && s.seq > w.re.seq {
			w.re.left-- // acknowledged before it was sent again
		}
		*s = delivery{} // keep no message alive
		w.n--
		return
	}
	if d, ok := w.more[id]; ok {
		if w.re != nil && d.seq > w.re.seq {
			w.re.left--
		}
		delete(w.more, id)
		if len(w.more) == 0 {
			w.more = nil
		}
		w.n--
	}
}

// appendAll appends the messages in flight to out, in no particular
// order.
func (w *inflight) appendAll(out []delivery) []delivery {
	if w == nil || w.n == 0 {
		return out
	}
	for i := range w.slots {
		if w.slots[i].id != 0 {
			out = append(out, w.slots[i])
		}
	}
	for _, d := range w.more {
		out = append(out, *d)
	}
	return out
}

// startResend prepares sending the whole window again on a new
// connection, oldest first (takeResend).
func (w *inflight) startResend() {
	if w == nil || w.n == 0 {
		return
	}
	all := w.appendAll(make([]delivery, 0, w.n))
	slices.SortFunc(all, func(a, b delivery) int { return cmpSeq(a.seq, b.seq) })
	ids := make([]uint16, len(all))
	for i := range all {
		ids[i] = all[i].id
	}
	w.re = &resendState{ids: ids, left: len(ids)}
}

// resending reports whether messages of the window wait to be sent again.
func (w *inflight) resending() bool { return w != nil && w.re != nil }

// takeResend appends to out the messages of the window still to be sent
// again, oldest first, while fewer than window messages sent on this
// connection are unacknowledged, and up to max in out: PUBLISH with DUP
// [MQTT-3.3.1-1] under its packet id [MQTT-4.4.0-1], or PUBREL for a
// QoS 2 message past PUBREC. A PUBREL counts against the window as a
// PUBLISH does until its PUBCOMP, as it does on the connection that
// sent the PUBLISH (fewer than the client allows, never more).
func (w *inflight) takeResend(out []delivery, window, max int) []delivery {
	re := w.re
	for re.left > 0 && w.n-re.left < window && len(out) < max {
		d := w.get(re.ids[re.next])
		re.next++
		if d == nil {
			continue // acknowledged before it was sent again (counted then)
		}
		re.left--
		re.seq = d.seq
		d.dup = !d.rel // PUBREL has no DUP
		out = append(out, *d)
	}
	if re.left == 0 {
		w.re = nil
	}
	return out
}
