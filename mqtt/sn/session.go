package sn

import (
	"net/netip"
	"sync"

	"github.com/mqttkit/mqtt/mqtt/packet"
)

// Client states [MQTT-SN 6.14, Figure 4], plus the set-up phases before CONNACK.
const (
	stWillTopic  uint8 = iota + 1 // WILLTOPICREQ sent, waiting for WILLTOPIC
	stWillMsg                     // WILLMSGREQ sent, waiting for WILLMSG
	stConnecting                  // waiting for the broker's CONNACK
	stClosing                     // refused during set-up; ended once its lock is released
	stActive
	stAsleep
	stAwake
	stClosed // ended; no longer in the gateway's maps
)

var stateNames = [...]string{"", "will-topic", "will-message", "connecting", "closing", "active", "asleep", "awake", "closed"}

// peerKey identifies an MQTT-SN client by where its datagrams come from: a UDP address,
// plus the Wireless Node Id when a forwarder encapsulates them [MQTT-SN 5.5].
type peerKey struct {
	addr netip.AddrPort
	node string
}

// session is one MQTT-SN client and its upstream MQTT connection. It is kept small: an
// idle client holds this struct, its client id and whatever topics it registered; queues
// and in-flight tables exist only while in use. Fields are guarded by mu, except key and
// id, which change only under the gateway's mu as well.
type session struct {
	mu  sync.Mutex
	key peerKey
	id  string

	state    uint8
	clean    bool
	willUpd  bool   // the will changed after CONNECT: the gateway publishes it itself
	willDial bool   // the will dialogue of a CONNECT from an asleep or awake client
	tries    uint8  // retransmissions of the outbound message in flight
	keep     uint16 // keep alive (CONNECT Duration), seconds
	upKeep   uint16 // keep alive of the upstream connection, seconds
	sleep    uint16 // sleep duration (DISCONNECT Duration), seconds
	nextID   uint16 // MsgIds of REGISTER and packet ids of SUBSCRIBE / UNSUBSCRIBE
	lastIn   int64  // gateway clock of the last message from the client
	lastUp   int64  // gateway clock of the last packet sent upstream
	deadline int64  // set-up phases: when to give up

	up     UpstreamConn
	will   *will
	topics *topicTable
	out    *outbox
	pubs   []pubRef        // the client's QoS 1/2 PUBLISHes the broker has not completed
	subs   []subRef        // SUBSCRIBE / UNSUBSCRIBE waiting for the broker
	upq    []packet.Packet // to send upstream once mu is released (unlockSend)
}

// will is a client's will [MQTT-SN 6.3, 6.4].
type will struct {
	topic  string
	msg    []byte
	qos    QoS
	retain bool
}

// pubRef remembers the topic id of a PUBLISH the broker has yet to acknowledge: PUBACK
// carries it, MQTT's PUBACK does not.
type pubRef struct {
	msgID   uint16 // the MQTT-SN MsgId, also the MQTT packet id
	topicID uint16
}

// subRef maps the packet id of an upstream SUBSCRIBE or UNSUBSCRIBE to the client's MsgId.
type subRef struct {
	pid, msgID, topicID uint16
	unsub               bool
}

// outbox holds what the broker sent for a client that the client has not acknowledged:
// one message at a time is in flight [MQTT-SN 6.6], the rest wait in order.
type outbox struct {
	q      []*packet.Publish
	head   int
	qos0   int // QoS 0 messages in q
	cur    *packet.Publish
	phase  uint8
	regID  uint16 // the REGISTER in flight: its MsgId
	sentAt int64
}

// Phases of outbox.cur.
const (
	phWaitRegack uint8 = iota + 1 // REGISTER sent for cur's topic
	phWaitAck                     // PUBLISH sent: PUBACK (QoS 1) or PUBREC (QoS 2) due
	phWaitPubrel                  // PUBREC passed upstream: the broker's PUBREL due
	phWaitComp                    // PUBREL sent: PUBCOMP due
)

func (o *outbox) len() int { return len(o.q) - o.head }

func (o *outbox) push(p *packet.Publish) {
	if o.head > 0 && o.head == len(o.q) {
		o.q, o.head = o.q[:0], 0
	}
	o.q = append(o.q, p)
	if p.QoS == 0 {
		o.qos0++
	}
}

func (o *outbox) pop() *packet.Publish {
	p := o.q[o.head]
	o.q[o.head] = nil
	o.head++
	if p.QoS == 0 {
		o.qos0--
	}
	if o.head == len(o.q) {
		o.q, o.head = o.q[:0], 0
	}
	return p
}

func (o *outbox) idle() bool { return o.cur == nil && o.len() == 0 }

// topicTable holds the normal topic ids of one client: id i+1 is names[i]. Lookup by name
// is linear for the few topics a sensor has, through an index beyond that.
type topicTable struct {
	names []string
	index map[string]uint16
}

const topicIndexAt = 16

func (t *topicTable) name(id uint16) (string, bool) {
	if t == nil || id == 0 || int(id) > len(t.names) || t.names[id-1] == "" {
		return "", false
	}
	return t.names[id-1], true
}

func (t *topicTable) id(name string) (uint16, bool) {
	if t == nil {
		return 0, false
	}
	if t.index != nil {
		id, ok := t.index[name]
		return id, ok
	}
	for i, n := range t.names {
		if n == name {
			return uint16(i + 1), true
		}
	}
	return 0, false
}

// add returns the id of name, assigning the next one when it has none, but none for which
// skip (when not nil) is true; ok is false when the table holds max topics already.
func (t *topicTable) add(name string, max int, skip func(uint16) bool) (uint16, bool) {
	if id, ok := t.id(name); ok {
		return id, true
	}
	for skip != nil && len(t.names) < 0xFFFE && skip(uint16(len(t.names)+1)) {
		t.names = append(t.names, "") // a slot never used
	}
	if len(t.names) >= max || len(t.names) >= 0xFFFE {
		return 0, false
	}
	t.names = append(t.names, name)
	id := uint16(len(t.names))
	if t.index != nil {
		t.index[name] = id
	} else if len(t.names) > topicIndexAt {
		t.index = make(map[string]uint16, len(t.names))
		for i, n := range t.names {
			t.index[n] = uint16(i + 1)
		}
	}
	return id, true
}

// forget drops id when the client rejected it; the slot is not reused.
func (t *topicTable) forget(id uint16) {
	name, ok := t.name(id)
	if !ok {
		return
	}
	t.names[id-1] = ""
	if t.index != nil {
		delete(t.index, name)
	}
}
