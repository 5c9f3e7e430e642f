package broker

import (
	"strings"
	"sync"

	"github.com/mqttkit/mqtt/mqtt/topic"
)

// Store keeps what must survive a restart once a durable implementation
// is plugged in: retained messages and session state. The handlers only
// talk to this interface; MemoryStore is the default.
//
// Live sessions (queues, inflight windows) are held by the broker in
// memory; SaveSession is called whenever a session's subscriptions or
// expiry change and DeleteSession when it ends, so a durable store can
// restore subscriptions. Persisting queued and inflight messages is the
// next step of the durable store (see doc.go).
type Store interface {
	// StoreRetained sets the retained message of m.Topic. m is immutable.
	StoreRetained(m *Message) error
	// DeleteRetained removes the retained message of a topic, if any.
	DeleteRetained(topic string) error
	// MatchRetained calls fn for every retained message whose topic
	// matches filter (wildcards, [MQTT-4.7.2-1] for '$' topics) until fn
	// returns false.
	MatchRetained(filter string, fn func(*Message) bool)
	// RetainedCount returns the number of retained messages.
	RetainedCount() int

	SaveSession(SessionState) error
	DeleteSession(clientID string) error
}

// SessionState is the durable part of a session.
type SessionState struct {
	ClientID      string
	Expiry        uint32 // seconds, 0xFFFFFFFF: never
	Subscriptions []SubscriptionState
}

// SubscriptionState is one subscription of a SessionState; Filter is as
// subscribed ("$share/{group}/..." included).
type SubscriptionState struct {
	Filter  string
	Options topic.Options
}

// MemoryStore is the in-process Store: retained messages in a map.
// MatchRetained looks up filters without wildcards directly and scans all
// retained messages otherwise; a retained-topic trie is the upgrade path
// when retained sets grow large.
type MemoryStore struct {
	mu       sync.RWMutex
	retained map[string]*Message
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{retained: make(map[string]*Message)}
}

func (s *MemoryStore) StoreRetained(m *Message) error {
	s.mu.Lock()
	s.retained[m.Topic] = m
	s.mu.Unlock()
	return nil
}

func (s *MemoryStore) DeleteRetained(topic string) error {
	s.mu.Lock()
	delete(s.retained, topic)
	s.mu.Unlock()
	return nil
}

func (s *MemoryStore) MatchRetained(filter string, fn func(*Message) bool) {
	s.mu.RLock()
	if !strings.ContainsAny(filter, "+#") {
		m := s.retained[filter]
		s.mu.RUnlock()
		if m != nil {
			fn(m)
		}
		return
	}
	var found []*Message
	for name, m := range s.retained {
		if topic.Match(filter, name) {
			found = append(found, m)
		}
	}
	s.mu.RUnlock()
	for _, m := range found {
		if !fn(m) {
			return
		}
	}
}

func (s *MemoryStore) RetainedCount() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.retained)
}

// SaveSession does nothing: the broker's live sessions are the
// in-memory state.
func (s *MemoryStore) SaveSession(SessionState) error { return nil }

// DeleteSession does nothing (see SaveSession).
func (s *MemoryStore) DeleteSession(string) error { return nil }
