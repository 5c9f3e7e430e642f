package broker

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestSessionTableAgainstMap drives sessionTable and a map with the same
// random puts, replacements and deletes (ids from a small set, so runs
// collide and wrap around the table's end) and compares them after every
// step, through growth and shrinking.
func TestSessionTableAgainstMap(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, ids := range []int{3, 40, 2000} {
		tb := newSessionTable()
		ref := map[string]*Session{}
		for step := 0; step < 20000; step++ {
			id := fmt.Sprint("c", r.IntN(ids))
			switch r.IntN(3) {
			case 0, 1:
				if step > 10000 && r.IntN(2) == 0 { // drain for a while: the table shrinks
					tb.del(id)
					delete(ref, id)
					break
				}
				s := &Session{id: id}
				tb.put(s)
				ref[id] = s
			case 2:
				tb.del(id)
				delete(ref, id)
			}
			if tb.len() != len(ref) {
				t.Fatalf("ids %d step %d: len %d, want %d", ids, step, tb.len(), len(ref))
			}
			if got := tb.get(id); got != ref[id] {
				t.Fatalf("ids %d step %d: get(%s) = %p, want %p", ids, step, id, got, ref[id])
			}
		}
		n := 0
		for s := range tb.all() {
			if ref[s.id] != s {
				t.Fatalf("ids %d: all yields %s, not in the reference", ids, s.id)
			}
			n++
		}
		for id, s := range ref {
			if tb.get(id) != s {
				t.Fatalf("ids %d: get(%s) lost", ids, id)
			}
		}
		if n != len(ref) {
			t.Fatalf("ids %d: all yields %d, want %d", ids, n, len(ref))
		}
		if len(tb.slots) > sessionTableMin && tb.n*16 < len(tb.slots)*3 {
			t.Fatalf("ids %d: %d sessions in %d slots: not shrunk", ids, tb.n, len(tb.slots))
		}
	}
}

func BenchmarkSessionTableGet(b *testing.B) {
	tb := newSessionTable()
	ids := make([]string, 10000)
	for i := range ids {
		ids[i] = fmt.Sprint("client-", i)
		tb.put(&Session{id: ids[i]})
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if tb.get(ids[i%len(ids)]) == nil {
			b.Fatal("lost")
		}
	}
}
