package bench

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/mqttkit/mqtt/mqtt/packet"
	"github.com/mqttkit/mqtt/mqtt/topic"
)

// retained runs the retained scenario. Clients publishers each publish Count retained
// messages, message n of publisher i on Topic with %i = i and %n = n, at QoS 1 so that
// the storm starts only once the broker has acknowledged every one. Then Subs subscribers
// connect and, all at once, subscribe to the filter (SubTopic, or Topic with its %i and
// %n levels as '+') at -q; the report says how long until the first and the last of them
// held every retained message its filter covers. The storm ends when all have, when
// nothing new arrived for --drain, or on Ctrl-C.
func (r *runner) retained(ctx context.Context) error {
	cfg := r.cfg
	pubConns := r.connectAll(ctx, cfg.Clients, 'p', 4<<10, nil)
	for i, c := range pubConns {
		if c == nil {
			continue
		}
		p := newPublisher(i, c, "", 1)
		r.mu.Lock()
		r.pubs = append(r.pubs, p)
		r.mu.Unlock()
		go p.readLoop()
	}
	if len(r.pubs) == 0 {
		r.rep.Durations.Connect = time.Since(r.start).Seconds()
		return fmt.Errorf("%w: no publisher connected: %s", ErrAllFailed, r.firstErr())
	}
	stopProgress := r.progress(ctx)
	defer func() { stopProgress() }()

	// Preload.
	t0 := time.Now()
	var wg sync.WaitGroup
	for _, p := range r.pubs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := p.preload(ctx, cfg, r.run); err != nil {
				r.noteErr(err)
			}
		}()
	}
	wg.Wait()
	preload := time.Since(t0)
	res := &RetainedReport{PreloadS: preload.Seconds()}
	r.rep.Retained = res
	m := &r.rep.Messages
	for _, p := range r.pubs {
		m.Sent += p.sent.Load()
		m.Acked += p.acked.Load()
		m.AckErrors += p.ackErrs.Load()
	}
	res.Stored = m.Acked - m.AckErrors
	r.rep.Durations.Run = preload.Seconds()
	if preload > 0 {
		r.rep.Rates.SentPerS = float64(m.Sent) / preload.Seconds()
	}
	if ctx.Err() != nil {
		r.stopAll()
		return nil
	}

	// The storm: connect every subscriber, then subscribe them all at once.
	filterTmpl := cfg.subFilterTemplate()
	subConns := r.connectAll(ctx, cfg.Subs, 's', 64<<10, nil)
	r.rep.Durations.Connect = time.Since(r.start).Seconds() - preload.Seconds()
	var subs []*subscriber
	var expected []uint64
	for i, c := range subConns {
		if c == nil {
			continue
		}
		s := newSubscriber(i, c, expandN(filterTmpl, i, c.id, -1), r.run, false, cfg.Clients)
		var want uint64
		for _, p := range r.pubs {
			for n := 0; n < cfg.Count; n++ {
				if topic.Match(s.filter, expandN(cfg.Topic, p.idx, p.id, n)) {
					want++
				}
			}
		}
		subs = append(subs, s)
		expected = append(expected, want)
		m.Expected += want
	}
	res.Subscribers = len(subs)
	if len(subs) == 0 {
		r.stopAll()
		return fmt.Errorf("%w: no subscriber connected: %s", ErrAllFailed, r.firstErr())
	}
	r.broker.markRun()
	cpu0 := cpuTime()
	storm := time.Now()
	// Each reader starts before its SUBSCRIBE is written: a broker may send the retained
	// messages before the SUBACK [MQTT-3.8.4], and a slow one may take longer than any
	// SUBACK timeout to send it at all (the storm is bounded by --drain instead).
	r.mu.Lock()
	r.subs = append(r.subs, subs...)
	r.mu.Unlock()
	for _, s := range subs {
		go s.readLoop()
	}
	for _, s := range subs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf, err := packet.Append(nil, &packet.Subscribe{PacketID: 1,
				Subscriptions: []packet.Subscription{{Filter: s.filter, QoS: cfg.QoS}}}, s.c.version)
			if err == nil {
				err = s.c.write(buf)
			}
			if err != nil {
				r.noteErr(fmt.Errorf("subscriber %s: SUBSCRIBE %q: %v", s.c.id, s.filter, err))
			}
		}()
	}
	wg.Wait()

	// Until every subscriber has all it should, or nothing new for --drain.
	got, lastChange := r.uniqueTotal(), time.Now()
	tick := time.NewTicker(10 * time.Millisecond)
	for ctx.Err() == nil {
		complete := 0
		for i, s := range subs {
			if s.unique.Load() >= expected[i] {
				complete++
			}
		}
		if complete == len(subs) || !r.subsAlive() {
			break
		}
		if u := r.uniqueTotal(); u != got {
			got, lastChange = u, time.Now()
		} else if time.Since(lastChange) >= cfg.Drain {
			break
		}
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
	}
	tick.Stop()
	end := time.Now()
	cpu := cpuTime() - cpu0
	r.broker.sample()
	stopProgress()
	stopProgress = func() {}
	r.stopAll()

	var last time.Duration
	for i, s := range subs {
		m.Received += s.received.Load()
		m.Other += s.other.Load()
		s.mu.Lock()
		for k := range s.tracks {
			// Not OutOfOrder: retained messages of distinct topics come in no set order.
			m.Duplicated += s.tracks[k].dups
		}
		s.mu.Unlock()
		if s.unique.Load() < expected[i] {
			continue
		}
		res.Complete++
		took := time.Unix(0, s.lastRecv.Load()).Sub(storm)
		if expected[i] == 0 {
			took = 0
		}
		if res.FirstS == 0 || took.Seconds() < res.FirstS {
			res.FirstS = took.Seconds()
		}
		last = max(last, took)
	}
	if res.Complete == len(subs) {
		res.AllS = last.Seconds()
	}
	u := r.uniqueTotal()
	if m.Expected > u {
		m.Lost = m.Expected - u
	}
	r.rep.Durations.Drain = end.Sub(storm).Seconds()
	r.rep.Bench.CPUSeconds = cpu.Seconds()
	if m.Received+m.Other > 0 {
		r.rep.Bench.NsPerMsg = float64(cpu.Nanoseconds()) / float64(m.Received+m.Other)
	}
	if d := end.Sub(storm).Seconds(); d > 0 {
		r.rep.Bench.CPUUtil = cpu.Seconds() / d
	}
	if last > 0 {
		r.rep.Durations.Receive = last.Seconds()
		res.RatePerS = float64(u) / last.Seconds()
		r.rep.Rates.ReceivedPerS = float64(m.Received) / last.Seconds()
	}
	return nil
}

