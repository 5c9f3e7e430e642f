package broker

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mqttkit/mqtt/mqtt/packet"
)

// flood writes n QoS 0 PUBLISHes of size bytes to topic as fast as the
// socket takes them, then proves the broker handled them all (a QoS 1
// round trip on the same connection).
func flood(t *testing.T, addr, topic string, n, size int) {
	t.Helper()
	pub := connectRaw(t, addr, packet.V311, "flooder")
	msg, _ := packet.Append(nil, &packet.Publish{Topic: topic, Payload: bytes.Repeat([]byte("x"), size)}, packet.V311)
	w := bufio.NewWriterSize(pub.NC, 64<<10)
	pub.NC.SetWriteDeadline(time.Now().Add(30 * time.Second))
	for range n {
		if _, err := w.Write(msg); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	pub.Send(&packet.Publish{Topic: "flood/done", QoS: 1, PacketID: 1})
	if _, ok := pub.Recv().(*packet.Puback); !ok {
		t.Fatal("no PUBACK after the flood")
	}
}

// A subscriber that stops reading costs at most the stalled budget,
// while one that reads slowly loses nothing of the same burst: they are
// told apart by write progress.
func TestStalledConsumerBoundedSlowReaderLossless(t *testing.T) {
	const n, size = 8_000, 1024 // 8 MiB, more than the socket buffers hold
	b, addr := startBroker(t, func(o *Options) {
		o.StalledQoS0Bytes = 256 << 10
		o.StalledQoS0Messages = 1000
		o.StallAfter = 250 * time.Millisecond // generous: -race on a loaded machine pauses readers
	})
	stuck := connectRaw(t, addr, packet.V311, "stuck")
	stuck.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "burst"})
	slow := connectRaw(t, addr, packet.V311, "slow")
	slow.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "burst"})
	var got atomic.Int64
	done := make(chan error, 1)
	go func() { // the slow reader: small reads, a short pause each
		buf := make([]byte, 4096)
		var pending []byte
		slow.NC.SetReadDeadline(time.Now().Add(60 * time.Second))
		for got.Load() < n {
			k, err := slow.NC.Read(buf)
			if err != nil {
				done <- err
				return
			}
			pending = append(pending, buf[:k]...)
			for {
				_, rem, hn, err := packet.ParseHeader(pending)
				if err != nil || len(pending) < hn+rem {
					break
				}
				pending = pending[hn+rem:]
				got.Add(1)
			}
			time.Sleep(50 * time.Microsecond) // slower than the burst, never stopped
		}
		done <- nil
	}()
	flood(t, addr, "burst", n, size)
	if err := <-done; err != nil {
		t.Fatalf("slow reader after %d of %d: %v", got.Load(), n, err)
	}
	st := b.Stats()
	if st.Dropped[DropSlowConsumer] == 0 {
		t.Fatalf("nothing dropped for the stuck subscriber: %+v", st)
	}
	if st.QueuedBytes > 300<<10 {
		t.Fatalf("%d bytes still queued for the stuck subscriber (budget 256 KiB)", st.QueuedBytes)
	}
	checkAlive(t, addr)
	stuck.NC.Close()
}

