package cli

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"sync"
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
// Memory the broker stops using (a burst drained, a flood dropped, a
// connect storm's garbage) goes back to the operating system within
// seconds: the Go runtime's own scavenger returns it over minutes and
// keeps what the next collection may need (up to twice the live heap),
// which an idle broker with many connections never needs. Every
// returnEvery a check returns free heap at once when it exceeds
// returnAbove, or returnIdle when no collection ran since the last
// check (nothing is allocating: the forced collection costs nothing
// that matters, and idle connections cost their live heap, not twice
// it).
const (
	returnEvery = 2 * time.Second
	returnAbove = 16 << 20
	returnIdle  = 1 << 20
)

// memoryPolicy applies memoryLimit (bytes, 0: none) and starts the
// memory return; stop ends it.
func memoryPolicy(memoryLimit int64) (stop func()) {
	if memoryLimit > 0 {
		debug.SetMemoryLimit(memoryLimit + memoryLimit/4 + 16<<20)
	}
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
	}
}

func returnMemory(ctx context.Context) {
	t := time.NewTicker(returnEvery)
	defer t.Stop()
	sample := []metrics.Sample{
		{Name: "/memory/classes/heap/free:bytes"},
		{Name: "/gc/cycles/total:gc-cycles"},
	}
	var cycles uint64
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		metrics.Read(sample)
		if sample[0].Value.Kind() != metrics.KindUint64 || sample[1].Value.Kind() != metrics.KindUint64 {
			return // not this runtime's metrics: leave it to the scavenger
		}
		free, n := sample[0].Value.Uint64(), sample[1].Value.Uint64()
		idle := n == cycles
		cycles = n
		if free > returnAbove || (idle && free > returnIdle) {
			debug.FreeOSMemory()
			metrics.Read(sample[1:])
			cycles = sample[1].Value.Uint64()
		}
	}
}
