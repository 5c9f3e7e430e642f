package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/mqttkit/mqtt/mqtt/sn"
	"github.com/mqttkit/mqtt/mqtt/topic"
)

// ErrAllFailed wraps the error of a run in which no client could connect.
var ErrAllFailed = errors.New("every connection failed")

// ErrNoTopicAlias: --topic-alias against a broker whose CONNACK allows no topic aliases
// (no Topic Alias Maximum, which means 0). The run stops before publishing.
var ErrNoTopicAlias = errors.New("--topic-alias: the broker allows no topic aliases (its CONNACK has no Topic Alias Maximum)")

// Run executes the scenario until it finishes by itself (Count or Duration) or ctx ends
// (Ctrl-C), and returns the report so far. The error is non-nil when the configuration is
// invalid or when every client of a role failed to connect (then errors.Is(err,
// ErrAllFailed) and the report still describes the attempt). Connects that fail while
// others succeed are counted in the report, not returned.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := &runner{cfg: &cfg, run: uint16(rand.Uint32()), connHist: newHist(), errs: map[string]int{}}
	r.rep = &Report{Scenario: cfg.Scenario, Config: ReportConfig{
		Server: cfg.Server, Version: cfg.Version, Clients: cfg.Clients, Subs: cfg.Subs, Count: cfg.Count,
		DurationS: cfg.Duration.Seconds(), Rate: cfg.Rate, QoS: cfg.QoS, Size: cfg.Size, Retain: cfg.Retain,
		IntervalS: cfg.Interval.Seconds(), Inflight: cfg.Inflight, DrainS: cfg.Drain.Seconds(),
		FileLimit: raiseFileLimit(), GOMAXPROCS: runtime.GOMAXPROCS(0), ClientIDPfx: cfg.IDPrefix,
		TopicAlias: cfg.TopicAlias, Stagger: cfg.Stagger, Index: cfg.Index, IndexTopic: cfg.IndexTopic,
	}}
	if cfg.BrokerPID > 0 {
		var err error
		if r.broker, err = newBrokerProbe(cfg.BrokerPID); err != nil {
			return nil, err
		}
	}
	if cfg.SN {
		r.rep.Config.SNGateway = cfg.SNGateway
		r.rep.Config.Inflight = 1 // one QoS 1/2 message in flight per MQTT-SN client [MQTT-SN 6.6]
	}
	if cfg.Scenario != ScenarioConn {
		r.rep.Config.Topic = cfg.Topic
	}
	if cfg.Scenario == ScenarioPubSub || cfg.Scenario == ScenarioRetained {
		r.rep.Config.SubTopic = cfg.subFilterTemplate()
	}
	r.start = time.Now()
	pingDone := make(chan struct{})
	pingStopped := make(chan struct{})
	go r.pinger(pingDone, pingStopped)
	defer func() { close(pingDone); <-pingStopped }()

	var err error
	switch cfg.Scenario {
	case ScenarioConn:
		err = r.conn(ctx)
	case ScenarioPub:
		err = r.pubsub(ctx, false, true)
	case ScenarioSub:
		err = r.pubsub(ctx, true, false)
	case ScenarioPubSub:
		err = r.pubsub(ctx, true, true)
	case ScenarioRetained:
		err = r.retained(ctx)
	}
	r.finishReport(ctx)
	if b, berr := r.broker.report(); berr != nil {
		r.rep.Errors = append(r.rep.Errors, berr.Error())
	} else {
		r.rep.Broker = b
	}
	return r.rep, err
}

// runner holds one run's state.
type runner struct {
	cfg   *Config
	run   uint16
	rep   *Report
	start time.Time

	mu       sync.Mutex
	connHist *hdrhistogram.Histogram
	errs     map[string]int
	errOrder []string
	conns    []*wireConn // every live connection, for the pinger

	attempted, connected, failed, lost atomic.Int64

	pubs []*publisher
	subs []*subscriber

	broker *brokerProbe // --broker-pid; nil without

	// --index holders: their connections and the goroutines draining them.
	idxConns []*wireConn
	idxWG    sync.WaitGroup
}

func (r *runner) noteErr(err error) {
	r.mu.Lock()
	r.noteErrLocked(err)
	r.mu.Unlock()
}

func (r *runner) noteErrLocked(err error) {
	msg := err.Error()
	if r.errs[msg] == 0 {
		r.errOrder = append(r.errOrder, msg)
	}
	r.errs[msg]++
}

