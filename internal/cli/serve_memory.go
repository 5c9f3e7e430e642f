package cli

import (
	"context"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"
)

// Memory policy of the `mqtt serve` process (the broker library leaves
// process-wide runtime settings to the program that embeds it).
//
// memory_limit bounds message memory inside the broker; the process also
// holds connections, buffers and garbage, so the Go runtime's soft limit
// is set a quarter higher (plus 16 MiB): near it the garbage collector
// works harder instead of letting the heap grow.
//
// Memory the broker stops using (a burst drained, a flood dropped) goes
// back to the operating system within seconds: the Go runtime's own
// scavenger returns it over minutes, so a check every returnEvery
// returns free heap larger than returnIdle at once when no collection
// ran since the previous check. Not while collections run: a busy
// broker's free heap is what its next cycle allocates, and returning
// it every half second (as it did above 16 MiB free) made it fault the
// pages back in: in a 64 KiB fan-in, page faults and madvise took 15%
// and 4% of the broker's CPU with it, 8% and 2% without.
//
// Garbage is returned too once the broker is quiet. A burst of work (a
// storm of TLS handshakes above all: tens of KiB of garbage each) leaves
// the heap at up to twice what is live, and an idle broker allocates too
// little to run another collection for minutes, so that garbage stayed
// resident: an idle TLS connection cost ~15 KiB of RSS for ~7 KiB live.
// When a check finds that less than quietAlloc was allocated since the
// last one and no collection ran, and the heap holds more than
// max(garbageAbove, live/8) of objects the last collection did not find
// live, it collects and returns what is free. The live/8 keeps a large
// idle broker whose keep-alives trickle garbage from collecting its
// whole heap every few seconds: a collection then comes once that much
// garbage has built up, as with GOGC=12 but only while quiet (measured:
// a 10,000-connection broker's heap is ~6 MiB live, a collection of it
// ~3 ms of CPU). And when no collection ran since the last check, free
// heap above returnIdle goes back too (nothing is allocating: idle
// connections cost their live heap, not twice it).
//
// Checks come every half second, so that a storm of connections is
// followed within a second by the memory its connections keep: after
// 10,000 CONNECTs the heap held ~3 MiB of garbage (300 bytes a
// connection, half again what each keeps), which the 4 MiB threshold
// used before never collected.
//
// Garbage the heap figures cannot show is collected too: connections
// that close after the last collection leave their memory as garbage
// that neither figure counts (both change only at a collection), and an
// idle broker runs none for two minutes. A fresh tester closed 10,000
// websocket connections and the broker held 83 MiB of them for 100 s.
// So once the broker has been quiet for idleCollect since the last
// collection, and the heap is larger than idleAbove, it collects and
// returns what is free; when that frees less than an eighth of the heap,
// the next such collection waits twice as long (up to the runtime's own
// two minutes), so a large idle heap is not marked over and over. The
// first comes after half a second of quiet: a storm of connections
// under GOGC's pace (floorPercent) leaves up to a collection's worth of
// garbage that the threshold above may not see; collected within a
// second of the storm, 10,000 idle connections cost 741-754 bytes of
// RSS each (Mosquitto: 734), 795-858 before.
const (
	returnEvery  = 500 * time.Millisecond
	quietAlloc   = 256 << 10
	garbageAbove = 1 << 20
	returnIdle   = 1 << 20
	idleCollect  = 500 * time.Millisecond
	idleAbove    = 4 << 20
	idleMax      = 2 * time.Minute
)

// The collector's pace has a floor too. With GOGC=100 a broker whose
// live heap is a few MiB (thousands of connections, nothing queued)
// collects whenever that much more is allocated: at 1.5 million messages
// a second, every few milliseconds, a fifth of its CPU. So while the live
// heap is small the GC percent is raised until the heap may grow to
// minHeapGoal before a collection (at most maxGCPercent); from live
// heaps of minHeapGoal/2 on it is GOGC's 100 again, and while the live
// heap grows from one collection to the next. It is set after every
// collection from the live heap that collection found (gcFloor). What it lets accumulate under load is garbage the
// quiet-time collection above returns. A GOGC set in the environment is
// left alone.
const (
	minHeapGoal  = 32 << 20
	maxGCPercent = 800
)

// gcPercentFor is the GC percent that lets the heap grow to minHeapGoal
// over live bytes, in steps of 50, between 100 and maxGCPercent.
func gcPercentFor(live uint64) int {
	if live == 0 {
		return maxGCPercent
	}
	p := int(minHeapGoal*100/live) - 100
	return min(max(100, p/50*50), maxGCPercent)
}

