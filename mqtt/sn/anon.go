package sn

import (
	"context"
	"errors"
	"time"

	"github.com/mqttkit/mqtt/mqtt/packet"
)

// anonSession is the one upstream connection that carries the QoS −1 publishes of clients
// that never connected [MQTT-SN 6.8]. It is opened on the first such publish. When it ends
// while in use (the broker restarted, or another connection took its client id over) it is
// opened again, at once the first time and after a growing pause (anonFirstRetry doubling
// up to RetryInterval) while connections keep ending within anonStable of being ready, or
// the broker cannot be reached; publishes that arrive meanwhile wait, the newest
// anonMaxPending of them. A connection that ended is never taken for ready: one that ends
// while what waited is being sent, before it is ready, is opened again and nothing that
// waited is lost. A broker that refuses the connection (allow_anonymous false) is logged
// as a warning with the publishes it cost, and asked again at the next publish after
// RetryInterval; publishes in between are dropped, each logged at debug level with the
// reason.
type anonSession struct {
	state   uint8 // anonNone, anonOpening, anonReady, anonClosed
	up      UpstreamConn
	pending []*packet.Publish
	lastUp  int64
	retryAt int64             // after a refusal, no new attempt before this
	refusal packet.ReasonCode // the broker's last refusal, for the drop log
	readyAt int64             // when the ready connection became ready
	flaps   int               // connections in a row that ended within anonStable
	ended   packet.ReasonCode // the reason of the broker's DISCONNECT (MQTT 5), for the log
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
	anonFirstRetry = 250 * time.Millisecond
	anonStable     = 10 * time.Second // a connection that lasted this long was not fought over
)

// publish sends a QoS 0 PUBLISH through the shared connection, opening it when needed. It
// runs on the read loop; false means the message was dropped (logged with why).
func (a *anonSession) publish(g *Gateway, name string, data []byte, retain bool) bool {
	g.mu.Lock()
	if a.state == anonReady {
		up := a.up
		a.lastUp = g.now()
		g.mu.Unlock()
		p := &g.pub
		*p = packet.Publish{Topic: name, Payload: data, Retain: retain}
		err := up.Send(p)
		if err == nil {
			return true
		}
		if !errors.Is(err, ErrUpstreamClosed) {
			g.debug("QoS -1 PUBLISH dropped", "topic", logString(name), "err", err)
			return false
		}
		// It ended under us: the message waits for the new connection onClose opens.
		g.mu.Lock()
	}
	switch {
	case g.closed || a.state == anonClosed:
		g.mu.Unlock()
		return false
	case a.state == anonNone && g.now() < a.retryAt:
		rc := a.refusal
		g.mu.Unlock()
		g.debug("QoS -1 PUBLISH dropped: the broker refused the gateway's connection for QoS -1 publishes",
			"reason", rc, "topic", logString(name))
		return false
	}
	a.queue(g, &packet.Publish{Topic: name, Payload: append([]byte(nil), data...), Retain: retain})
	if a.state == anonNone {
		a.startLocked(g, 0)
	}
	g.mu.Unlock()
	return true
}

// queue keeps p for the connection being opened, the oldest giving way. g.mu is held.
func (a *anonSession) queue(g *Gateway, p *packet.Publish) {
	if len(a.pending) >= anonMaxPending {
		copy(a.pending, a.pending[1:])
		a.pending = a.pending[:len(a.pending)-1]
		a.lost(g, 1)
	}
	a.pending = append(a.pending, p)
}

// lost counts n queued publishes dropped: they were counted as forwarded when queued.
func (a *anonSession) lost(g *Gateway, n int) {
	if n > 0 {
		g.dropped.Add(uint64(n))
		g.qosM1.Add(^uint64(n - 1))
	}
}

// startLocked starts opening the connection after delay. g.mu is held and the gateway is
// not closed.
func (a *anonSession) startLocked(g *Gateway, delay time.Duration) {
	a.state = anonOpening
	g.wg.Add(1)
	go a.connect(g, delay)
}

// connect opens the connection after delay, trying again after a growing pause while the
// broker cannot be reached; it ends when the connection is ready, refused, or the gateway
// closes.
func (a *anonSession) connect(g *Gateway, delay time.Duration) {
	defer g.wg.Done()
	if delay > 0 && !a.sleep(g, delay) {
		return
	}
	pause := max(anonFirstRetry, min(delay*2, g.opts.RetryInterval))
	for failures := 0; ; failures++ {
		rc, err := a.attempt(g)
		switch {
		case err == nil && rc < 0x80:
			if failures > 0 {
				g.log.Info("mqtt-sn gateway: connected upstream for QoS -1 publishes again")
			}
			return
		case err == nil:
			g.mu.Lock()
			n := len(a.pending)
			a.pending = nil
			if a.state == anonOpening {
				a.state = anonNone
			}
			a.refusal, a.retryAt = rc, g.now()+int64(g.opts.RetryInterval)
			g.mu.Unlock()
			a.lost(g, n)
			g.log.Warn("mqtt-sn gateway: the broker refused the connection for QoS -1 publishes", "reason", rc, "dropped", n)
			return
		}
		if g.ctx.Err() != nil {
			return
		}
		if failures == 0 {
			g.log.Warn("mqtt-sn gateway: connecting upstream for QoS -1 publishes; retrying", "err", err, "retry_in", pause)
		} else {
			g.debug("connecting upstream for QoS -1 publishes", "err", err, "retry_in", pause)
		}
		if !a.sleep(g, pause) {
			return
		}
		pause = min(pause*2, g.opts.RetryInterval)
	}
}