func (r *runner) firstErr() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.errOrder) == 0 {
		return "unknown error"
	}
	return r.errOrder[0]
}

// pinger sends PINGREQ on connections that have been quiet for half the keep alive.
func (r *runner) pinger(done, stopped chan struct{}) {
	defer close(stopped)
	if r.cfg.KeepAlive == 0 {
		<-done
		return
	}
	ka := time.Duration(r.cfg.KeepAlive) * time.Second
	t := time.NewTicker(min(time.Second, ka/2))
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case now := <-t.C:
			r.mu.Lock()
			conns := append([]*wireConn(nil), r.conns...)
			r.mu.Unlock()
			for _, c := range conns {
				c.ping(now, ka)
			}
		}
	}
}

// connectAll opens n connections of a role; after (may be nil) runs on each new connection
// and failing, counts it as failed. Failed slots are nil.
func (r *runner) connectAll(ctx context.Context, n int, role byte, readBuf int, after func(i int, c *wireConn) error) []*wireConn {
	out := make([]*wireConn, n)
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
			c, lat, err := connect(ctx, r.cfg, id, readBuf)
			if err == nil && after != nil {
				if err = after(i, c); err != nil {
					c.close()
				}
			}
			if err != nil {
				r.failed.Add(1)
				r.noteErr(err)
				return
			}
			r.connected.Add(1)
			r.mu.Lock()
			record(r.connHist, lat.Microseconds())
			r.conns = append(r.conns, c)
			r.mu.Unlock()
			out[i] = c
		}(i)
	}
	wg.Wait()
	return out
}

