package broker

import (
	"context"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"github.com/mqttkit/mqtt/internal/listener"
)

// TestPerfServe serves on $MQTT_PERF_ADDR for $MQTT_PERF_FOR (default 30s)
// so `go test -run TestPerfServe -cpuprofile/-memprofile` profiles the
// broker alone while `mqtt bench` drives it from another process. It is
// skipped unless MQTT_PERF_ADDR is set; MQTT_PERF_BLOCKING=1 serves with
// a reader goroutine per connection instead of the event loop.
// MQTT_PERF_CERT and MQTT_PERF_KEY (PEM files) make the listener TLS, opened
// by internal/listener as `mqtt serve` opens it (drive it with `mqtt bench
// --cafile`).
func TestPerfServe(t *testing.T) {
	addr := os.Getenv("MQTT_PERF_ADDR")
	if addr == "" {
		t.Skip("set MQTT_PERF_ADDR=127.0.0.1:PORT to serve for profiling")
	}
	d, err := time.ParseDuration(os.Getenv("MQTT_PERF_FOR"))
	if err != nil {
		d = 30 * time.Second
	}
	o := DefaultOptions()
	o.Listeners = []string{addr}
	o.BlockingIO = os.Getenv("MQTT_PERF_BLOCKING") != ""
	var ln net.Listener
	if cert := os.Getenv("MQTT_PERF_CERT"); cert != "" {
		o.Listeners = nil
		ln, err = listener.Open(context.Background(), listener.Spec{Network: "tcp", Address: addr,
			TLS: &listener.TLSSpec{CertFile: cert, KeyFile: os.Getenv("MQTT_PERF_KEY")}})
		if err != nil {
			t.Fatal(err)
		}
	}
	b, err := New(o, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if at, err := time.ParseDuration(os.Getenv("MQTT_PERF_HEAP_AT")); err == nil {
		if os.Getenv("MQTT_PERF_MEMRATE1") != "" {
			runtime.MemProfileRate = 1 // every allocation, for exact per-connection accounting
		}
		// Snapshot the heap (e.g. while mqtt bench conn holds idle
		// connections) into $MQTT_PERF_HEAP and log the runtime's counts.
		time.AfterFunc(at, func() {
			debug.FreeOSMemory()
			debug.FreeOSMemory() // the second empties the sync.Pools' victim caches: what is left is what the connections hold
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if st, err := os.ReadFile("/proc/self/status"); err == nil {
				for _, l := range strings.Split(string(st), "\n") {
					if strings.HasPrefix(l, "VmRSS") || strings.HasPrefix(l, "RssAnon") || strings.HasPrefix(l, "RssFile") {
						t.Log(l)
					}
				}
			}
			t.Logf("heap alloc %d KiB in %d objects", ms.HeapAlloc>>10, ms.HeapObjects)
			t.Logf("goroutines %d, live heap %d KiB, heap in use %d KiB, idle %d KiB (released %d), stacks %d KiB, gc %d KiB, other %d KiB, sys %d KiB",
				runtime.NumGoroutine(), ms.HeapAlloc>>10, ms.HeapInuse>>10, ms.HeapIdle>>10, ms.HeapReleased>>10, ms.StackInuse>>10,
				ms.GCSys>>10, (ms.OtherSys+ms.MSpanSys+ms.MCacheSys+ms.BuckHashSys)>>10, ms.Sys>>10)
			t.Logf("other: OtherSys %d KiB, MSpanSys %d KiB, MCacheSys %d KiB, BuckHashSys %d KiB",
				ms.OtherSys>>10, ms.MSpanSys>>10, ms.MCacheSys>>10, ms.BuckHashSys>>10)
			if f, err := os.Create(os.Getenv("MQTT_PERF_HEAP")); err == nil {
				pprof.WriteHeapProfile(f)
				f.Close()
			}
		})
	}
	if ln != nil {
		err = b.ServeListener(ctx, ln)
		b.Close()
	} else {
		err = b.Serve(ctx)
	}
	if err != nil {
		t.Fatal(err)
	}
	st := b.Stats()
	t.Logf("perfserve: dropped %v", st.Dropped)
}
