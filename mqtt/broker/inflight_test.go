package broker

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// checkInflight compares w with the map it models: the same ids with the
// same messages, and the same count.
func checkInflight(t *testing.T, w *inflight, want map[uint16]uint64) {
	t.Helper()
	if w.len() != len(want) {
		t.Fatalf("len %d, want %d", w.len(), len(want))
	}
	for id, seq := range want {
		d := w.get(id)
		if d == nil || d.id != id || d.seq != seq {
			t.Fatalf("get(%d) = %+v, want seq %d", id, d, seq)
		}
	}
	all := w.appendAll(nil)
	if len(all) != len(want) {
		t.Fatalf("appendAll: %d messages, want %d", len(all), len(want))
	}
	for _, d := range all {
		if seq, ok := want[d.id]; !ok || seq != d.seq {
			t.Fatalf("appendAll has id %d seq %d, want %v %d", d.id, d.seq, ok, seq)
		}
	}
}

// TestInflight runs sequences of adds and deletes, as nextIDLocked and
// the acknowledgements make them, against a map.
func TestInflight(t *testing.T) {
	type op struct {
		add bool
		id  uint16
	}
	adds := func(ids ...uint16) []op {
		var ops []op
		for _, id := range ids {
			ops = append(ops, op{true, id})
		}
		return ops
	}
	dels := func(ids ...uint16) []op {
		var ops []op
		for _, id := range ids {
			ops = append(ops, op{false, id})
		}
		return ops
	}
	seq := func(from, n int) []uint16 { // n ids from from, wrapping 65535 -> 1
		var ids []uint16
		id := from
		for range n {
			ids = append(ids, uint16(id))
			if id++; id > 65535 {
				id = 1
			}
		}
		return ids
	}
	tests := []struct {
		name string
		ops  []op
	}{
		{"empty", nil},
		{"one", adds(1)},
		{"add and acknowledge", append(adds(1, 2, 3), dels(2, 1, 3)...)},
		{"unknown id deleted", append(adds(7), dels(8, 0, 7, 7)...)},
		{"grows past the first table", adds(seq(1, 100)...)},
		{"out of order acknowledgements", append(adds(seq(1, 40)...), dels(40, 1, 20, 3, 39, 2)...)},
		{"wraparound", append(adds(seq(65520, 30)...), dels(seq(65520, 20)...)...)},
		{"wraparound with the window full", append(append(adds(seq(65500, 20)...), dels(seq(65500, 10)...)...), adds(seq(65520, 30)...)...)},
		{"colliding ids (restored)", adds(1, 17, 33, 49, 65, 5, 21)},
		{"colliding ids deleted", append(adds(1, 17, 33, 49), dels(17, 1, 49)...)},
		{"replaced", adds(3, 3, 19, 19, 3)},
		{"replaced in more", append(adds(3, 19), adds(3)...)},
		{"max id", append(adds(65535, 1, 65534), dels(65535)...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var w *inflight
			if w.len() != 0 || w.get(1) != nil || w.has(1) || len(w.appendAll(nil)) != 0 {
				t.Fatal("nil window is not empty")
			}
			w.del(1) // no-op on nil
			w = new(inflight)
			want := map[uint16]uint64{}
			for i, o := range tt.ops {
				if o.add {
					w.add(delivery{id: o.id, seq: uint64(i + 1)})
					want[o.id] = uint64(i + 1)
				} else {
					w.del(o.id)
					delete(want, o.id)
				}
				checkInflight(t, w, want)
			}
		})
	}
}

// TestInflightLeftBehind: one message is never acknowledged while the
// ids go round many times; it stays findable, the others keep flowing,
// and the table stays small.
func TestInflightLeftBehind(t *testing.T) {
	w := new(inflight)
	want := map[uint16]uint64{}
	s := &Session{inflight: w}
	stuck := s.nextIDLocked()
	w.add(delivery{id: stuck, seq: 1})
	want[stuck] = 1
	var window []uint16
	for i := range 3 * 65536 {
		id := s.nextIDLocked()
		if id == stuck {
			t.Fatalf("id %d in flight handed out again", id)
		}
		w.add(delivery{id: id, seq: uint64(i + 2)})
		want[id] = uint64(i + 2)
		window = append(window, id)
		if len(window) == 20 { // acknowledged in order, a window at a time
			for _, id := range window {
				w.del(id)
				delete(want, id)
			}
			window = window[:0]
		}
		if i%4099 == 0 {
			checkInflight(t, w, want)
		}
	}
	checkInflight(t, w, want)
	if len(w.slots) > 64 {
		t.Errorf("table grew to %d slots for at most 21 messages", len(w.slots))
	}
}

// TestInflightFull: all 65535 packet ids in flight (a Receive Maximum
// of 65535 and a client that acknowledges nothing) fit a table of 65536
// slots, one per id, with nothing in more.
func TestInflightFull(t *testing.T) {
	w := new(inflight)
	want := map[uint16]uint64{}
	for id := 1; id <= 65535; id++ {
		w.add(delivery{id: uint16(id), seq: uint64(id)})
		want[uint16(id)] = uint64(id)
	}
	checkInflight(t, w, want)
	if len(w.slots) != inflightMaxSlots || w.more != nil {
		t.Fatalf("%d slots, %d in more; want %d and none", len(w.slots), len(w.more), inflightMaxSlots)
	}
	for id := 1; id <= 65535; id += 2 {
		w.del(uint16(id))
		delete(want, uint16(id))
	}
	checkInflight(t, w, want)
}

