package broker

import (
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/mqttkit/mqtt/mqtt/packet"
)

// queueFull reports whether one more message of size bytes would exceed
// the session's queue limits (Options.MaxQueuedMessages and
// MaxQueuedBytes). The limits bound memory per session; they never block
// a publisher: a message that does not fit is dropped and counted in
// $SYS/broker/publish/messages/dropped. One message is always admitted to
// an empty queue, so a payload larger than MaxQueuedBytes still flows.
//
// Keep alive: the read deadline is 1.5 × the keep alive [MQTT-3.1.2-24]
// (MQTT 5 [MQTT-3.1.2-22]) and MQTT 5 clients asking for more than
// MaxKeepAlive get a Server Keep Alive [MQTT-3.2.2-21]. A subscriber that
// stops reading is closed after WriteTimeout without progress.
func (s *Session) queueFull(size int) bool {
	o := &s.b.opts
	n := s.queue.len()
	return (o.MaxQueuedMessages > 0 && n >= o.MaxQueuedMessages) ||
		(o.MaxQueuedBytes > 0 && n > 0 && s.qbytes+size > o.MaxQueuedBytes)
}

// memoryShare is the part of Options.MemoryLimit one session's queue may
// hold: without it, one client that never comes back (a persistent
// session, default queue limits far above the budget) fills the whole
// budget and every publisher is refused for as long as it stays away.
const memoryShare = 4

// overMemoryShare reports whether a message of size bytes would take the
// session's queue over 1/memoryShare of Options.MemoryLimit (a queue
// always takes one message, however large). Under Session.mu.
func (s *Session) overMemoryShare(size int) bool {
	lim := s.b.opts.MemoryLimit
	return lim > 0 && s.queue.len() > 0 && int64(s.qbytes+size) > lim/memoryShare
}

// slowConsumer reports whether a QoS 0 message of size bytes is to be
// dropped because the session's consumer has stopped reading: its
// socket has taken nothing for StallAfter while its queue is over the
// stalled budget. A consumer that reads, however slowly, keeps making
// progress and keeps the general queue limits (QoS 0 in a burst is not
// lost); one that stopped costs at most the budget plus what arrives
// within StallAfter. Under Session.mu.
func (s *Session) slowConsumer(size int) bool {
	return s.stalledLocked() && s.behindLocked(size)
}

// stalledLocked reports whether the session's consumer has taken nothing
// for StallAfter.
func (s *Session) stalledLocked() bool {
	st := s.stall.Load()
	return st != 0 && s.conn != nil && time.Duration(s.b.ms()-st)*time.Millisecond >= s.b.opts.StallAfter
}

// behindLocked reports whether the session's queue, with size more
// bytes, is over the stalled budget: the clients whose QoS 0 goes first
// under memory pressure.
func (s *Session) behindLocked(size int) bool {
	o := &s.b.opts
	return s.qbytes+size > o.StalledQoS0Bytes || s.queue.len() >= o.StalledQoS0Messages
}

// trimQoS0Locked drops the QoS 0 messages queued beyond the stalled
// budget (the newest: those that arrived while the stall was being
// recognised), so a consumer that stopped reading holds the budget, not
// all that arrived in its first StallAfter.
func (s *Session) trimQoS0Locked() int {
	o := &s.b.opts
	return s.trimQoS0ToLocked(o.StalledQoS0Bytes, o.StalledQoS0Messages)
}

// trimQoS0ToLocked keeps at most maxBytes and maxMsgs of the session's
// queue (QoS 1/2 always stay), dropping the newest QoS 0 beyond. It
// returns how many it dropped.
func (s *Session) trimQoS0ToLocked(maxBytes, maxMsgs int) (dropped int) {
	if s.qbytes <= maxBytes && s.queue.len() <= maxMsgs {
		return
	}
	kept, keptBytes := 0, 0
	s.queue.removeIf(func(d *delivery) bool {
		size := d.msg.size()
		if d.qos > 0 || d.onSub || (keptBytes+size <= maxBytes && kept < maxMsgs) {
			kept++
			keptBytes += size
			return false
		}
		s.qbytes -= size
		s.b.stats.add(s.shard(), statQueued, -1)
		s.b.stats.add(s.shard(), statQueuedBytes, -int64(size))
		s.unstoreLocked(d)
		s.b.memRelease(s.shard(), d.msg)
		s.b.dropped(s.shard(), DropSlowConsumer, s.id, d.msg)
		dropped++
		return true
	})
	return dropped
}

// memHold and memRelease count a message's bytes once however many
// sessions hold it (queued, or inflight until delivered): a fan-out to a
// thousand stuck subscribers holds one copy, not a thousand. Only with
// Options.MemoryLimit (b.memAcct); otherwise they cost a branch.
func (b *Broker) memHold(shard uint8, m *Message) {
	if b.memAcct && m != nil && atomic.AddInt32(&m.refs, 1) == 1 {
		b.stats.add(shard, statHeldBytes, int64(m.size()))
	}
}

func (b *Broker) memRelease(shard uint8, m *Message) {
	if b.memAcct && m != nil && atomic.AddInt32(&m.refs, -1) == 0 {
		b.stats.add(shard, statHeldBytes, -int64(m.size()))
	}
}

// Memory pressure levels (Options.MemoryLimit).
const (
	memTight = 1 // ≥ 90%: QoS 0 for clients that are behind is dropped
	memFull  = 2 // ≥ 100%: new messages are refused
)

