package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/mqttkit/mqtt/mqtt/sn"
)

// MQTT-SN publishers (Config.SN): each is an sn.Client on its own UDP socket that connects
// to the gateway at Config.SNGateway, REGISTERs its topic and publishes with the topic id.
// Subscribers stay MQTT, so latency and loss are measured end to end through the gateway
// and the broker. An MQTT-SN client has one QoS 1/2 message in flight [MQTT-SN 6.6], so
// Config.Inflight does not apply to them; compare with MQTT publishers at --inflight 1.

// snRetry is T_RETRY of the bench's clients: shorter than the spec's 10 s, so that a
// datagram lost under load costs a run seconds, not tens of seconds.
const snRetry = 2 * time.Second

// snConnect opens an MQTT-SN client, connects it and registers topic ("" for none). The
// latency is from opening the socket to CONNACK.
func snConnect(ctx context.Context, cfg *Config, id, topic string) (*sn.Client, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	start := time.Now()
	c, err := sn.NewClient(sn.ClientOptions{Gateway: cfg.SNGateway, ClientID: id, CleanSession: !cfg.KeepSession,
		KeepAlive: cfg.KeepAlive, RetryInterval: snRetry, MaxRetries: 3})
	if err != nil {
		return nil, 0, err
	}
	if err := c.Connect(ctx); err != nil {
		c.Close()
		var rc sn.ReturnCode
		if errors.As(err, &rc) {
			return nil, 0, fmt.Errorf("connection refused by the gateway: %s", rc.String())
		}
		return nil, 0, fmt.Errorf("MQTT-SN CONNECT: %w", err)
	}
	lat := time.Since(start)
	if topic != "" {
		if _, err := c.Register(ctx, topic); err != nil {
			c.Close()
			return nil, 0, fmt.Errorf("REGISTER %q: %w", topic, err)
		}
	}
	return c, lat, nil
}

// connectSNAll opens n MQTT-SN clients of a role, as connectAll does MQTT connections.
// topicOf names the topic each registers (nil: none). Failed slots are nil.
func (r *runner) connectSNAll(ctx context.Context, n int, role byte, topicOf func(i int, id string) string) []*sn.Client {
	out := make([]*sn.Client, n)
	sem := make(chan struct{}, maxParallelDial)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		if i > 0 && r.cfg.Interval > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(r.cfg.Interval):
			}
		}
		select {
		case <-ctx.Done():
		case sem <- struct{}{}:
		}
		if ctx.Err() != nil {
			break
		}
		r.attempted.Add(1)
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			id := clientID(r.cfg.IDPrefix, role, i)
			topic := ""
			if topicOf != nil {
				topic = topicOf(i, id)
			}
			c, lat, err := snConnect(ctx, r.cfg, id, topic)
			if err != nil {
				r.failed.Add(1)
				r.noteErr(err)
				return
			}
			r.connected.Add(1)
			r.mu.Lock()
			record(r.connHist, lat.Microseconds())
			r.mu.Unlock()
			out[i] = c
		}(i)
	}
	wg.Wait()
	return out
}

// closeSN disconnects the clients (best effort, in parallel) and closes them.
func closeSN(cs []*sn.Client) {
	var wg sync.WaitGroup
	for _, c := range cs {
		if c == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_ = c.Disconnect(ctx)
			cancel()
			c.Close()
		}()
	}
	wg.Wait()
}

// snWatch is an MQTT-SN publisher's "reader": it ends when the gateway drops the client or
// the bench stops it.
func (p *publisher) snWatch() {
	defer close(p.readDone)
	select {
	case <-p.snc.Gone():
		p.readErr = p.snc.Err()
	case <-p.snStop:
	}
}

// runSN publishes Count messages (or until ctx ends) with the MQTT-SN client, one at a time.
func (p *publisher) runSN(ctx context.Context, cfg *Config, run uint16) error {
	payload := make([]byte, cfg.Size)
	putHeaderStatic(payload, run, uint32(p.idx))
	msg := sn.PublishMessage{Topic: p.topic, QoS: sn.QoS(p.qos), Retain: cfg.Retain, Payload: payload}
	limit := uint64(cfg.Count)
	start := time.Now()
	var timer *time.Timer
	for seq := uint64(0); limit == 0 || seq < limit; seq++ {
		select {
		case <-ctx.Done():
			return nil
		case <-p.readDone:
			return p.lostErr()
		default:
		}
		if cfg.Rate > 0 {
			if d := time.Until(start.Add(time.Duration(float64(seq) / cfg.Rate * float64(time.Second)))); d > 0 {
				if timer == nil {
					timer = time.NewTimer(d)
				} else {
					timer.Reset(d)
				}
				select {
				case <-ctx.Done():
					return nil
				case <-p.readDone:
					return p.lostErr()
				case <-timer.C:
				}
			}
		}
		putHeaderDynamic(payload, seq, time.Now().UnixNano())
		if p.qos > 0 {
			p.sent.Add(1)
		}
		err := p.snc.Publish(ctx, msg)
		var rc sn.ReturnCode
		switch {
		case err == nil:
			if p.qos == 0 {
				p.sent.Add(1)
			} else {
				p.acked.Add(1)
			}
		case errors.As(err, &rc):
			p.acked.Add(1)
			p.ackErrs.Add(1)
		case ctx.Err() != nil:
			return nil
		default:
			return fmt.Errorf("publisher %s: %w", p.id, err)
		}
	}
	return nil
}