// memory_limit: near it QoS 0 for clients that are behind goes first, at
// it new messages are refused (MQTT 5: 0x97; 3.x QoS 1/2: disconnected
// unacknowledged), and once memory is free again messages flow; each
// episode is logged once. No one session's queue takes more than a
// quarter of the limit.
func TestMemoryLimit(t *testing.T) {
	b, addr := startBroker(t, func(o *Options) {
		o.MemoryLimit = 2 << 20
		o.StalledQoS0Bytes = 64 << 10
	})
	// Offline persistent sessions collect QoS 1 messages, each its own.
	const sessions = 5
	for i := range sessions {
		off := dialRaw(t, addr, packet.V311)
		off.Connect(&packet.Connect{ClientID: fmt.Sprintf("offline%d", i)})
		off.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: fmt.Sprintf("m/%d", i), QoS: 1})
		off.NC.Close()
		waitOffline(t, b, fmt.Sprintf("offline%d", i))
	}
	pub := connectRaw(t, addr, packet.V5, "pub5")
	payload := bytes.Repeat([]byte("x"), 16<<10)
	refused, accepted := 0, make([]int, sessions)
	for i := range 300 { // 4.8 MiB offered
		pub.Send(&packet.Publish{Topic: fmt.Sprintf("m/%d", i%sessions), QoS: 1, PacketID: uint16(i + 1), Payload: payload})
		if ack := pub.Recv().(*packet.Puback); ack.ReasonCode == packet.QuotaExceeded {
			refused++
		} else if ack.ReasonCode != 0 {
			t.Fatalf("PUBACK %v", ack.ReasonCode)
		} else {
			accepted[i%sessions]++
		}
	}
	st := b.Stats()
	if refused == 0 || st.Dropped[DropMemoryLimit] != int64(refused) {
		t.Fatalf("refused %d, counted %d", refused, st.Dropped[DropMemoryLimit])
	}
	if used := st.QueuedBytes + st.InflightBytes + st.RetainedBytes; used > 2<<20+int64(len(payload))+64 {
		t.Fatalf("message memory %d over the limit", used)
	}
	// A 3.x client cannot be told: its QoS 1 message is not acknowledged
	// (that would lose it) but its connection closed, so it sends it
	// again when it comes back.
	pub3 := connectRaw(t, addr, packet.V311, "pub3")
	pub3.Send(&packet.Publish{Topic: "m/0", QoS: 1, PacketID: 7, Payload: payload})
	if got := pub3.ExpectClosed(5 * time.Second); len(got) != 0 {
		t.Fatalf("3.x QoS 1 publisher at the memory limit got %+v, want the connection closed unacknowledged", got)
	}
	// It did nothing wrong: not logged as a protocol error.
	waitLogLine(t, b, "Client pub3 disconnected: memory_limit reached")
	// The offline clients come back and read: memory is free, messages flow.
	for i := range sessions {
		back := dialRaw(t, addr, packet.V311)
		back.Connect(&packet.Connect{ClientID: fmt.Sprintf("offline%d", i)})
		for range accepted[i] {
			back.Send(&packet.Puback{PacketID: back.RecvPublish().PacketID})
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for b.memLevel.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("memory level did not go back to normal")
		}
		time.Sleep(10 * time.Millisecond)
	}
	pub.Send(&packet.Publish{Topic: "m/0", QoS: 1, PacketID: 999, Payload: payload})
	if ack := pub.Recv().(*packet.Puback); ack.ReasonCode != 0 && ack.ReasonCode != packet.NoMatchingSubscribers {
		t.Fatalf("after the episode: PUBACK %v", ack.ReasonCode)
	}
	lines := strings.Join(b.log.Handler().(interface{ Lines() []string }).Lines(), "\n")
	if strings.Contains(lines, "pub3 disconnected due to protocol error") {
		t.Fatalf("a refusal logged as a protocol error:\n%s", lines)
	}
	// The episode's start, reaching the limit itself (with the start,
	// or on its own line when the start was at 90%), and its end: once each.
	if strings.Count(lines, "dropping QoS 0 for clients that are behind") != 1 ||
		strings.Count(lines, "refusing new messages") != 1 ||
		strings.Count(lines, "were dropped meanwhile") != 1 {
		t.Fatalf("episode not logged once each way:\n%s", lines)
	}
}