// sleep waits for d; false means the gateway is closing.
func (a *anonSession) sleep(g *Gateway, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-g.ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// attempt opens one connection and waits for its CONNACK. Accepted, it sends what waited
// and makes the connection ready; err is set when no CONNACK came.
func (a *anonSession) attempt(g *Gateway) (packet.ReasonCode, error) {
	ctx, cancel := context.WithTimeout(g.ctx, g.opts.ConnectTimeout)
	defer cancel()
	connack := make(chan packet.ReasonCode, 1)
	ended := make(chan error, 1)
	var up UpstreamConn
	g.upWG.Add(1)
	up, err := g.up.Open(ctx, nil, func(p packet.Packet) {
		switch p := p.(type) {
		case *packet.Connack:
			select {
			case connack <- p.ReasonCode:
			default:
			}
		case *packet.Disconnect:
			g.mu.Lock()
			a.ended = p.ReasonCode
			g.mu.Unlock()
		}
	}, func(err error) {
		defer g.upWG.Done()
		ended <- err
		a.onClose(g, up, err)
	})
	if err != nil {
		g.upWG.Done()
		return 0, err
	}
	o := &g.opts
	_ = up.Send(&packet.Connect{ProtocolVersion: o.ProtocolVersion, ClientID: o.QoSMinus1ClientID, CleanStart: true,
		KeepAlive: anonKeepAlive, UsernameFlag: o.HasUsername, Username: o.Username,
		PasswordFlag: o.HasPassword, Password: o.Password})
	var rc packet.ReasonCode
	select {
	case rc = <-connack:
	case err = <-ended:
		return 0, errors.New("the connection ended before CONNACK: " + errString(err))
	case <-ctx.Done():
		_ = up.Close()
		return 0, ctx.Err()
	}
	if rc >= 0x80 {
		_ = up.Close()
		return rc, nil
	}
	// Send what waited, in order, before the connection takes new publishes directly.
	for {
		g.mu.Lock()
		if a.state != anonOpening {
			g.mu.Unlock()
			_ = up.Close() // the gateway is closing
			return rc, nil
		}
		select {
		case err = <-ended:
			// It ended before it was ready (taken over?): onClose ignores an attempt, so
			// the caller opens another; what waits, waits for it.
			g.mu.Unlock()
			return 0, errors.New("the connection ended after CONNACK: " + errString(err))
		default:
		}
		ps := a.pending
		a.pending = nil
		if len(ps) == 0 {
			a.state, a.up, a.lastUp, a.readyAt, a.ended = anonReady, up, g.now(), g.now(), 0
			g.mu.Unlock()
			return rc, nil
		}
		g.mu.Unlock()
		for i, p := range ps {
			err := up.Send(p)
			if errors.Is(err, ErrUpstreamClosed) {
				// Not sent: back in front of what arrived since, for the next connection.
				g.mu.Lock()
				rest := append(ps[i:len(ps):len(ps)], a.pending...)
				a.pending = nil
				for _, q := range rest {
					a.queue(g, q)
				}
				g.mu.Unlock()
				break // the check of ended above reports it
			}
			if err != nil {
				g.debug("QoS -1 PUBLISH dropped", "topic", logString(p.Topic), "err", err)
				a.lost(g, 1)
			}
		}
	}
}

// onClose is called when a connection ends: the ready one ending is opened again (the
// broker restarted? another connection took its client id over?), so that the next
// publishes find it: at once, unless connections keep ending soon after they are ready.
func (a *anonSession) onClose(g *Gateway, up UpstreamConn, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if a.up != up || a.state != anonReady {
		return // an attempt that failed (its connect goroutine tries again), or one replaced
	}
	a.up = nil
	a.state = anonNone
	if g.closed {
		return
	}
	lived := time.Duration(g.now() - a.readyAt)
	if lived < anonStable {
		a.flaps++
	} else {
		a.flaps = 0
	}
	var delay time.Duration
	if a.flaps > 1 {
		delay = min(anonFirstRetry<<min(a.flaps-2, 16), g.opts.RetryInterval)
	}
	why := "the broker or the network ended it"
	if a.ended == packet.SessionTakenOver {
		why = "another connection with its client id took it over"
	} else if a.ended != 0 {
		why = "the broker ended it: " + a.ended.String()
	}
	g.log.Warn("mqtt-sn gateway: the connection for QoS -1 publishes ended; connecting again",
		"client", logString(g.opts.QoSMinus1ClientID), "reason", why, "err", errString(err),
		"lived", lived.Round(time.Millisecond), "retry_in", delay)
	a.startLocked(g, delay)
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
	n := len(a.pending)
	a.state, a.up, a.pending = anonClosed, nil, nil
	g.mu.Unlock()
	a.lost(g, n)
	g.endUpstream(up, true)
}
