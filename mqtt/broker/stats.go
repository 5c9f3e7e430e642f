package broker

import (
	"sync/atomic"
	"time"
	"unsafe"
)

// DropReason says why a message was not delivered to a subscriber (or not
// routed at all). Stats counts each; Hooks.OnDrop reports each.
type DropReason uint8

const (
	// DropQueueFull: the session's queue was at MaxQueuedMessages or
	// MaxQueuedBytes (QoS 1/2), or a QoS 0 message found its consumer
	// too far behind.
	DropQueueFull DropReason = iota + 1
	// DropExpired: the Message Expiry Interval passed while queued [MQTT-3.3.2-5].
	DropExpired
	// DropTooLarge: larger than the subscriber's Maximum Packet Size
	// [MQTT-3.1.2-25], or the publisher's payload exceeded MessageSizeLimit.
	DropTooLarge
	// DropNotAuthorized: the publisher may not publish there ($SYS, the
	// Authorizer, or Hooks.OnPublish refused it).
	DropNotAuthorized
	// DropOffline: a QoS 0 message for a disconnected session, which does
	// not queue QoS 0 (Options.QueueQoS0 false).
	DropOffline
	// DropSessionEnded: still queued when its session ended.
	DropSessionEnded
	// DropSlowConsumer: a QoS 0 message for a connected client whose
	// socket has taken nothing for Options.StallAfter while its queue is
	// over the stalled budget (StalledQoS0Bytes, StalledQoS0Messages).
	DropSlowConsumer
	// DropMemoryLimit: message memory is near Options.MemoryLimit (QoS 0
	// for clients that are behind) or at it (every new message).
	DropMemoryLimit
	// DropStoreFailed: the store could not be written, and the message
	// would have needed it (retained, or for a stored session).
	DropStoreFailed

	numDropReasons = iota + 1
)

var dropNames = [numDropReasons]string{"", "queue full", "expired", "too large", "not authorized", "offline", "session ended", "slow consumer", "memory limit", "store failed"}

func (r DropReason) String() string {
	if int(r) < len(dropNames) && r > 0 {
		return dropNames[r]
	}
	return "unknown"
}

// statKind indexes the counters every connection updates, which are
// sharded (statShard) so that cores do not contend on one cache line.
type statKind uint8

const (
	statBytesRecv statKind = iota // all bytes read from clients
	statBytesSent
	statMsgsRecv // all MQTT packets
	statMsgsSent
	statPubRecv0 // PUBLISH received, by QoS (+0, +1, +2)
	statPubRecv1
	statPubRecv2
	statPubSent0 // PUBLISH sent, by QoS
	statPubSent1
	statPubSent2
	statPubBytesRecv // payload bytes
	statPubBytesSent
	statQueued // messages waiting in session queues (a gauge)
	statQueuedBytes
	statInflightBytes // messages sent and not yet acknowledged (a gauge)
	statHeldBytes     // bytes of the messages sessions hold, each counted once (Options.MemoryLimit only)
	statDropped       // + DropReason - 1
	numStatKinds      = statDropped + numDropReasons - 1
)

// statShards is how many copies of the hot counters there are; a
// connection (or session) always counts in the same one.
const statShards = 16

// statShard is one copy of the hot counters, padded to whole cache lines.
type statShard struct {
	v [numStatKinds]atomic.Int64
	_ [(128 - (unsafe.Sizeof([numStatKinds]atomic.Int64{}) % 128)) % 128]byte
}

// stats are the counters behind $SYS and Stats. The per-message ones are
// sharded; the rest change once per connection and are plain atomics.
type stats struct {
	shards [statShards]statShard

	connections      atomic.Int64 // accepted sockets and attached local conns, ever
	sockets          atomic.Int64 // open connections
	clientsConnected atomic.Int64
	clientsMax       atomic.Int64
	expired          atomic.Int64
	hookDropped      atomic.Int64 // hook events not delivered (queue full)
	paused           atomic.Int64 // publisher pauses for a backlogged subscriber (backlog.go)
}

