package broker

import (
	"sort"
	"strings"
	"sync"
)

// retain updates the retained message of m.Topic: an empty payload
// deletes it [MQTT-3.3.1-10], [MQTT-3.3.1-11]; otherwise m replaces it
// [MQTT-3.3.1-5]. The change goes to the store too ($SYS topics excepted:
// they are the broker's own state, published anew after a restart).
// src is who published it, for Options.CheckRetainSource (nil: no one to
// check, e.g. the broker itself).
func (b *Broker) retain(m *Message, src *ClientInfo) {
	if len(m.Payload) == 0 {
		if b.retained.remove(m.Topic) && b.store != nil && !isSysTopic(m.Topic) {
			b.commit(Op{Kind: OpClearRetained, Topic: m.Topic})
		}
		return
	}
	if !b.opts.CheckRetainSource || b.authz == nil {
		src = nil // nothing will ask
	}
	b.retained.set(m, src)
	if b.store != nil && !isSysTopic(m.Topic) {
		b.commit(Op{Kind: OpSetRetained, Message: m})
	}
}

// retainedIndex holds the retained messages in a trie of topic levels
// whose children are kept sorted, so a wildcard subscription receives
// them in one stable order, topic order: level by level, a parent before
// its children, siblings in byte order ("a", "a/b", "a/b/c", "a/c",
// "a-b"). Exact filters are found in one walk; '+' and '#' visit only
// the subtrees they match.
type retainedIndex struct {
	mu   sync.RWMutex
	root rnode
	n    int
	size int64                  // topic and payload bytes
	src  map[string]*ClientInfo // who published each, where it is checked (CheckRetainSource)
}

type rnode struct {
	level    string
	children []*rnode // sorted by level
	msg      *Message
}

// child returns the child named level, creating it when create is set.
func (n *rnode) child(level string, create bool) *rnode {
	i := sort.Search(len(n.children), func(i int) bool { return n.children[i].level >= level })
	if i < len(n.children) && n.children[i].level == level {
		return n.children[i]
	}
	if !create {
		return nil
	}
	c := &rnode{level: level}
	n.children = append(n.children, nil)
	copy(n.children[i+1:], n.children[i:])
	n.children[i] = c
	return c
}

func (r *retainedIndex) set(m *Message, src *ClientInfo) {
	r.mu.Lock()
	if src != nil {
		if r.src == nil {
			r.src = make(map[string]*ClientInfo)
		}
		r.src[m.Topic] = src
	} else if r.src != nil {
		delete(r.src, m.Topic)
	}
	n := &r.root
	for level := range strings.SplitSeq(m.Topic, "/") {
		n = n.child(level, true)
	}
	if n.msg == nil {
		r.n++
	} else {
		r.size -= int64(n.msg.size())
	}
	r.size += int64(m.size())
	n.msg = m
	r.mu.Unlock()
}

// remove deletes the retained message of topic; it reports whether
// there was one. Emptied nodes are pruned.
func (r *retainedIndex) remove(topic string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	path := []*rnode{&r.root}
	n := &r.root
	for level := range strings.SplitSeq(topic, "/") {
		if n = n.child(level, false); n == nil {
			return false
		}
		path = append(path, n)
	}
	if n.msg == nil {
		return false
	}
	r.size -= int64(n.msg.size())
	n.msg = nil
	r.n--
	delete(r.src, topic)
	for i := len(path) - 1; i > 0; i-- {
		c, parent := path[i], path[i-1]
		if c.msg != nil || len(c.children) > 0 {
			break
		}
		j := sort.Search(len(parent.children), func(j int) bool { return parent.children[j].level >= c.level })
		parent.children = append(parent.children[:j], parent.children[j+1:]...)
	}
	return true
}

// source is who published the retained message of topic, if known.
func (r *retainedIndex) source(topic string) *ClientInfo {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.src[topic]
}

func (r *retainedIndex) bytes() int64 {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.size
}

func (r *retainedIndex) count() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.n
}

// match appends the retained messages whose topics match filter to out,
// in topic order. '$' topics are not matched by a filter starting with
// a wildcard [MQTT-4.7.2-1].
func (r *retainedIndex) match(out []*Message, filter string) []*Message {
	// Split on the stack: every filter of every SUBSCRIBE comes here
	// (strings.Split was 9% of what a SUBSCRIBE of 100 filters allocated).
	var buf [16]string
	levels := buf[:0]
	for rest, more := filter, true; more; {
		var l string
		l, rest, more = strings.Cut(rest, "/")
		levels = append(levels, l)
	}
	r.mu.RLock()
	out = matchLevels(out, &r.root, levels, true)
	r.mu.RUnlock()
	return out
}

func matchLevels(out []*Message, n *rnode, levels []string, root bool) []*Message {
	if len(levels) == 0 {
		if n.msg != nil {
			out = append(out, n.msg)
		}
		return out
	}
	switch l := levels[0]; l {
	case "#":
		// "a/#" matches "a" too [MQTT-4.7.1-2].
		if n.msg != nil && !root {
			out = append(out, n.msg)
		}
		for _, c := range n.children {
			if root && strings.HasPrefix(c.level, "$") {
				continue
			}
			out = appendAll(out, c)
		}
	case "+":
		for _, c := range n.children {
			if root && strings.HasPrefix(c.level, "$") {
				continue
			}
			out = matchLevels(out, c, levels[1:], false)
		}
	default:
		if c := n.child(l, false); c != nil {
			out = matchLevels(out, c, levels[1:], false)
		}
	}
	return out
}

// appendAll appends every message in n's subtree, n's own first.
func appendAll(out []*Message, n *rnode) []*Message {
	if n.msg != nil {
		out = append(out, n.msg)
	}
	for _, c := range n.children {
		out = appendAll(out, c)
	}
	return out
}

// all calls fn for every retained message in topic order (for tests and
// the store's consistency checks).
func (r *retainedIndex) all() []*Message {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return appendAll(nil, &r.root)
}
