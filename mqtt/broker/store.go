package broker

import (
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/mqttkit/mqtt/mqtt/topic"
)

// Store persists what must survive a restart: retained messages and the
// persistent sessions (Session Expiry Interval above 0, or 3.x clean
// session 0) with their subscriptions, will, queued and inflight
// messages and inbound QoS 2 packet ids.
//
// The broker keeps all live state in memory and tells the store of every
// change to durable state as operations, in the order they happened;
// Load gives them back, once, when New starts a broker. Without a Store
// (Options.Store nil) nothing is written and nothing restored.
//
// Durability: the broker sends PUBACK/PUBREC for a message that was
// retained or queued for a persistent session only after done of a
// Commit issued after its operations reports success, so a store that
// calls done when the data is on disk loses nothing it acknowledged. A
// store is expected to group commits that arrive together into one write
// (one fsync), since each publisher's acknowledgement waits for its own.
type Store interface {
	// Load returns everything stored. New calls it once before serving.
	Load() (*Snapshot, error)
	// Commit applies ops after every earlier Commit's. done, if not nil,
	// is called once they and every earlier Commit are durable (err nil)
	// or could not be made durable; ops may be empty (a barrier). Commit
	// must not wait for the disk, and may call done before it returns.
	// It may be called with broker locks held: it must not call into the
	// broker. ops and what they point to are the store's after the call
	// (Messages are immutable and may be shared with the broker).
	Commit(ops []Op, done func(error))
}

// StoreSizeLimit is implemented by a Store that cannot hold a message
// above some size (the bbolt store's journal): MaxPacketSize is the
// largest PUBLISH packet whose message it can always store. A larger
// message that would need the store is refused with Packet too large
// rather than with a Quota exceeded the client would retry for ever.
type StoreSizeLimit interface {
	MaxPacketSize() int
}

// OpKind names a change to the durable state.
type OpKind uint8

const (
	// OpSetRetained stores Message as the retained message of its topic.
	OpSetRetained OpKind = iota + 1
	// OpClearRetained removes the retained message of Topic.
	OpClearRetained
	// OpPutSession stores Session (replacing the stored one, keeping its
	// deliveries and inbound ids).
	OpPutSession
	// OpDeleteSession removes the session ClientID with its deliveries
	// and inbound ids.
	OpDeleteSession
	// OpPutDelivery stores (or replaces) Delivery of ClientID, keyed by
	// Delivery.Seq.
	OpPutDelivery
	// OpDeleteDelivery removes delivery Seq of ClientID.
	OpDeleteDelivery
	// OpPutInbound records inbound QoS 2 PacketID of ClientID as received
	// and routed, awaiting PUBREL [MQTT-4.3.3-10].
	OpPutInbound
	// OpDeleteInbound removes it (PUBREL received).
	OpDeleteInbound
	// OpBegin and OpEnd bracket the writes of one inbound QoS 2 message
	// (its deliveries and OpPutInbound), each in a Commit of its own: a
	// store that groups commits into transactions must not make part of a
	// bracket durable without the rest (brackets of concurrent publishers
	// may overlap; a cut where none is open is always safe).
	OpBegin
	OpEnd
)

// Op is one change; which fields matter depends on Kind.
type Op struct {
	Kind     OpKind
	ClientID string
	Topic    string
	Message  *Message
	Session  *SessionState
	Delivery *DeliveryState
	Seq      uint64
	PacketID uint16
}

// Snapshot is what a Store holds.
type Snapshot struct {
	Retained []*Message
	Sessions []*SessionState // with Deliveries (by Seq) and Inbound
	// LastAlive is when the broker that wrote the store was last known
	// to run (zero: unknown). Sessions that were connected when it
	// stopped without a word (a crash) count their expiry, and their
	// wills' delay, from it rather than from the restart, so the downtime
	// counts [MQTT-3.1.2-23].
	LastAlive time.Time
}

