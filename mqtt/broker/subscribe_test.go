package broker

import (
	"testing"

	"github.com/mqttkit/mqtt/mqtt/packet"
)

// TestSubscribeAfterSessionEnded: a SUBSCRIBE handled once the session
// has ended (endSession took its subscriptions out of the index) must not
// leave a subscription behind: it would leak, and route() would count the
// ended session as a subscriber (a v5 QoS 1 PUBACK then says 0x97 Quota
// exceeded instead of 0x10 No matching subscribers).
func TestSubscribeAfterSessionEnded(t *testing.T) {
	b, addr := startBroker(t, nil)
	sub := connectRaw(t, addr, packet.V5, "ended")
	b.mu.Lock()
	s := b.sessions.get("ended")
	b.sessions.del("ended")
	b.mu.Unlock()
	b.endSession(s)

	sub.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "ghost/#", QoS: 1}}})
	if sa, ok := sub.Recv().(*packet.Suback); !ok || len(sa.ReasonCodes) != 1 || sa.ReasonCodes[0] < 0x80 {
		t.Fatalf("SUBACK on an ended session: %v, want one failure code", sa.ReasonCodes)
	}
	if got := b.index.MatchAppend(nil, "ghost/x"); len(got) != 0 {
		t.Fatalf("the ended session is still subscribed: %d subscriptions match ghost/x", len(got))
	}
	pub := connectRaw(t, addr, packet.V5, "pub")
	pub.Send(&packet.Publish{Topic: "ghost/x", QoS: 1, PacketID: 7, Payload: []byte("x")})
	ack, ok := pub.Recv().(*packet.Puback)
	if !ok || ack.ReasonCode != packet.NoMatchingSubscribers {
		t.Fatalf("PUBACK %+v, want 0x10 No matching subscribers", ack)
	}
	s.mu.Lock()
	n := len(s.subs)
	s.mu.Unlock()
	if n != 0 {
		t.Fatalf("ended session records %d subscriptions", n)
	}
}

// TestEndSessionUnsubscribesEveryKind: the session's record keeps only
// each filter as subscribed and its options; endSession takes the share
// group and the index's filter back out of it (subFilter), so each kind
// of filter must leave the index when the session ends [MQTT-3.1.2-6].
func TestEndSessionUnsubscribesEveryKind(t *testing.T) {
	for _, tt := range []struct {
		filter string
		name   string // a topic the filter matches
	}{
		{"a/b", "a/b"},
		{"a/+/c", "a/x/c"},
		{"#", "x"},
		{"$share/g/a/b", "a/b"},
		{"$share/g/+/#", "a/b"},
		{"$share/g2/$SYS/x", "$SYS/x"},
	} {
		t.Run(tt.filter, func(t *testing.T) {
			b, addr := startBroker(t, nil)
			c := connectRaw(t, addr, packet.V5, "ends")
			c.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: tt.filter, QoS: 1}}})
			if sa, ok := c.Recv().(*packet.Suback); !ok || len(sa.ReasonCodes) != 1 || sa.ReasonCodes[0] != 1 {
				t.Fatalf("SUBACK %+v, want granted QoS 1", sa)
			}
			if got := b.index.MatchAppend(nil, tt.name); len(got) != 1 {
				t.Fatalf("before the end: %d subscriptions match %s, want 1", len(got), tt.name)
			}
			b.mu.Lock()
			s := b.sessions.get("ends")
			b.sessions.del("ends")
			b.mu.Unlock()
			b.endSession(s)
			if got := b.index.MatchAppend(nil, tt.name); len(got) != 0 || b.index.Count() != 0 {
				t.Fatalf("after the end: %d subscriptions match %s, Count %d; want none", len(got), tt.name, b.index.Count())
			}
		})
	}
}