// memoryLevel measures the message memory against Options.MemoryLimit
// and returns the pressure level, logging when an episode starts and
// ends. The sweep calls it; so does every publish while a limit is set.
func (b *Broker) memoryLevel() int32 {
	lim := b.opts.MemoryLimit
	if lim <= 0 {
		return 0
	}
	// Message bytes, and each queued delivery's own record (a fan-out
	// queues one per subscriber of a shared message).
	used := b.stats.sum(statHeldBytes) + b.stats.sum(statQueued)*int64(unsafe.Sizeof(delivery{})) + b.retained.bytes()
	var level int32
	switch {
	case used >= lim:
		level = memFull
	case used >= lim/10*9:
		level = memTight
	}
	old := b.memLevel.Swap(level)
	switch {
	case old == 0 && level > 0:
		b.memDropsAt.Store(b.stats.sum(statDropped + statKind(DropMemoryLimit) - 1))
		b.memFullSaid.Store(level == memFull)
		b.log.Warn(fmt.Sprintf("memory_limit: messages use %d of %d bytes; dropping QoS 0 for clients that are behind%s",
			used, lim, map[bool]string{true: ", refusing new messages", false: ""}[level == memFull]))
	case old > 0 && level == memFull && b.memFullSaid.CompareAndSwap(false, true):
		// From 90% to full: said once per episode too (usually the
		// episode starts at 90%, and the refusals came without a line).
		b.log.Warn(fmt.Sprintf("memory_limit: messages use %d of %d bytes; refusing new messages", used, lim))
	case old > 0 && level == 0:
		dropped := b.stats.sum(statDropped+statKind(DropMemoryLimit)-1) - b.memDropsAt.Load()
		b.log.Info(fmt.Sprintf("memory_limit: messages use %d of %d bytes again; %d messages were dropped meanwhile", used, lim, dropped))
	}
	return level
}

// sweepEvery is how often connect timeouts and keep alives are checked:
// one pass over the connections replaces a deadline per read (which cost
// a timer update per packet, and a goroutine to wait on it).
const sweepEvery = 250 * time.Millisecond

func (b *Broker) sweepLoop() {
	defer b.wg.Done()
	t := time.NewTicker(sweepEvery)
	defer t.Stop()
	var expired []*conn
	var stalled []*Session
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-t.C:
		}
		expired = b.sweep(expired[:0])
		clear(expired)
		stalled = b.trimStalled(stalled[:0], b.memoryLevel())
		clear(stalled)
		b.refreshTrace()
	}
}

// sweep closes the connections whose CONNECT did not come within
// ConnectTimeout, and those silent for 1.5 × their keep alive
// [MQTT-3.1.2-24] (MQTT 5 [MQTT-3.1.2-22]).
func (b *Broker) sweep(expired []*conn) []*conn {
	now := b.clock()
	b.mu.Lock()
	for _, c := range b.conns.s {
		switch lim := c.kaLimit.Load(); {
		case lim < 0:
			if by := -1 - lim; now > by {
				c.setTimedOut(timeoutConnect)
				expired = append(expired, c)
			}
		case lim > 0:
			if now-c.lastRead.Load() > lim {
				c.setTimedOut(timeoutKeepAlive)
				expired = append(expired, c)
			}
		}
	}
	b.mu.Unlock()
	for _, c := range expired {
		if c.timedOutBy() == timeoutKeepAlive {
			c.close(closeReason{code: packet.KeepAliveTimeout, send: true})
		} else {
			c.close(closeReason{})
		}
	}
	return expired
}

// trimStalled trims the QoS 0 backlog of sessions whose consumer has
// stopped reading (and, under memory pressure, of every session that is
// behind): enqueue stops new QoS 0 for them, this gives back what was
// queued before the stall was recognised, e.g. after a burst that ended
// before it was.
func (b *Broker) trimStalled(buf []*Session, level int32) []*Session {
	after := int32(b.opts.StallAfter / time.Millisecond)
	now := b.ms()
	b.mu.Lock()
	for s := range b.sessions.all() {
		if st := s.stall.Load(); level >= memTight || (st != 0 && now-st >= after) {
			buf = append(buf, s)
		}
	}
	b.mu.Unlock()
	for _, s := range buf {
		s.mu.Lock()
		first := false
		switch {
		case s.conn == nil:
		case level >= memTight && s.stalledLocked():
			// Memory is short: a consumer that stopped reading loses all
			// its queued QoS 0 first, before anyone's new message is refused.
			// (memory_limit's own line says so.)
			s.trimQoS0ToLocked(0, 0)
		case level >= memTight:
			s.trimQoS0Locked()
		case s.slowConsumer(0):
			// A slow consumer's own limit: logged once per episode, as
			// at enqueue (a fresh tester's slow reader lost 778 of 2,000
			// messages here without a line).
			if s.trimQoS0Locked() > 0 && !s.dropping {
				s.dropping, first = true, true
			}
		}
		s.mu.Unlock()
		if first {
			b.log.Info("Outgoing messages are being dropped for client " + s.id + ".")
		}
	}
	return buf
}

// temporaryAccept reports whether an Accept error passes: out of
// descriptors or buffers, or a connection that went away before it was
// accepted. Only a closed listener ends an accept loop.
func temporaryAccept(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	for _, e := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ECONNABORTED, syscall.ECONNRESET,
		syscall.ENOBUFS, syscall.ENOMEM, syscall.EAGAIN, syscall.EINTR, syscall.EPROTO, syscall.EPERM} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
