package client

import (
	"context"
	"errors"
	"fmt"

	"github.com/mqttkit/mqtt/mqtt/packet"
	"github.com/mqttkit/mqtt/mqtt/topic"
)

// Publish sends m and, at QoS 1 and 2, waits for its acknowledgement. A v5
// negative acknowledgement is an *AckError. ctx bounds every wait: for a
// place in the inflight window, for room in the write buffer (a server that
// stops reading fills it) and for the acknowledgement.
func (c *Client) Publish(ctx context.Context, m Message) error {
	t, err := c.PublishAsync(ctx, m)
	if err != nil {
		return err
	}
	return t.Wait(ctx)
}

// PublishPacket is Publish for a ready-made PUBLISH packet (its PacketID
// and Dup are assigned by the client).
func (c *Client) PublishPacket(ctx context.Context, p *packet.Publish) error {
	return c.Publish(ctx, Message{Topic: p.Topic, Payload: p.Payload, QoS: p.QoS, Retain: p.Retain, Properties: p.Properties})
}

// PublishAsync queues m and returns at once for QoS 0, or as soon as the
// message has a place in the inflight window for QoS 1 and 2; the Token
// completes on acknowledgement. Messages from one goroutine are sent in
// call order. The client keeps m.Payload until the message is acknowledged.
// When ctx ends while it waits for the window or for room in the write
// buffer, the message is not sent and ctx's error is returned.
func (c *Client) PublishAsync(ctx context.Context, m Message) (*Token, error) {
	if err := c.checkPublish(&m); err != nil {
		return nil, err
	}
	p := &packet.Publish{QoS: m.QoS, Retain: m.Retain, Topic: m.Topic, Payload: m.Payload}
	if c.version == packet.V5 {
		p.Properties = m.Properties
	}
	if c.serverMaxPacket > 0 && packet.Size(p, c.version) > int(c.serverMaxPacket) {
		return nil, ErrPacketTooLarge
	}
	tok := newToken()
	if m.QoS == 0 {
		if err := c.sendPublish(ctx, p); err != nil {
			return nil, err
		}
		tok.complete(nil)
		return tok, nil
	}
	select {
	case c.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-c.done:
		return nil, c.endErr
	}
	s := c.sess
	s.mu.Lock()
	id, ok := s.allocID()
	if !ok {
		s.mu.Unlock()
		<-c.slots
		return nil, fmt.Errorf("mqtt client: no free packet identifier")
	}
	p.PacketID = id
	tok.PacketID = id
	s.seq++
	s.out[id] = &outbound{pub: p, seq: s.seq, slot: true, tok: tok}
	s.mu.Unlock()
	if err := c.sendPublish(ctx, p); err != nil {
		var ee *encodeError
		if errors.As(err, &ee) || (ctx.Err() != nil && err == ctx.Err()) {
			// Never queued (ctx ended, or the packet cannot be encoded):
			// take it out of the session and free its slot, unless the
			// connection ended meanwhile and took both.
			s.mu.Lock()
			o := s.out[id]
			held := o != nil && o.tok == tok
			if held {
				delete(s.out, id)
			}
			slot := held && o.slot
			s.mu.Unlock()
			if slot {
				<-c.slots
			}
			if held {
				return nil, err
			}
		}
		// The connection ended; the message stays in the session for a
		// resume and the token was completed by connectionEnded.
		return tok, nil
	}
	return tok, nil
}

func (c *Client) checkPublish(m *Message) error {
	if m.QoS > 2 {
		return fmt.Errorf("mqtt client: invalid QoS %d (want 0, 1 or 2)", m.QoS)
	}
	if m.Topic != "" || !m.Properties.HasTopicAlias || c.version != packet.V5 {
		if err := topic.ValidateName(m.Topic); err != nil {
			return err
		}
	}
	if m.QoS > c.serverMaxQoS {
		return ErrQoSNotSupported
	}
	if m.Retain && !c.retainAvailable {
		return ErrRetainNotSupported
	}
	return nil
}

// sendPublish queues p, replacing its topic by an alias when outbound
// aliases are on. The stored packet keeps the full topic so that a resend
// on a new connection (where aliases start afresh) carries it. ctx bounds
// the wait for room in the write buffer; a nil ctx does not wait
// (retransmission). A new alias is only recorded once its PUBLISH is queued,
// so a publish given up on never leaves an alias the server does not know.
func (c *Client) sendPublish(ctx context.Context, p *packet.Publish) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if ctx != nil {
		if err := c.waitRoomLocked(ctx); err != nil {
			return err
		}
	}
	if c.aliasMax > 0 && !p.Properties.HasTopicAlias && p.Topic != "" {
		if a, ok := c.aliasOut[p.Topic]; ok {
			q := *p
			q.Topic = ""
			q.Properties.TopicAlias, q.Properties.HasTopicAlias = a, true
			return c.appendLocked(&q)
		}
		if len(c.aliasOut) < int(c.aliasMax) {
			a := uint16(len(c.aliasOut) + 1)
			q := *p
			q.Properties.TopicAlias, q.Properties.HasTopicAlias = a, true
			if err := c.appendLocked(&q); err != nil {
				return err
			}
			c.aliasOut[p.Topic] = a
			return nil
		}
	}
	return c.appendLocked(p)
}