// With memory_limit one session's queue holds at most a quarter of it: a
// client that never comes back loses what is over its share, and the
// other clients' messages still flow (they would all be refused if it
// could fill the whole budget).
func TestMemoryLimitOneSessionShare(t *testing.T) {
	b, addr := startBroker(t, func(o *Options) { o.MemoryLimit = 2 << 20 })
	hog := dialRaw(t, addr, packet.V311)
	hog.Connect(&packet.Connect{ClientID: "hog"})
	hog.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "h", QoS: 1})
	hog.NC.Close()
	waitOffline(t, b, "hog")
	live := connectRaw(t, addr, packet.V311, "live")
	live.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "other", QoS: 1})

	pub := connectRaw(t, addr, packet.V5, "pub")
	payload := bytes.Repeat([]byte("x"), 16<<10)
	kept := 0
	for i := range 300 { // 4.8 MiB for the hog
		pub.Send(&packet.Publish{Topic: "h", QoS: 1, PacketID: uint16(i + 1), Payload: payload})
		switch rc := pub.Recv().(*packet.Puback).ReasonCode; rc {
		case packet.Success:
			kept++
		case packet.QuotaExceeded:
		default:
			t.Fatalf("PUBACK %v", rc)
		}
	}
	if share := (2 << 20) / 4; kept*len(payload) > share+len(payload) || kept == 0 {
		t.Fatalf("the hog's queue kept %d messages (%d bytes), want about its share %d", kept, kept*len(payload), share)
	}
	pub.Send(&packet.Publish{Topic: "other", QoS: 1, PacketID: 1000, Payload: payload})
	if rc := pub.Recv().(*packet.Puback).ReasonCode; rc != packet.Success {
		t.Fatalf("another client's message: PUBACK %v, want Success", rc)
	}
	if p := live.RecvPublish(); p.Topic != "other" {
		t.Fatalf("live got %q", p.Topic)
	}
	if st := b.Stats(); st.Dropped[DropMemoryLimit] != int64(300-kept) {
		t.Fatalf("dropped %d as memory limit, want %d", st.Dropped[DropMemoryLimit], 300-kept)
	}
}

// Retained messages sent because of a SUBSCRIBE are a burst bounded by
// the retained store: a subscriber that takes a while to read them (busy,
// not stuck) gets every one, even when live QoS 0 for it is dropped as a
// slow consumer's meanwhile (bench-compare's retained storm lost 87% of
// 100,000 for one of 10 subscribers on a loaded machine).
func TestRetainedBurstNotDroppedAsSlowConsumer(t *testing.T) {
	const n = 3000 // over StalledQoS0Messages, 1.5 MiB: more than the socket buffers hold
	b, addr := startBroker(t, func(o *Options) {
		o.StalledQoS0Bytes = 64 << 10
		o.StalledQoS0Messages = 100
		o.StallAfter = 20 * time.Millisecond
	})
	payload := bytes.Repeat([]byte("r"), 512)
	for i := range n {
		if err := b.Publish(context.Background(), Message{Topic: fmt.Sprintf("ret/%05d", i), Payload: payload, Retain: true}); err != nil {
			t.Fatal(err)
		}
	}
	sub := connectRaw(t, addr, packet.V311, "busy")
	sub.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "ret/#"})
	// The subscriber reads nothing until its socket has been full for
	// well over StallAfter and live messages for it came and were dropped.
	deadline := time.Now().Add(10 * time.Second)
	for b.Stats().Dropped[DropSlowConsumer] == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no live message dropped for the stalled subscriber: %+v", b.Stats())
		}
		b.Publish(context.Background(), Message{Topic: "ret/live", Payload: payload})
		time.Sleep(5 * time.Millisecond)
	}
	seen := map[string]bool{}
	sub.NC.SetReadDeadline(time.Now().Add(30 * time.Second))
	for len(seen) < n {
		p, err := sub.RecvErr(30 * time.Second)
		if err != nil {
			t.Fatalf("%d of %d retained messages, then %v", len(seen), n, err)
		}
		if pub, ok := p.(*packet.Publish); ok && pub.Retain {
			seen[pub.Topic] = true
		}
	}
}