// SessionState is the durable part of a session.
type SessionState struct {
	ClientID        string
	ProtocolVersion byte
	Username        string // for the Authorizer's checks while offline (the will)
	HasUsername     bool
	// Expiry is the Session Expiry Interval in seconds (0xFFFFFFFF: never).
	Expiry uint32
	// DisconnectedAt is when the session lost its connection; zero while
	// connected (after a crash the broker counts from the restart).
	DisconnectedAt time.Time
	Subscriptions  []SubscriptionState
	// Will is the session's will: while connected, the connection's (with
	// its WillDelay, sent after a crash); once disconnected, a will
	// waiting for its delay, due at WillAt.
	Will      *Message
	WillDelay uint32 // seconds
	WillAt    time.Time

	// Filled by Load; ignored by OpPutSession.
	Deliveries []*DeliveryState
	Inbound    []uint16
}

// SubscriptionState is one subscription of a SessionState; Filter is as
// subscribed ("$share/{group}/..." included).
type SubscriptionState struct {
	Filter  string
	Options topic.Options
}

// DeliveryState is one message queued for a session, or inflight to it.
type DeliveryState struct {
	Seq      uint64 // order within the session
	Message  *Message
	QoS      byte   // as delivered
	Retain   bool   // the retain flag to deliver with
	Dup      bool   // sent before
	PacketID uint16 // 0 while queued; set once sent (QoS 1/2)
	Released bool   // QoS 2: PUBREC received, PUBREL sent; Message may be nil
	SubIDs   []uint32
	// Group and Filter name the shared subscription it came through.
	Group, Filter string
}

// MemoryStore is a Store in memory: it survives a Broker, not the
// process. Tests and programs that embed a broker and restart it use it;
// `mqtt serve --data` keeps the same state on disk.
type MemoryStore struct {
	mu       sync.Mutex
	retained map[string]*Message
	sessions map[string]*memSession
}

type memSession struct {
	state      SessionState
	deliveries map[uint64]*DeliveryState
	inbound    map[uint16]struct{}
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{retained: map[string]*Message{}, sessions: map[string]*memSession{}}
}

// Load returns a copy of what is stored.
func (s *MemoryStore) Load() (*Snapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	snap := &Snapshot{}
	for _, m := range s.retained {
		snap.Retained = append(snap.Retained, m)
	}
	slices.SortFunc(snap.Retained, func(a, b *Message) int { return cmpString(a.Topic, b.Topic) })
	for _, ms := range s.sessions {
		st := ms.state
		st.Subscriptions = slices.Clone(st.Subscriptions)
		for _, seq := range slices.Sorted(maps.Keys(ms.deliveries)) {
			d := *ms.deliveries[seq]
			st.Deliveries = append(st.Deliveries, &d)
		}
		st.Inbound = slices.Sorted(maps.Keys(ms.inbound))
		snap.Sessions = append(snap.Sessions, &st)
	}
	slices.SortFunc(snap.Sessions, func(a, b *SessionState) int { return cmpString(a.ClientID, b.ClientID) })
	return snap, nil
}

// Commit applies ops at once and calls done(nil).
func (s *MemoryStore) Commit(ops []Op, done func(error)) {
	s.mu.Lock()
	for i := range ops {
		s.apply(&ops[i])
	}
	s.mu.Unlock()
	if done != nil {
		done(nil)
	}
}

func (s *MemoryStore) session(id string) *memSession {
	ms := s.sessions[id]
	if ms == nil {
		ms = &memSession{state: SessionState{ClientID: id}, deliveries: map[uint64]*DeliveryState{}, inbound: map[uint16]struct{}{}}
		s.sessions[id] = ms
	}
	return ms
}

func (s *MemoryStore) apply(op *Op) {
	switch op.Kind {
	case OpSetRetained:
		s.retained[op.Message.Topic] = op.Message
	case OpClearRetained:
		delete(s.retained, op.Topic)
	case OpPutSession:
		st := *op.Session
		st.Deliveries, st.Inbound = nil, nil
		s.session(st.ClientID).state = st
	case OpDeleteSession:
		delete(s.sessions, op.ClientID)
	case OpPutDelivery:
		d := *op.Delivery
		s.session(op.ClientID).deliveries[d.Seq] = &d
	case OpDeleteDelivery:
		if ms := s.sessions[op.ClientID]; ms != nil {
			delete(ms.deliveries, op.Seq)
		}
	case OpPutInbound:
		s.session(op.ClientID).inbound[op.PacketID] = struct{}{}
	case OpDeleteInbound:
		if ms := s.sessions[op.ClientID]; ms != nil {
			delete(ms.inbound, op.PacketID)
		}
	}
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
