package broker

import (
	"time"

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

// sweepEvery is how often connect timeouts and keep alives are checked:
// one pass over the connections replaces a deadline per read (which cost
// a timer update per packet, and a goroutine to wait on it).
const sweepEvery = 250 * time.Millisecond

func (b *Broker) sweepLoop() {
	defer b.wg.Done()
	t := time.NewTicker(sweepEvery)
	defer t.Stop()
	var expired []*conn
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-t.C:
		}
		expired = b.sweep(expired[:0])
		clear(expired)
	}
}

// sweep closes the connections whose CONNECT did not come within
// ConnectTimeout, and those silent for 1.5 × their keep alive
// [MQTT-3.1.2-24] (MQTT 5 [MQTT-3.1.2-22]).
func (b *Broker) sweep(expired []*conn) []*conn {
	now := b.clock()
	connectLimit := int64(b.opts.ConnectTimeout)
	b.mu.Lock()
	for c := range b.conns {
		switch lim := c.kaLimit.Load(); {
		case lim < 0:
			if now-c.born > connectLimit {
				c.timedOut.CompareAndSwap(0, timeoutConnect)
				expired = append(expired, c)
			}
		case lim > 0:
			if now-c.lastRead.Load() > lim {
				c.timedOut.CompareAndSwap(0, timeoutKeepAlive)
				expired = append(expired, c)
			}
		}
	}
	b.mu.Unlock()
	for _, c := range expired {
		if c.timedOut.Load() == timeoutKeepAlive {
			c.close(closeReason{code: packet.KeepAliveTimeout, send: true})
		} else {
			c.close(closeReason{})
		}
	}
	return expired
}
