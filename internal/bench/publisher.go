package bench

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/mqttkit/mqtt/mqtt/packet"
	"github.com/mqttkit/mqtt/mqtt/sn"
)

// batchBytes is how much a publisher encodes before one write.
const batchBytes = 64 << 10

// pacingSlice is the granularity of --rate: a publisher wakes at most once per slice and
// writes the messages due by then in one batch (at rates below 1/slice, one per wake-up).
const pacingSlice = 5 * time.Millisecond

// publisher drives one connection: a pre-encoded PUBLISH patched in place, written in
// batches; QoS 1/2 acknowledgements are read by readLoop on a second goroutine.
type publisher struct {
	idx   int
	id    string
	c     *wireConn  // MQTT, or
	snc   *sn.Client // MQTT-SN (Config.SN; see sn.go)
	topic string
	qos   byte

	sent     atomic.Uint64 // PUBLISH packets written
	acked    atomic.Uint64 // QoS 1 PUBACK / QoS 2 PUBCOMP (or a failing PUBREC)
	ackErrs  atomic.Uint64 // acknowledgements with a reason code >= 0x80
	wake     chan struct{} // readLoop -> run: acks arrived
	readDone chan struct{} // closed when readLoop ends
	readErr  error         // why readLoop ended; read after readDone
	stopping atomic.Bool   // set before the bench closes the connection itself
	snStop   chan struct{} // MQTT-SN: closed to end snWatch
}

func newPublisher(idx int, c *wireConn, topic string, qos byte) *publisher {
	return &publisher{idx: idx, id: c.id, c: c, topic: topic, qos: qos,
		wake: make(chan struct{}, 1), readDone: make(chan struct{})}
}

func newSNPublisher(idx int, id string, c *sn.Client, topic string, qos byte) *publisher {
	return &publisher{idx: idx, id: id, snc: c, topic: topic, qos: qos,
		wake: make(chan struct{}, 1), readDone: make(chan struct{}), snStop: make(chan struct{})}
}

// tmpl is one pre-encoded PUBLISH with the offsets to patch.
type tmpl struct {
	b              []byte
	hdrOff, pidOff int
}

// template encodes the PUBLISH once. alias > 0 adds a Topic Alias property and, with
// noTopic, leaves the topic name out (every message after the first under --topic-alias).
func (p *publisher) template(cfg *Config, run uint16, alias uint16, noTopic bool) (tmpl, error) {
	pub := &packet.Publish{QoS: p.qos, Retain: cfg.Retain, Topic: p.topic, Payload: make([]byte, cfg.Size)}
	if p.c.version == packet.V5 {
		pub.Properties = cfg.PublishProperties
		if alias > 0 {
			pub.Properties.TopicAlias, pub.Properties.HasTopicAlias = alias, true
			if noTopic {
				pub.Topic = ""
			}
		}
	}
	if p.qos > 0 {
		pub.PacketID = 1
	}
	b, err := packet.Append(nil, pub, p.c.version)
	if err != nil {
		return tmpl{}, fmt.Errorf("encoding PUBLISH to %q: %v", p.topic, err)
	}
	_, _, n, err := packet.ParseHeader(b)
	if err != nil {
		return tmpl{}, err
	}
	t := tmpl{b: b, hdrOff: len(b) - cfg.Size, pidOff: n + 2 + len(pub.Topic)}
	putHeaderStatic(b[t.hdrOff:], run, uint32(p.idx))
	return t, nil
}

