package broker

import (
	"fmt"
	"testing"
	"time"

	"github.com/mqttkit/mqtt/mqtt/packet"
)

// TestRouteMemoSeesIndexChanges: a read's route memo (routeMemo) keeps
// the subscriptions of the last topic routed, and is stale as soon as
// the index changes. Packets in one write (one read, one memo): PUBLISH
// to t with no subscriber, SUBSCRIBE t, PUBLISH, UNSUBSCRIBE t,
// PUBLISH (then one to another subscription, which ends the test's
// reading: a session's messages arrive in order). Exactly the middle one is delivered [MQTT-3.8.4-4]
// [MQTT-3.10.4-6]. Then another client subscribes between two reads of
// a publisher that repeats one topic: every message after its SUBACK
// reaches it.
func TestRouteMemoSeesIndexChanges(t *testing.T) {
	_, addr := startBroker(t, nil)
	c := connectRaw(t, addr, packet.V311, "memo")
	var buf []byte
	for _, p := range []packet.Packet{
		&packet.Publish{Topic: "memo/t", Payload: []byte("before")},
		&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "memo/t"}}},
		&packet.Publish{Topic: "memo/t", Payload: []byte("during")},
		&packet.Unsubscribe{PacketID: 2, Filters: []string{"memo/t"}},
		&packet.Publish{Topic: "memo/t", Payload: []byte("after")},
		&packet.Subscribe{PacketID: 3, Subscriptions: []packet.Subscription{{Filter: "memo/end"}}},
		&packet.Publish{Topic: "memo/end", Payload: []byte("end")}, // queued behind any other
	} {
		var err error
		if buf, err = packet.Append(buf, p, packet.V311); err != nil {
			t.Fatal(err)
		}
	}
	c.WriteBytes(buf)
	var got []string
	for {
		p := c.Recv()
		if pub, ok := p.(*packet.Publish); ok {
			if pub.Topic == "memo/end" {
				break
			}
			got = append(got, string(pub.Payload))
		}
	}
	if fmt.Sprint(got) != "[during]" {
		t.Fatalf("delivered %q, want only the message published while subscribed", got)
	}

	pub := connectRaw(t, addr, packet.V311, "memo-pub")
	sub := connectRaw(t, addr, packet.V311, "memo-sub")
	pub.Send(&packet.Publish{Topic: "memo/u", Payload: []byte("0")})
	pub.Send(&packet.Publish{Topic: "memo/u", Payload: []byte("1")})
	pub.Send(&packet.Pingreq{}) // answered once both are routed
	if p := pub.Recv(); p.Type() != packet.PINGRESP {
		t.Fatalf("got %v, want PINGRESP", p)
	}
	sub.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "memo/u"})
	for i := 2; i < 5; i++ {
		pub.Send(&packet.Publish{Topic: "memo/u", Payload: []byte(fmt.Sprint(i))})
	}
	for i := 2; i < 5; i++ {
		if p := sub.RecvPublish(); string(p.Payload) != fmt.Sprint(i) {
			t.Fatalf("got %q, want %d", p.Payload, i)
		}
	}
	sub.ExpectNothing(100 * time.Millisecond)
}

// TestRouteMemoPerBroker: read batches (and their route memos) come from
// one pool for every broker in the process, and two brokers' indexes
// pass through the same versions when they see the same subscriptions.
// A memo must never route one broker's message to another's sessions.
func TestRouteMemoPerBroker(t *testing.T) {
	var subs, pubs [2]*raw
	for i := range subs {
		_, addr := startBroker(t, nil)
		subs[i] = connectRaw(t, addr, packet.V311, "sub")
		subs[i].Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "same/topic"})
		pubs[i] = connectRaw(t, addr, packet.V311, "pub")
	}
	for round := 0; round < 20; round++ {
		for i, p := range pubs {
			p.Send(&packet.Publish{Topic: "same/topic", Payload: []byte(fmt.Sprint(i, "-", round))})
		}
		for i, s := range subs {
			if got, want := string(s.RecvPublish().Payload), fmt.Sprint(i, "-", round); got != want {
				t.Fatalf("broker %d's subscriber got %q, want %q", i, got, want)
			}
		}
	}
}
