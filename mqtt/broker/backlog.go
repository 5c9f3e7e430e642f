package broker

import (
	"sync"
	"time"
)

// Publisher backpressure. A subscriber that reads, only slower than its
// publishers write for a while (a fan-in burst into one consumer, large
// payloads to a busy one), would fill its queue to MaxQueuedMessages or
// MaxQueuedBytes and lose what comes after. Instead, once its queue is
// past half of either limit (or of its share of MemoryLimit) the
// connections that publish to it stop being read, each after the read
// that fed it, until the queue is below a quarter; TCP then slows the
// publishers themselves, and nothing is dropped. MQTT lets a server stop
// reading a client; HiveMQ's overload protection does the same.
//
// A pause is short or it is not taken: while a publisher is not read,
// neither are its PINGREQs nor its messages for everyone else, so a
// consumer that does not get back under the mark within StallAfter of a
// pause (a dashboard on '#' reading 30 KB/s behind a flood) is marked
// slow, and no publisher pauses for it again until its queue is below
// the resume mark: past the limits its messages are dropped, as they were
// before and are by Mosquitto. So one slow subscriber costs the clients
// that publish to it at most StallAfter per episode, and a burst that a
// consumer absorbs in that time loses nothing. A consumer that has taken
// nothing for StallAfter (stalledLocked) holds no one back at all (its
// QoS 0 is dropped past a small budget, limits.go). The paused
// connection counts as active for keep alive. In-process publishers
// (Broker.Publish, wills, $SYS, the MQTT-SN gateway's LocalConn) never
// pause.
//
// Measured (2 cores, bench-compare fan-in, 4 publishers to 1
// subscriber): 64 KiB QoS 1 lost 1,500-1,800 of 8,000 messages at the
// 256 MiB queue limit before; none after, at 9.7-12.1k msgs/s (was
// 7.2-7.8k) and half the peak RSS.

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

// maxPause is how long a publisher pauses for one backlogged session
// before the session is marked slow: StallAfter (at least 50 ms).
func (b *Broker) maxPause() time.Duration {
	if b.knobs.maxPause > 0 {
		return b.knobs.maxPause
	}
	return max(b.opts.StallAfter, 50*time.Millisecond)
}

// waitBacklog pauses the reader while c.throttle, a session the read
// just queued messages for, is backlogged and still reading, for at most
// StallAfter (then the session is marked slow, flagBacklogSlow).
func (c *conn) waitBacklog() {
	s := c.throttle
	c.throttle = nil
	if _, local := c.t.(*LocalConn); local {
		return
	}
	var ch chan struct{}
	s.mu.Lock()
	if s.flags.Load()&(flagBacklog|flagBacklogSlow) == flagBacklog && s.conn != nil && !s.ended && !s.stalledLocked() {
		ch = c.b.backlog.wait(s)
	}
	s.mu.Unlock()
	if ch == nil {
		return
	}
	c.leaveLoop() // the event loop never waits
	c.b.stats.paused.Add(1)
	t := time.NewTimer(c.b.maxPause())
	select {
	case <-ch:
	case <-t.C:
		s.mu.Lock()
		if s.flags.Load()&flagBacklog != 0 {
			s.flags.Or(flagBacklogSlow)
		}
		s.mu.Unlock()
	case <-c.b.ctx.Done():
	}
	t.Stop()
	c.lastRead.Store(c.b.clock()) // paused by us: alive for keep alive
}