// preload publishes Count retained QoS 1 messages, each on its own topic (Topic with %n),
// pipelined up to the inflight window, and waits up to --drain for the last PUBACKs.
func (p *publisher) preload(ctx context.Context, cfg *Config, run uint16) error {
	window := uint64(min(cfg.Inflight, p.c.receiveMax))
	payload := make([]byte, cfg.Size)
	putHeaderStatic(payload, run, uint32(p.idx))
	pub := &packet.Publish{QoS: 1, Retain: true, Payload: payload}
	if p.c.version == packet.V5 {
		pub.Properties = cfg.PublishProperties
	}
	count := uint64(cfg.Count)
	buf := make([]byte, 0, batchBytes+cfg.Size+256)
	var seq uint64
	var pid uint16
	for seq < count {
		select {
		case <-ctx.Done():
			return p.finish(cfg.Drain, seq)
		case <-p.readDone:
			return p.lostErr()
		default:
		}
		inflight := seq - p.acked.Load()
		if inflight >= window {
			select {
			case <-ctx.Done():
			case <-p.readDone:
			case <-p.wake:
			}
			continue
		}
		n := min(window-inflight, count-seq)
		now := time.Now().UnixNano()
		buf = buf[:0]
		var k uint64
		for ; k < n && len(buf) < batchBytes; k++ {
			pid++
			if pid == 0 {
				pid = 1
			}
			pub.PacketID = pid
			pub.Topic = expandN(cfg.Topic, p.idx, p.id, int(seq))
			putHeaderDynamic(payload, seq, now)
			var err error
			if buf, err = packet.Append(buf, pub, p.c.version); err != nil {
				return fmt.Errorf("publisher %s: encoding PUBLISH to %q: %v", p.id, pub.Topic, err)
			}
			seq++
		}
		if err := p.c.write(buf); err != nil {
			return fmt.Errorf("publisher %s: %w", p.id, err)
		}
		p.sent.Add(k)
	}
	return p.finish(cfg.Drain, seq)
}
