package broker

import (
	"math/rand/v2"
	"testing"
)

// TestDequeAgainstSlice drives the chunk ring (deque) and a plain slice
// with the same pushes, pops and removals, across chunk boundaries, and
// checks they hold the same deliveries in the same order [MQTT-4.6.0-6]
// (a session's messages leave in the order they were queued).
func TestDequeAgainstSlice(t *testing.T) {
	for _, c := range []struct {
		name     string
		ops      int
		pushBias int // percent of operations that push
	}{
		{"growing", 2000, 70},
		{"balanced", 5000, 50},
		{"draining", 3000, 35},
		{"one chunk", 300, 50},
	} {
		t.Run(c.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, uint64(c.ops)))
			var q deque
			var model []uint64
			seq := uint64(0)
			check := func(op string) {
				t.Helper()
				if q.len() != len(model) {
					t.Fatalf("after %s: len %d, want %d", op, q.len(), len(model))
				}
				i := 0
				q.each(func(d *delivery) {
					if i >= len(model) || d.seq != model[i] {
						t.Fatalf("after %s: item %d is %d, want %v", op, i, d.seq, model[i:min(i+1, len(model))])
					}
					i++
				})
				if i != len(model) {
					t.Fatalf("after %s: each visited %d, want %d", op, i, len(model))
				}
				if len(model) > 0 && q.front().seq != model[0] {
					t.Fatalf("after %s: front %d, want %d", op, q.front().seq, model[0])
				}
			}
			for range c.ops {
				switch r := rng.IntN(100); {
				case r < c.pushBias:
					for range 1 + rng.IntN(2*dequeChunkLen) {
						seq++
						q.push(delivery{seq: seq})
						model = append(model, seq)
					}
					check("push")
				case r < 95:
					for n := rng.IntN(2 * dequeChunkLen); n > 0 && len(model) > 0; n-- {
						if d := q.pop(); d.seq != model[0] {
							t.Fatalf("pop %d, want %d", d.seq, model[0])
						}
						model = model[1:]
					}
					check("pop")
				default:
					mod := uint64(2 + rng.IntN(5))
					q.removeIf(func(d *delivery) bool { return d.seq%mod == 0 })
					kept := model[:0]
					for _, s := range model {
						if s%mod != 0 {
							kept = append(kept, s)
						}
					}
					model = kept
					check("removeIf")
				}
			}
			q.reset()
			model = nil
			check("reset")
			if q.tail != nil {
				t.Fatal("an empty deque holds a chunk")
			}
		})
	}
}
