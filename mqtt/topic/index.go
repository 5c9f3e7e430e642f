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
// and '#' children have their own fields (in extra) so that Match does not
// hash them.
//
// A node's subscriptions all have the same filter (the path from the root
// spells it), so the node holds it once, in filter. Most nodes with
// subscriptions have one (a device's own topic) and no wildcard children:
// a single non-shared subscription is held inline, in one and oneOpts, and
// what fewer nodes need is in extra, nil elsewhere. With S a pointer (the
// broker's *Session) a node is 48 bytes, its one subscription included;
// before, a node was 64 bytes and its subscriptions a slice of 48 bytes
// each (1,000,000 device filters: 112 MB of nodes and slices, now 48 MB).
type node[S comparable] struct {
	children map[string]*node[S]
	extra    *extra[S]
	// filter is the filter of the node's subscriptions, "" while it has
	// none. It is the Filter string of a subscription that was at the
	// node (the first), not a copy.
	filter  string
	one     S       // the subscription when inline()
	oneOpts Options // its options
}

// extra is what a node has only sometimes: '+' and '#' children, and its
// subscriptions when there is more than one, or a shared one (Group !=
// ""). A node keeps it only while one of its fields is set (tidy).
type extra[S comparable] struct {
	plus *node[S]
	hash *node[S]
	// subs are the node's subscriptions when it has more than one, or a
	// shared one. They are whole Subscriptions (Filter is the node's
	// filter string: 16 bytes each for a header, not the bytes again) so
	// that MatchAppend copies them with one append: built one by one from
	// 32-byte entries without Filter, matching took 30% longer at 1k
	// subscriptions (BenchmarkMatch/subs=1000: 272 ns against 209).
	subs []Subscription[S]
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

// many reports whether the node's subscriptions are in extra.subs.
func (n *node[S]) many() bool { return n.extra != nil && len(n.extra.subs) > 0 }

// inline reports whether the node holds one subscription inline.
func (n *node[S]) inline() bool { return n.filter != "" && !n.many() }

func (n *node[S]) plus() *node[S] {
	if n.extra == nil {
		return nil
	}
	return n.extra.plus
}

func (n *node[S]) hash() *node[S] {
	if n.extra == nil {
		return nil
	}
	return n.extra.hash
}

// ext returns n.extra, making it.
func (n *node[S]) ext() *extra[S] {
	if n.extra == nil {
		n.extra = &extra[S]{}
	}
	return n.extra
}

// tidy drops extra once it holds nothing.
func (n *node[S]) tidy() {
	if e := n.extra; e != nil && e.plus == nil && e.hash == nil && len(e.subs) == 0 {
		n.extra = nil
	}
}

func (n *node[S]) empty() bool {
	return n.filter == "" && n.extra == nil && len(n.children) == 0
}

// set adds sub to the node, or replaces the options of the subscription of
// the same (Subscriber, Group), in which case existed is true.
func (n *node[S]) set(sub Subscription[S]) (existed bool) {
	switch {
	case n.inline():
		if sub.Group == "" && n.one == sub.Subscriber {
			n.oneOpts = sub.Options
			return true
		}
		// A second subscription: both go to extra.subs.
		e := n.ext()
		e.subs = append(make([]Subscription[S], 0, 2), Subscription[S]{Subscriber: n.one, Filter: n.filter, Options: n.oneOpts})
		var zero S
		n.one, n.oneOpts = zero, Options{}
	case !n.many(): // no subscriptions yet
		n.filter = sub.Filter
		if sub.Group == "" && sub.Filter != "" {
			n.one, n.oneOpts = sub.Subscriber, sub.Options
			return false
		}
	}
	e := n.ext()
	if i := e.find(sub.Subscriber, sub.Group); i >= 0 {
		e.subs[i].Options = sub.Options
		return true
	}
	sub.Filter = n.filter // one string for the node's filter
	e.add(sub)
	return false
}

// unset removes the subscription of s within group and reports whether
// there was one.
func (n *node[S]) unset(s S, group string) bool {
	var zero S
	if n.inline() {
		if group != "" || n.one != s {
			return false
		}
		n.one, n.oneOpts, n.filter = zero, Options{}, ""
		return true
	}
	if !n.many() {
		return false
	}
	e := n.extra
	i := e.find(s, group)
	if i < 0 {
		return false
	}
	e.remove(i)
	switch {
	case len(e.subs) == 0:
		n.filter = ""
	case len(e.subs) == 1 && e.subs[0].Group == "" && n.filter != "":
		// Back to one: inline again, and the slice is freed.
		n.one, n.oneOpts = e.subs[0].Subscriber, e.subs[0].Options
		e.subs, e.pos = nil, nil
	}
	n.tidy()
	return true
}

// appendSubs appends the node's subscriptions to dst.
func (n *node[S]) appendSubs(dst []Subscription[S]) []Subscription[S] {
	if !n.many() {
		if n.filter != "" {
			dst = append(dst, Subscription[S]{Subscriber: n.one, Filter: n.filter, Options: n.oneOpts})
		}
		return dst
	}
	return append(dst, n.extra.subs...)
}

func (e *extra[S]) find(s S, group string) int {
	if e.pos != nil {
		if i, ok := e.pos[subKey[S]{s, group}]; ok {
			return i
		}
		return -1
	}
	for i := range e.subs {
		if e.subs[i].Subscriber == s && e.subs[i].Group == group {
			return i
		}
	}
	return -1
}

func (e *extra[S]) add(sub Subscription[S]) {
	e.subs = append(e.subs, sub)
	if e.pos != nil {
		e.pos[subKey[S]{sub.Subscriber, sub.Group}] = len(e.subs) - 1
	} else if len(e.subs) > indexThreshold {
		e.pos = make(map[subKey[S]]int, len(e.subs))
		for i := range e.subs {
			e.pos[subKey[S]{e.subs[i].Subscriber, e.subs[i].Group}] = i
		}
	}
}

func (e *extra[S]) remove(i int) {
	last := len(e.subs) - 1
	if e.pos != nil {
		delete(e.pos, subKey[S]{e.subs[i].Subscriber, e.subs[i].Group})
		if i != last {
			e.pos[subKey[S]{e.subs[last].Subscriber, e.subs[last].Group}] = i
		}
	}
	e.subs[i] = e.subs[last]
	e.subs[last] = Subscription[S]{} // drop references for the GC
	e.subs = e.subs[:last]
	switch {
	case last == 0:
		e.subs, e.pos = nil, nil
	case e.pos != nil && last <= indexThreshold/2:
		e.pos = nil
	case cap(e.subs) > 64 && last < cap(e.subs)/4:
		e.subs = slices.Clip(slices.Clone(e.subs)) // shrink after mass unsubscribe
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
	if n.set(sub) {
		return true
	}
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
		e := n.ext()
		if e.plus == nil {
			e.plus = &node[S]{}
		}
		return e.plus
	case "#":
		e := n.ext()
		if e.hash == nil {
			e.hash = &node[S]{}
		}
		return e.hash
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
			c = n.plus()
		case "#":
			c = n.hash()
		default:
			c = n.children[level]
		}
		if c == nil {
			return false
		}
		path = append(path, step{n, level})
		n = c
	}
	if !n.unset(s, group) {
		return false
	}
	x.count--
	if group != "" {
		x.shared--
	}
	for j := len(path) - 1; j >= 0 && n.empty(); j-- {
		p := path[j].parent
		switch level := path[j].level; level {
		case "+":
			p.extra.plus = nil
			p.tidy()
		case "#":
			p.extra.hash = nil
			p.tidy()
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
	if e := n.extra; e != nil && (!first || len(level) == 0 || level[0] != '$') {
		if e.hash != nil { // '#' matches this level and all below
			dst = e.hash.appendSubs(dst)
		}
		if e.plus != nil {
			dst = matchNext(dst, e.plus, rest, more)
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
	dst = c.appendSubs(dst)
	if h := c.hash(); h != nil { // "sport/#" matches "sport" [MQTT-4.7.1-2]
		dst = h.appendSubs(dst)
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
