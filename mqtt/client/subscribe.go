package client

import (
	"context"
	"fmt"

	"github.com/mqttkit/mqtt/mqtt/packet"
	"github.com/mqttkit/mqtt/mqtt/topic"
)

// Subscribe sends SUBSCRIBE and waits for SUBACK, as long as ctx allows. The SUBACK's reason
// codes say per filter what was granted; a refused filter (code >= 0x80)
// is not an error here. props may be nil (v5 only: Subscription
// Identifier, User Properties).
func (c *Client) Subscribe(ctx context.Context, subs []packet.Subscription, props *packet.Properties) (*packet.Suback, error) {
	p, err := c.subscribePacket(subs, props)
	if err != nil {
		return nil, err
	}
	r, err := c.request(ctx, func(id uint16) packet.Packet { p.PacketID = id; return p })
	if err != nil {
		return nil, err
	}
	sa, ok := r.(*packet.Suback)
	if !ok {
		return nil, fmt.Errorf("mqtt client: expected SUBACK, got packet type %d", r.Type())
	}
	if len(sa.ReasonCodes) != len(subs) {
		return sa, fmt.Errorf("mqtt client: SUBACK has %d reason codes for %d filters", len(sa.ReasonCodes), len(subs))
	}
	return sa, nil
}

// SubscribeAsync sends SUBSCRIBE and returns once it is queued, so that
// more packets (an UNSUBSCRIBE, a PUBLISH) can follow it before its SUBACK,
// as Mosquitto's clients send them. onAck, if not nil, is called with the
// SUBACK on the reader goroutine, before any packet that arrives after it
// is handled: a message the server sends after the SUBACK reaches
// OnMessage only after onAck returns. It is not called if the connection
// ends first (Done is closed then). onAck must not block.
func (c *Client) SubscribeAsync(ctx context.Context, subs []packet.Subscription, props *packet.Properties, onAck func(*packet.Suback)) error {
	p, err := c.subscribePacket(subs, props)
	if err != nil {
		return err
	}
	var cb func(packet.Packet)
	if onAck != nil {
		cb = func(r packet.Packet) {
			if sa, ok := r.(*packet.Suback); ok {
				onAck(sa)
			}
		}
	}
	_, err = c.requestAsync(ctx, func(id uint16) packet.Packet { p.PacketID = id; return p }, cb)
	return err
}

func (c *Client) subscribePacket(subs []packet.Subscription, props *packet.Properties) (*packet.Subscribe, error) {
	if len(subs) == 0 {
		return nil, fmt.Errorf("mqtt client: SUBSCRIBE needs at least one filter") // [MQTT-3.8.3-3]
	}
	for _, s := range subs {
		if err := topic.ValidateFilter(s.Filter); err != nil {
			return nil, err
		}
		if s.QoS > 2 {
			return nil, fmt.Errorf("mqtt client: invalid QoS %d for %q", s.QoS, s.Filter)
		}
	}
	p := &packet.Subscribe{Subscriptions: subs}
	if props != nil && c.version == packet.V5 {
		p.Properties = *props
	}
	return p, nil
}

// Unsubscribe sends UNSUBSCRIBE and waits for UNSUBACK, as long as ctx allows.
func (c *Client) Unsubscribe(ctx context.Context, filters []string, props *packet.Properties) (*packet.Unsuback, error) {
	p, err := c.unsubscribePacket(filters, props)
	if err != nil {
		return nil, err
	}
	r, err := c.request(ctx, func(id uint16) packet.Packet { p.PacketID = id; return p })
	if err != nil {
		return nil, err
	}
	ua, ok := r.(*packet.Unsuback)
	if !ok {
		return nil, fmt.Errorf("mqtt client: expected UNSUBACK, got packet type %d", r.Type())
	}
	return ua, nil
}

// UnsubscribeAsync is SubscribeAsync for UNSUBSCRIBE: it returns once the
// packet is queued, and onAck (may be nil) gets the UNSUBACK on the reader
// goroutine.
func (c *Client) UnsubscribeAsync(ctx context.Context, filters []string, props *packet.Properties, onAck func(*packet.Unsuback)) error {
	p, err := c.unsubscribePacket(filters, props)
	if err != nil {
		return err
	}
	var cb func(packet.Packet)
	if onAck != nil {
		cb = func(r packet.Packet) {
			if ua, ok := r.(*packet.Unsuback); ok {
				onAck(ua)
			}
		}
	}
	_, err = c.requestAsync(ctx, func(id uint16) packet.Packet { p.PacketID = id; return p }, cb)
	return err
}

func (c *Client) unsubscribePacket(filters []string, props *packet.Properties) (*packet.Unsubscribe, error) {
	if len(filters) == 0 {
		return nil, fmt.Errorf("mqtt client: UNSUBSCRIBE needs at least one filter") // [MQTT-3.10.3-2]
	}
	for _, f := range filters {
		if err := topic.ValidateFilter(f); err != nil {
			return nil, err
		}
	}
	p := &packet.Unsubscribe{Filters: filters}
	if props != nil && c.version == packet.V5 {
		p.Properties = *props
	}
	return p, nil
}

// request sends a packet that takes a packet identifier and waits for the
// acknowledgement with that identifier; ctx bounds both the wait for room
// in the write buffer and the wait for the acknowledgement.
func (c *Client) request(ctx context.Context, build func(id uint16) packet.Packet) (packet.Packet, error) {
	r, err := c.requestAsync(ctx, build, nil)
	if err != nil {
		return nil, err
	}
	select {
	case p, ok := <-r.ch:
		if !ok {
			return nil, c.endErrOr(ErrConnectionLost)
		}
		return p, nil
	case <-ctx.Done():
		c.sess.mu.Lock()
		if c.sess.req[r.id] == r {
			delete(c.sess.req, r.id)
		}
		c.sess.mu.Unlock()
		return nil, ctx.Err()
	case <-c.done:
		return nil, c.endErrOr(ErrConnectionLost)
	}
}

// requestAsync queues a packet that takes a packet identifier; its
// acknowledgement goes to onAck (on the reader goroutine) and to the
// returned request's channel.
func (c *Client) requestAsync(ctx context.Context, build func(id uint16) packet.Packet, onAck func(packet.Packet)) (*pendingReq, error) {
	s := c.sess
	r := &pendingReq{ch: make(chan packet.Packet, 1), onAck: onAck}
	s.mu.Lock()
	id, ok := s.allocID()
	if !ok {
		s.mu.Unlock()
		return nil, fmt.Errorf("mqtt client: no free packet identifier")
	}
	r.id = id
	s.req[id] = r
	s.mu.Unlock()
	if err := c.send(ctx, build(id)); err != nil {
		s.mu.Lock()
		if s.req[id] == r {
			delete(s.req, id)
		}
		s.mu.Unlock()
		return nil, err
	}
	return r, nil
}

func (c *Client) endErrOr(def error) error {
	select {
	case <-c.done:
		if c.endErr != nil {
			return c.endErr
		}
	default:
	}
	return def
}
