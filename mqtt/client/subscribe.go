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

// Unsubscribe sends UNSUBSCRIBE and waits for UNSUBACK, as long as ctx allows.
func (c *Client) Unsubscribe(ctx context.Context, filters []string, props *packet.Properties) (*packet.Unsuback, error) {
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

// request sends a packet that takes a packet identifier and waits for the
// acknowledgement with that identifier; ctx bounds both the wait for room
// in the write buffer and the wait for the acknowledgement.
func (c *Client) request(ctx context.Context, build func(id uint16) packet.Packet) (packet.Packet, error) {
	s := c.sess
	ch := make(chan packet.Packet, 1)
	s.mu.Lock()
	id, ok := s.allocID()
	if !ok {
		s.mu.Unlock()
		return nil, fmt.Errorf("mqtt client: no free packet identifier")
	}
	s.req[id] = ch
	s.mu.Unlock()
	if err := c.send(ctx, build(id)); err != nil {
		s.mu.Lock()
		delete(s.req, id)
		s.mu.Unlock()
		return nil, err
	}
	select {
	case r, ok := <-ch:
		if !ok {
			return nil, c.endErrOr(ErrConnectionLost)
		}
		return r, nil
	case <-ctx.Done():
		s.mu.Lock()
		delete(s.req, id)
		s.mu.Unlock()
		return nil, ctx.Err()
	case <-c.done:
		return nil, c.endErrOr(ErrConnectionLost)
	}
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
