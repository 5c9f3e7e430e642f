package topic

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"
)

type key struct {
	s             int
	filter, group string
}

// sortSubs orders subscriptions so that two match results can be compared.
func sortSubs(s []Subscription[int]) {
	slices.SortFunc(s, func(a, b Subscription[int]) int {
		return cmp.Or(cmp.Compare(a.Subscriber, b.Subscriber), strings.Compare(a.Filter, b.Filter), strings.Compare(a.Group, b.Group))
	})
}

// referenceMatch is what MatchAppend must return, computed with Match.
func referenceMatch(model map[key]Options, name string) []Subscription[int] {
	var want []Subscription[int]
	for k, o := range model {
		if Match(k.filter, name) {
			want = append(want, Subscription[int]{Subscriber: k.s, Filter: k.filter, Group: k.group, Options: o})
		}
	}
	sortSubs(want)
	return want
}

func randomTopic(r *rand.Rand, filter bool) string {
	levels := []string{"a", "b", "", "$s", "c/d"}
	if filter {
		levels = append(levels, "+", "+", "#")
	}
	n := 1 + r.IntN(4)
	var sb strings.Builder
	for i := range n {
		if i > 0 {
			sb.WriteByte('/')
		}
		l := levels[r.IntN(len(levels))]
		if l == "#" {
			sb.WriteString(l)
			break
		}
		sb.WriteString(l)
	}
	if sb.Len() == 0 {
		return "/" // a single empty level is not a valid topic [MQTT-4.7.3-1]
	}
	return sb.String()
}

// TestIndexRandomAgainstReference subscribes and unsubscribes at random
// and checks every match against the reference Match [MQTT-4.7.1-2],
// [MQTT-4.7.1-3], [MQTT-4.7.2-1].
func TestIndexRandomAgainstReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	x := NewIndex[int]()
	model := map[key]Options{}
	groups := []string{"", "", "g1", "g2"}
	var dst []Subscription[int]
	const ops = 20000
	for op := range ops {
		f := randomTopic(r, true)
		if err := ValidateFilter(f); err != nil {
			t.Fatalf("generator made invalid filter %q: %v", f, err)
		}
		k := key{s: r.IntN(8), filter: f, group: groups[r.IntN(len(groups))]}
		if r.IntN(3) > 0 {
			o := Options{QoS: byte(r.IntN(3)), Identifier: uint32(op)}
			_, had := model[k]
			if existed := x.Subscribe(Subscription[int]{Subscriber: k.s, Filter: k.filter, Group: k.group, Options: o}); existed != had {
				t.Fatalf("op %d: Subscribe(%v) existed = %v, want %v", op, k, existed, had)
			}
			model[k] = o
		} else {
			_, had := model[k]
			if existed := x.Unsubscribe(k.s, k.filter, k.group); existed != had {
				t.Fatalf("op %d: Unsubscribe(%v) existed = %v, want %v", op, k, existed, had)
			}
			delete(model, k)
		}
		if op%10 != 0 {
			continue
		}
		shared := 0
		for k := range model {
			if k.group != "" {
				shared++
			}
		}
		if x.Count() != len(model) || x.SharedCount() != shared {
			t.Fatalf("op %d: Count = %d, SharedCount = %d; want %d, %d", op, x.Count(), x.SharedCount(), len(model), shared)
		}
		name := randomTopic(r, false)
		dst = x.MatchAppend(dst[:0], name)
		sortSubs(dst)
		if want := referenceMatch(model, name); !slices.Equal(dst, want) {
			t.Fatalf("op %d: MatchAppend(%q)\n got %v\nwant %v", op, name, dst, want)
		}
	}
	// Remove everything: the trie must be pruned back to an empty root.
	for k := range model {
		if !x.Unsubscribe(k.s, k.filter, k.group) {
			t.Fatalf("Unsubscribe(%v) = false", k)
		}
	}
	if x.Count() != 0 || x.SharedCount() != 0 || !x.root.empty() || x.root.children != nil {
		t.Fatalf("after removing all: Count %d, root %+v", x.Count(), x.root)
	}
}

