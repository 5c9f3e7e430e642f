package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"net"
	"runtime"
	"time"

	"github.com/mqttkit/mqtt/mqtt/broker"
	"github.com/mqttkit/mqtt/mqtt/packet"
)

func conn(addr, id string) (net.Conn, *bufio.Reader) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		panic(err)
	}
	b, _ := packet.Append(nil, &packet.Connect{ProtocolName: "MQTT", ProtocolVersion: 4, ClientID: id, CleanStart: true, KeepAlive: 600}, 4)
	c.Write(b)
	br := bufio.NewReader(c)
	packet.ReadPacket(br, 4, 0)
	return c, br
}

func heap() string {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return fmt.Sprintf("heapAlloc %.1f MiB heapInuse %.1f sys %.1f released %.1f", float64(ms.HeapAlloc)/(1<<20), float64(ms.HeapInuse)/(1<<20), float64(ms.HeapSys)/(1<<20), float64(ms.HeapReleased)/(1<<20))
}

func main() {
	stall := flag.Duration("stall", 20*time.Millisecond, "")
	n := flag.Int("n", 100000, "")
	flag.Parse()
	o := broker.DefaultOptions()
	o.Listeners = []string{"127.0.0.1:0"}
	o.StallAfter = *stall
	b, _ := broker.New(o, nil)
	b.Start(context.Background())
	addr := b.Addrs()[0].String()
	s, br := conn(addr, "stuck")
	defer s.Close()
	bb, _ := packet.Append(nil, &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "flood"}}}, 4)
	s.Write(bb)
	packet.ReadPacket(br, 4, 0)
	p, _ := conn(addr, "pub")
	w := bufio.NewWriterSize(p, 1<<16)
	msg, _ := packet.Append(nil, &packet.Publish{Topic: "flood", Payload: make([]byte, 1024)}, 4)
	fmt.Println("before", heap())
	t0 := time.Now()
	for i := 0; i < *n; i++ {
		w.Write(msg)
	}
	w.Flush()
	bb, _ = packet.Append(nil, &packet.Publish{Topic: "x", QoS: 1, PacketID: 1}, 4)
	p.Write(bb)
	packet.ReadPacket(bufio.NewReader(p), 4, 0)
	el := time.Since(t0)
	st := b.Stats()
	fmt.Printf("in %v queued %d (%.1f MiB) dropped %v\n", el, st.Queued, float64(st.QueuedBytes)/(1<<20), st.Dropped)
	fmt.Println("after", heap())
	runtime.GC()
	fmt.Println("after GC", heap())
	runtime.KeepAlive(s)
}
