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