// run publishes until Count messages are written or ctx ends, then (QoS 1/2) waits up to
// drain for the outstanding acknowledgements.
func (p *publisher) run(ctx context.Context, cfg *Config, run uint16, drain time.Duration) error {
	if p.snc != nil {
		return p.runSN(ctx, cfg, run)
	}
	var first, rest tmpl
	var err error
	if cfg.TopicAlias {
		if first, err = p.template(cfg, run, 1, false); err == nil {
			rest, err = p.template(cfg, run, 1, true)
		}
	} else {
		rest, err = p.template(cfg, run, 0, false)
		first = rest
	}
	if err != nil {
		return err
	}
	window := uint64(0)
	if p.qos > 0 {
		window = uint64(min(cfg.Inflight, p.c.receiveMax))
	}
	perBatch := max(1, batchBytes/len(rest.b))
	var buf []byte
	if cfg.Rate > 0 {
		// Paced publishers write a few messages at a time: a full batch buffer each would
		// cost 64 KiB per publisher (640 MB for a fleet of 10,000); append grows it.
		buf = make([]byte, 0, len(first.b))
	} else {
		buf = make([]byte, 0, perBatch*len(rest.b)+len(first.b))
	}
	limit := uint64(cfg.Count)
	var seq uint64
	var pid uint16
	var timer *time.Timer
	done := ctx.Done()
	if cfg.Stagger && cfg.Rate > 0 && cfg.Clients > 1 {
		// Publisher i starts i/N of an interval late, so N publishers at --rate R send
		// N*R messages/s evenly rather than N at once every 1/R seconds.
		offset := time.Duration(float64(p.idx) / float64(cfg.Clients) / cfg.Rate * float64(time.Second))
		timer = time.NewTimer(offset)
		select {
		case <-done:
			timer.Stop()
			return nil
		case <-p.readDone:
			timer.Stop()
			return p.lostErr()
		case <-timer.C:
		}
	}
	start := time.Now()
	for limit == 0 || seq < limit {
		select {
		case <-done:
			return p.finish(drain, seq)
		case <-p.readDone:
			return p.lostErr()
		default:
		}
		n := uint64(perBatch)
		if limit > 0 {
			n = min(n, limit-seq)
		}
		if cfg.Rate > 0 {
			elapsed := time.Since(start)
			due := uint64(elapsed.Seconds()*cfg.Rate) + 1
			if due <= seq {
				// Sleep until the next message is due, or until a pacing slice's worth
				// is: one wake-up (and one write) per message would cost far more CPU
				// than the message at high rates.
				k := max(1, uint64(cfg.Rate*pacingSlice.Seconds()))
				next := start.Add(time.Duration(float64(seq+k-1) / cfg.Rate * float64(time.Second)))
				d := time.Until(next)
				if timer == nil {
					timer = time.NewTimer(d)
				} else {
					timer.Reset(d)
				}
				select {
				case <-done:
				case <-p.readDone:
				case <-timer.C:
				}
				continue
			}
			n = min(n, due-seq)
		}
		if window > 0 {
			inflight := seq - p.acked.Load()
			if inflight >= window {
				select {
				case <-done:
				case <-p.readDone:
				case <-p.wake:
				}
				continue
			}
			n = min(n, window-inflight)
		}
		now := time.Now().UnixNano()
		buf = buf[:0]
		for k := uint64(0); k < n; k++ {
			t := &rest
			if seq == 0 {
				t = &first
			}
			buf = append(buf, t.b...)
			m := buf[len(buf)-len(t.b):]
			if p.qos > 0 {
				pid++
				if pid == 0 {
					pid = 1
				}
				binary.BigEndian.PutUint16(m[t.pidOff:], pid)
			}
			putHeaderDynamic(m[t.hdrOff:], seq, now)
			seq++
		}
		p.c.wmu.Lock()
		w, err := p.c.nc.Write(buf)
		p.c.lastWrite.Store(now)
		p.c.wmu.Unlock()
		if err != nil {
			p.sent.Add(uint64(w / len(rest.b)))
			return fmt.Errorf("publisher %s: %w", p.id, err)
		}
		p.sent.Add(n)
	}
	return p.finish(drain, seq)
}

// finish waits for the acknowledgements of QoS 1/2 messages already sent.
func (p *publisher) finish(drain time.Duration, sent uint64) error {
	if p.qos == 0 {
		return nil
	}
	deadline := time.NewTimer(drain)
	defer deadline.Stop()
	for p.acked.Load() < sent {
		select {
		case <-p.wake:
		case <-p.readDone:
			return p.lostErr()
		case <-deadline.C:
			return fmt.Errorf("publisher %s: %d of %d messages unacknowledged after %s", p.id, sent-p.acked.Load(), sent, drain)
		}
	}
	return nil
}

func (p *publisher) lostErr() error {
	if p.stopping.Load() {
		return nil
	}
	return fmt.Errorf("publisher %s: connection lost: %v", p.id, p.readErr)
}

// readLoop handles what the broker sends a publisher: acknowledgements (answering PUBREC
// with PUBREL), PINGRESP and a v5 DISCONNECT.
func (p *publisher) readLoop() {
	defer close(p.readDone)
	var out []byte
	var completed, failed uint64
	idle := func() error {
		if len(out) > 0 {
			err := p.c.write(out)
			out = out[:0]
			if err != nil {
				return err
			}
		}
		if completed > 0 {
			p.ackErrs.Add(failed)
			p.acked.Add(completed)
			completed, failed = 0, 0
			select {
			case p.wake <- struct{}{}:
			default:
			}
		}
		return nil
	}
	for {
		first, body, err := p.c.rd.next(idle)
		if err != nil {
			p.readErr = err
			return
		}
		switch packet.Type(first >> 4) {
		case packet.PUBACK:
			if p.qos == 1 {
				completed++
				if len(body) > 2 && body[2] >= 0x80 {
					failed++
				}
			}
		case packet.PUBREC:
			if len(body) < 2 {
				continue
			}
			if len(body) > 2 && body[2] >= 0x80 {
				completed++
				failed++
				continue
			}
			out = appendAck(out, packet.PUBREL, binary.BigEndian.Uint16(body))
		case packet.PUBCOMP:
			completed++
		case packet.DISCONNECT:
			code := byte(0)
			if len(body) > 0 {
				code = body[0]
			}
			p.readErr = fmt.Errorf("broker sent DISCONNECT (reason 0x%02X %s)", code, packet.ReasonCode(code))
			_ = idle()
			return
		}
	}
}
