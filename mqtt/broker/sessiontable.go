package broker

import (
	"hash/maphash"
	"iter"
)

// sessionTable is the broker's sessions by client id (Broker.sessions):
// an open-addressing hash table of *Session keyed by Session.id, with
// linear probing and backward-shift deletion (no tombstones). A
// map[string]*Session kept the key's string header beside the pointer,
// 24 bytes a slot plus control bytes, about 44 bytes per session at its
// load factors; this keeps the pointer alone, 8 bytes a slot at a load
// between 3/16 and 3/4: about 16 bytes per session (an idle connection's
// RSS was ~800 bytes). Lookups hash the id once (maphash) and compare
// ids only of pointers in the probe run. Guarded by Broker.mu; not safe
// for concurrent use.
type sessionTable struct {
	seed  maphash.Seed
	slots []*Session // len is 0 or a power of two
	n     int
}

const sessionTableMin = 16

func newSessionTable() sessionTable { return sessionTable{seed: maphash.MakeSeed()} }

func (t *sessionTable) home(id string) int {
	return int(maphash.String(t.seed, id) & uint64(len(t.slots)-1))
}

// get returns the session of id, or nil.
func (t *sessionTable) get(id string) *Session {
	if t.n == 0 {
		return nil
	}
	mask := len(t.slots) - 1
	for i := t.home(id); ; i = (i + 1) & mask {
		s := t.slots[i]
		if s == nil {
			return nil
		}
		if s.id == id {
			return s
		}
	}
}

// put adds s under s.id, replacing a session of the same id.
func (t *sessionTable) put(s *Session) {
	if (t.n+1)*4 > len(t.slots)*3 {
		t.resize(max(sessionTableMin, len(t.slots)*2))
	}
	mask := len(t.slots) - 1
	for i := t.home(s.id); ; i = (i + 1) & mask {
		switch o := t.slots[i]; {
		case o == nil:
			t.slots[i] = s
			t.n++
			return
		case o.id == s.id:
			t.slots[i] = s
			return
		}
	}
}

// del removes the session of id, if any.
func (t *sessionTable) del(id string) {
	if t.n == 0 {
		return
	}
	mask := len(t.slots) - 1
	i := t.home(id)
	for ; ; i = (i + 1) & mask {
		s := t.slots[i]
		if s == nil {
			return
		}
		if s.id == id {
			break
		}
	}
	// Backward-shift: move later entries of the run into the hole when
	// their home is not between the hole and them.
	for j := (i + 1) & mask; ; j = (j + 1) & mask {
		s := t.slots[j]
		if s == nil {
			break
		}
		h := t.home(s.id)
		if (j-h)&mask >= (j-i)&mask {
			t.slots[i] = s
			i = j
		}
	}
	t.slots[i] = nil
	t.n--
	if len(t.slots) > sessionTableMin && t.n*16 < len(t.slots)*3 {
		t.resize(len(t.slots) / 2)
	}
}

func (t *sessionTable) resize(size int) {
	old := t.slots
	t.slots = make([]*Session, size)
	t.n = 0
	mask := size - 1
	for _, s := range old {
		if s == nil {
			continue
		}
		i := t.home(s.id)
		for t.slots[i] != nil {
			i = (i + 1) & mask
		}
		t.slots[i] = s
		t.n++
	}
}

// len is the number of sessions.
func (t *sessionTable) len() int { return t.n }

// all yields every session, in no order; the table must not change
// during the iteration.
func (t *sessionTable) all() iter.Seq[*Session] {
	return func(yield func(*Session) bool) {
		for _, s := range t.slots {
			if s != nil && !yield(s) {
				return
			}
		}
	}
}
