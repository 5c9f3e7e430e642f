package broker

import (
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/mqttkit/mqtt/mqtt/packet"
	"github.com/mqttkit/mqtt/mqtt/topic"
)

// neverExpire is the MQTT 5 Session Expiry Interval meaning "never".
const neverExpire = 0xFFFFFFFF

// Session is the server side of an MQTT session: it outlives connections
// (clean session 0 / session expiry > 0). It holds the subscriptions, the
// outbound queue and inflight window, and the inbound QoS 2 packet ids.
type Session struct {
	b   *Broker
	id  string // client identifier
	num uint64 // unique per broker: orders sessions when merging matches

	info  atomic.Pointer[ClientInfo] // of the latest connection, for CanRead
	flags atomic.Uint32              // flagOnline, flagMulti: read lock-free by routing

	// The rest is guarded by mu. The maps are made on first use (an idle
	// session costs none) and never again once ended. Small fields are
	// packed at the end (the Session is allocated per client).
	expiry   uint32 // seconds; neverExpire
	mu       sync.Mutex
	conn     *conn
	subs     map[string]topic.Options // by the filter as subscribed ("$share/g/f" included; see subFilter)
	queue    deque
	qbytes   int
	inflight *inflight // made on first use (inflight.go); holds the inbound QoS 2 ids too
	seq      uint64

	off *offState // while disconnected: since when, its timers, a will waiting

	// stall is Broker.ms() when the connection's writer last found the
	// socket full and has taken nothing since; 0 while writes go through
	// (slowConsumer). Written by the writer, read by enqueue.
	stall   atomic.Int32
	nextID  uint16
	version byte
	ended   bool
	stored  bool // the store holds this session (persistent, Store set)
	resend  bool // retransmit the inflight window on the new connection (takeForSend)
	// dropping: messages for it are dropped at its own limits (queue
	// full, its share of memory_limit, a slow consumer's QoS 0) and that
	// was logged; cleared once the queue is empty, so an episode is
	// logged once (as Mosquitto does).
	dropping bool
	ibytes   int32  // payload bytes in the inflight window, counted with Options.MaxInflightBytes
	rules    uint32 // the VersionedAuthorizer\'s RulesVersion its queue was last checked under
	qmax     int32  // the most its queue has held (measurements: TestBurstQueueDepth)
	// idBuf holds id when it is at most 32 bytes (newSession), as most
	// are (MQTT 3.1 allowed 23; the tools' generated ids have 20-23). In
	// the session's own allocation (the 176-byte size class) the id
	// is no object of its own among the small garbage a CONNECT leaves,
	// and no longer carries the CONNECT's header bytes with it (a
	// 32-byte string for a 20-byte id).
	idBuf [32]byte
}

// takeWillLocked takes the will waiting for its delay, if any.
func (s *Session) takeWillLocked() *Message {
	if s.off == nil {
		return nil
	}
	w := s.off.will
	s.off.will = nil
	return w
}

// offState is what only a disconnected session needs.
type offState struct {
	since       time.Time
	will        *Message  // a will waiting for its delay (or the session end)
	willAt      time.Time // when the will is due (zero: no will waiting)
	willTimer   *time.Timer
	expireTimer *time.Timer
}

// subFilter is the share group and the filter as the index has it of a
// subscription recorded in Session.subs under key (which ParseShared
// accepted when it was subscribed). The record does not keep them: two
// more string headers per subscription in a map whose key holds them
// already. Measured with 100 maps of 10,000 entries: 100.1 MiB with
// {Group, Filter, Options} values, 41.7 MiB with Options alone.
func subFilter(key string) (group, inner string) {
	group, inner, _, _ = topic.ParseShared(key)
	return group, inner
}

