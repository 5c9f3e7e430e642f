package sn

import (
	"context"

	"github.com/mqttkit/mqtt/mqtt/packet"
)

// anonSession is the one upstream connection that carries the QoS −1 publishes of clients
// that never connected [MQTT-SN 6.8]. It is opened on the first such publish and reopened
// after it ends; publishes that arrive while it opens wait in a short queue.
type anonSession struct {
	state   uint8 // anonNone, anonOpening, anonReady, anonClosed
	up      UpstreamConn
	pending []*packet.Publish
	lastUp  int64
	retryAt int64 // after a failure, no new attempt before this
}

const (
	anonNone uint8 = iota
	anonOpening
	anonReady
	anonClosed
)

const (
	anonKeepAlive  = 60 // seconds
	anonMaxPending = 64
)

// publish sends a QoS 0 PUBLISH through the shared connection, opening it when needed. It
// runs on the read loop; false means the message was dropped.
func (a *anonSession) publish(g *Gateway, name string, data []byte, retain bool) bool {
	g.mu.Lock()
	switch a.state {
	case anonReady:
		up := a.up
		a.lastUp = g.now()
		g.mu.Unlock()
		p := &g.pub
		*p = packet.Publish{Topic: name, Payload: data, Retain: retain}
		return up.Send(p) == nil
	case anonNone:
		if g.now() < a.retryAt || g.closed {
			g.mu.Unlock()
			return false
		}
		a.state = anonOpening
		g.wg.Add(1)
		go a.open(g)
		fallthrough
	case anonOpening:
		if len(a.pending) >= anonMaxPending {
			g.mu.Unlock()
			return false
		}
		a.pending = append(a.pending, &packet.Publish{Topic: name, Payload: append([]byte(nil), data...), Retain: retain})
		g.mu.Unlock()
		return true
	}
	g.mu.Unlock()
	return false
}

func (a *anonSession) open(g *Gateway) {
	defer g.wg.Done()
	ctx, cancel := context.WithTimeout(g.ctx, g.opts.ConnectTimeout)
	g.upWG.Add(1)
	up, err := g.up.Open(ctx, nil, func(p packet.Packet) { a.onPacket(g, p) }, func(err error) { a.onClose(g, err) })
	cancel()
	if err != nil {
		g.upWG.Done()
		g.log.Warn("mqtt-sn gateway: connecting upstream for QoS -1 publishes", "err", err)
		a.fail(g)
		return
	}
	g.mu.Lock()
	if a.state != anonOpening {
		g.mu.Unlock()
		g.later(up, nil, true)
		return
	}
	a.up, a.lastUp = up, g.now()
	g.mu.Unlock()
	o := &g.opts
	_ = up.Send(&packet.Connect{ProtocolVersion: o.ProtocolVersion, ClientID: o.QoSMinus1ClientID, CleanStart: true,
		KeepAlive: anonKeepAlive, UsernameFlag: o.HasUsername, Username: o.Username,
		PasswordFlag: o.HasPassword, Password: o.Password})
}

// fail drops what waited and holds off the next attempt for a retry interval.
func (a *anonSession) fail(g *Gateway) {
	g.mu.Lock()
	if a.state == anonOpening {
		a.state = anonNone
	}
	n := len(a.pending)
	a.pending, a.up = nil, nil
	a.retryAt = g.now() + int64(g.opts.RetryInterval)
	g.mu.Unlock()
	if n > 0 {
		g.dropped.Add(uint64(n))
		g.qosM1.Add(^uint64(n - 1)) // subtract: they were counted as forwarded when queued
	}
}

func (a *anonSession) onPacket(g *Gateway, p packet.Packet) {
	ca, ok := p.(*packet.Connack)
	if !ok {
		return
	}
	g.mu.Lock()
	if a.state != anonOpening {
		g.mu.Unlock()
		return
	}
	if ca.ReasonCode >= 0x80 {
		up := a.up
		g.mu.Unlock()
		g.log.Warn("mqtt-sn gateway: the broker refused the connection for QoS -1 publishes", "reason", ca.ReasonCode)
		a.fail(g)
		g.later(up, nil, true)
		return
	}
	a.state = anonReady
	pending, up := a.pending, a.up
	a.pending = nil
	g.mu.Unlock()
	ps := make([]packet.Packet, len(pending))
	for i, p := range pending {
		ps[i] = p
	}
	g.later(up, ps, false)
}

func (a *anonSession) onClose(g *Gateway, err error) {
	defer g.upWG.Done()
	g.mu.Lock()
	wasReady := a.state == anonReady
	if a.state == anonReady || a.state == anonOpening {
		a.state = anonNone
	}
	a.up = nil
	g.mu.Unlock()
	if !wasReady {
		a.fail(g)
	}
	g.debug("QoS -1 upstream connection ended", "err", errString(err))
}

// ping keeps the shared connection alive. It runs on the sweep.
func (a *anonSession) ping(g *Gateway, now int64) {
	g.mu.Lock()
	up := a.up
	due := a.state == anonReady && now-a.lastUp >= seconds(anonKeepAlive)/2
	if due {
		a.lastUp = now
	}
	g.mu.Unlock()
	if due {
		_ = up.Send(&packet.Pingreq{})
	}
}

// close ends the shared connection for good.
func (a *anonSession) close(g *Gateway) {
	g.mu.Lock()
	up := a.up
	a.state, a.up, a.pending = anonClosed, nil, nil
	g.mu.Unlock()
	g.endUpstream(up, true)
}