func TestIndexReplaceAndPrune(t *testing.T) {
	x := NewIndex[string]()
	if x.Subscribe(Subscription[string]{Subscriber: "c1", Filter: "a/b/c", Options: Options{QoS: 0}}) {
		t.Fatal("first Subscribe reported existed")
	}
	// [MQTT-3.8.4-3] an identical filter replaces the subscription.
	if !x.Subscribe(Subscription[string]{Subscriber: "c1", Filter: "a/b/c", Options: Options{QoS: 2, Identifier: 7}}) {
		t.Fatal("second Subscribe did not report existed")
	}
	// Same filter in a share group is a different subscription.
	x.Subscribe(Subscription[string]{Subscriber: "c1", Filter: "a/b/c", Group: "g"})
	if x.Count() != 2 || x.SharedCount() != 1 {
		t.Fatalf("Count %d SharedCount %d, want 2 1", x.Count(), x.SharedCount())
	}
	got := x.MatchAppend(nil, "a/b/c")
	if len(got) != 2 {
		t.Fatalf("got %v", got)
	}
	for _, s := range got {
		if s.Group == "" && (s.Options.QoS != 2 || s.Options.Identifier != 7) {
			t.Fatalf("replaced options not returned: %+v", s)
		}
	}
	if x.Unsubscribe("c2", "a/b/c", "") || x.Unsubscribe("c1", "a/b", "") || x.Unsubscribe("c1", "a/b/c/d", "") {
		t.Fatal("Unsubscribe of a missing subscription reported existed")
	}
	x.Subscribe(Subscription[string]{Subscriber: "c1", Filter: "a/+/#"})
	for _, u := range []struct{ f, g string }{{"a/b/c", ""}, {"a/b/c", "g"}, {"a/+/#", ""}} {
		if !x.Unsubscribe("c1", u.f, u.g) {
			t.Fatalf("Unsubscribe(%q, %q) = false", u.f, u.g)
		}
	}
	if !x.root.empty() {
		t.Fatalf("trie not pruned: %+v", x.root)
	}
}

// TestIndexManySubscribersOnOneFilter exercises the per-node position map.
func TestIndexManySubscribersOnOneFilter(t *testing.T) {
	x := NewIndex[int]()
	const n = 1000
	for i := range n {
		x.Subscribe(Subscription[int]{Subscriber: i, Filter: "broadcast/#"})
	}
	for i := 0; i < n; i += 2 {
		if !x.Subscribe(Subscription[int]{Subscriber: i, Filter: "broadcast/#", Options: Options{QoS: 1}}) {
			t.Fatalf("replace %d: existed = false", i)
		}
	}
	for i := 1; i < n; i += 2 {
		if !x.Unsubscribe(i, "broadcast/#", "") {
			t.Fatalf("Unsubscribe %d = false", i)
		}
	}
	got := x.MatchAppend(nil, "broadcast/x")
	if len(got) != n/2 {
		t.Fatalf("got %d matches, want %d", len(got), n/2)
	}
	for _, s := range got {
		if s.Subscriber%2 != 0 || s.Options.QoS != 1 {
			t.Fatalf("unexpected %+v", s)
		}
	}
	for i := 0; i < n; i += 2 {
		if !x.Unsubscribe(i, "broadcast/#", "") {
			t.Fatalf("Unsubscribe %d = false", i)
		}
	}
	if x.Count() != 0 || !x.root.empty() {
		t.Fatal("not empty")
	}
}