// delivery is one message on its way to one session: in the queue, or in
// the inflight window once it has a packet id.
type delivery struct {
	msg    *Message
	qos    byte
	retain bool
	dup    bool
	rel    bool // QoS 2: PUBREC received, PUBREL sent, waiting for PUBCOMP
	stored bool // the store holds it (OpPutDelivery)
	// onSub: a retained message sent because of a SUBSCRIBE. Such a burst
	// is bounded by the retained store, not by a publisher's rate, so it
	// is never dropped as a slow consumer's QoS 0: a subscriber that takes
	// 100,000 retained messages while 9 others do is busy, not stuck.
	onSub  bool
	id     uint16
	seq    uint64
	subIDs []uint32
	// group and filter name the shared subscription it was routed by, so
	// it can be handed to another member.
	group, filter string
}

const (
	// flagOnline: a connection is attached.
	flagOnline = 1 << iota
	// flagMulti: the session may have more than one subscription matching
	// a topic, so route must merge its matches (set before a second
	// subscription enters the index, cleared after it left).
	flagMulti
	// flagBacklog: the queue is past the backlog mark (backlog.go);
	// publishers that feed it pause until it is below a quarter of the
	// limits (set and cleared under mu).
	flagBacklog
	// flagBacklogSlow: a publisher paused for it for StallAfter and its
	// queue did not come down: no one pauses for it again until it is
	// below the resume mark (backlog.go).
	flagBacklogSlow
)

// shard is the stats shard the session counts in.
func (s *Session) shard() uint8 { return uint8(s.num % statShards) }

func (b *Broker) newSession(id string, version byte) *Session {
	s := &Session{
		b:       b,
		id:      id,
		num:     b.idSeq.Add(1),
		version: version,
	}
	if n := copy(s.idBuf[:], id); n == len(id) && n > 0 {
		s.id = unsafe.String(&s.idBuf[0], n) // see idBuf
	}
	return s
}

// enqueue adds d to the session's outbound queue, within the queue
// limits. It never blocks: on a full queue the message is dropped and
// counted, and enqueue reports false. stored reports that d went to the
// store: whoever acknowledges the message must wait for it (ack).
func (s *Session) enqueue(d delivery) (ok, stored bool) {
	ok, stored = s.push(d)
	if ok {
		s.b.stats.add(s.shard(), statQueued, 1)
		s.b.stats.add(s.shard(), statQueuedBytes, int64(d.msg.size()))
	}
	return ok, stored
}

// push is enqueue without counting the message in statQueued and
// statQueuedBytes: route counts all it queued at once, in the
// publisher's stats shard (the subscriber's, shared by every publisher
// of a fan-in, cost each message two contended atomic additions).
func (s *Session) push(d delivery) (ok, stored bool) {
	size := d.msg.size()
	s.mu.Lock()
	var why DropReason
	logged := false // this client's own limit: logged once per episode, as Mosquitto does
	switch {
	case s.ended:
		why = DropSessionEnded
	case s.conn == nil && d.qos == 0 && !s.b.opts.QueueQoS0:
		why = DropOffline
	case s.queueFull(size):
		why, logged = DropQueueFull, true
	case s.overMemoryShare(size):
		why, logged = DropMemoryLimit, true
	case d.qos == 0 && !d.onSub && s.slowConsumer(size):
		why, logged = DropSlowConsumer, true
		s.trimQoS0Locked()
	case d.qos == 0 && s.b.memLevel.Load() >= memTight && (s.stalledLocked() || s.behindLocked(size)):
		why = DropMemoryLimit // memory_limit's own line says so, once for all clients
	}
	if why != 0 {
		first := logged && !s.dropping
		if first {
			s.dropping = true
		}
		s.mu.Unlock()
		if first {
			s.b.log.Info("Outgoing messages are being dropped for client " + s.id + ".")
		}
		s.b.dropped(s.shard(), why, s.id, d.msg)
		return false, false
	}
	s.seq++
	d.seq = s.seq
	if s.stored && (d.qos > 0 || s.conn == nil) {
		d.stored = true
		s.b.commit(Op{Kind: OpPutDelivery, ClientID: s.id, Delivery: d.state()})
	}
	s.queue.push(d)
	s.qmax = max(s.qmax, s.queue.n)
	s.qbytes += size
	s.b.memHold(s.shard(), d.msg)
	c := s.conn
	if c != nil && s.flags.Load()&flagBacklog == 0 && s.backlogLocked(2) {
		s.b.backlog.add(s)
	}
	s.mu.Unlock()
	if c != nil {
		c.notifyRouted()
	}
	return true, d.stored
}