// connSN is conn with MQTT-SN clients (Config.SN).
func (r *runner) connSN(ctx context.Context) error {
	stopProgress := r.progress(ctx)
	cost := r.measureCost()
	conns := r.connectSNAll(ctx, r.cfg.Clients, 'c', nil)
	r.rep.Durations.Connect = time.Since(r.start).Seconds()
	if r.connected.Load() == 0 {
		cost()
		stopProgress()
		return fmt.Errorf("%w: %s", ErrAllFailed, r.firstErr())
	}
	holdStart := time.Now()
	if r.cfg.Duration > 0 {
		t := time.NewTimer(r.cfg.Duration)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
	for _, c := range conns {
		if c == nil {
			continue
		}
		select {
		case <-c.Gone():
			r.lost.Add(1)
			r.noteErr(fmt.Errorf("connection lost: %v", c.Err()))
		default:
		}
	}
	r.rep.Durations.Run = time.Since(holdStart).Seconds()
	cost()
	stopProgress()
	closeSN(conns)
	return nil
}

// conn opens the connections, holds them for Duration and closes them.
func (r *runner) conn(ctx context.Context) error {
	if r.cfg.SN {
		return r.connSN(ctx)
	}
	stopProgress := r.progress(ctx)
	cost := r.measureCost()
	conns := r.connectAll(ctx, r.cfg.Clients, 'c', 256, nil)
	r.rep.Durations.Connect = time.Since(r.start).Seconds()
	var stopping atomic.Bool
	var wg sync.WaitGroup
	for _, c := range conns {
		if c == nil {
			continue
		}
		wg.Add(1)
		go func(c *wireConn) {
			defer wg.Done()
			for {
				if _, _, err := c.rd.next(nil); err != nil {
					if !stopping.Load() {
						r.lost.Add(1)
						r.noteErr(fmt.Errorf("connection lost: %v", err))
					}
					return
				}
			}
		}(c)
	}
	if r.connected.Load() == 0 {
		cost()
		stopProgress()
		return fmt.Errorf("%w: %s", ErrAllFailed, r.firstErr())
	}
	holdStart := time.Now()
	r.broker.markRun()
	if r.cfg.Duration > 0 {
		t := time.NewTimer(r.cfg.Duration)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
	r.rep.Durations.Run = time.Since(holdStart).Seconds()
	cost()
	r.broker.sample()
	stopProgress()
	stopping.Store(true)
	closeAll(conns)
	wg.Wait()
	return nil
}

// measureCost starts measuring the bench's own CPU time for conn, whose work is the connects
// and holding the connections (keep alive pings, reads): the returned function, called at the
// end of the hold, sets Report.Bench from that span. It has no messages, so no NsPerMsg.
func (r *runner) measureCost() func() {
	cpu0, t0 := cpuTime(), time.Now()
	return func() {
		cpu := cpuTime() - cpu0
		r.rep.Bench.CPUSeconds = cpu.Seconds()
		if d := time.Since(t0).Seconds(); d > 0 {
			r.rep.Bench.CPUUtil = cpu.Seconds() / d
		}
	}
}

func closeAll(conns []*wireConn) {
	var wg sync.WaitGroup
	for _, c := range conns {
		if c != nil {
			wg.Add(1)
			go func() { defer wg.Done(); c.disconnect() }()
		}
	}
	wg.Wait()
}

// pubsub runs the pub, sub and pubsub scenarios.
func (r *runner) pubsub(ctx context.Context, withSubs, withPubs bool) error {
	cfg := r.cfg
	nSubs, nPubs := cfg.Subs, cfg.Clients
	if !withPubs {
		nSubs, nPubs = cfg.Clients, 0
	}
	if !withSubs {
		nSubs = 0
	}
	filterTmpl := cfg.Topic
	if withPubs {
		filterTmpl = cfg.subFilterTemplate()
	}

	// The --index subscriptions, then the subscribers, so they see every message.
	if cfg.Index > 0 {
		if err := r.holdIndex(ctx); err != nil {
			r.stopAll()
			return err
		}
	}
	filters := make([]string, nSubs)
	subConns := r.connectAll(ctx, nSubs, 's', 64<<10, func(i int, c *wireConn) error {
		filters[i] = expand(filterTmpl, i, c.id)
		return c.subscribe(ctx, filters[i], cfg.QoS)
	})
	for i, c := range subConns {
		if c == nil {
			continue
		}
		s := newSubscriber(i, c, filters[i], r.run, !withPubs, nPubs)
		if !withPubs && cfg.Count > 0 {
			s.target = uint64(cfg.Count)
			s.reached = make(chan struct{})
		}
		r.mu.Lock()
		r.subs = append(r.subs, s)
		r.mu.Unlock()
		go s.readLoop()
	}
	if nSubs > 0 && len(r.subs) == 0 {
		r.rep.Durations.Connect = time.Since(r.start).Seconds()
		r.stopAll() // the --index holders
		return fmt.Errorf("%w: no subscriber connected: %s", ErrAllFailed, r.firstErr())
	}

	if cfg.SN {
		snConns := r.connectSNAll(ctx, nPubs, 'p', func(i int, id string) string { return expand(cfg.Topic, i, id) })
		for i, c := range snConns {
			if c == nil {
				continue
			}
			id := clientID(cfg.IDPrefix, 'p', i)
			p := newSNPublisher(i, id, c, expand(cfg.Topic, i, id), cfg.QoS)
			r.mu.Lock()
			r.pubs = append(r.pubs, p)
			r.mu.Unlock()
			go p.snWatch()
		}
	} else {
		pubConns := r.connectAll(ctx, nPubs, 'p', 4<<10, nil)
		for i, c := range pubConns {
			if c == nil {
				continue
			}
			p := newPublisher(i, c, expand(cfg.Topic, i, c.id), cfg.QoS)
			r.mu.Lock()
			r.pubs = append(r.pubs, p)
			r.mu.Unlock()
			go p.readLoop()
		}
	}
	r.rep.Durations.Connect = time.Since(r.start).Seconds()
	if nPubs > 0 && len(r.pubs) == 0 {
		r.stopAll()
		return fmt.Errorf("%w: no publisher connected: %s", ErrAllFailed, r.firstErr())
	}
	if cfg.TopicAlias {
		for _, p := range r.pubs {
			if p.c.topicAliasMax == 0 {
				r.stopAll()
				return ErrNoTopicAlias
			}
		}
	}
	// matches[p]: how many subscribers should receive publisher p's messages.
	matches := make([]uint64, nPubs)
	for _, p := range r.pubs {
		for _, s := range r.subs {
			if topic.Match(s.filter, p.topic) {
				matches[p.idx]++
			}
		}
	}
	if withPubs && withSubs {
		var any uint64
		for _, m := range matches {
			any += m
		}
		if any == 0 {
			r.stopAll()
			return fmt.Errorf("no subscriber filter (%q) matches any publisher topic (%q)", filterTmpl, cfg.Topic)
		}
	}

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if cfg.Duration > 0 {
		runCtx, cancel = context.WithTimeout(ctx, cfg.Duration)
		defer cancel()
	}
	stopProgress := r.progress(ctx)
	cpu0 := cpuTime()
	t0 := time.Now()
	r.broker.markRun()
	var wg sync.WaitGroup
	for _, p := range r.pubs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := p.run(runCtx, cfg, r.run, cfg.Drain); err != nil {
				r.noteErr(err)
			}
		}()
	}
	if !withPubs {
		// sub: until every subscriber has its Count, or Duration, or Ctrl-C.
		counted := false
		for _, s := range r.subs {
			if s.reached == nil {
				continue
			}
			counted = true
			select {
			case <-s.reached:
			case <-s.done:
			case <-runCtx.Done():
			}
		}
		if !counted {
			<-runCtx.Done()
		}
	}
	wg.Wait()
	t1 := time.Now()

	// Drain: wait for what is still on its way, until nothing is missing.
	var expected uint64
	for _, p := range r.pubs {
		expected += p.sent.Load() * matches[p.idx]
	}
	// A broker that dropped messages never sends them, so the drain also ends once nothing
	// has arrived for quietDrain; a slow broker still delivering keeps it going up to Drain.
	drainCut := false
	if withPubs && withSubs {
		deadline := time.Now().Add(cfg.Drain)
		got, lastChange := r.uniqueTotal(), time.Now()
		for got < expected && r.subsAlive() && ctx.Err() == nil {
			now := time.Now()
			if stop, cut := drainEnds(now, deadline, lastChange); stop {
				drainCut = cut
				break
			}
			time.Sleep(20 * time.Millisecond) // wake-ups cost CPU that counts as bench's own
			if u := r.uniqueTotal(); u != got {
				got, lastChange = u, time.Now()
			}
		}
	}
	t2 := time.Now()
	r.broker.sample()
	stopProgress()
	cpu := cpuTime() - cpu0
	r.stopAll()

	rep := r.rep
	rep.Durations.Run = t1.Sub(t0).Seconds()
	rep.Durations.Drain = t2.Sub(t1).Seconds()
	m := &rep.Messages
	for _, p := range r.pubs {
		m.Sent += p.sent.Load()
		m.Acked += p.acked.Load()
		m.AckErrors += p.ackErrs.Load()
	}
	hist := newHist()
	for _, s := range r.subs {
		m.Received += s.received.Load()
		m.Other += s.other.Load()
		s.mu.Lock()
		hist.Merge(s.hist)
		addTrack := func(t *pubTrack) {
			m.Duplicated += t.dups
			m.OutOfOrder += t.outOfOrder
			if !withPubs && t.any {
				m.Expected += t.maxSeq - t.minSeq + 1
			}
		}
		for i := range s.tracks {
			addTrack(&s.tracks[i])
		}
		for _, t := range s.foreign {
			addTrack(t)
		}
		s.mu.Unlock()
	}
	if withPubs && withSubs {
		m.Expected = expected
	}
	if withSubs {
		u := r.uniqueTotal()
		if m.Expected > u {
			m.Lost = m.Expected - u
			m.DrainCut = drainCut
		}
	}
	rep.Latency = latencyOf(hist)
	if d := t1.Sub(t0).Seconds(); d > 0 {
		rep.Rates.SentPerS = float64(m.Sent) / d
	}
	// Receive rate: from the start of publishing to the last message received, so a drain
	// that waits for messages a broker dropped does not dilute it.
	var last int64
	for _, s := range r.subs {
		last = max(last, s.lastRecv.Load())
	}
	if last > 0 {
		rep.Durations.Receive = max(0, time.Unix(0, last).Sub(t0).Seconds())
	}
	if rep.Durations.Receive > 0 {
		rep.Rates.ReceivedPerS = float64(m.Received) / rep.Durations.Receive
	}
	rep.Bench.CPUSeconds = cpu.Seconds()
	if n := m.Sent + m.Received + m.Other; n > 0 {
		rep.Bench.NsPerMsg = float64(cpu.Nanoseconds()) / float64(n)
	}
	if d := t2.Sub(t0).Seconds(); d > 0 {
		rep.Bench.CPUUtil = cpu.Seconds() / d
	}
	return nil
}