// TestInflightRandom compares sequential adds and random deletes
// (acknowledgements in any order, some ids held long) with a map, across
// the wraparound.
func TestInflightRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	w := new(inflight)
	want := map[uint16]uint64{}
	var live []uint16
	next := 65000
	for i := range 100000 {
		switch {
		case r.IntN(3) > 0 && len(live) < 300:
			id := uint16(next)
			if next++; next > 65535 {
				next = 1
			}
			if _, used := want[id]; used {
				continue
			}
			w.add(delivery{id: id, seq: uint64(i + 1)})
			want[id] = uint64(i + 1)
			live = append(live, id)
		case len(live) > 0:
			k := r.IntN(len(live)) // some stay long: the ids go round them
			id := live[k]
			live[k] = live[len(live)-1]
			live = live[:len(live)-1]
			w.del(id)
			delete(want, id)
		}
		if i%997 == 0 {
			checkInflight(t, w, want)
		}
	}
	checkInflight(t, w, want)
}

// TestNextIDWraparound: packet ids go from 65535 to 1 (never 0) and skip
// the ids still in flight [MQTT-2.2.1-3].
func TestNextIDWraparound(t *testing.T) {
	tests := []struct {
		name   string
		next   uint16   // Session.nextID before
		in     []uint16 // in flight
		expect []uint16 // ids handed out, in order
	}{
		{"from zero", 0, nil, []uint16{1, 2, 3}},
		{"wraps to 1", 65534, nil, []uint16{65535, 1, 2}},
		{"skips in flight", 0, []uint16{2, 3}, []uint16{1, 4, 5}},
		{"skips in flight across the wrap", 65533, []uint16{65535, 1, 17}, []uint16{65534, 2, 3}},
		{"skips colliding ids", 0, []uint16{1, 17, 33}, []uint16{2, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &Session{nextID: tt.next}
			for _, id := range tt.in {
				s.addInflightLocked(delivery{id: id})
			}
			var got []uint16
			for range tt.expect {
				id := s.nextIDLocked()
				s.addInflightLocked(delivery{id: id})
				got = append(got, id)
			}
			if !slices.Equal(got, tt.expect) {
				t.Fatalf("ids %v, want %v", got, tt.expect)
			}
			if s.inflight.len() != len(tt.in)+len(tt.expect) {
				t.Fatalf("%d in flight, want %d", s.inflight.len(), len(tt.in)+len(tt.expect))
			}
		})
	}
}

// TestInflightResend: after a reconnect the window goes again oldest
// first, never more unacknowledged than the new window [MQTT-3.3.4-7];
// a message acknowledged before it was sent again is skipped and frees
// no room it did not take.
func TestInflightResend(t *testing.T) {
	w := new(inflight)
	// ids handed out 1..10, but restored out of order (ids wrapped: seq
	// decides), and a QoS 2 message past PUBREC goes again as PUBREL.
	for i, id := range []uint16{7, 3, 9, 1, 2, 10, 4, 8, 5, 6} {
		w.add(delivery{id: id, seq: uint64(100 + id), qos: 1, rel: i == 4})
	}
	w.startResend()
	take := func(window int) []uint16 {
		var ids []uint16
		for _, d := range w.takeResend(nil, window, 512) {
			if d.dup == d.rel {
				t.Fatalf("id %d: dup %v rel %v", d.id, d.dup, d.rel)
			}
			ids = append(ids, d.id)
		}
		return ids
	}
	if got := take(3); !slices.Equal(got, []uint16{1, 2, 3}) {
		t.Fatalf("first round %v", got)
	}
	if got := take(3); got != nil {
		t.Fatalf("window full, got %v", got)
	}
	w.del(9) // acknowledged before it was sent again: no room freed
	if got := take(3); got != nil {
		t.Fatalf("after an early acknowledgement, got %v", got)
	}
	w.del(2)
	if got := take(3); !slices.Equal(got, []uint16{4}) {
		t.Fatalf("one acknowledged, got %v", got)
	}
	w.del(1)
	w.del(3)
	w.del(4)
	if got := take(3); !slices.Equal(got, []uint16{5, 6, 7}) {
		t.Fatalf("three acknowledged, got %v", got)
	}
	if got := take(2); got != nil {
		t.Fatalf("a smaller window, got %v", got)
	}
	w.del(5)
	w.del(6)
	w.del(7)
	if got := take(3); !slices.Equal(got, []uint16{8, 10}) || w.resending() {
		t.Fatalf("the rest, got %v (still resending: %v)", got, w.resending())
	}
	if w.len() != 2 {
		t.Fatalf("%d in flight, want 2", w.len())
	}
	// The cap on one batch leaves the rest for the next.
	w = new(inflight)
	for id := uint16(1); id <= 10; id++ {
		w.add(delivery{id: id, seq: uint64(id), qos: 1})
	}
	w.startResend()
	if got := len(w.takeResend(nil, 100, 4)); got != 4 || !w.resending() {
		t.Fatalf("capped batch: %d", got)
	}
	if got := len(w.takeResend(nil, 100, 512)); got != 6 || w.resending() {
		t.Fatalf("second batch: %d", got)
	}
}
