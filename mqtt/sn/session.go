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
	paced    bool   // in the pacer's list: its backlog's next burst is due after a pause
	tries    uint8  // retransmissions of the outbound message in flight
	keep     uint16 // keep alive (CONNECT Duration), seconds
	upKeep   uint16 // keep alive of the upstream connection, seconds
	sleep    uint16 // sleep duration (DISCONNECT Duration), seconds
	nextID   uint16 // MsgIds of REGISTER and packet ids of SUBSCRIBE / UNSUBSCRIBE
	lastIn   int64  // gateway clock of the last message from the client
	lastUp   int64  // gateway clock of the last packet sent upstream
	deadline int64  // set-up phases: when to give up

	up     UpstreamConn
	gen    uint32    // generation of up: callbacks of a replaced connection are told apart
	sw     *willSwap // the reconnection that hands a changed will to the broker, while it runs
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
	bytes  int // the octets of the topics and payloads in q
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
	o.bytes += msgBytes(p)
	if p.QoS == 0 {
		o.qos0++
	}
}

// msgBytes is what a queued message counts against Options.MaxQueuedBytes.
func msgBytes(p *packet.Publish) int { return len(p.Topic) + len(p.Payload) }

func (o *outbox) pop() *packet.Publish {
	p := o.q[o.head]
	o.q[o.head] = nil
	o.head++
	o.bytes -= msgBytes(p)
	if p.QoS == 0 {
		o.qos0--
	}
	if o.head == len(o.q) {
		o.q, o.head = o.q[:0], 0
	}
	return p
}

// dropOldestQoS0 removes the oldest QoS 0 message waiting; false when there is none.
func (o *outbox) dropOldestQoS0() bool {
	for i := o.head; i < len(o.q); i++ {
		if o.q[i].QoS == 0 {
			o.bytes -= msgBytes(o.q[i])
			copy(o.q[i:], o.q[i+1:])
			o.q[len(o.q)-1] = nil
			o.q = o.q[:len(o.q)-1]
			o.qos0--
			return true
		}
	}
	return false
}

func (o *outbox) idle() bool { return o.cur == nil && o.len() == 0 }

// topicTable holds the normal topic ids of one client. It holds at most Options.MaxTopics;
// when full, a new topic takes the place of the least recently used entry the gateway
// registered itself (for a wildcard subscription's matches), under a fresh number so that a
// stale id names nothing rather than the wrong topic. Entries the client asked for (its
// REGISTERs, the ids SUBACK gave) are pinned: it may publish on them at any time. Lookups
// are linear over the few topics of a sensor, through maps beyond topicIndexAt.
type topicTable struct {
	e      []topicEntry
	byName map[string]int32 // positions in e, beyond topicIndexAt entries
	byID   map[uint16]int32
	next   uint16 // the last id assigned
	clock  uint32 // counts uses, for the least recently used
	bytes  int    // the octets of the names
}

// topicEntryOverhead approximates what an entry costs beyond its name (the entry, and the
// two map entries of a large table).
const topicEntryOverhead = 64

type topicEntry struct {
	name   string
	used   uint32
	id     uint16
	pinned bool
}

const topicIndexAt = 16

func (t *topicTable) find(id uint16) int {
	if t == nil || id == 0 {
		return -1
	}
	if t.byID != nil {
		if i, ok := t.byID[id]; ok {
			return int(i)
		}
		return -1
	}
	for i := range t.e {
		if t.e[i].id == id {
			return i
		}
	}
	return -1
}

func (t *topicTable) findName(name string) int {
	if t == nil {
		return -1
	}
	if t.byName != nil {
		if i, ok := t.byName[name]; ok {
			return int(i)
		}
		return -1
	}
	for i := range t.e {
		if t.e[i].name == name {
			return i
		}
	}
	return -1
}

func (t *topicTable) touch(i int) {
	t.clock++
	t.e[i].used = t.clock
}

// name returns the topic of id, and counts it as used.
func (t *topicTable) name(id uint16) (string, bool) {
	i := t.find(id)
	if i < 0 {
		return "", false
	}
	t.touch(i)
	return t.e[i].name, true
}

// id returns the id of name, and counts it as used.
func (t *topicTable) id(name string) (uint16, bool) {
	i := t.findName(name)
	if i < 0 {
		return 0, false
	}
	t.touch(i)
	return t.e[i].id, true
}

// add returns the id of name, assigning one when it has none: the next free number for
// which skip (when not nil) is false. pinned marks an entry the client asked for. While the
// table holds max entries, or the new name would take its names beyond maxBytes octets,
// the least recently used unpinned entry other than keep gives its place; ok is false when
// there is none.
func (t *topicTable) add(name string, pinned bool, max, maxBytes int, skip func(uint16) bool, keep string) (uint16, bool) {
	if i := t.findName(name); i >= 0 {
		t.touch(i)
		t.e[i].pinned = t.e[i].pinned || pinned
		return t.e[i].id, true
	}
	if len(name) > maxBytes {
		return 0, false
	}
	max = min(max, 0xFFFE)
	for len(t.e) >= max || t.bytes+len(name) > maxBytes {
		victim := -1
		for i := range t.e {
			if !t.e[i].pinned && t.e[i].name != keep && (victim < 0 || t.e[i].used < t.e[victim].used) {
				victim = i
			}
		}
		if victim < 0 {
			return 0, false
		}
		t.remove(victim)
	}
	id, ok := t.freeID(skip)
	if !ok {
		return 0, false
	}
	t.e = append(t.e, topicEntry{name: name, id: id, pinned: pinned})
	t.bytes += len(name)
	i := len(t.e) - 1
	t.touch(i)
	if t.byID != nil {
		t.byID[id], t.byName[name] = int32(i), int32(i)
	} else if len(t.e) > topicIndexAt {
		t.byID, t.byName = make(map[uint16]int32, len(t.e)), make(map[string]int32, len(t.e))
		for j, x := range t.e {
			t.byID[x.id], t.byName[x.name] = int32(j), int32(j)
		}
	}
	return id, true
}

// freeID is the next id after t.next that no entry holds and skip does not exclude.
func (t *topicTable) freeID(skip func(uint16) bool) (uint16, bool) {
	id := t.next
	for range 0xFFFE {
		id++
		if id == 0 || id == 0xFFFF { // reserved [MQTT-SN 5.3.11]
			id = 1
		}
		if t.find(id) < 0 && (skip == nil || !skip(id)) {
			t.next = id
			return id, true
		}
	}
	return 0, false
}

// remove deletes entry i; the last entry takes its position.
func (t *topicTable) remove(i int) {
	last := len(t.e) - 1
	t.bytes -= len(t.e[i].name)
	if t.byID != nil {
		delete(t.byID, t.e[i].id)
		delete(t.byName, t.e[i].name)
		if i != last {
			t.byID[t.e[last].id], t.byName[t.e[last].name] = int32(i), int32(i)
		}
	}
	t.e[i] = t.e[last]
	t.e[last] = topicEntry{}
	t.e = t.e[:last]
}

// forget drops id when the client rejected it or lost it.
func (t *topicTable) forget(id uint16) {
	if i := t.find(id); i >= 0 {
		t.remove(i)
	}
}
