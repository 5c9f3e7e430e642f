package sn

import (
	"fmt"
	"net"
	"runtime"
	"testing"
	"time"
)

// The gateway attached to the broker in-process (BrokerUpstream) carries messages both ways
// and ends sessions like the network path; `make test` also runs the whole suite this way
// (SN_TEST_UPSTREAM=broker).
func TestEmbeddedUpstream(t *testing.T) {
	addr := startBroker(t)
	g, gw := startGatewayUp(t, upstreamFor(t, addr, true), nil)
	sub := startMosqSub(t, addr, 3, "-t", "emb/#", "-q", "1")
	c := dialSN(t, gw)
	c.send(&Connect{Will: true, CleanSession: true, ProtocolID: ProtocolID, Duration: 1, ClientID: "embedded"})
	expect[*WillTopicReq](c)
	c.send(&WillTopic{Topic: "emb/will"})
	expect[*WillMsgReq](c)
	c.send(&WillMsg{Msg: []byte("lost")})
	mustEqual(t, expect[*Connack](c), &Connack{})
	id := c.register("emb/up", 1)
	c.send(&Publish{QoS: 1, TopicID: id, MsgID: 2, Data: []byte("in-process")})
	mustEqual(t, expect[*Puback](c), &Puback{TopicID: id, MsgID: 2})
	mustEqual(t, c.subscribe(&Subscribe{QoS: 1, MsgID: 3, TopicName: "emb/down/+"}), &Suback{QoS: 1, MsgID: 3})
	mosqPub(t, addr, "-t", "emb/down/x", "-q", "1", "-m", "to sensor")
	reg := expect[*Register](c)
	c.send(&Regack{TopicID: reg.TopicID, MsgID: reg.MsgID})
	p := expect[*Publish](c)
	if string(p.Data) != "to sensor" || p.TopicID != reg.TopicID {
		t.Fatalf("%+v", p)
	}
	c.send(&Puback{TopicID: p.TopicID, MsgID: p.MsgID})
	// Silence: lost after 1.5 s, and the broker publishes the will.
	mustEqual(t, sub.wait(), []string{"emb/up in-process", "emb/down/x to sensor", "emb/will lost"})
	waitFor(t, "the client to be gone", func() bool { return g.Stats().Clients == 0 })
}

// BenchmarkIdleClientMemory reports the heap and goroutine stacks one idle, connected
// MQTT-SN client costs, gateway and broker together, with the gateway attached in-process
// (embedded) and over TCP (standalone): each iteration connects 1000 more clients and
// measures the growth.
//
//	go test -run '^$' -bench IdleClientMemory -benchtime 3x ./mqtt/sn
func BenchmarkIdleClientMemory(b *testing.B) {
	const n = 1000
	for _, mode := range []struct {
		name     string
		embedded bool
	}{{"embedded", true}, {"standalone", false}} {
		b.Run(mode.name, func(b *testing.B) {
			addr := startBroker(b)
			g, gw := startGatewayUp(b, upstreamFor(b, addr, mode.embedded), func(o *Options) { o.SweepInterval = time.Second })
			buf := make([]byte, 64)
			var total int64
			for round := 0; round < b.N; round++ {
				socks := make([]*net.UDPConn, n)
				for i := range socks {
					c, err := net.DialUDP("udp", nil, gw)
					if err != nil {
						b.Fatal(err)
					}
					defer c.Close()
					socks[i] = c
				}
				before := memInUse()
				for i, c := range socks {
					m, _ := Append(nil, &Connect{CleanSession: true, ProtocolID: ProtocolID, Duration: 600, ClientID: fmt.Sprintf("idle-%d-%05d", round, i)})
					if _, err := c.Write(m); err != nil {
						b.Fatal(err)
					}
					_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
					k, err := c.Read(buf)
					if err != nil {
						b.Fatal(err)
					}
					if a, err := Decode(buf[:k]); err != nil || a.(*Connack).ReturnCode != Accepted {
						b.Fatalf("CONNACK %v %v", a, err)
					}
				}
				waitFor(b, "every client connected", func() bool { return g.Stats().Clients == n*(round+1) })
				total += memInUse() - before
			}
			b.ReportMetric(float64(total)/float64(n*b.N), "B/client")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// memInUse is live heap plus goroutine stacks, after a GC.
func memInUse() int64 {
	var ms runtime.MemStats
	for range 2 {
		runtime.GC()
	}
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc + ms.StackInuse)
}