func (r *runner) uniqueTotal() uint64 {
	var n uint64
	for _, s := range r.subs {
		n += s.unique.Load()
	}
	return n
}

func (r *runner) subsAlive() bool {
	for _, s := range r.subs {
		select {
		case <-s.done:
		default:
			return true
		}
	}
	return false
}

// stopAll disconnects publishers and subscribers and waits for their readers; a reader
// that ended before this counts as a lost connection.
func (r *runner) stopAll() {
	for _, p := range r.pubs {
		select {
		case <-p.readDone:
			if !p.stopping.Load() {
				r.lost.Add(1)
				r.noteErr(fmt.Errorf("publisher %s: connection lost: %v", p.id, p.readErr))
			}
		default:
		}
		p.stopping.Store(true)
	}
	for _, s := range r.subs {
		select {
		case <-s.done:
			if !s.stopping.Load() {
				r.lost.Add(1)
				r.noteErr(fmt.Errorf("subscriber %s: connection lost: %v", s.c.id, s.readErr))
			}
		default:
		}
		s.stopping.Store(true)
	}
	var conns []*wireConn
	var snConns []*sn.Client
	for _, p := range r.pubs {
		if p.snc != nil {
			snConns = append(snConns, p.snc)
			close(p.snStop)
			continue
		}
		conns = append(conns, p.c)
	}
	for _, s := range r.subs {
		conns = append(conns, s.c)
	}
	conns = append(conns, r.idxConns...)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); closeSN(snConns) }()
	closeAll(conns)
	wg.Wait()
	for _, p := range r.pubs {
		<-p.readDone
	}
	for _, s := range r.subs {
		<-s.done
	}
	r.idxWG.Wait()
}

