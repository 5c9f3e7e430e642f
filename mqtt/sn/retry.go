package sn

import (
	"container/heap"
	"time"
)

// Retransmissions [MQTT-SN 6.13] are due RetryInterval after a REGISTER, PUBLISH or PUBREL
// was sent: the sweep's resolution (SweepInterval, 1 s by default) let them slip by up to a
// whole sweep. So each send also puts its deadline in a heap that one goroutine waits on,
// and the message is sent again on time. An entry that is no longer due when it fires (the
// message was answered, or sent again meanwhile) is dropped; the sweep still checks every
// message in flight too, which covers a client that was asleep when its entry fired.

// retryAt is one deadline: s's message in flight may be due at at.
type retryAt struct {
	at int64
	s  *session
}

type retryHeap []retryAt

func (h retryHeap) Len() int           { return len(h) }
func (h retryHeap) Less(i, j int) bool { return h[i].at < h[j].at }
func (h retryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *retryHeap) Push(x any)        { *h = append(*h, x.(retryAt)) }
func (h *retryHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	old[len(old)-1] = retryAt{}
	*h = old[:len(old)-1]
	return x
}

// armRetry schedules a check of s's message in flight, sent at sentAt. s.mu may be held
// (retryMu is a leaf).
func (g *Gateway) armRetry(s *session, sentAt int64) {
	at := sentAt + int64(g.opts.RetryInterval)
	g.retryMu.Lock()
	heap.Push(&g.retryQ, retryAt{at: at, s: s})
	first := g.retryQ[0].s == s && g.retryQ[0].at == at
	g.retryMu.Unlock()
	if first {
		select {
		case g.retryKick <- struct{}{}:
		default:
		}
	}
}

// retryLoop runs the retransmission checks when they are due.
func (g *Gateway) retryLoop() {
	defer g.wg.Done()
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	var due []*session
	for {
		now := g.now()
		g.retryMu.Lock()
		for len(g.retryQ) > 0 && g.retryQ[0].at <= now {
			due = append(due, heap.Pop(&g.retryQ).(retryAt).s)
		}
		wait := time.Duration(-1)
		if len(g.retryQ) > 0 {
			wait = time.Duration(g.retryQ[0].at - now)
		}
		if len(g.retryQ) == 0 && cap(g.retryQ) > 1024 {
			g.retryQ = nil // a burst's heap is not kept
		}
		g.retryMu.Unlock()
		for i, s := range due {
			g.retransmit(s, now)
			due[i] = nil
		}
		due = due[:0]
		if wait < 0 {
			wait = time.Hour
		}
		t.Reset(wait)
		select {
		case <-g.ctx.Done():
			return
		case <-g.retryKick: // an earlier deadline (Reset needs no draining since Go 1.23)
		case <-t.C:
		}
	}
}

// retransmit sends s's message in flight again when it is due, or ends s when it has had
// its retries.
func (g *Gateway) retransmit(s *session, now int64) {
	s.mu.Lock()
	lost, why := g.retryDue(s, now)
	g.unlock(s)
	if lost {
		g.end(s, false, false, why)
	}
}

// retryDue sends s's message in flight again when RetryInterval has passed since it was
// sent; lost is true when it has been sent MaxRetries times already. s.mu is held.
func (g *Gateway) retryDue(s *session, now int64) (lost bool, why string) {
	if (s.state == stActive || s.state == stAwake) && s.out != nil && s.out.cur != nil &&
		s.out.phase != phWaitPubrel && now-s.out.sentAt >= int64(g.opts.RetryInterval) {
		if int(s.tries) >= g.opts.MaxRetries {
			return true, "no answer after retransmissions"
		}
		s.tries++
		g.resend(s)
	}
	return false, ""
}
