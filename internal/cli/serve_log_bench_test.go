package cli

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"
)

// BenchmarkSinkDebugLine is the cost of one trace line of `serve -v` on its way
// to the log (buffered, one stamp per second): 132 ns, no allocation, here.
func BenchmarkSinkDebugLine(b *testing.B) {
	h := newMosqHandler(io.Discard, slog.LevelDebug)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			h.Handle(context.Background(), slog.NewRecord(time.Now(), slog.LevelDebug, "Received PUBLISH from mqttbench-1234-p0 (d0, q1, r0, m3, 'bench/0', ... (64 bytes))", 0))
		}
	})
}
