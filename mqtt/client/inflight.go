package client

import (
	"context"
	"sort"
	"sync"

	"github.com/mqttkit/mqtt/mqtt/packet"
)

// Token completes when an outbound message is acknowledged (QoS 1: PUBACK,
// QoS 2: PUBCOMP) or has failed. QoS 0 tokens are complete once queued.
type Token struct {
	PacketID uint16
	done     chan struct{}
	err      error
	code     packet.ReasonCode
	props    packet.Properties
}

func newToken() *Token { return &Token{done: make(chan struct{})} }

// Done is closed when the token completes.
func (t *Token) Done() <-chan struct{} { return t.done }

// Err is the outcome once Done is closed: nil, an *AckError, or a
// connection error (ErrConnectionLost, ErrClosed, ErrSessionLost).
func (t *Token) Err() error {
	select {
	case <-t.done:
		return t.err
	default:
		return nil
	}
}

// Ack returns the acknowledgement's reason code and properties (v5).
func (t *Token) Ack() (packet.ReasonCode, packet.Properties) { return t.code, t.props }

// Wait blocks until the token completes or ctx ends.
func (t *Token) Wait(ctx context.Context) error {
	select {
	case <-t.done:
		return t.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (t *Token) complete(err error) {
	t.err = err
	close(t.done)
}

// outbound is an unacknowledged QoS 1/2 PUBLISH.
type outbound struct {
	pub     *packet.Publish
	seq     uint64 // send order, for retransmission in order [MQTT-4.6.0-1]
	relSent bool   // PUBREC received and PUBREL sent (QoS 2)
	slot    bool   // holds a place in the current connection's window
	tok     *Token
}

// Session is the client side of an MQTT session: it outlives a connection
// so that unacknowledged messages can be resent on the next one. A Session
// is used by one Client at a time.
type Session struct {
	mu     sync.Mutex
	nextID uint16
	seq    uint64
	out    map[uint16]*outbound
	req    map[uint16]*pendingReq // SUBSCRIBE/UNSUBSCRIBE awaiting ack (this connection only)
	inQoS2 map[uint16]*Message    // inbound QoS 2 ids awaiting PUBREL; the message itself when it is delivered at PUBREL
}

// pendingReq is a SUBSCRIBE or UNSUBSCRIBE awaiting its acknowledgement.
type pendingReq struct {
	id    uint16
	ch    chan packet.Packet // capacity 1; closed when the connection ends first
	onAck func(packet.Packet)
}

// NewSession returns an empty Session.
func NewSession() *Session {
	return &Session{
		out:    make(map[uint16]*outbound),
		req:    make(map[uint16]*pendingReq),
		inQoS2: make(map[uint16]*Message),
	}
}

// Pending returns how many outbound messages await acknowledgement.
func (s *Session) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.out)
}

// allocID returns a free packet identifier; the caller holds s.mu. ok is
// false when all 65535 are in use.
func (s *Session) allocID() (uint16, bool) {
	for range 65535 {
		s.nextID++
		if s.nextID == 0 {
			s.nextID = 1
		}
		id := s.nextID
		if _, used := s.out[id]; used {
			continue
		}
		if _, used := s.req[id]; used {
			continue
		}
		return id, true
	}
	return 0, false
}

// discard fails every outbound message: the server has no session.
func (s *Session) discard(err error) {
	s.mu.Lock()
	out := s.out
	s.out = make(map[uint16]*outbound)
	s.inQoS2 = make(map[uint16]*Message)
	s.mu.Unlock()
	for _, o := range out {
		if o.tok != nil {
			o.tok.complete(err)
		}
	}
}

// resume lists the messages to send again, in their original order, and
// detaches their tokens (the callers were told the connection was lost).
func (s *Session) resume() []*outbound {
	s.mu.Lock()
	defer s.mu.Unlock()
	list := make([]*outbound, 0, len(s.out))
	for _, o := range s.out {
		o.slot = false
		list = append(list, o)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].seq < list[j].seq })
	return list
}

// connectionEnded fails waiting operations; messages stay for a resume.
func (s *Session) connectionEnded(err error) {
	s.mu.Lock()
	var toks []*Token
	for _, o := range s.out {
		o.slot = false
		if o.tok != nil {
			toks = append(toks, o.tok)
			o.tok = nil
		}
	}
	reqs := s.req
	s.req = make(map[uint16]*pendingReq)
	s.mu.Unlock()
	for _, t := range toks {
		t.complete(err)
	}
	for _, r := range reqs {
		close(r.ch)
	}
}