// gcFloor sets the GC percent (gcPercentFor) after every collection: a
// finalizer on a sentinel object runs once the collection that freed it
// is over, and arms the next one.
type gcFloor struct {
	stopped  atomic.Bool
	pct      int    // the finalizer goroutine's
	live     uint64 // the live heap the last collection found
	accepted func() int64
	conns    int64 // accepted() at the last collection
	sample   []metrics.Sample
}

// connStorm is how many connections accepted between two collections
// put the floor aside (floorPercent).
const connStorm = 64

// floorPercent is the GC percent after a collection that found live
// bytes live, where the one before found prev, with conns connections
// accepted in between: gcPercentFor(live), but GOGC's 100 while the
// heap grows. Growing: connections arriving, a queue building up.
// Collected at GOGC's pace, new long-lived objects land among less
// garbage, and a fast-growing heap is not allowed several times its
// size. A storm of connections is told by the connections themselves,
// not only by the live heap: under the floor's 32 MiB a storm of 10,000
// ran to 24 MiB between two collections, and the connections' objects,
// spread among its garbage, kept 30-40 bytes each more of half-empty
// spans (RSS 772-796 bytes per idle connection, 744-745 at GOGC=100).
func floorPercent(live, prev uint64, conns int64) int {
	if live > prev+prev/16 || conns > connStorm {
		return 100
	}
	return gcPercentFor(live)
}

type gcSentinel struct {
	_ *int // not a tiny allocation: its finalizer runs
	_ [8]byte
}

func startGCFloor(accepted func() int64) (stop func()) {
	if _, set := os.LookupEnv("GOGC"); set {
		return func() {}
	}
	f := &gcFloor{pct: 100, accepted: accepted, sample: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}}
	f.arm()
	return func() {
		f.stopped.Store(true)
		debug.SetGCPercent(100)
	}
}

func (f *gcFloor) arm() {
	runtime.SetFinalizer(new(gcSentinel), func(*gcSentinel) {
		if f.stopped.Load() {
			return
		}
		metrics.Read(f.sample)
		if f.sample[0].Value.Kind() == metrics.KindUint64 {
			live := f.sample[0].Value.Uint64()
			conns := f.accepted()
			p := floorPercent(live, f.live, conns-f.conns)
			f.live, f.conns = live, conns
			if p != f.pct {
				debug.SetGCPercent(p)
				f.pct = p
			}
		}
		f.arm()
	})
}

// memoryPolicy applies memoryLimit (bytes, 0: none) and starts the
// memory return; accepted is how many connections the broker has
// accepted so far (the GC floor steps aside while they arrive). stop
// ends it.
func memoryPolicy(memoryLimit int64, accepted func() int64) (stop func()) {
	if memoryLimit > 0 {
		debug.SetMemoryLimit(memoryLimit + memoryLimit/4 + 16<<20)
	}
	stopFloor := startGCFloor(accepted)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		returnMemory(ctx)
	}()
	return func() {
		cancel()
		wg.Wait()
		stopFloor()
	}
}

func returnMemory(ctx context.Context) {
	t := time.NewTicker(returnEvery)
	defer t.Stop()
	sample := []metrics.Sample{
		{Name: "/memory/classes/heap/free:bytes"},
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/gc/heap/live:bytes"},
		{Name: "/gc/heap/allocs:bytes"},
		{Name: "/gc/cycles/total:gc-cycles"},
	}
	value := func(i int) uint64 {
		if sample[i].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return sample[i].Value.Uint64()
	}
	var allocs, cycles uint64
	quietSince := time.Now() // the last collection, or the last check that was not quiet
	wait := idleCollect      // quiet time before an idle collection
	for {
		var now time.Time
		select {
		case <-ctx.Done():
			return
		case now = <-t.C:
		}
		metrics.Read(sample)
		free, objects, live := value(0), value(1), value(2)
		idle := value(4) == cycles
		quiet := idle && value(3)-allocs < quietAlloc
		allocs, cycles = value(3), value(4)
		if !quiet {
			quietSince = now
		}
		collect := idle && free > returnIdle || quiet && objects > live+max(garbageAbove, live/8)
		idleRun := !collect && quiet && now.Sub(quietSince) >= wait && objects > idleAbove
		if collect || idleRun {
			debug.FreeOSMemory()
			metrics.Read(sample)
			allocs, cycles = value(3), value(4)
			quietSince = now
			if idleRun {
				if freed := objects - min(objects, value(1)); freed < objects/8 {
					wait = min(2*wait, idleMax)
				} else {
					wait = idleCollect
				}
			}
		}
	}
}
