package sn

// This file is keep alive, DISCONNECT and the sleeping clients of [MQTT-SN 6.14]: a client
// that sends DISCONNECT with a Duration is asleep; the gateway keeps its upstream session
// and buffers what arrives for it; a PINGREQ carrying its client id wakes it, the gateway
// sends what it buffered, then PINGRESP, and the client sleeps again.

// onPingreq handles PINGREQ without a client id [MQTT-SN 6.11]: answered by the gateway
// (the upstream connection has its own keep alive, see the sweep). From a sleeping client's
// address it counts as waking up. s.mu is held.
func (g *Gateway) onPingreq(s *session) {
	switch s.state {
	case stActive:
		g.reply(s, &Pingresp{})
	case stAsleep, stAwake:
		g.wake(s)
	default:
		g.drop(s.key, &Pingreq{}, "not connected")
	}
}

// handleWake handles PINGREQ with a client id: a sleeping client waking up, perhaps from
// another address or forwarder. It runs on the read loop.
func (g *Gateway) handleWake(key peerKey, m *Pingreq) {
	g.mu.Lock()
	s := g.byID[m.ClientID]
	if s == nil {
		g.mu.Unlock()
		// Its session is gone (lost asleep, or the broker ended it): it must connect again.
		g.drop(key, m, "unknown client id "+logString(m.ClientID))
		g.sendTo(key, &Disconnect{}, nil)
		return
	}
	s.mu.Lock()
	if s.key != key {
		if !(s.state == stAsleep || s.state == stAwake) {
			s.mu.Unlock()
			g.mu.Unlock()
			g.drop(key, m, "client "+logString(m.ClientID)+" is connected from another address")
			g.sendTo(key, &Disconnect{}, nil)
			return
		}
		if other := g.byPeer[key]; other != nil && other != s {
			g.mu.Unlock()
			s.mu.Unlock()
			g.end(other, false, true, "a sleeping client woke up from its address")
			g.handleWake(key, m)
			return
		}
		delete(g.byPeer, s.key)
		g.sendTo(s.key, &Disconnect{}, nil) // its old address no longer has a session
		s.key = key
		g.byPeer[key] = s
	}
	g.mu.Unlock()
	s.lastIn = g.now()
	g.onPingreq(s)
	g.unlock(s)
}

// wake moves a sleeping client to the awake state and delivers what was buffered; pump
// answers PINGRESP when everything is out. s.mu is held.
func (g *Gateway) wake(s *session) {
	s.state = stAwake
	s.lastIn = g.now()
	if s.out != nil && s.out.cur != nil {
		if s.out.phase == phWaitPubrel {
			return // waiting for the broker; PINGRESP follows the delivery
		}
		g.resend(s)
		return
	}
	g.pump(s)
}

// onDisconnect handles DISCONNECT [MQTT-SN 6.12, 6.14]: with a Duration the client goes to
// sleep, without one it disconnects. Either way the gateway answers DISCONNECT. s.mu is held
// and released here.
func (g *Gateway) onDisconnect(s *session, m *Disconnect) {
	if m.HasDuration && m.Duration > 0 && s.connected() {
		s.sleep, s.state, s.lastIn = m.Duration, stAsleep, g.now()
		g.reply(s, &Disconnect{})
		g.unlock(s)
		return
	}
	g.reply(s, &Disconnect{})
	g.unlock(s)
	g.end(s, false, true, "DISCONNECT")
}