func TestPartitionShareGroups(t *testing.T) {
	subs := []Subscription[int]{
		{Subscriber: 1, Filter: "a/+", Group: "g2"},
		{Subscriber: 2, Filter: "a/b"},
		{Subscriber: 3, Filter: "a/+", Group: "g1"},
		{Subscriber: 4, Filter: "a/#", Group: "g1"},
		{Subscriber: 5, Filter: "a/+", Group: "g1"},
		{Subscriber: 6, Filter: "#"},
	}
	direct, shared := Partition(subs)
	if len(direct) != 2 || len(shared) != 4 {
		t.Fatalf("direct %v shared %v", direct, shared)
	}
	var runs []string
	for g, rest := NextShareGroup(shared); len(g) > 0; g, rest = NextShareGroup(rest) {
		var ids []int
		for _, s := range g {
			ids = append(ids, s.Subscriber)
		}
		slices.Sort(ids)
		runs = append(runs, fmt.Sprint(g[0].Group, " ", g[0].Filter, " ", ids))
	}
	want := []string{"g1 a/# [4]", "g1 a/+ [3 5]", "g2 a/+ [1]"}
	if !slices.Equal(runs, want) {
		t.Fatalf("runs %q, want %q", runs, want)
	}
}

// TestIndexConcurrent runs matchers against subscribe/unsubscribe churn;
// run with -race. Subscriber 0's "fixed/#" is never removed, so every
// match must contain it.
func TestIndexConcurrent(t *testing.T) {
	x := NewIndex[int]()
	x.Subscribe(Subscription[int]{Subscriber: 0, Filter: "fixed/#"})
	deadline := time.Now().Add(300 * time.Millisecond)
	const iters = 5000
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 9))
			for i := 0; i < iters && time.Now().Before(deadline); i++ {
				f := fmt.Sprintf("fixed/%d/+", r.IntN(50))
				x.Subscribe(Subscription[int]{Subscriber: 1 + w, Filter: f})
				x.Unsubscribe(1+w, fmt.Sprintf("fixed/%d/+", r.IntN(50)), "")
			}
		}()
	}
	for m := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var dst []Subscription[int]
			for i := 0; i < iters && time.Now().Before(deadline); i++ {
				dst = x.MatchAppend(dst[:0], fmt.Sprintf("fixed/%d/%d", (i+m)%50, i))
				found := false
				for _, s := range dst {
					found = found || s.Subscriber == 0
				}
				if !found {
					errs <- fmt.Errorf("matcher %d: fixed/# missing from %v", m, dst)
					return
				}
				_ = x.Count()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestMatchAppendNoAlloc(t *testing.T) {
	x := NewIndex[int]()
	for i := range 100 {
		x.Subscribe(Subscription[int]{Subscriber: i, Filter: fmt.Sprintf("site/%d/+/temp", i%10)})
		x.Subscribe(Subscription[int]{Subscriber: i, Filter: "site/#"})
	}
	dst := make([]Subscription[int], 0, 256)
	allocs := testing.AllocsPerRun(100, func() {
		dst = x.MatchAppend(dst[:0], "site/3/dev/temp")
	})
	if allocs != 0 {
		t.Fatalf("MatchAppend allocates %v times per call, want 0", allocs)
	}
	if len(dst) != 110 {
		t.Fatalf("got %d matches, want 110", len(dst))
	}
}

// TestVersionChangesWithTheIndex: Version changes with every Subscribe
// and Unsubscribe, and not with MatchAppend, so a kept match stays
// valid exactly while it is unchanged.
func TestVersionChangesWithTheIndex(t *testing.T) {
	x := NewIndex[string]()
	seen := map[uint64]bool{x.Version(): true}
	step := func(what string, f func()) {
		t.Helper()
		f()
		v := x.Version()
		if seen[v] {
			t.Fatalf("%s: Version %d seen before", what, v)
		}
		seen[v] = true
	}
	step("subscribe", func() { x.Subscribe(Subscription[string]{Subscriber: "a", Filter: "a/+"}) })
	step("subscribe again, new options", func() {
		x.Subscribe(Subscription[string]{Subscriber: "a", Filter: "a/+", Options: Options{QoS: 1}})
	})
	step("shared subscribe", func() { x.Subscribe(Subscription[string]{Subscriber: "b", Filter: "a/#", Group: "g"}) })
	step("unsubscribe", func() { x.Unsubscribe("a", "a/+", "") })
	v := x.Version()
	x.MatchAppend(nil, "a/b")
	if x.Version() != v {
		t.Fatal("MatchAppend changed Version")
	}
}

// TestNodeShapes pins the sizes the node comment states: with a pointer
// subscriber a node is 48 bytes, with or without its one inline
// subscription (a size class of its own; 64 would be the next).
func TestNodeShapes(t *testing.T) {
	for _, tt := range []struct {
		what      string
		got, want uintptr
	}{
		{"node[*int]", unsafe.Sizeof(node[*int]{}), 48},
		{"extra[*int]", unsafe.Sizeof(extra[*int]{}), 48},
	} {
		if tt.got != tt.want {
			t.Errorf("unsafe.Sizeof(%s) = %d, want %d", tt.what, tt.got, tt.want)
		}
	}
}

// TestIndexNodeStates walks one node through its states (empty, one
// subscription inline, several in extra, back to one) and checks what it
// holds and what MatchAppend returns at each step [MQTT-3.8.4-3].
func TestIndexNodeStates(t *testing.T) {
	type op struct {
		unsub bool
		s     int
		group string
		qos   byte
	}
	type state int
	const (
		empty state = iota
		inline
		many
	)
	x := NewIndex[int]()
	for i, tt := range []struct {
		op      op
		existed bool
		want    state
		subs    string // MatchAppend("a/b"), sorted: subscriber/group/qos
	}{
		{op{s: 1, qos: 1}, false, inline, "1//1"},
		{op{s: 1, qos: 2}, true, inline, "1//2"}, // replaced in place
		{op{s: 2}, false, many, "1//2 2//0"},
		{op{s: 2, qos: 1}, true, many, "1//2 2//1"},
		{op{unsub: true, s: 1}, true, inline, "2//1"}, // back to one: inline again
		{op{unsub: true, s: 1}, false, inline, "2//1"},
		{op{unsub: true, s: 2, group: "g"}, false, inline, "2//1"},
		{op{s: 2, group: "g"}, false, many, "2//1 2/g/0"}, // same subscriber, a share group: another subscription
		{op{unsub: true, s: 2}, true, many, "2/g/0"},      // a shared one stays in extra
		{op{s: 3}, false, many, "2/g/0 3//0"},
		{op{unsub: true, s: 2, group: "g"}, true, inline, "3//0"},
		{op{unsub: true, s: 3}, true, empty, ""},
		{op{s: 4, group: "g"}, false, many, "4/g/0"}, // a shared one first
		{op{unsub: true, s: 4, group: "g"}, true, empty, ""},
	} {
		var existed bool
		if tt.op.unsub {
			existed = x.Unsubscribe(tt.op.s, "a/b", tt.op.group)
		} else {
			existed = x.Subscribe(Subscription[int]{Subscriber: tt.op.s, Filter: "a/b", Group: tt.op.group, Options: Options{QoS: tt.op.qos}})
		}
		if existed != tt.existed {
			t.Fatalf("step %d %+v: existed = %v, want %v", i, tt.op, existed, tt.existed)
		}
		var got state
		if n := x.root.children["a"]; n != nil {
			n = n.children["b"]
			switch {
			case n == nil:
			case n.inline():
				got = inline
			case n.many():
				got = many
			}
		}
		if got != tt.want {
			t.Fatalf("step %d %+v: node state %d, want %d", i, tt.op, got, tt.want)
		}
		m := x.MatchAppend(nil, "a/b")
		sortSubs(m)
		var sb []string
		for _, s := range m {
			if s.Filter != "a/b" {
				t.Fatalf("step %d: Filter %q, want a/b", i, s.Filter)
			}
			sb = append(sb, fmt.Sprintf("%d/%s/%d", s.Subscriber, s.Group, s.Options.QoS))
		}
		if s := strings.Join(sb, " "); s != tt.subs {
			t.Fatalf("step %d %+v: MatchAppend = %q, want %q", i, tt.op, s, tt.subs)
		}
	}
	if !x.root.empty() {
		t.Fatalf("trie not pruned: %+v", x.root)
	}
}