func (s *stats) add(shard uint8, k statKind, n int64) { s.shards[shard].v[k].Add(n) }

func (s *stats) sum(k statKind) int64 {
	var t int64
	for i := range s.shards {
		t += s.shards[i].v[k].Load()
	}
	return t
}

func (s *stats) drop(shard uint8, r DropReason) {
	s.shards[shard].v[statDropped+statKind(r)-1].Add(1)
}

func (s *stats) dropped() int64 {
	var t int64
	for r := DropReason(1); r < numDropReasons; r++ {
		t += s.sum(statDropped + statKind(r) - 1)
	}
	return t
}

// Stats is a snapshot of the broker's counters: the same numbers $SYS
// publishes. Counts are since New; gauges (Clients*, Queued*, Retained,
// Subscriptions) are current.
type Stats struct {
	Uptime time.Duration

	Connections      int64 // connections accepted (and in-process attached), ever
	OpenConnections  int64 // sockets and in-process connections open now
	ClientsConnected int64 // connections past CONNACK
	ClientsMaximum   int64 // the most connected at once
	ClientsTotal     int64 // sessions, connected or not
	ClientsExpired   int64 // sessions ended by expiry

	BytesReceived, BytesSent     int64 // everything read and written
	PacketsReceived, PacketsSent int64 // MQTT packets of every type
	PublishReceived, PublishSent [3]int64
	PayloadReceived, PayloadSent int64 // PUBLISH payload bytes
	Queued, QueuedBytes          int64 // messages waiting in session queues
	InflightBytes                int64 // QoS 1/2 messages sent, not yet acknowledged
	Retained, RetainedBytes      int64
	Subscriptions, SharedSubs    int64
	Dropped                      map[DropReason]int64 // only reasons seen
	DroppedTotal                 int64
	HookEventsDropped            int64 // Hooks events lost because the hooks fell behind
	// PublishersPaused counts the times a publisher's connection stopped
	// being read because a subscriber it fed was far behind (backlog.go).
	PublishersPaused int64
}

// Stats returns the broker's counters now.
func (b *Broker) Stats() Stats {
	s := &b.stats
	b.mu.Lock()
	total := int64(b.sessions.len())
	b.mu.Unlock()
	st := Stats{
		Uptime:            time.Since(b.start),
		Connections:       s.connections.Load(),
		OpenConnections:   s.sockets.Load(),
		ClientsConnected:  s.clientsConnected.Load(),
		ClientsMaximum:    s.clientsMax.Load(),
		ClientsTotal:      total,
		ClientsExpired:    s.expired.Load(),
		BytesReceived:     s.sum(statBytesRecv),
		BytesSent:         s.sum(statBytesSent),
		PacketsReceived:   s.sum(statMsgsRecv),
		PacketsSent:       s.sum(statMsgsSent),
		PayloadReceived:   s.sum(statPubBytesRecv),
		PayloadSent:       s.sum(statPubBytesSent),
		Queued:            s.sum(statQueued),
		QueuedBytes:       s.sum(statQueuedBytes),
		InflightBytes:     s.sum(statInflightBytes),
		Retained:          int64(b.retained.count()),
		RetainedBytes:     b.retained.bytes(),
		Subscriptions:     int64(b.index.Count()),
		SharedSubs:        int64(b.index.SharedCount()),
		HookEventsDropped: s.hookDropped.Load(),
		PublishersPaused:  s.paused.Load(),
		Dropped:           map[DropReason]int64{},
	}
	for q := range 3 {
		st.PublishReceived[q] = s.sum(statPubRecv0 + statKind(q))
		st.PublishSent[q] = s.sum(statPubSent0 + statKind(q))
	}
	for r := DropReason(1); r < numDropReasons; r++ {
		if n := s.sum(statDropped + statKind(r) - 1); n > 0 {
			st.Dropped[r] = n
			st.DroppedTotal += n
		}
	}
	return st
}
