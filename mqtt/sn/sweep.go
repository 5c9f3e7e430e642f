package sn

import (
	"time"

	"github.com/mqttkit/mqtt/mqtt/packet"
)

// The sweep is the gateway's main timer: every SweepInterval it checks each client's
// deadlines (keep alive, sleep, set-up, retransmission [MQTT-SN 6.11, 6.13, 6.14]; the
// latter are also run on time by retryLoop, see retry.go) and
// pings the upstream connections that have been quiet for half their keep alive, instead of
// a timer per client. It also sends ADVERTISE every AdvertiseInterval [MQTT-SN 6.1], on a
// ticker of its own.

// keepAliveFactor: a client is lost after 1.5 times its keep alive (or sleep duration)
// without a message, the tolerance MQTT gives [MQTT-3.1.2-24].
func tolerance(sec uint16) int64 { return seconds(sec) * 3 / 2 }

func (g *Gateway) sweepLoop() {
	defer g.wg.Done()
	t := time.NewTicker(g.opts.SweepInterval)
	defer t.Stop()
	// ADVERTISE has a ticker of its own: its Duration promises the next one within the
	// interval, which the sweep's granularity cannot keep.
	var adv <-chan time.Time
	if g.opts.AdvertiseInterval > 0 {
		g.advertise()
		at := time.NewTicker(g.opts.AdvertiseInterval)
		defer at.Stop()
		adv = at.C
	}
	var list []*session
	for {
		select {
		case <-g.ctx.Done():
			return
		case <-adv:
			g.advertise()
			continue
		case <-t.C:
		}
		g.mu.Lock()
		for _, s := range g.byPeer {
			list = append(list, s)
		}
		g.mu.Unlock()
		now := g.now()
		for i, s := range list {
			g.check(s, now)
			list[i] = nil
		}
		list = list[:0]
		g.anon.ping(g, now)
		g.flushLogSummaries(now)
	}
}

// advertise broadcasts ADVERTISE with the time to the next one.
func (g *Gateway) advertise() {
	d := uint16(g.opts.AdvertiseInterval / time.Second)
	g.sendTo(peerKey{addr: g.opts.AdvertiseAddr}, &Advertise{GwID: g.opts.GatewayID, Duration: d}, nil)
}

// check runs s's timers.
func (g *Gateway) check(s *session, now int64) {
	s.mu.Lock()
	lost, why := false, ""
	switch s.state {
	case stWillTopic, stWillMsg, stConnecting:
		if now > s.deadline {
			lost, why = true, "set-up timed out in state "+stateNames[s.state]
		}
	case stActive:
		if s.keep > 0 && now-s.lastIn > tolerance(s.keep) {
			lost, why = true, "keep alive expired"
		}
	case stAsleep, stAwake:
		if now-s.lastIn > tolerance(s.sleep) {
			lost, why = true, "sleep duration expired"
		}
	}
	if !lost {
		lost, why = g.retryDue(s, now) // on time with retryLoop; this catches a client that woke up
	}
	if !lost && s.up != nil && s.upKeep > 0 && s.state != stConnecting && now-s.lastUp >= seconds(s.upKeep)/2 {
		s.upq = append(s.upq, &packet.Pingreq{})
	}
	if sw := s.sw; sw != nil && (sw.phase == swapFinished || sw.phase == swapFailed) && now-sw.doneAt > int64(g.opts.ConnectTimeout) {
		s.sw = nil // the broker's redeliveries after the reconnection are long done
	}
	if lost && s.state == stConnecting {
		g.reply(s, &Connack{ReturnCode: RejectedCongestion})
	}
	graceful := s.state < stActive && !s.willDial
	g.unlock(s)
	if lost {
		// A lost client's upstream connection ends as a network failure: the broker
		// publishes its will [MQTT-SN 6.3].
		g.end(s, false, graceful, why)
	}
}
