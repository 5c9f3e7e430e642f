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
