package broker

import (
	"sync"
	"sync/atomic"
	"time"
)

// Publisher backpressure. A subscriber that reads, only slower than its
// publishers write for a while (a fan-in burst into one consumer, large
// payloads to a busy one), would fill its queue to MaxQueuedMessages or
// MaxQueuedBytes and lose what comes after. Instead, once its queue is
// past half of either limit, of its share of MemoryLimit, or
// backlogBytes, the
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
// consumer absorbs in that time loses nothing. Several slow subscribers
// do not add up: when a pause runs out, every session backlogged then is
// marked slow (slowAll), and a publisher that paused for half of
// StallAfter or more does not pause again until one of its reads feeds
// no backlogged session (stPauseSpent). A consumer that has taken
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
//
// A queue in bytes pauses its publishers at backlogBytes whatever the
// limits: half of the default 256 MiB limit let a 64 KiB fan-in build
// 128 MiB of queue, a peak RSS of 370-490 MB, and the page faults of a
// heap that large were a sixth of the broker's CPU. A subscriber that
// reads drains backlogBytes in milliseconds (64 KiB fan-in delivers
// ~600 MB/s here), so the publishers resume long before it runs dry:
// 10.6-12.6k msgs/s either way, at 90-165 MB peak.

// backlogBytes is the queue, in bytes, that pauses publishers whatever
// the queue limits (they resume below half of it).
const backlogBytes = 8 << 20

// backlogLocked reports whether the queue is past 1/div of its limits,
// or of 2*backlogBytes (div 2: the mark that pauses publishers; 4: the
// one that resumes them).
func (s *Session) backlogLocked(div int) bool {
	o := &s.b.opts
	n := s.queue.len()
	if o.MaxQueuedMessages > 0 && n >= o.MaxQueuedMessages/div {
		return true
	}
	if s.qbytes >= backlogBytes*2/div || o.MaxQueuedBytes > 0 && s.qbytes >= o.MaxQueuedBytes/div {
		return true
	}
	return o.MemoryLimit > 0 && s.qbytes >= int(o.MemoryLimit/memoryShare)/div
}

// backlogWaits holds the backlogged sessions, each with the channel
// paused publishers wait on (made by the first), which release closes.
// A leaf lock, taken under Session.mu; the sessions' flagBacklog and
// flagBacklogSlow change under it.
type backlogWaits struct {
	mu sync.Mutex
	ch map[*Session]chan struct{}
	// ranOut counts the pauses that lasted maxPause (each marks the
	// backlogged sessions slow): what a publisher was held for long.
	ranOut atomic.Int64
}

// add marks s backlogged (under s.mu).
func (w *backlogWaits) add(s *Session) {
	w.mu.Lock()
	if w.ch == nil {
		w.ch = make(map[*Session]chan struct{})
	}
	w.ch[s] = nil
	s.flags.Or(flagBacklog)
	w.mu.Unlock()
}

// wait returns the channel that release closes for s (under s.mu; s is
// backlogged).
func (w *backlogWaits) wait(s *Session) chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	ch := w.ch[s]
	if ch == nil {
		ch = make(chan struct{})
		w.ch[s] = ch
	}
	return ch
}

// release ends s's backlog and wakes the publishers paused for it
// (under s.mu).
func (w *backlogWaits) release(s *Session) {
	w.mu.Lock()
	s.flags.And(^uint32(flagBacklog | flagBacklogSlow))
	if ch := w.ch[s]; ch != nil {
		close(ch)
	}
	delete(w.ch, s)
	w.mu.Unlock()
}

// slowAll marks every backlogged session slow: a pause ran out, and the
// others would each hold the publishers in turn.
func (w *backlogWaits) slowAll() {
	w.mu.Lock()
	for s := range w.ch {
		s.flags.Or(flagBacklogSlow)
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

// waitBacklog pauses the reader while s, a session the read just queued
// messages for (readBatch.throttle), is backlogged and still reading, for
// at most StallAfter (then the session is marked slow, flagBacklogSlow).
func (c *conn) waitBacklog(s *Session) {
	if _, local := c.t.(*LocalConn); local {
		return
	}
	if c.st.Load()&stPauseSpent != 0 {
		return // paused long already this episode (several slow subscribers)
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
	start := c.b.clock()
	t := time.NewTimer(c.b.maxPause())
	select {
	case <-ch:
	case <-t.C:
		c.b.backlog.ranOut.Add(1)
		c.b.backlog.slowAll()
	case <-c.b.ctx.Done():
	}
	t.Stop()
	now := c.b.clock()
	c.lastRead.Store(now) // paused by us: alive for keep alive
	if time.Duration(now-start) >= c.b.maxPause()/2 {
		// A long pause spends the episode's: with several slow
		// subscribers the next would be another's, and the publisher
		// would be held for each in turn.
		c.st.Or(stPauseSpent)
	}
}