// progress calls Config.Progress once a second until the returned stop is called.
func (r *runner) progress(ctx context.Context) (stop func()) {
	if r.cfg.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		scratch := newHist()
		var lastSent, lastRecv uint64
		last := time.Now()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case now := <-t.C:
				s := Snapshot{Elapsed: now.Sub(r.start), Scenario: r.cfg.Scenario,
					Connected: int(r.connected.Load()), Failed: int(r.failed.Load())}
				r.mu.Lock()
				pubs, subs := r.pubs, r.subs
				r.mu.Unlock()
				for _, p := range pubs {
					s.Sent += p.sent.Load()
				}
				scratch.Reset()
				for _, sub := range subs {
					s.Received += sub.received.Load()
					sub.mu.Lock()
					scratch.Merge(sub.hist)
					sub.mu.Unlock()
				}
				s.P99Micros = scratch.ValueAtQuantile(99)
				dt := now.Sub(last).Seconds()
				s.SentRate = float64(s.Sent-lastSent) / dt
				s.RecvRate = float64(s.Received-lastRecv) / dt
				lastSent, lastRecv, last = s.Sent, s.Received, now
				r.cfg.Progress(s)
			}
		}
	}()
	return func() { close(done); <-stopped }
}

// finishReport fills in the connection figures and errors.
func (r *runner) finishReport(ctx context.Context) {
	rep := r.rep
	rep.Interrupted = ctx.Err() != nil
	rep.Durations.Total = time.Since(r.start).Seconds()
	c := &rep.Connections
	c.Attempted = int(r.attempted.Load())
	c.Connected = int(r.connected.Load())
	c.Failed = int(r.failed.Load())
	c.Lost = int(r.lost.Load())
	if rep.Durations.Connect > 0 {
		c.RatePerS = float64(c.Connected) / rep.Durations.Connect
	}
	r.mu.Lock()
	c.Connack = latencyOf(r.connHist)
	order := append([]string(nil), r.errOrder...)
	counts := r.errs
	r.mu.Unlock()
	sort.SliceStable(order, func(i, j int) bool { return counts[order[i]] > counts[order[j]] })
	for _, e := range order {
		if counts[e] > 1 {
			e = fmt.Sprintf("%s (×%d)", e, counts[e])
		}
		rep.Errors = append(rep.Errors, e)
	}
}

// drainEnds says whether the drain stops now: at --drain (deadline), or once nothing has
// arrived for quietDrain. cut is true when it stops at --drain while messages were still
// arriving: what is missing then may be late rather than lost.
func drainEnds(now, deadline, lastChange time.Time) (stop, cut bool) {
	quiet := now.Sub(lastChange) >= quietDrain
	if !now.Before(deadline) {
		return true, !quiet
	}
	return quiet, false
}
