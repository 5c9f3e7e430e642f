package bench

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/mqttkit/mqtt/mqtt/packet"
)

// Latencies are recorded in microseconds, from 1 µs to one hour, 3 significant digits.
const (
	histMin = 1
	histMax = 3600 * 1000 * 1000
)

func newHist() *hdrhistogram.Histogram { return hdrhistogram.New(histMin, histMax, 3) }

func record(h *hdrhistogram.Histogram, us int64) {
	_ = h.RecordValue(min(max(us, histMin), histMax))
}

// pubTrack is what one subscriber knows about one publisher's sequence.
type pubTrack struct {
	seen       []uint64 // bitmap of sequence numbers received
	unique     uint64
	dups       uint64
	outOfOrder uint64
	minSeq     uint64
	maxSeq     uint64
	any        bool
}

// add records seq and reports whether it was new.
func (t *pubTrack) add(seq uint64) bool {
	w := seq >> 6
	if w >= uint64(len(t.seen)) {
		if w >= uint64(cap(t.seen)) {
			n := make([]uint64, w+1, max(2*cap(t.seen), int(w)+1, 64))
			copy(n, t.seen)
			t.seen = n
		} else {
			t.seen = t.seen[:w+1]
		}
	}
	bit := uint64(1) << (seq & 63)
	if t.seen[w]&bit != 0 {
		t.dups++
		return false
	}
	t.seen[w] |= bit
	t.unique++
	if t.any && seq < t.maxSeq {
		t.outOfOrder++
	}
	if !t.any || seq > t.maxSeq {
		t.maxSeq = seq
	}
	if !t.any || seq < t.minSeq {
		t.minSeq = seq
	}
	t.any = true
	return true
}

// subscriber reads one connection: bench payloads are checked against the publishers'
// sequences and their latency recorded; QoS 1/2 are acknowledged in batches.
type subscriber struct {
	idx    int
	c      *wireConn
	filter string
	run    uint16
	anyRun bool // sub scenario: accept payloads of any bench process

	received atomic.Uint64 // bench payloads, duplicates included
	unique   atomic.Uint64
	other    atomic.Uint64 // not a bench payload, or another run's (pubsub)
	lastRecv atomic.Int64  // Unix nanoseconds of the last batch with a bench payload
	stopping atomic.Bool
	done     chan struct{} // closed when readLoop ends
	readErr  error
	target   uint64        // sub scenario: reached closes reachedCh
	reached  chan struct{} // nil unless target > 0

	mu      sync.Mutex // guards what follows; held for a batch of packets at a time
	hist    *hdrhistogram.Histogram
	tracks  []pubTrack           // own run, by publisher index
	foreign map[uint64]*pubTrack // anyRun: run<<32 | publisher
}

func newSubscriber(idx int, c *wireConn, filter string, run uint16, anyRun bool, publishers int) *subscriber {
	s := &subscriber{idx: idx, c: c, filter: filter, run: run, anyRun: anyRun,
		done: make(chan struct{}), hist: newHist(), tracks: make([]pubTrack, publishers)}
	if anyRun {
		s.foreign = map[uint64]*pubTrack{}
	}
	return s
}

func (s *subscriber) track(h header) *pubTrack {
	if s.anyRun {
		k := uint64(h.run)<<32 | uint64(h.pub)
		t := s.foreign[k]
		if t == nil {
			t = &pubTrack{}
			s.foreign[k] = t
		}
		return t
	}
	if h.run != s.run || h.pub >= uint32(len(s.tracks)) {
		return nil
	}
	return &s.tracks[h.pub]
}

func (s *subscriber) readLoop() {
	defer close(s.done)
	version := s.c.version
	var out []byte
	var recv, uniq, other uint64
	locked := false
	idle := func() error {
		if locked {
			s.mu.Unlock()
			locked = false
		}
		if recv > 0 || other > 0 {
			if recv > 0 {
				s.lastRecv.Store(time.Now().UnixNano())
			}
			total := s.received.Add(recv)
			s.unique.Add(uniq)
			s.other.Add(other)
			if s.reached != nil && total >= s.target && total-recv < s.target {
				close(s.reached)
			}
			recv, uniq, other = 0, 0, 0
		}
		if len(out) > 0 {
			err := s.c.write(out)
			out = out[:0]
			return err
		}
		return nil
	}
	defer func() {
		if locked {
			s.mu.Unlock()
		}
	}()
	for {
		first, body, err := s.c.rd.next(idle)
		if err != nil {
			s.readErr = err
			return
		}
		switch packet.Type(first >> 4) {
		case packet.PUBLISH:
			qos, id, payload, ok := publishPayload(version, first, body)
			if !ok {
				other++
				continue
			}
			switch qos {
			case 1:
				out = appendAck(out, packet.PUBACK, id)
			case 2:
				out = appendAck(out, packet.PUBREC, id)
			}
			h, ok := parseHeader(payload)
			if !ok {
				other++
				continue
			}
			if !locked {
				s.mu.Lock()
				locked = true
			}
			t := s.track(h)
			if t == nil {
				other++
				continue
			}
			recv++
			if t.add(h.seq) {
				uniq++
			}
			record(s.hist, (time.Now().UnixNano()-h.sent)/1000)
		case packet.SUBACK:
			// Only the retained storm reads its SUBACK here (subscribe() takes the others).
			p, err := packet.Decode(version, first, body)
			if err != nil {
				s.readErr = fmt.Errorf("bad SUBACK: %v", err)
				_ = idle()
				return
			}
			if rc := p.(*packet.Suback).ReasonCodes; len(rc) != 1 || rc[0] >= 0x80 {
				s.readErr = fmt.Errorf("subscription to %q refused: SUBACK %v", s.filter, rc)
				_ = idle()
				return
			}
		case packet.PUBREL:
			if len(body) >= 2 {
				out = appendAck(out, packet.PUBCOMP, uint16(body[0])<<8|uint16(body[1]))
			}
		case packet.DISCONNECT:
			code := byte(0)
			if len(body) > 0 {
				code = body[0]
			}
			s.readErr = &disconnectError{code}
			_ = idle()
			return
		}
	}
}

type disconnectError struct{ code byte }

func (e *disconnectError) Error() string {
	return "broker sent DISCONNECT (reason 0x" + hex2(e.code) + " " + packet.ReasonCode(e.code).String() + ")"
}

func hex2(b byte) string {
	const d = "0123456789ABCDEF"
	return string([]byte{d[b>>4], d[b&15]})
}
