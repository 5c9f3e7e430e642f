package topic

import (
	"cmp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// Options are the subscription options of MQTT 5 §3.8.3.1 plus the
// Subscription Identifier (§3.8.2.1.2); for MQTT 3.1.1 only QoS is used.
type Options struct {
	QoS               byte
	NoLocal           bool
	RetainAsPublished bool
	RetainHandling    byte
	Identifier        uint32 // 0: none
}

// Subscription is one entry of a SubscriptionIndex. S is the broker's
// handle for the subscriber (a session pointer or a client id).
type Subscription[S comparable] struct {
	Subscriber S
	// Filter is the topic filter the index is keyed by. For a shared
	// subscription it is the inner filter, without "$share/{group}/".
	Filter string
	// Group is the ShareName of a shared subscription, "" otherwise.
	Group   string
	Options Options
}

// node is one level of the trie. Literal children are in a map; the '+'
// and '#' children have their own fields so that Match does not hash them.
type node[S comparable] struct {
	children map[string]*node[S]
	plus     *node[S]
	hash     *node[S]
	subs     []Subscription[S]
	// pos indexes subs by (Subscriber, Group) once a node has many
	// subscribers (e.g. 100k clients on "broadcast/#"), keeping Subscribe
	// and Unsubscribe O(1) there; small nodes scan subs.
	pos map[subKey[S]]int
}

type subKey[S comparable] struct {
	s     S
	group string
}

// indexThreshold is the number of subscriptions on one filter above which
// a node keeps the pos map.
const indexThreshold = 16

func (n *node[S]) empty() bool {
	return len(n.subs) == 0 && len(n.children) == 0 && n.plus == nil && n.hash == nil
}

func (n *node[S]) find(s S, group string) int {
	if n.pos != nil {
		if i, ok := n.pos[subKey[S]{s, group}]; ok {
			return i
		}
		return -1
	}
	for i := range n.subs {
		if n.subs[i].Subscriber == s && n.subs[i].Group == group {
			return i
		}
	}
	return -1
}

func (n *node[S]) add(sub Subscription[S]) {
	n.subs = append(n.subs, sub)
	if n.pos != nil {
		n.pos[subKey[S]{sub.Subscriber, sub.Group}] = len(n.subs) - 1
	} else if len(n.subs) > indexThreshold {
		n.pos = make(map[subKey[S]]int, len(n.subs))
		for i := range n.subs {
			n.pos[subKey[S]{n.subs[i].Subscriber, n.subs[i].Group}] = i
		}
	}
}

func (n *node[S]) remove(i int) {
	last := len(n.subs) - 1
	if n.pos != nil {
		delete(n.pos, subKey[S]{n.subs[i].Subscriber, n.subs[i].Group})
		if i != last {
			n.pos[subKey[S]{n.subs[last].Subscriber, n.subs[last].Group}] = i
		}
	}
	n.subs[i] = n.subs[last]
	n.subs[last] = Subscription[S]{} // drop references for the GC
	n.subs = n.subs[:last]
	switch {
	case last == 0:
		n.subs, n.pos = nil, nil
	case n.pos != nil && last <= indexThreshold/2:
		n.pos = nil
	case cap(n.subs) > 64 && last < cap(n.subs)/4:
		n.subs = slices.Clip(slices.Clone(n.subs)) // shrink after mass unsubscribe
	}
}

// SubscriptionIndex maps topic filters to subscriptions: a trie with one
// node per filter level. It is safe for concurrent use; see the package
// documentation for the locking decision. The zero value is not usable;
// call NewIndex.
type SubscriptionIndex[S comparable] struct {
	mu     sync.RWMutex
	root   node[S]
	count  int
	shared int
	ver    atomic.Uint64 // Version; bumped under mu's write lock
}

// NewIndex returns an empty index.
func NewIndex[S comparable]() *SubscriptionIndex[S] {
	return &SubscriptionIndex[S]{}
}

// Subscribe adds sub, or replaces the Options of the subscription with the
// same (Subscriber, Filter, Group), in which case existed is true
// [MQTT-3.8.4-3]. sub.Filter must be valid (see ValidateFilter and
// ParseShared); the index does not check it.
func (x *SubscriptionIndex[S]) Subscribe(sub Subscription[S]) (existed bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.ver.Add(1)
	n := &x.root
	for rest, more := sub.Filter, true; more; {
		var level string
		level, rest, more = cut(rest)
		n = n.child(level)
	}
	if i := n.find(sub.Subscriber, sub.Group); i >= 0 {
		n.subs[i] = sub
		return true
	}
	n.add(sub)
	x.count++
	if sub.Group != "" {
		x.shared++
	}
	return false
}

// child returns the child for level, creating it.
func (n *node[S]) child(level string) *node[S] {
	switch level {
	case "+":
		if n.plus == nil {
			n.plus = &node[S]{}
		}
		return n.plus
	case "#":
		if n.hash == nil {
			n.hash = &node[S]{}
		}
		return n.hash
	}
	c := n.children[level]
	if c == nil {
		if n.children == nil {
			n.children = make(map[string]*node[S], 1)
		}
		c = &node[S]{}
		// Clone so a key never pins a larger packet buffer or filter string.
		n.children[strings.Clone(level)] = c
	}
	return c
}

// Unsubscribe removes the subscription of s to filter within group ("" for
// a non-shared subscription) and reports whether it existed. Trie nodes
// left without subscriptions or children are freed.
func (x *SubscriptionIndex[S]) Unsubscribe(s S, filter, group string) (existed bool) {
	x.mu.Lock()
	x.ver.Add(1)
	defer x.mu.Unlock()
	// Path of (parent, level) pairs so that empty nodes can be pruned
	// bottom-up. Filters are short in practice; this stays on the stack.
	type step struct {
		parent *node[S]
		level  string
	}
	var buf [16]step
	path := buf[:0]
	n := &x.root
	for rest, more := filter, true; more; {
		var level string
		level, rest, more = cut(rest)
		var c *node[S]
		switch level {
		case "+":
			c = n.plus
		case "#":
			c = n.hash
		default:
			c = n.children[level]
		}
		if c == nil {
			return false
		}
		path = append(path, step{n, level})
		n = c
	}
	i := n.find(s, group)
	if i < 0 {
		return false
	}
	n.remove(i)
	x.count--
	if group != "" {
		x.shared--
	}
	for j := len(path) - 1; j >= 0 && n.empty(); j-- {
		p := path[j].parent
		switch level := path[j].level; level {
		case "+":
			p.plus = nil
		case "#":
			p.hash = nil
		default:
			delete(p.children, level)
			if len(p.children) == 0 {
				p.children = nil
			}
		}
		n = p
	}
	return true
}

// Version is a number that changes whenever the index does (every
// Subscribe and Unsubscribe). A MatchAppend result for a name stays the
// result for that name while Version returns the value it returned
// before that MatchAppend began, so a caller may keep results and reuse
// them while it is unchanged (the broker does, for a publisher's
// repeated topic). Reading it is one atomic load.
func (x *SubscriptionIndex[S]) Version() uint64 { return x.ver.Load() }

// Count returns the number of subscriptions, shared ones included.
func (x *SubscriptionIndex[S]) Count() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.count
}