// takeForSend moves what connection c may send now into out:
// retransmissions first, then queued messages while the inflight window
// has room, up to about one write's worth (takeBytes). QoS 1/2 messages
// get their packet id here. sync reports that
// a stored QoS 2 message got its packet id: the store must have it
// before the PUBLISH goes out (syncStore), or a crash could make the
// message arrive twice under two ids.
func (s *Session) takeForSend(c *conn, out []delivery) (_ []delivery, sync bool) {
	if s == nil {
		return out, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn != c {
		return out, false
	}
	if s.resend {
		// Unacknowledged PUBLISH and PUBREL go again, in their original
		// order [MQTT-4.4.0-1], [MQTT-4.6.0-1], within this connection's
		// window [MQTT-3.3.4-7]: a client may come back with a smaller
		// Receive Maximum than the window holds.
		s.resend = false
		s.inflight.startResend()
	}
	if s.inflight.resending() {
		out = s.inflight.takeResend(out, int(c.window), 512)
		if s.inflight.resending() {
			return out, false // queued messages are newer: they wait behind
		}
	}
	s.recheckLocked()
	now := time.Now()
	taken := 0
	for s.queue.len() > 0 && len(out) < 512 && taken < takeBytes {
		d := *s.queue.front()
		if d.msg.expired(now) {
			s.popLocked()
			s.b.memRelease(s.shard(), d.msg)
			s.unstoreLocked(&d)
			s.b.dropped(s.shard(), DropExpired, s.id, d.msg)
			continue
		}
		if d.qos > 0 && (s.inflight.len() >= int(c.window) || s.inflightBytesFull()) {
			break
		}
		s.popLocked()
		taken += d.msg.size()
		if d.qos == 0 {
			s.b.memRelease(s.shard(), d.msg) // sent now: the writer's reference is enough
			s.unstoreLocked(&d)              // an offline QoS 0 message, sent now
		} else {
			d.id = s.nextIDLocked()
			s.addInflightLocked(d)
			if d.qos == 2 && d.stored {
				s.b.commit(Op{Kind: OpPutDelivery, ClientID: s.id, Delivery: d.state()})
				sync = true
			}
		}
		out = append(out, d)
	}
	return out, sync
}

// takeBytes is about how much of the queue a writer takes at a time: one
// write's worth (flushAt), at least one message. What it has taken is
// out of the queue (its limits, Clients' Queued, the backlog marks) and
// out of the sweep's reach (trimStalled) until it is written, so a writer
// that finds its socket full holds that much, not 512 messages: it took
// 512 × 16 KiB from a subscriber that had stopped reading, left its
// queue empty, and the stalled budget and its log line never applied
// (TestStalledSubscriberTrimIsLogged, seen with every read on the event
// loop, where the writer started after a whole burst was queued).
const takeBytes = flushAt

func (s *Session) popLocked() {
	d := s.queue.pop()
	size := d.msg.size()
	s.qbytes -= size
	s.b.stats.add(s.shard(), statQueued, -1)
	s.b.stats.add(s.shard(), statQueuedBytes, -int64(size))
	if s.dropping && s.queue.len() == 0 {
		s.dropping = false
	}
	if s.flags.Load()&flagBacklog != 0 && !s.backlogLocked(4) {
		s.b.backlog.release(s)
	}
}

// nextIDLocked returns a packet id not in use by the inflight window
// [MQTT-2.2.1-3]. The window is at most 65535, so one is always free.
func (s *Session) nextIDLocked() uint16 {
	for {
		s.nextID++
		if s.nextID == 0 {
			s.nextID = 1
		}
		if !s.inflight.has(s.nextID) {
			return s.nextID
		}
	}
}

// acknowledged completes inflight message id on PUBACK (qos 1) or
// PUBCOMP (qos 2, after PUBREC), in one hold of the lock. An unknown id
// is ignored (a late duplicate); an acknowledgement of the wrong kind
// (PUBACK for QoS 2, PUBCOMP for QoS 1 or before PUBREC) is a protocol
// error [MQTT-4.13.1-1] that ends the connection, as in Mosquitto.
func (s *Session) acknowledged(id uint16, qos byte) error {
	s.mu.Lock()
	p := s.inflight.get(id)
	if p == nil {
		s.mu.Unlock()
		return nil
	}
	d := *p
	if d.qos != qos || (qos == 2 && !d.rel) {
		s.mu.Unlock()
		return errWrongAck(map[byte]string{1: "PUBACK", 2: "PUBCOMP"}[qos], d)
	}
	s.unstoreLocked(&d)
	s.delInflightLocked(d)
	c := s.conn
	more := s.queue.len() > 0 || s.inflight.resending()
	s.mu.Unlock()
	if c != nil && more {
		c.notify()
	}
	return nil
}

// errWrongAck is the protocol error of an acknowledgement that does not
// fit the inflight message d.
func errWrongAck(kind string, d delivery) error {
	state := "QoS " + strconv.Itoa(int(d.qos))
	if d.rel {
		state += " after PUBREC"
	} else if d.qos == 2 {
		state += " before PUBREC"
	}
	return &packet.Error{Code: packet.ProtocolError, Msg: kind + " for packet id " + strconv.Itoa(int(d.id)) + ", a " + state + " message"}
}

// addInflightLocked puts d (with its packet id) in the inflight window;
// delInflightLocked takes it out. Inflight bytes count in Stats and
// against Options.MemoryLimit until the message is delivered.
func (s *Session) addInflightLocked(d delivery) {
	if s.inflight == nil {
		s.inflight = new(inflight)
	}
	s.inflight.add(d)
	if d.msg != nil {
		s.b.stats.add(s.shard(), statInflightBytes, int64(d.msg.size()))
		if s.b.opts.MaxInflightBytes > 0 {
			s.ibytes += int32(len(d.msg.Payload))
		}
	}
}

// inflightBytesFull reports whether Options.MaxInflightBytes holds new
// QoS 1/2 messages back: as in Mosquitto, a message goes while the
// payload bytes in flight are below the limit, so one larger than the
// limit still goes, alone.
func (s *Session) inflightBytesFull() bool {
	max := s.b.opts.MaxInflightBytes
	return max > 0 && int(s.ibytes) >= max
}

func (s *Session) delInflightLocked(d delivery) {
	s.inflight.del(d.id)
	if d.msg != nil {
		s.b.stats.add(s.shard(), statInflightBytes, -int64(d.msg.size()))
		if s.b.opts.MaxInflightBytes > 0 {
			s.ibytes -= int32(len(d.msg.Payload))
		}
		s.b.memRelease(s.shard(), d.msg)
	}
}

// complete removes an inflight message (acknowledged, or dropped as if
// delivered) and wakes the writer if queued messages wait for room.
func (s *Session) complete(id uint16) {
	s.mu.Lock()
	if p := s.inflight.get(id); p != nil {
		d := *p
		s.unstoreLocked(&d)
		s.delInflightLocked(d)
	}
	c := s.conn
	more := s.queue.len() > 0 || s.inflight.resending()
	s.mu.Unlock()
	if c != nil && more {
		c.notify()
	}
}

// stopTimersLocked stops the will and expiry timers.
func (s *Session) stopTimersLocked() {
	if o := s.off; o != nil {
		if o.willTimer != nil {
			o.willTimer.Stop()
			o.willTimer = nil
		}
		if o.expireTimer != nil {
			o.expireTimer.Stop()
			o.expireTimer = nil
		}
	}
}

// takeSharedLocked removes the messages routed through shared
// subscriptions that the client has not acknowledged yet (queued, or
// inflight before PUBREC), so another member can have them.
func (s *Session) takeSharedLocked() []delivery {
	var out []delivery
	s.queue.removeIf(func(d *delivery) bool {
		if d.group == "" {
			return false
		}
		s.unstoreLocked(d)
		s.b.memRelease(s.shard(), d.msg)
		out = append(out, *d)
		size := d.msg.size()
		s.qbytes -= size
		s.b.stats.add(s.shard(), statQueued, -1)
		s.b.stats.add(s.shard(), statQueuedBytes, -int64(size))
		return true
	})
	var ids []delivery
	if s.inflight.len() > 0 {
		for _, d := range s.inflight.appendAll(nil) {
			if d.group != "" && !d.rel {
				s.unstoreLocked(&d)
				ids = append(ids, d)
				s.delInflightLocked(d)
			}
		}
	}
	slices.SortFunc(ids, func(a, b delivery) int { return cmpSeq(a.seq, b.seq) })
	for _, d := range ids {
		d.id, d.dup = 0, false
		out = append(out, d)
	}
	return out
}

// dropQoS0Locked removes the queued QoS 0 messages, counted as dropped.
func (s *Session) dropQoS0Locked() {
	s.queue.removeIf(func(d *delivery) bool {
		if d.qos != 0 {
			return false
		}
		size := d.msg.size()
		s.qbytes -= size
		s.b.stats.add(s.shard(), statQueued, -1)
		s.b.stats.add(s.shard(), statQueuedBytes, -int64(size))
		s.unstoreLocked(d)
		s.b.memRelease(s.shard(), d.msg)
		s.b.dropped(s.shard(), DropOffline, s.id, d.msg)
		return true
	})
}

// deque is a FIFO of deliveries in linked fixed-size chunks: it grows
// without copying (a burst of 100,000 queued messages used to spend a
// quarter of the broker's time re-growing one slice) and gives chunks
// back to a pool as they drain, so an idle session holds none. The
// chunks form a ring: the tail's next is the head, so the deque keeps
// one pointer (16 bytes in every Session, not 24).
type deque struct {
	tail   *dequeChunk // the newest chunk; tail.next is the oldest (the head)
	hi, ti uint16      // next to pop in the head, next free slot in the tail
	n      int32
}

const dequeChunkLen = 128

type dequeChunk struct {
	items [dequeChunkLen]delivery
	next  *dequeChunk
}

var chunkPool = sync.Pool{New: func() any { return new(dequeChunk) }}

func (q *deque) len() int         { return int(q.n) }
func (q *deque) front() *delivery { return &q.tail.next.items[q.hi] }

func (q *deque) push(d delivery) {
	switch {
	case q.tail == nil:
		c := chunkPool.Get().(*dequeChunk)
		c.next = c
		q.tail, q.hi, q.ti = c, 0, 0
	case q.ti == dequeChunkLen:
		c := chunkPool.Get().(*dequeChunk)
		c.next = q.tail.next
		q.tail.next = c
		q.tail, q.ti = c, 0
	}
	q.tail.items[q.ti] = d
	q.ti++
	q.n++
}

func (q *deque) pop() delivery {
	c := q.tail.next // the head
	d := c.items[q.hi]
	c.items[q.hi] = delivery{}
	q.hi++
	q.n--
	if q.n == 0 {
		// The last one: the head is the tail, the only chunk.
		q.tail, q.hi, q.ti = nil, 0, 0
		c.next = nil
		chunkPool.Put(c)
	} else if q.hi == dequeChunkLen {
		q.tail.next, q.hi = c.next, 0
		c.next = nil
		chunkPool.Put(c)
	}
	return d
}

// each calls fn for every queued delivery, oldest first.
func (q *deque) each(fn func(d *delivery)) {
	if q.n == 0 {
		return
	}
	for c, i, left := q.tail.next, q.hi, q.n; left > 0; left-- {
		if i == dequeChunkLen {
			c, i = c.next, 0
		}
		fn(&c.items[i])
		i++
	}
}

// removeIf removes the deliveries for which drop reports true, keeping
// the order of the others.
func (q *deque) removeIf(drop func(d *delivery) bool) {
	for n := q.len(); n > 0; n-- {
		d := q.pop()
		if !drop(&d) {
			q.push(d)
		}
	}
}

func (q *deque) reset() {
	for q.n > 0 {
		q.pop()
	}
}

// attach binds connection c to the session of clientID, taking it over
// from a connection that holds it [MQTT-3.1.4-3] and discarding it when
// clean is set [MQTT-3.1.2-4]. It reports whether a session was present.
func (b *Broker) attach(c *conn, clientID string, clean bool, expiry uint32) (*Session, bool) {
	for {
		b.mu.Lock()
		s := b.sessions.get(clientID)
		if s != nil {
			s.mu.Lock()
			old := s.conn
			s.mu.Unlock()
			if old != nil {
				b.mu.Unlock()
				old.takeover()
				old.waitDone()
				continue
			}
			if clean {
				b.sessions.del(clientID)
				b.mu.Unlock()
				b.endSession(s)
				continue
			}
		}
		present := s != nil
		if s == nil {
			s = b.newSession(clientID, c.version)
			b.sessions.put(s)
		}
		c.info.ClientID = s.id // the session's copy: the CONNECT's is garbage now (idBuf)
		s.mu.Lock()
		s.stopTimersLocked()
		s.off = nil // and its will: a new connection before the will delay has none [MQTT-3.1.3-9]
		s.conn = c
		s.version = c.version
		s.expiry = expiry
		s.flags.Or(flagOnline)
		switch l, _ := c.t.(*LocalConn); {
		case c.trusted:
			s.info.Store(nil) // no ACL checks
		case l != nil && l.as != nil:
			s.info.Store(l.as) // an in-process subscription acting as a client
		default:
			s.info.Store(&c.info)
		}
		s.resend = s.inflight.len() > 0 // the inflight window goes again first (takeForSend)
		s.saveLocked()
		s.mu.Unlock()
		b.mu.Unlock()
		return s, present
	}
}

// detach unbinds a closed connection from its session: the will is
// published or scheduled, shared-subscription messages the client did
// not acknowledge go to other members, and the session ends now or gets
// its expiry timer.
func (b *Broker) detach(c *conn, err error) {
	if b.opts.Hooks.OnDisconnect != nil {
		b.emit(hookEvent{kind: evDisconnect, info: c.info, err: c.endError(err)})
	}
	s := c.sess
	will := c.willMsg()
	if c.normalClose {
		will = nil // [MQTT-3.14.4-3]
	}
	// Broker.mu too: a session that ends with its connection leaves
	// b.sessions in the same step, or a new CONNECT with its client id
	// could resume it in between.
	b.mu.Lock()
	s.mu.Lock()
	if s.conn != c {
		// Taken over: the session lives on with the new connection, so a
		// delayed will is not sent [MQTT-3.1.3-9]; an immediate one is.
		ended := s.ended
		s.mu.Unlock()
		b.mu.Unlock()
		if will != nil && (c.willDelay() == 0 || ended) {
			b.publishWill(will)
		}
		return
	}
	s.conn = nil
	s.flags.And(^uint32(flagOnline))
	if s.info.Load() == &c.info {
		// The session outlives the connection: keep a copy of who it
		// was, not the conn (its buffers, alias tables and will).
		info := c.info
		s.info.Store(&info)
	}
	s.resend = false
	if s.inflight != nil {
		s.inflight.re = nil // what is left goes again on the next connection, with the rest
	}
	expiry := s.expiry
	if expiry == neverExpire && b.opts.PersistentClientExpiration > 0 {
		expiry = uint32(min(b.opts.PersistentClientExpiration/time.Second, neverExpire-1))
	}
	off := &offState{since: time.Now()}
	s.off = off
	var now *Message
	if will != nil && b.ctx.Err() == nil { // no wills on shutdown, now or after a restart
		if c.willDelay() == 0 || expiry == 0 {
			now = will
		} else {
			off.will = will
			off.willAt = off.since.Add(time.Duration(c.willDelay()) * time.Second)
			off.willTimer = time.AfterFunc(time.Duration(c.willDelay())*time.Second, func() { b.fireWill(s) })
		}
	}
	shared := s.takeSharedLocked()
	if !b.opts.QueueQoS0 {
		s.dropQoS0Locked() // QoS 0 is not kept for offline sessions
	}
	if expiry != 0 && expiry != neverExpire {
		off.expireTimer = time.AfterFunc(time.Duration(expiry)*time.Second, func() { b.expireSession(s, false) })
	}
	endNow := expiry == 0 && !b.closed && b.sessions.get(s.id) == s
	if endNow {
		b.sessions.del(s.id)
	}
	s.saveLocked()
	s.storeSentLocked()
	s.mu.Unlock()
	b.mu.Unlock()
	if now != nil {
		b.publishWill(now)
	}
	b.redistribute(s, shared)
	if endNow {
		b.endSession(s)
	}
}

// expireSession ends a session that has no connection.
func (b *Broker) expireSession(s *Session, clean bool) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	s.mu.Lock()
	ok := s.conn == nil && !s.ended && b.sessions.get(s.id) == s
	s.mu.Unlock()
	if ok {
		b.sessions.del(s.id)
	}
	b.mu.Unlock()
	if ok {
		if !clean {
			b.stats.expired.Add(1)
			b.log.Info("Expiring client " + s.id + " due to timeout.") // Mosquitto's words
		}
		b.endSession(s)
	}
}

