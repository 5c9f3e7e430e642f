package cli

import "testing"

// The GC percent lets a small heap grow to minHeapGoal before a
// collection, and is GOGC's 100 from half of it on.
func TestGCPercentFor(t *testing.T) {
	for _, c := range []struct {
		live uint64
		want int
	}{
		{0, maxGCPercent},
		{1 << 20, maxGCPercent},  // 32 MiB goal over 1 MiB: 3100%, capped
		{4 << 20, 700},           // 32/4 - 1 = 700%
		{6 << 20, 400},           // 433% in steps of 50
		{16 << 20, 100},          // half the goal: GOGC's own
		{100 << 20, 100},         // large heaps: untouched
		{minHeapGoal / 3, 200},   // 200%
		{minHeapGoal/3 + 1, 150}, // just over: the step below
	} {
		if got := gcPercentFor(c.live); got != c.want {
			t.Errorf("gcPercentFor(%d) = %d, want %d", c.live, got, c.want)
		}
	}
}

// TestFloorPercent: the floor steps aside (GOGC's 100) while the live
// heap grows or connections arrive in numbers between two collections.
func TestFloorPercent(t *testing.T) {
	for _, c := range []struct {
		live, prev uint64
		conns      int64
		want       int
	}{
		{4 << 20, 4 << 20, 0, 700},             // steady: the floor
		{4 << 20, 4 << 20, connStorm, 700},     // a few connections: still
		{4 << 20, 4 << 20, connStorm + 1, 100}, // a storm of them: GOGC's pace
		{5 << 20, 4 << 20, 0, 100},             // growing by more than 1/16
		{4<<20 + 1<<10, 4 << 20, 0, 650},       // not by that much: the floor (for 4 MiB and a KiB)
		{1 << 20, 0, 0, 100},                   // the first collection
	} {
		if got := floorPercent(c.live, c.prev, c.conns); got != c.want {
			t.Errorf("floorPercent(%d, %d, %d) = %d, want %d", c.live, c.prev, c.conns, got, c.want)
		}
	}
}