// SharedCount returns the number of shared subscriptions (Group != "").
func (x *SubscriptionIndex[S]) SharedCount() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.shared
}

// MatchAppend appends to dst a copy of every subscription whose filter
// matches the topic name and returns the extended slice. It allocates
// nothing when dst has room, so a publisher reuses one slice
// (dst[:0]) per message. The copies stay valid after later Subscribe or
// Unsubscribe calls.
//
// Contract: a subscriber with several matching filters appears once per
// filter (the broker merges them: one delivery, maximum QoS, all
// Subscription Identifiers, MQTT 5 §3.3.4). Shared subscriptions come back
// with Group set, one entry per member; Partition and NextShareGroup group
// them so the broker can pick one member per (Group, Filter). The order of
// the result is unspecified.
//
// name must be a valid topic name (see ValidateName). Names starting with
// '$' are not matched by filters starting with '+' or '#' [MQTT-4.7.2-1].
func (x *SubscriptionIndex[S]) MatchAppend(dst []Subscription[S], name string) []Subscription[S] {
	x.mu.RLock()
	dst = matchLevel(dst, &x.root, name, true)
	x.mu.RUnlock()
	return dst
}

// matchLevel matches the remaining levels of name (at least one) below n.
func matchLevel[S comparable](dst []Subscription[S], n *node[S], name string, first bool) []Subscription[S] {
	level, rest, more := cut(name)
	// [MQTT-4.7.2-1]: wildcards at the first level do not match "$..." names.
	if !first || len(level) == 0 || level[0] != '$' {
		if n.hash != nil { // '#' matches this level and all below
			dst = append(dst, n.hash.subs...)
		}
		if n.plus != nil {
			dst = matchNext(dst, n.plus, rest, more)
		}
	}
	if c := n.children[level]; c != nil {
		dst = matchNext(dst, c, rest, more)
	}
	return dst
}

func matchNext[S comparable](dst []Subscription[S], c *node[S], rest string, more bool) []Subscription[S] {
	if more {
		return matchLevel(dst, c, rest, false)
	}
	dst = append(dst, c.subs...)
	if c.hash != nil { // "sport/#" matches "sport" [MQTT-4.7.1-2]
		dst = append(dst, c.hash.subs...)
	}
	return dst
}

// Partition reorders subs in place, without allocating, so that
// non-shared subscriptions come first and shared ones follow sorted by
// (Group, Filter), and returns the two parts. Each (Group, Filter) run of
// shared is one shared subscription whose members compete for the message;
// iterate the runs with NextShareGroup.
func Partition[S comparable](subs []Subscription[S]) (direct, shared []Subscription[S]) {
	i := 0
	for j := range subs {
		if subs[j].Group == "" {
			subs[i], subs[j] = subs[j], subs[i]
			i++
		}
	}
	shared = subs[i:]
	slices.SortFunc(shared, func(a, b Subscription[S]) int {
		if c := cmp.Compare(a.Group, b.Group); c != 0 {
			return c
		}
		return cmp.Compare(a.Filter, b.Filter)
	})
	return subs[:i], shared
}

// NextShareGroup splits the first (Group, Filter) run off shared (as
// returned by Partition): members are the subscribers of one shared
// subscription, rest the remaining runs.
//
//	for g, rest := topic.NextShareGroup(shared); len(g) > 0; g, rest = topic.NextShareGroup(rest) {
//		deliver(pick(g))
//	}
func NextShareGroup[S comparable](shared []Subscription[S]) (members, rest []Subscription[S]) {
	if len(shared) == 0 {
		return nil, nil
	}
	j := 1
	for j < len(shared) && shared[j].Group == shared[0].Group && shared[j].Filter == shared[0].Filter {
		j++
	}
	return shared[:j], shared[j:]
}