// endSession discards a session already removed from b.sessions: its
// subscriptions leave the index, a pending will is published, queued
// shared-subscription messages go to other members, the rest is dropped.
func (b *Broker) endSession(s *Session) {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return
	}
	s.ended = true
	s.stopTimersLocked()
	will := s.takeWillLocked()
	subs := s.subs
	s.subs = nil
	shared := s.takeSharedLocked()
	s.queue.each(func(d *delivery) {
		b.stats.add(s.shard(), statQueued, -1)
		b.stats.add(s.shard(), statQueuedBytes, -int64(d.msg.size()))
		b.memRelease(s.shard(), d.msg)
		b.dropped(s.shard(), DropSessionEnded, s.id, d.msg)
	})
	s.queue.reset()
	s.qbytes = 0
	for _, d := range s.inflight.appendAll(nil) {
		s.delInflightLocked(d)
	}
	// The window goes with the inbound QoS 2 ids it holds.
	s.inflight = nil
	s.saveLocked() // removes it from the store
	s.mu.Unlock()
	for f := range subs {
		group, inner := subFilter(f)
		b.index.Unsubscribe(s, inner, group)
	}
	if will != nil {
		b.publishWill(will)
	}
	b.redistribute(s, shared)
}

// fireWill publishes a delayed will whose delay has passed.
func (b *Broker) fireWill(s *Session) {
	if b.ctx.Err() != nil {
		return
	}
	s.mu.Lock()
	w := s.takeWillLocked()
	if w != nil {
		s.saveLocked()
	}
	s.mu.Unlock()
	if w != nil {
		b.publishWill(w)
	}
}

var _ = packet.V5
