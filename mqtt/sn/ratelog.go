package sn

import (
	"context"
	"log/slog"
	"net/netip"
	"sync"
	"time"
)

// The debug lines about datagrams the gateway drops or refuses (malformed, out of state,
// from an address without a session, a refused CONNECT) are limited per sender IP address:
// a flood from one address (580,000 PINGREQs in 6 s) would otherwise write a line each.
// The first logBurst lines of an address in each second are written; the rest are counted,
// and one line says how many were left out when that second is over (the sweep writes it
// if the address sent nothing more).
const (
	logBurst     = 10
	logWindow    = time.Second
	logMaxAddrs  = 4096 // addresses tracked at once; beyond, one shared bucket
	logSummaryAt = "mqtt-sn gateway: debug lines left out: too many about datagrams from one address"
)

type logLimiter struct {
	mu    sync.Mutex
	addrs map[netip.Addr]*logBucket
	other logBucket // addresses beyond logMaxAddrs
}

type logBucket struct {
	start   int64 // the window's start
	lines   int
	skipped int
}

// allow reports whether a debug line about a datagram from addr may be written at now; it
// returns a summary to write first when an earlier window of addr left lines out.
func (l *logLimiter) allow(addr netip.Addr, now int64) (ok bool, skipped int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.addrs[addr]
	if b == nil {
		if l.addrs == nil {
			l.addrs = map[netip.Addr]*logBucket{}
		}
		if len(l.addrs) >= logMaxAddrs {
			b = &l.other
		} else {
			b = &logBucket{start: now}
			l.addrs[addr] = b
		}
	}
	if now-b.start >= int64(logWindow) {
		skipped = b.skipped
		*b = logBucket{start: now}
	}
	if b.lines < logBurst {
		b.lines++
		return true, skipped
	}
	b.skipped++
	return false, skipped
}

// flush returns the addresses whose window ended with lines left out, and forgets the
// addresses whose window ended. It runs on the sweep.
func (l *logLimiter) flush(now int64, report func(addr string, skipped int)) {
	l.mu.Lock()
	type sum struct {
		addr string
		n    int
	}
	var sums []sum
	for a, b := range l.addrs {
		if now-b.start >= int64(logWindow) {
			if b.skipped > 0 {
				sums = append(sums, sum{a.String(), b.skipped})
			}
			delete(l.addrs, a)
		}
	}
	if now-l.other.start >= int64(logWindow) {
		if l.other.skipped > 0 {
			sums = append(sums, sum{"other addresses", l.other.skipped})
		}
		l.other = logBucket{start: now}
	}
	l.mu.Unlock()
	for _, s := range sums {
		report(s.addr, s.n)
	}
}

// debugFrom writes a debug line about a datagram from ap, within the per-address limit.
func (g *Gateway) debugFrom(ap netip.AddrPort, msg string, args ...any) {
	if !g.log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	ok, skipped := g.logLim.allow(ap.Addr(), g.now())
	if skipped > 0 {
		g.log.Debug(logSummaryAt, "from", ap.Addr(), "lines", skipped)
	}
	if ok {
		g.log.Debug("mqtt-sn gateway: "+msg, args...)
	}
}

// flushLogSummaries writes the summaries of windows that ended. It runs on the sweep.
func (g *Gateway) flushLogSummaries(now int64) {
	if !g.log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	g.logLim.flush(now, func(addr string, n int) {
		g.log.Debug(logSummaryAt, "from", addr, "lines", n)
	})
}
