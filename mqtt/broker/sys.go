package broker

import (
	"math"
	"runtime"
	"strconv"
	"time"
)

// loadAvg is one exponentially damped per-minute rate, as Mosquitto's
// $SYS/broker/load/... values.
type loadAvg struct {
	last        int64
	m1, m5, m15 float64
}

func (l *loadAvg) update(total int64, interval time.Duration) {
	perMin := float64(total-l.last) * float64(time.Minute) / float64(interval)
	l.last = total
	secs := interval.Seconds()
	e1, e5, e15 := math.Exp(-secs/60), math.Exp(-secs/300), math.Exp(-secs/900)
	l.m1 = perMin + e1*(l.m1-perMin)
	l.m5 = perMin + e5*(l.m5-perMin)
	l.m15 = perMin + e15*(l.m15-perMin)
}

// sysLoop publishes $SYS every SysInterval: all topics once at start,
// afterwards only values that changed, all retained (Mosquitto's
// behaviour, mosquitto-2.0.md §4).
func (b *Broker) sysLoop() {
	defer b.wg.Done()
	interval := b.opts.SysInterval
	last := make(map[string]string)
	var loads [9]loadAvg
	var heapMax uint64
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		b.publishSys(last, &loads, &heapMax, interval)
		select {
		case <-b.ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (b *Broker) publishSys(last map[string]string, loads *[9]loadAvg, heapMax *uint64, interval time.Duration) {
	st := b.Stats()
	disconnected := max(st.ClientsTotal-st.ClientsConnected, 0)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	*heapMax = max(*heapMax, ms.HeapAlloc)
	pubRecv := st.PublishReceived[0] + st.PublishReceived[1] + st.PublishReceived[2]
	pubSent := st.PublishSent[0] + st.PublishSent[1] + st.PublishSent[2]

	i64 := func(n int64) string { return strconv.FormatInt(n, 10) }
	vals := []struct{ topic, value string }{
		{"version", b.opts.Version},
		{"uptime", strconv.FormatInt(int64(st.Uptime/time.Second), 10) + " seconds"},
		{"clients/total", i64(st.ClientsTotal)},
		{"clients/connected", i64(st.ClientsConnected)},
		{"clients/active", i64(st.ClientsConnected)},
		{"clients/disconnected", i64(disconnected)},
		{"clients/inactive", i64(disconnected)},
		{"clients/expired", i64(st.ClientsExpired)},
		{"clients/maximum", i64(st.ClientsMaximum)},
		{"messages/received", i64(st.PacketsReceived)},
		{"messages/sent", i64(st.PacketsSent)},
		{"messages/stored", i64(st.Queued + st.Retained)},
		{"store/messages/count", i64(st.Queued + st.Retained)},
		{"store/messages/bytes", i64(st.QueuedBytes + st.RetainedBytes)}, // as count: queued and retained
		{"subscriptions/count", i64(st.Subscriptions)},
		{"shared_subscriptions/count", i64(st.SharedSubs)},
		{"retained messages/count", i64(st.Retained)},
		{"heap/current", strconv.FormatUint(ms.HeapAlloc, 10)},
		{"heap/maximum", strconv.FormatUint(*heapMax, 10)},
		{"publish/messages/dropped", i64(st.DroppedTotal)},
		{"publish/messages/received", i64(pubRecv)},
		{"publish/messages/sent", i64(pubSent)},
		{"publish/bytes/received", i64(st.PayloadReceived)},
		{"publish/bytes/sent", i64(st.PayloadSent)},
		{"bytes/received", i64(st.BytesReceived)},
		{"bytes/sent", i64(st.BytesSent)},
	}
	loadNames := [9]string{"messages/received", "messages/sent", "publish/dropped", "publish/received",
		"publish/sent", "bytes/received", "bytes/sent", "sockets", "connections"}
	loadTotals := [9]int64{st.PacketsReceived, st.PacketsSent, st.DroppedTotal, pubRecv,
		pubSent, st.BytesReceived, st.BytesSent, st.Connections, st.Connections}
	first := len(last) == 0
	for i := range loads {
		if first {
			loads[i].last = loadTotals[i]
		} else {
			loads[i].update(loadTotals[i], interval)
		}
		f := func(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) }
		vals = append(vals,
			struct{ topic, value string }{"load/" + loadNames[i] + "/1min", f(loads[i].m1)},
			struct{ topic, value string }{"load/" + loadNames[i] + "/5min", f(loads[i].m5)},
			struct{ topic, value string }{"load/" + loadNames[i] + "/15min", f(loads[i].m15)})
	}
	for _, v := range vals {
		name := "$SYS/broker/" + v.topic
		if old, ok := last[name]; ok && old == v.value {
			continue
		}
		last[name] = v.value
		m := &Message{Topic: name, Payload: []byte(v.value), Retain: true}
		b.retain(m, nil)
		b.route(m, nil)
	}
}
