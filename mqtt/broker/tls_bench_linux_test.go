package broker

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mqttkit/mqtt/internal/listener/testcerts"
	"github.com/mqttkit/mqtt/mqtt/packet"
)

// BenchmarkTLSIdleConns holds $MQTT_BENCH_TLS_CONNS (default 2,000) idle
// TLS connections, MQTT 3.1.1 with CONNACK, made by a child process (this
// test binary's TestTLSClientFleet) so that only the broker's memory is
// measured, on the event loop and on the goroutine-per-connection path.
// It reports the live heap and the RSS per connection (after a collection
// and returning free memory: what `mqtt serve` settles at when idle), the
// goroutines per connection, and connections with CONNACK per second
// (handshakes/s; the child's client handshakes share the cores).
func BenchmarkTLSIdleConns(b *testing.B) {
	n := 2000
	if v, err := strconv.Atoi(os.Getenv("MQTT_BENCH_TLS_CONNS")); err == nil && v > 0 {
		n = v
	}
	ca := testcerts.New(b, "ca")
	for _, mode := range []struct {
		name     string
		blocking bool
	}{{"event-loop", false}, {"goroutine", true}} {
		b.Run(mode.name, func(b *testing.B) {
			var live, rss, gor, rate float64
			for range b.N {
				l, r, g, hs := idleTLS(b, ca, n, mode.blocking)
				live, rss, gor, rate = live+l, rss+r, gor+g, rate+hs
			}
			f := float64(b.N)
			b.ReportMetric(live/f, "live-B/conn")
			b.ReportMetric(rss/f, "rss-B/conn")
			b.ReportMetric(gor/f, "goroutines/conn")
			b.ReportMetric(rate/f, "handshakes/s")
		})
	}
}

// idleTLS runs one measurement: a broker on a TLS listener, n
// connections from the child, their cost per connection.
func idleTLS(b *testing.B, ca *testcerts.Set, n int, blocking bool) (live, rss, goroutines, handshakes float64) {
	br, _ := startBroker(b, func(o *Options) { o.BlockingIO = blocking })
	addr, _ := serveTLS(b, br, ca, nil)
	heap0, rss0, g0 := settledMemory(b)

	cmd := exec.Command(os.Args[0], "-test.run=^TestTLSClientFleet$")
	cmd.Env = append(os.Environ(), "MQTT_TLS_FLEET_ADDR="+strings.TrimPrefix(addr, "tls://"),
		"MQTT_TLS_FLEET_N="+strconv.Itoa(n), "MQTT_TLS_FLEET_CA="+ca.CAFile)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	secs := make(chan string, 1)
	drained := make(chan struct{})
	go func() { // the child's output until it exits
		defer close(drained)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "fleet connected in "); ok {
				secs <- v
			}
		}
		close(secs)
	}()
	defer func() {
		stdin.Close() // the child closes its connections and exits
		<-drained
		cmd.Wait()
	}()
	v, ok := <-secs
	if !ok {
		b.Fatal("the client fleet did not connect")
	}
	d, err := strconv.ParseFloat(v, 64)
	if err != nil {
		b.Fatal(err)
	}
	handshakes = float64(n) / d
	// The last handshake goroutines and read runs end on their own.
	for deadline := time.Now().Add(10 * time.Second); runtime.NumGoroutine() > g0+2 && !blocking && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if c := br.nconns.Load(); c != int64(n) {
		b.Fatalf("%d connections registered, want %d", c, n)
	}
	heap1, rss1, g1 := settledMemory(b)
	return float64(heap1-heap0) / float64(n), float64(rss1-rss0) / float64(n), float64(g1-g0) / float64(n), handshakes
}

// settledMemory is the live heap and the RSS after a collection that
// returned all free memory, and the number of goroutines.
func settledMemory(b *testing.B) (heap, rss int64, goroutines int) {
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Skipf("no /proc/self/status: %v", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			rss = kb << 10
		}
	}
	return int64(ms.HeapAlloc), rss, runtime.NumGoroutine()
}

// TestTLSClientFleet is the client side of BenchmarkTLSIdleConns, run in a
// child process: it connects $MQTT_TLS_FLEET_N clients over TLS to
// $MQTT_TLS_FLEET_ADDR (8 at a time), prints how long that took, holds
// them until its stdin closes, then closes them.
func TestTLSClientFleet(t *testing.T) {
	addr := os.Getenv("MQTT_TLS_FLEET_ADDR")
	if addr == "" {
		t.Skip("the client side of BenchmarkTLSIdleConns")
	}
	n, _ := strconv.Atoi(os.Getenv("MQTT_TLS_FLEET_N"))
	pem, err := os.ReadFile(os.Getenv("MQTT_TLS_FLEET_CA"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	cfg := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
	conns := make([]net.Conn, n)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	start := time.Now()
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				c, err := fleetConnect(addr, cfg, fmt.Sprint("fleet-", i))
				if err != nil {
					errs <- err
					return
				}
				conns[i] = c
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	fmt.Printf("fleet connected in %f\n", time.Since(start).Seconds())
	io.Copy(io.Discard, os.Stdin)
}

// fleetConnect opens one TLS connection and connects as id (no keep alive).
func fleetConnect(addr string, cfg *tls.Config, id string) (net.Conn, error) {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	connect, _ := packet.Append(nil, &packet.Connect{ProtocolName: "MQTT", ProtocolVersion: packet.V311, ClientID: id, CleanStart: true}, packet.V311)
	var ack [4]byte
	if _, err := c.Write(connect); err != nil {
		c.Close()
		return nil, err
	}
	if _, err := io.ReadFull(c, ack[:]); err != nil || ack != [4]byte{0x20, 2, 0, 0} {
		c.Close()
		return nil, fmt.Errorf("%s: CONNACK % x, %v", id, ack, err)
	}
	c.SetDeadline(time.Time{})
	return c, nil
}