// completeOut finishes an outbound message on PUBACK or PUBCOMP (or a
// failing PUBREC).
func (c *Client) completeOut(id uint16, code packet.ReasonCode, props *packet.Properties) {
	s := c.sess
	s.mu.Lock()
	o, ok := s.out[id]
	var slot bool
	var tok *Token
	if ok {
		delete(s.out, id)
		slot, tok = o.slot, o.tok
	}
	s.mu.Unlock()
	if !ok {
		return // unknown or already completed: ignore, as most clients do
	}
	if slot {
		<-c.slots
	}
	if tok == nil {
		return
	}
	tok.code, tok.props = code, *props
	var err error
	if code >= 0x80 {
		err = &AckError{PacketID: id, Code: code, ReasonString: props.ReasonString}
	}
	tok.complete(err)
}

func (c *Client) handlePubrec(p *packet.Pubrec) error {
	if p.ReasonCode >= 0x80 {
		c.completeOut(p.PacketID, p.ReasonCode, &p.Properties)
		return nil
	}
	s := c.sess
	s.mu.Lock()
	o, ok := s.out[p.PacketID]
	if ok {
		o.relSent = true
	}
	s.mu.Unlock()
	rel := &packet.Pubrel{PacketID: p.PacketID}
	if !ok && c.version == packet.V5 {
		rel.ReasonCode = packet.PacketIdentifierNotFound
	}
	return c.send(context.Background(), rel)
}

// handlePubrel completes an inbound QoS 2 exchange. With
// Options.AckBeforeDelivery the message was held until now: it is handed to
// OnMessage once PUBCOMP is queued.
func (c *Client) handlePubrel(p *packet.Pubrel) error {
	s := c.sess
	s.mu.Lock()
	held, ok := s.inQoS2[p.PacketID]
	delete(s.inQoS2, p.PacketID)
	s.mu.Unlock()
	comp := &packet.Pubcomp{PacketID: p.PacketID}
	if !ok && c.version == packet.V5 {
		comp.ReasonCode = packet.PacketIdentifierNotFound
	}
	if err := c.send(context.Background(), comp); err != nil {
		return err
	}
	if held != nil && c.opts.OnMessage != nil {
		c.opts.OnMessage(held)
	}
	return nil
}

// handlePublish resolves a topic alias, delivers the message once and
// acknowledges it: after OnMessage returns, or, with
// Options.AckBeforeDelivery, before (QoS 1) or at PUBREL (QoS 2).
func (c *Client) handlePublish(p *packet.Publish) error {
	if c.version == packet.V5 && p.Properties.HasTopicAlias {
		a := p.Properties.TopicAlias
		max := c.opts.ConnectProperties.TopicAliasMaximum
		if a == 0 || a > max {
			return &packet.Error{Code: packet.TopicAliasInvalid, Msg: fmt.Sprintf("topic alias %d outside 1..%d", a, max)}
		}
		if p.Topic != "" {
			c.aliasIn[a] = p.Topic
		} else if t, ok := c.aliasIn[a]; ok {
			p.Topic = t
		} else {
			return &packet.Error{Code: packet.ProtocolError, Msg: fmt.Sprintf("unknown topic alias %d", a)}
		}
	}
	if p.Topic == "" {
		return &packet.Error{Code: packet.TopicNameInvalid, Msg: "PUBLISH without topic"}
	}
	m := &Message{
		Topic: p.Topic, Payload: p.Payload, QoS: p.QoS, Retain: p.Retain,
		Dup: p.Dup, PacketID: p.PacketID, Properties: p.Properties,
	}
	early := c.opts.AckBeforeDelivery
	deliver := c.opts.OnMessage != nil
	switch p.QoS {
	case 1:
		if early {
			if err := c.send(context.Background(), &packet.Puback{PacketID: p.PacketID}); err != nil {
				return err
			}
		}
	case 2:
		s := c.sess
		s.mu.Lock()
		if _, dup := s.inQoS2[p.PacketID]; dup {
			deliver = false // already delivered or held; the server resent before our PUBREC arrived
		} else if early {
			s.inQoS2[p.PacketID] = m // delivered at PUBREL
			deliver = false
		} else {
			s.inQoS2[p.PacketID] = nil
		}
		s.mu.Unlock()
	}
	if deliver {
		c.opts.OnMessage(m)
	}
	switch {
	case p.QoS == 1 && !early:
		return c.send(context.Background(), &packet.Puback{PacketID: p.PacketID})
	case p.QoS == 2:
		return c.send(context.Background(), &packet.Pubrec{PacketID: p.PacketID})
	}
	return nil
}

// retransmit resends the resumed session's unacknowledged messages: PUBLISH
// with DUP, or PUBREL where PUBREC already came [MQTT-4.4.0-1]. They are
// queued without waiting for room: the session holds them in memory anyway,
// and Dial must not block on a server that does not read.
func (c *Client) retransmit() {
	for _, o := range c.sess.resume() {
		select {
		case c.slots <- struct{}{}:
			c.sess.mu.Lock()
			o.slot = true
			c.sess.mu.Unlock()
		default: // over the window: send anyway, the server expects them
		}
		if o.relSent {
			_ = c.sendNow(&packet.Pubrel{PacketID: o.pub.PacketID})
			continue
		}
		o.pub.Dup = true
		_ = c.sendPublish(nil, o.pub)
	}
}
