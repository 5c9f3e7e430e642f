package bench

import (
	"fmt"
	"time"
)

// BrokerStats is what --broker-pid reads about the broker process from /proc: CPU time
// and resident memory around the run, so a comparison shows what a load costs the broker,
// not only how fast it went.
type BrokerStats struct {
	PID int `json:"pid"`
	// CPUSeconds is the broker's CPU time from the start of the bench (connects included)
	// to just before it disconnects; RunCPUSeconds only the measured phase (pub, sub,
	// pubsub: publishing and drain; conn: holding; retained: the subscribe storm).
	CPUSeconds    float64 `json:"cpu_s"`
	RunCPUSeconds float64 `json:"run_cpu_s"`
	RunCPUUtil    float64 `json:"run_cpu_util"` // RunCPUSeconds / measured phase (1.0 = one core)
	// RSS in KiB: at the start, just before the bench disconnects, and the peak (VmHWM,
	// since the broker started).
	RSSBeforeKB int64 `json:"rss_before_kb"`
	RSSKB       int64 `json:"rss_kb"`
	RSSPeakKB   int64 `json:"rss_peak_kb"`
}

// brokerProbe reads the broker's figures at the points the runner marks.
type brokerProbe struct {
	pid          int
	cpu0, runCPU time.Duration
	runStart     time.Time
	stats        BrokerStats
	err          error
}

// newBrokerProbe checks that pid can be read and takes the starting figures.
func newBrokerProbe(pid int) (*brokerProbe, error) {
	b := &brokerProbe{pid: pid, stats: BrokerStats{PID: pid}}
	var err error
	if b.cpu0, err = procCPU(pid); err != nil {
		return nil, fmt.Errorf("--broker-pid %d: %v", pid, err)
	}
	if b.stats.RSSBeforeKB, _, err = procMem(pid); err != nil {
		return nil, fmt.Errorf("--broker-pid %d: %v", pid, err)
	}
	return b, nil
}

// markRun notes the start of the measured phase.
func (b *brokerProbe) markRun() {
	if b == nil {
		return
	}
	b.runStart = time.Now()
	b.runCPU, b.err = procCPU(b.pid)
}

// sample takes the closing figures; call it before the bench disconnects.
func (b *brokerProbe) sample() {
	if b == nil || b.err != nil {
		return
	}
	cpu, err := procCPU(b.pid)
	if err != nil {
		b.err = err
		return
	}
	b.stats.CPUSeconds = (cpu - b.cpu0).Seconds()
	if !b.runStart.IsZero() {
		b.stats.RunCPUSeconds = (cpu - b.runCPU).Seconds()
		if d := time.Since(b.runStart).Seconds(); d > 0 {
			b.stats.RunCPUUtil = b.stats.RunCPUSeconds / d
		}
	}
	b.stats.RSSKB, b.stats.RSSPeakKB, b.err = procMem(b.pid)
}

// report returns the stats, or nil with the error that stopped the readings (the broker
// exited during the run, say).
func (b *brokerProbe) report() (*BrokerStats, error) {
	if b == nil {
		return nil, nil
	}
	if b.err != nil {
		return nil, fmt.Errorf("--broker-pid %d: %v", b.pid, b.err)
	}
	s := b.stats
	return &s, nil
}
