package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/mqttkit/mqtt/mqtt/packet"
)

// indexSubscribeTimeout bounds one holder's SUBSCRIBEs: indexPerConn filters can take a
// slow broker far longer than one SUBACK.
const indexSubscribeTimeout = 2 * time.Minute

// holdIndex connects the --index holders (indexPerConn subscriptions each, on
// IndexTopic filters numbered globally by %n) and keeps them connected, draining anything
// they receive, until stopAll. Holders that fail count as failed connections; it is an
// error only when none succeeds.
func (r *runner) holdIndex(ctx context.Context) error {
	cfg := r.cfg
	n := (cfg.Index + indexPerConn - 1) / indexPerConn
	start := time.Now()
	granted := make([]int, n)
	conns := r.connectAll(ctx, n, 'x', 4<<10, func(i int, c *wireConn) error {
		lo, hi := i*indexPerConn, min(cfg.Index, (i+1)*indexPerConn)
		filters := make([]string, 0, hi-lo)
		for k := lo; k < hi; k++ {
			filters = append(filters, expandN(cfg.IndexTopic, i, c.id, k))
		}
		g, err := c.subscribeMany(ctx, filters)
		granted[i] = g
		return err
	})
	rep := &IndexReport{SubscribeS: time.Since(start).Seconds()}
	for i, c := range conns {
		if c == nil {
			continue
		}
		rep.Connections++
		rep.Subscriptions += granted[i]
		r.idxConns = append(r.idxConns, c)
		r.idxWG.Add(1)
		go func() {
			defer r.idxWG.Done()
			for {
				if _, _, err := c.rd.next(nil); err != nil {
					return
				}
			}
		}()
	}
	if rep.SubscribeS > 0 {
		rep.RatePerS = float64(rep.Subscriptions) / rep.SubscribeS
	}
	r.rep.Index = rep
	if rep.Connections == 0 {
		return fmt.Errorf("%w: no --index connection subscribed: %s", ErrAllFailed, r.firstErr())
	}
	return nil
}

// subscribeMany subscribes to filters at QoS 0, indexPerPacket filters per SUBSCRIBE, all
// written before the SUBACKs are read. It returns how many were granted; a refusal is an
// error naming the first refused filter's code.
func (c *wireConn) subscribeMany(ctx context.Context, filters []string) (int, error) {
	stop := context.AfterFunc(ctx, func() { _ = c.nc.SetDeadline(time.Now()) })
	defer stop()
	_ = c.nc.SetDeadline(time.Now().Add(indexSubscribeTimeout))
	defer c.nc.SetDeadline(time.Time{})
	var buf []byte
	packets := 0
	for lo := 0; lo < len(filters); lo += indexPerPacket {
		hi := min(len(filters), lo+indexPerPacket)
		subs := make([]packet.Subscription, 0, hi-lo)
		for _, f := range filters[lo:hi] {
			subs = append(subs, packet.Subscription{Filter: f})
		}
		packets++
		var err error
		buf, err = packet.Append(buf, &packet.Subscribe{PacketID: uint16(packets), Subscriptions: subs}, c.version)
		if err != nil {
			return 0, fmt.Errorf("encoding SUBSCRIBE: %v", err)
		}
	}
	if err := c.write(buf); err != nil {
		return 0, err
	}
	granted, refused := 0, 0
	var firstCode packet.ReasonCode
	for acks := 0; acks < packets; {
		first, body, err := c.rd.next(nil)
		if err != nil {
			return granted, fmt.Errorf("--index: waiting for SUBACK %d of %d: %w", acks+1, packets, err)
		}
		if packet.Type(first>>4) != packet.SUBACK {
			continue
		}
		acks++
		p, err := packet.Decode(c.version, first, body)
		if err != nil {
			return granted, fmt.Errorf("--index: bad SUBACK: %v", err)
		}
		for _, rc := range p.(*packet.Suback).ReasonCodes {
			if rc >= 0x80 {
				if refused == 0 {
					firstCode = rc
				}
				refused++
			} else {
				granted++
			}
		}
	}
	if refused > 0 {
		return granted, fmt.Errorf("--index: the broker refused %d of %d subscriptions (SUBACK 0x%02X)", refused, len(filters), byte(firstCode))
	}
	return granted, nil
}
