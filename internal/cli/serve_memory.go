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
// Memory the broker stops using (a burst drained, a flood dropped) goes
// back to the operating system within seconds: the Go runtime's own
// scavenger returns it over minutes, so every returnEvery a check
// returns free heap larger than returnAbove at once.
const (
	returnEvery = 2 * time.Second
	returnAbove = 16 << 20
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
	sample := []metrics.Sample{{Name: "/memory/classes/heap/free:bytes"}}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		metrics.Read(sample)
		if sample[0].Value.Kind() == metrics.KindUint64 && sample[0].Value.Uint64() > returnAbove {
			debug.FreeOSMemory()
		}
	}
}
