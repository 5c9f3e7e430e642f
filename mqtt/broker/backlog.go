package broker

import (
	"sync"
	"time"
)

// Publisher backpressure. A subscriber that reads, only slower than its
// publishers write (a fan-in burst into one consumer, large payloads to
// a busy one), would fill its queue to MaxQueuedMessages or
// MaxQueuedBytes and lose what comes after. Instead, once its queue is
// past half of either limit (or of its share of MemoryLimit) the
// connections that publish to it stop being read, each after the read
// that fed it, until the queue is below a quarter; TCP then slows the
// publishers themselves, and nothing is dropped. MQTT lets a server
// stop reading a client; HiveMQ's overload protection does the same.
//
// Only a consumer that keeps reading holds publishers back: one that
// has taken nothing for StallAfter (stalledLocked) is a slow consumer,
// whose QoS 0 is dropped past a small budget (limits.go) and whose
// queue limits apply as before, so a client that stops reading can
// never stall the clients publishing to it for longer than StallAfter.
// A publisher pauses in slices of StallAfter and looks again after each
// (the subscriber may have stalled, gone offline or the publisher been
// closed); the paused connection counts as active for keep alive.
// In-process publishers (Broker.Publish, wills, $SYS, the MQTT-SN
// gateway's LocalConn) are never paused.
//
// Measured (2 cores, bench-compare fan-in, 4 publishers to 1
// subscriber): 64 KiB QoS 1 lost 1,500-1,800 of 8,000 messages at the
// 256 MiB queue limit before; none after.

// backlogLocked reports whether the queue is past 1/div of its limits
// (div 2: the mark that pauses publishers; 4: the one that resumes them).
func (s *Session) backlogLocked(div int) bool {
	o := &s.b.opts
	n := s.queue.len()
	if o.MaxQueuedMessages > 0 && n >= o.MaxQueuedMessages/div {
		return true
	}
	if o.MaxQueuedBytes > 0 && s.qbytes >= o.MaxQueuedBytes/div {
		return true
	}
	return o.MemoryLimit > 0 && s.qbytes >= int(o.MemoryLimit/memoryShare)/div
}

// backlogWaits holds a channel per backlogged session that paused
// publishers wait on; release closes it. A leaf lock, taken under
// Session.mu.
type backlogWaits struct {
	mu sync.Mutex
	ch map[*Session]chan struct{}
}

// wait returns the channel that release closes for s (under s.mu).
func (w *backlogWaits) wait(s *Session) chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ch == nil {
		w.ch = make(map[*Session]chan struct{})
	}
	ch := w.ch[s]
	if ch == nil {
		ch = make(chan struct{})
		w.ch[s] = ch
	}
	return ch
}

// release wakes the publishers paused for s (under s.mu).
func (w *backlogWaits) release(s *Session) {
	w.mu.Lock()
	if ch := w.ch[s]; ch != nil {
		close(ch)
		delete(w.ch, s)
	}
	w.mu.Unlock()
}

// waitBacklog pauses the reader while c.throttle, a session the read
// just queued messages for, is backlogged and still reading.
func (c *conn) waitBacklog() {
	s := c.throttle
	c.throttle = nil
	if _, local := c.t.(*LocalConn); local {
		return
	}
	slice := max(c.b.opts.StallAfter, 50*time.Millisecond)
	var t *time.Timer
	for !c.isClosed() {
		s.mu.Lock()
		var ch chan struct{}
		if s.flags.Load()&flagBacklog != 0 && s.conn != nil && !s.ended && !s.stalledLocked() {
			ch = c.b.backlog.wait(s)
		}
		s.mu.Unlock()
		if ch == nil {
			break
		}
		if t == nil {
			c.leaveLoop() // the event loop never waits
			c.b.stats.paused.Add(1)
			t = time.NewTimer(slice)
		} else {
			t.Reset(slice)
		}
		select {
		case <-ch:
		case <-t.C:
		case <-c.b.ctx.Done():
		}
		c.lastRead.Store(c.b.clock()) // paused by us: alive for keep alive
	}
	if t != nil {
		t.Stop()
	}
}
