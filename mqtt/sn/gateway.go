package sn

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mqttkit/mqtt/mqtt/packet"
)

// Options configure a Gateway. The zero value of each field takes the default documented on
// it; DefaultOptions returns them filled in.
type Options struct {
	// GatewayID is the GwId of ADVERTISE and GWINFO [MQTT-SN 5.3.6].
	GatewayID byte
	// AdvertiseInterval is T_ADV, the period of ADVERTISE [MQTT-SN 6.1]; 0 sends none. At
	// most 65535 s (the Duration field).
	AdvertiseInterval time.Duration
	// AdvertiseAddr is where ADVERTISE goes, typically a broadcast or multicast address
	// (the socket needs SO_BROADCAST for a broadcast one; ListenUDP sets it).
	AdvertiseAddr netip.AddrPort
	// Predefined topics [MQTT-SN 6.7]; nil: none.
	Predefined *Predefined

	// ProtocolVersion of the upstream MQTT connections: packet.V311 (default), V31 or V5.
	ProtocolVersion byte
	// Credentials sent in every upstream CONNECT.
	Username    string
	HasUsername bool
	Password    []byte
	HasPassword bool
	// ConnectProperties are sent in MQTT 5 CONNECTs. When Session Expiry is not set, a
	// client without CleanSession gets "never"; Receive Maximum defaults to MaxQueued.
	ConnectProperties packet.Properties
	// QoSMinus1ClientID is the client id of the one upstream connection that carries the
	// QoS −1 publishes of unconnected clients [MQTT-SN 6.8]. Default
	// "mqtt-sn-gateway-GWID-qos-1-" and 8 random hexadecimal digits (with MQTT 3.1, whose
	// client ids have at most 23 characters, "mqttsn-GWID-" and 12), a new suffix for each
	// set of defaults: two gateways in front of one broker (two mqttsn listeners, or two
	// sn-gateway processes, with the same GatewayID) must not share it, or each would take
	// the other's connection over for as long as both run.
	QoSMinus1ClientID string

	// RetryInterval is T_RETRY: how long the gateway waits for the client's answer to a
	// REGISTER, PUBLISH or PUBREL before sending it again [MQTT-SN 6.13]. Default 10 s.
	RetryInterval time.Duration
	// MaxRetries is N_RETRY: retransmissions before the client counts as lost. Default 3.
	MaxRetries int
	// ConnectTimeout bounds opening the upstream connection and waiting for CONNACK, and
	// each step of the will dialogue. Default 30 s.
	ConnectTimeout time.Duration

	// MaxClients bounds the clients the gateway keeps state for, connected, asleep or
	// remembered for CleanSession false. CONNECTs beyond it get "rejected: congestion".
	// Default 100,000.
	MaxClients int
	// MaxStoredBytes bounds what the gateway remembers of CleanSession false clients that
	// disconnected (their wills and topic names), in octets over all of them: beyond it
	// (or beyond MaxClients of them) the one that disconnected first is forgotten, and its
	// next CONNECT starts without its topic ids and remembered will (a PUBLISH on an old id
	// gets "rejected: invalid topic ID", which tells the client to register again).
	// Default 64 MiB: without it, 100,000 remembered clients with their topic tables full
	// of long names could hold gigabytes for ever.
	MaxStoredBytes int
	// MaxConnecting bounds the upstream connections being opened at once. Default 256.
	// CONNECTs beyond it wait in a queue, in order, up to MaxConnectQueue (default
	// 16,384); beyond that they get "rejected: congestion". A client waits at most
	// ConnectTimeout from its CONNECT for its CONNACK, queued or not.
	MaxConnecting   int
	MaxConnectQueue int
	// MaxQueued bounds the QoS 0 messages buffered for one client (while it sleeps, or
	// behind a message in flight): beyond it the oldest is dropped, since with sensor data
	// the latest readings matter. QoS 1 and 2 messages are not dropped: the broker's
	// inflight window bounds them. Default 1000.
	MaxQueued int
	// MaxQueuedBytes bounds the octets (topics and payloads) buffered for one client: a
	// message that would take the buffer beyond it first drops the oldest QoS 0 messages
	// (counted), and a QoS 0 message that still does not fit is dropped itself; QoS 1/2
	// messages are kept, the broker's window bounds them. Default 4 MiB: 1000 messages of
	// 50 KiB for each sleeping client would be 50 MB each.
	MaxQueuedBytes int
	// DeliveryBurst and DeliveryPause pace a backlog (what a sleeping client gets when it
	// wakes up, or QoS 0 messages queued behind one in flight): at most DeliveryBurst
	// messages, and at most 64 KiB, are sent back to back, then the gateway pauses for
	// DeliveryPause, so that a client's receive buffer is not overrun (UDP has no flow
	// control and QoS 0 no acknowledgement). Defaults 32 and 10 ms: 1,000 messages take
	// about 0.3 s.
	DeliveryBurst int
	DeliveryPause time.Duration
	// MaxTopics bounds the normal topic ids one client holds. Default 1024. When the table
	// is full, a topic the gateway has to REGISTER (a match of a wildcard subscription)
	// takes the place of the least recently used id the gateway registered itself, under
	// a fresh number, and a recycled topic is registered again on its next message: no
	// message is lost. Ids the client asked for (REGISTER, SUBSCRIBE by name) are never
	// recycled; a REGISTER from a client whose own ids fill the table gets "rejected:
	// congestion".
	MaxTopics int
	// MaxTopicBytes bounds the octets of the topic names one client holds ids for, as
	// MaxTopics bounds their number, and full the same way. Default 256 KiB: 1024 names of
	// 256 octets (1024 names of up to 65,535 would be 64 MiB per client).
	MaxTopicBytes int
	// MaxMessageSize bounds the MQTT-SN messages the gateway sends a client, in octets (a
	// Forwarder Encapsulation included): a PUBLISH from the broker that would be larger is
	// dropped (and acknowledged to the broker, so that it is not sent again), as is one
	// whose topic would need a REGISTER larger than this. Default, and
	// upper bound: what one UDP datagram holds, 65,507 octets over IPv4 and 65,527 over
	// IPv6. Set it lower for links that cannot carry large datagrams.
	MaxMessageSize int
	// MaxInflight bounds one client's QoS 1/2 PUBLISHes awaiting the broker; more get
	// "rejected: congestion". Default 64.
	MaxInflight int
	// SweepInterval is how often keep alive, sleep and set-up timers are checked: their
	// resolution. Default 1 s. Retransmissions have timers of their own, on time.
	SweepInterval time.Duration
}

// DefaultOptions returns the documented defaults.
func DefaultOptions() Options {
	var o Options
	o.setDefaults()
	return o
}

func (o *Options) setDefaults() {
	if o.ProtocolVersion == 0 {
		o.ProtocolVersion = packet.V311
	}
	if o.QoSMinus1ClientID == "" {
		o.QoSMinus1ClientID = defaultQoSMinus1ClientID(o.GatewayID, o.ProtocolVersion)
	}
	if o.RetryInterval <= 0 {
		o.RetryInterval = 10 * time.Second
	}
	if o.MaxRetries <= 0 {
		o.MaxRetries = 3
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 30 * time.Second
	}
	if o.MaxClients <= 0 {
		o.MaxClients = 100_000
	}
	if o.MaxConnecting <= 0 {
		o.MaxConnecting = 256
	}
	if o.MaxConnectQueue <= 0 {
		o.MaxConnectQueue = 16384
	}
	if o.MaxQueued <= 0 {
		o.MaxQueued = 1000
	}
	if o.MaxQueuedBytes <= 0 {
		o.MaxQueuedBytes = 4 << 20
	}
	if o.MaxTopicBytes <= 0 {
		o.MaxTopicBytes = 256 << 10
	}
	if o.MaxStoredBytes <= 0 {
		o.MaxStoredBytes = 64 << 20
	}
	if o.DeliveryBurst <= 0 {
		o.DeliveryBurst = 32
	}
	if o.DeliveryPause <= 0 {
		o.DeliveryPause = 10 * time.Millisecond
	}
	if o.MaxTopics <= 0 {
		o.MaxTopics = 1024
	}
	if o.MaxInflight <= 0 {
		o.MaxInflight = 64
	}
	if o.SweepInterval <= 0 {
		o.SweepInterval = time.Second
	}
}

// defaultQoSMinus1ClientID is a client id for the QoS −1 connection that no other gateway
// uses (see Options.QoSMinus1ClientID).
func defaultQoSMinus1ClientID(gwID, version byte) string {
	var r [6]byte
	_, _ = rand.Read(r[:]) // never fails (crypto/rand)
	if version == packet.V31 {
		return "mqttsn-" + strconv.Itoa(int(gwID)) + "-" + hex.EncodeToString(r[:])
	}
	return "mqtt-sn-gateway-" + strconv.Itoa(int(gwID)) + "-qos-1-" + hex.EncodeToString(r[:4])
}

// Stats are the gateway's counters since it started.
type Stats struct {
	Received  uint64 // datagrams read
	Sent      uint64 // datagrams written
	Malformed uint64 // datagrams that did not decode
	Dropped   uint64 // messages dropped: out of state, unknown sender, full queues, ...
	Rejected  uint64 // messages answered with a rejecting return code
	QoSMinus1 uint64 // QoS −1 publishes forwarded
	Queued    int    // messages from the broker waiting for their clients (asleep, or behind one in flight)
	Clients   int    // clients with state now (connecting, active, asleep, awake)
	Stored    int    // CleanSession false clients remembered while disconnected
}

// Gateway is a transparent MQTT-SN 1.2 gateway [MQTT-SN 4]: it reads MQTT-SN from a UDP
// socket, gives each client one upstream MQTT connection (Upstream), translates messages
// both ways and keeps the per-client state the translation needs. See the package doc.
type Gateway struct {
	opts  Options
	up    Upstream
	log   *slog.Logger
	start time.Time

	pc  net.PacketConn
	udp *net.UDPConn // pc, when it is one: allocation-free reads and writes

	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.Mutex
	byPeer map[peerKey]*session
	byID   map[string]*session
	stored map[string]*stored
	// storedQ is the order in which clients were remembered, oldest first (entries whose
	// client connected again or was remembered anew are skipped); storedBytes their cost.
	storedQ     []*stored
	storedHead  int
	storedBytes int
	closed      bool

	queued atomic.Int64 // messages waiting in outboxes

	// Set-ups: upstream connections being opened (at most MaxConnecting, each by one
	// goroutine), and the clients waiting for one of them, in order. A leaf lock.
	connMu    sync.Mutex
	opening   int
	connQ     []*session
	connQHead int

	anon anonSession

	logLim logLimiter // debug lines about dropped datagrams, per address (ratelog.go)

	wg   sync.WaitGroup // the read loop, the sweep, Open calls
	upWG sync.WaitGroup // upstream connections until their onClose

	// The pacer: sessions with a backlog waiting for their next burst (pump).
	paceMu   sync.Mutex
	paced    []*session
	paceKick chan struct{}

	// Retransmission deadlines, earliest first (retry.go). A leaf lock.
	retryMu   sync.Mutex
	retryQ    retryHeap
	retryKick chan struct{}

	// The upstream worker: Sends and Closes the callbacks may not make themselves.
	taskMu     sync.Mutex
	tasks      []upTask
	kick       chan struct{}
	stopWorker chan struct{}
	workerDone chan struct{}

	received, sent, malformed, dropped, rejected, qosM1 atomic.Uint64

	bufs sync.Pool      // *[]byte encode buffers for goroutines other than the read loop
	pub  packet.Publish // the read loop's PUBLISH to send upstream (Send keeps nothing)
}

// stored is what the gateway remembers of a CleanSession false client that disconnected:
// its will and topic ids [MQTT-SN 6.3].
type stored struct {
	id     string
	will   *will
	topics *topicTable
	cost   int
}

// storedOverhead approximates what a remembered client costs beyond its strings.
const storedOverhead = 256

func (st *stored) size() int {
	n := storedOverhead + len(st.id)
	if st.will != nil {
		n += len(st.will.topic) + len(st.will.msg)
	}
	if st.topics != nil {
		n += st.topics.bytes + len(st.topics.e)*topicEntryOverhead
	}
	return n
}

// New returns a gateway that opens upstream connections with up. logger may be nil.
func New(opts Options, up Upstream, logger *slog.Logger) (*Gateway, error) {
	if up == nil {
		return nil, errors.New("mqtt-sn gateway: no upstream")
	}
	switch opts.ProtocolVersion {
	case 0, packet.V31, packet.V311, packet.V5:
	default:
		return nil, fmt.Errorf("mqtt-sn gateway: unsupported MQTT protocol version %d", opts.ProtocolVersion)
	}
	if opts.AdvertiseInterval > 65535*time.Second {
		return nil, fmt.Errorf("mqtt-sn gateway: advertise interval %s exceeds 65535 s", opts.AdvertiseInterval)
	}
	if opts.AdvertiseInterval > 0 && !opts.AdvertiseAddr.IsValid() {
		return nil, errors.New("mqtt-sn gateway: an advertise interval needs an advertise address")
	}
	opts.setDefaults()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Gateway{
		opts: opts, up: up, log: logger, start: time.Now(),
		byPeer: map[peerKey]*session{}, byID: map[string]*session{}, stored: map[string]*stored{},
		kick: make(chan struct{}, 1), stopWorker: make(chan struct{}), workerDone: make(chan struct{}),
		paceKick: make(chan struct{}, 1), retryKick: make(chan struct{}, 1),
	}, nil
}

// Start serves pc in the background until Close (or ctx ends). pc is typically from
// ListenUDP; the gateway closes it.
func (g *Gateway) Start(ctx context.Context, pc net.PacketConn) error {
	g.mu.Lock()
	if g.pc != nil || g.closed {
		g.mu.Unlock()
		return errors.New("mqtt-sn gateway: already started")
	}
	g.pc = pc
	g.udp, _ = pc.(*net.UDPConn)
	g.ctx, g.cancel = context.WithCancel(ctx)
	g.mu.Unlock()
	g.wg.Add(4)
	go g.readLoop()
	go g.sweepLoop()
	go g.paceLoop()
	go g.retryLoop()
	go g.worker()
	return nil
}

// Serve is Start, then waits until ctx ends and closes the gateway.
func (g *Gateway) Serve(ctx context.Context, pc net.PacketConn) error {
	if err := g.Start(ctx, pc); err != nil {
		return err
	}
	<-g.ctx.Done()
	return g.Close()
}

// Addr is the address the gateway reads from (nil before Start).
func (g *Gateway) Addr() net.Addr {
	if g.pc == nil {
		return nil
	}
	return g.pc.LocalAddr()
}

// Close stops the gateway: connected and awake clients get DISCONNECT, upstream connections
// end with a DISCONNECT (so no will is published: the clients did not fail), and Close waits
// for every goroutine the gateway started.
func (g *Gateway) Close() error {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		g.wg.Wait()
		g.upWG.Wait()
		return nil
	}
	g.closed = true
	started := g.pc != nil
	all := make([]*session, 0, len(g.byPeer))
	for _, s := range g.byPeer {
		all = append(all, s)
	}
	g.byPeer, g.byID = map[peerKey]*session{}, map[string]*session{}
	g.mu.Unlock()
	if !started {
		return nil
	}
	for _, s := range all {
		s.mu.Lock()
		if s.state == stActive || s.state == stAwake {
			g.sendTo(s.key, &Disconnect{}, nil)
		}
		up := g.closeLocked(s)
		s.mu.Unlock()
		g.endUpstream(up, true)
	}
	g.anon.close(g)
	g.cancel()
	err := g.pc.Close()
	g.wg.Wait()
	g.upWG.Wait() // the worker ends the connections; each reports its end
	close(g.stopWorker)
	<-g.workerDone
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

// Stats returns the counters.
func (g *Gateway) Stats() Stats {
	g.mu.Lock()
	clients, stored := len(g.byPeer), len(g.stored)
	g.mu.Unlock()
	return Stats{Received: g.received.Load(), Sent: g.sent.Load(), Malformed: g.malformed.Load(),
		Dropped: g.dropped.Load(), Rejected: g.rejected.Load(), QoSMinus1: g.qosM1.Load(),
		Queued: int(g.queued.Load()), Clients: clients, Stored: stored}
}

// now is the gateway clock: nanoseconds since New, monotonic.
func (g *Gateway) now() int64 { return int64(time.Since(g.start)) }

func seconds(s uint16) int64 { return int64(s) * int64(time.Second) }

// readLoop reads and handles every datagram, one at a time.
func (g *Gateway) readLoop() {
	defer g.wg.Done()
	if g.udp != nil && g.readBatches() {
		return
	}
	buf := make([]byte, MaxMessageSize+1)
	for {
		var n int
		var ap netip.AddrPort
		var err error
		if g.udp != nil {
			n, ap, err = g.udp.ReadFromUDPAddrPort(buf)
		} else {
			var a net.Addr
			n, a, err = g.pc.ReadFrom(buf)
			if ua, ok := a.(*net.UDPAddr); ok {
				ap = ua.AddrPort()
			}
		}
		if err != nil {
			if g.readFailed(err) {
				return
			}
			continue
		}
		g.received.Add(1)
		g.handleDatagram(netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), buf[:n])
	}
}

// readFailed handles a read error: true when the socket is closed, else it logs and pauses
// briefly (a transient error must not spin the loop).
func (g *Gateway) readFailed(err error) bool {
	if g.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
		return true
	}
	g.log.Warn("mqtt-sn gateway: read", "err", err)
	select {
	case <-g.ctx.Done():
		return true
	case <-time.After(100 * time.Millisecond):
	}
	return false
}

func (g *Gateway) handleDatagram(ap netip.AddrPort, b []byte) {
	if n := len(b); n > MaxMessageSize {
		g.malformed.Add(1)
		g.debugFrom(ap, "datagram too large", "from", ap, "bytes", n)
		return
	}
	m, err := Decode(b)
	if err != nil {
		g.malformed.Add(1)
		g.debugFrom(ap, "malformed datagram", "from", ap, "bytes", len(b), "err", err)
		return
	}
	key := peerKey{addr: ap}
	var radius byte
	if e, ok := m.(*Encapsulated); ok {
		key.node, m, radius = string(e.WirelessNodeID), e.Msg, e.Radius
	}
	g.handle(key, m, radius)
}

// debug logs a dropped or refused message at debug level without building the arguments
// when debug is off.
func (g *Gateway) debug(msg string, args ...any) {
	if g.log.Enabled(context.Background(), slog.LevelDebug) {
		g.log.Debug("mqtt-sn gateway: "+msg, args...)
	}
}

// drop counts and logs a message the gateway does not act on.
func (g *Gateway) drop(key peerKey, m Message, why string) {
	g.dropped.Add(1)
	if g.log.Enabled(context.Background(), slog.LevelDebug) {
		g.debugFrom(key.addr, "dropped "+m.Type().String(), "from", g.peerString(key), "reason", why)
	}
}

// logString is a string a client chose (a client id, a topic name) as it may appear in a
// log line: as it is when it is printable ASCII without spaces, quotes or backslashes, else
// quoted with strconv.Quote, so that no client can start a line of its own (a newline) or
// send escape sequences to a terminal through the log.
func logString(s string) string {
	if s == "" {
		return `""`
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == '"' || c == '\\' {
			return strconv.Quote(s)
		}
	}
	return s
}

// peerString is a client's address for logs: ADDR, or ADDR/NODEID in hexadecimal for a
// client behind a forwarder.
func (g *Gateway) peerString(k peerKey) string {
	if k.node == "" {
		return k.addr.String()
	}
	return fmt.Sprintf("%s/%X", k.addr, k.node)
}

// sendTo encodes m and writes it to key, through the forwarder when key has a node id. buf
// is an encode buffer owned by the caller, or nil to take one from the pool.
func (g *Gateway) sendTo(key peerKey, m Message, buf *[]byte) {
	g.sendRadius(key, m, 0, buf)
}

func (g *Gateway) sendRadius(key peerKey, m Message, radius byte, buf *[]byte) {
	if buf == nil {
		bp, _ := g.bufs.Get().(*[]byte)
		if bp == nil {
			b := make([]byte, 0, 512)
			bp = &b
		}
		defer g.bufs.Put(bp)
		buf = bp
	}
	var err error
	if key.node != "" {
		e := Encapsulated{Radius: radius, WirelessNodeID: []byte(key.node), Msg: m}
		*buf, err = Append((*buf)[:0], &e)
	} else {
		*buf, err = Append((*buf)[:0], m)
	}
	if err != nil {
		g.log.Error("mqtt-sn gateway: encoding "+m.Type().String(), "err", err)
		return
	}
	if g.udp != nil {
		_, err = g.udp.WriteToUDPAddrPort(*buf, key.addr)
	} else {
		_, err = g.pc.WriteTo(*buf, net.UDPAddrFromAddrPort(key.addr))
	}
	if err != nil {
		g.debug("write", "to", key.addr, "err", err)
		return
	}
	g.sent.Add(1)
}

// UDP payload limits: 65,535 less the IPv4 (20) or IPv6 (40, counted in its payload
// length) header and the UDP header (8).
const (
	maxUDP4 = 65535 - 20 - 8
	maxUDP6 = 65535 - 8
)

// maxSend is the largest message the gateway sends to key, encapsulation included.
func (g *Gateway) maxSend(key peerKey) int {
	n := maxUDP6
	if key.addr.Addr().Is4() {
		n = maxUDP4
	}
	if m := g.opts.MaxMessageSize; m > 0 && m < n {
		n = m
	}
	return n
}

// publishSize is the encoded size of a PUBLISH with n octets of data to key.
func publishSize(key peerKey, n int) int {
	total := frame(5 + n)
	if key.node != "" {
		total += 3 + len(key.node)
	}
	return total
}

// reply sends m to s's client. s.mu is held.
func (g *Gateway) reply(s *session, m Message) { g.sendTo(s.key, m, nil) }

// lookup returns the session of key.
func (g *Gateway) lookup(key peerKey) *session {
	g.mu.Lock()
	s := g.byPeer[key]
	g.mu.Unlock()
	return s
}

// handle dispatches one message from key. It runs on the read loop.
func (g *Gateway) handle(key peerKey, m Message, radius byte) {
	switch m := m.(type) {
	case *SearchGW:
		// [MQTT-SN 6.1] The gateway answers with its id; through a forwarder, with the
		// radius the client searched with.
		g.sendRadius(key, &GWInfo{GwID: g.opts.GatewayID}, m.Radius&3, nil)
		return
	case *Advertise, *GWInfo:
		return // another gateway's, or a client answering a SEARCHGW for us
	case *Connect:
		g.handleConnect(key, m)
		return
	case *Publish:
		if m.QoS == QoSMinus1 {
			g.handlePublishMinus1(key, m)
			return
		}
	case *Pingreq:
		if m.ClientID != "" {
			g.handleWake(key, m)
			return
		}
	}
	s := g.lookup(key)
	if s == nil {
		g.noSession(key, m)
		return
	}
	s.mu.Lock()
	if s.state == stClosed {
		s.mu.Unlock()
		g.noSession(key, m)
		return
	}
	s.lastIn = g.now()
	var p packet.Packet
	switch m := m.(type) {
	case *WillTopic:
		g.onWillTopic(s, m)
	case *WillMsg:
		g.onWillMsg(s, m)
	case *Register:
		g.onRegister(s, m)
	case *Regack:
		g.onRegack(s, m)
	case *Publish:
		if p = g.onPublish(s, m); p != nil {
			if err := g.unlockSend(s, p); err != nil {
				g.publishFailed(s, m, err)
			}
			return
		}
	case *Puback:
		g.onPuback(s, m)
	case *Pubrec:
		g.onPubrec(s, m)
	case *Pubrel:
		p = g.onPubrel(s, m)
	case *Pubcomp:
		g.onPubcomp(s, m)
	case *Subscribe:
		p = g.onSubscribe(s, m)
	case *Unsubscribe:
		p = g.onUnsubscribe(s, m)
	case *Pingreq:
		g.onPingreq(s)
	case *Disconnect:
		g.onDisconnect(s, m)
		return // it unlocks
	case *WillTopicUpd:
		g.onWillTopicUpd(s, m)
	case *WillMsgUpd:
		g.onWillMsgUpd(s, m)
	default:
		g.drop(key, m, "a gateway does not accept "+m.Type().String())
	}
	_ = g.unlockSend(s, p)
}

// noSession drops a message from an address without a session. When it is one a client
// sends only while connected, the client believes it has a session (it was lost, or it
// connected again from elsewhere, or the broker went away): DISCONNECT tells it to connect
// again [MQTT-SN 5.4.21]. The answer is never larger than what it answers, and a DISCONNECT
// is not answered: two gateways (or a spoofed one) would otherwise answer each other for
// ever.
func (g *Gateway) noSession(key peerKey, m Message) {
	g.drop(key, m, "no connection from this address")
	switch m.Type() {
	case PUBLISH, PUBACK, PUBCOMP, PUBREC, PUBREL, REGISTER, REGACK, SUBSCRIBE, UNSUBSCRIBE,
		PINGREQ, WILLTOPIC, WILLMSG, WILLTOPICUPD, WILLMSGUPD:
		g.sendTo(key, &Disconnect{}, nil)
	}
}

// unlockSend releases s.mu, then sends what the handlers queued in s.upq and p (when not
// nil) upstream: never with a lock held (see Upstream). It returns p's Send error.
func (g *Gateway) unlockSend(s *session, p packet.Packet) error {
	if s.holding() {
		// Reconnecting for a new will: it goes up once the new connection is ready.
		err := s.hold(s.upq, p)
		s.upq = nil
		s.mu.Unlock()
		return err
	}
	q, up := s.upq, s.up
	s.upq = nil
	if up != nil && (p != nil || len(q) > 0) {
		s.lastUp = g.now()
	}
	closing := s.state == stClosing
	s.mu.Unlock()
	if closing {
		g.end(s, false, true, "refused")
	}
	if up == nil {
		if p != nil {
			return ErrUpstreamClosed
		}
		return nil
	}
	for _, x := range q {
		if err := up.Send(x); err != nil {
			g.debug("upstream send", "packet", x.Type(), "err", err)
		}
	}
	if p == nil {
		return nil
	}
	return up.Send(p)
}

// unlock is unlockSend without a packet of its own.
func (g *Gateway) unlock(s *session) { _ = g.unlockSend(s, nil) }

// closeLocked marks s ended and returns its upstream connection for the caller to end
// once s.mu is released. The caller holds s.mu and has removed s from the maps.
func (g *Gateway) closeLocked(s *session) UpstreamConn {
	up := s.up
	s.state, s.up = stClosed, nil
	if s.out != nil {
		g.queued.Add(-int64(s.out.len()))
	}
	s.out, s.pubs, s.subs, s.upq = nil, nil, nil, nil
	return up
}

// endUpstream ends an upstream connection on the upstream worker: after the packets in
// first (a will to publish), with a DISCONNECT (no will) when graceful, else as a network
// failure (the broker publishes the will).
func (g *Gateway) endUpstream(up UpstreamConn, graceful bool, first ...packet.Packet) {
	if up == nil {
		return
	}
	if graceful {
		first = append(first, &packet.Disconnect{})
	}
	g.later(up, first, true)
}

// upTask is work for the upstream worker: packets to send, then maybe Close.
type upTask struct {
	up    UpstreamConn
	ps    []packet.Packet
	close bool
}

// later hands upstream work to the worker goroutine. The gateway's callbacks (onPacket,
// onClose) use it: they run on the upstream's goroutines, from which an in-process
// upstream (mqtt/broker's LocalConn) may not be sent to.
func (g *Gateway) later(up UpstreamConn, ps []packet.Packet, closeIt bool) {
	if up == nil || (len(ps) == 0 && !closeIt) {
		return
	}
	g.taskMu.Lock()
	g.tasks = append(g.tasks, upTask{up: up, ps: ps, close: closeIt})
	g.taskMu.Unlock()
	select {
	case g.kick <- struct{}{}:
	default:
	}
}

// worker runs upTasks in order until stop is closed and nothing is left.
func (g *Gateway) worker() {
	defer close(g.workerDone)
	var batch []upTask
	for {
		g.taskMu.Lock()
		batch, g.tasks = g.tasks, batch[:0]
		g.taskMu.Unlock()
		for i, t := range batch {
			for _, p := range t.ps {
				if err := t.up.Send(p); err != nil {
					g.debug("upstream send", "packet", p.Type(), "err", err)
				}
			}
			if t.close {
				_ = t.up.Close()
			}
			batch[i] = upTask{}
		}
		if len(batch) > 0 {
			continue
		}
		select {
		case <-g.kick:
		case <-g.stopWorker:
			g.taskMu.Lock()
			n := len(g.tasks)
			g.taskMu.Unlock()
			if n == 0 {
				return
			}
		}
	}
}

// unlockLater is unlockSend for the callbacks: s.upq goes to the worker.
func (g *Gateway) unlockLater(s *session) {
	if s.holding() {
		_ = s.hold(s.upq, nil)
		s.upq = nil
		s.mu.Unlock()
		return
	}
	q, up := s.upq, s.up
	s.upq = nil
	if up != nil && len(q) > 0 {
		s.lastUp = g.now()
	}
	s.mu.Unlock()
	g.later(up, q, false)
}

// unmap removes s from the gateway's maps if it is still there. g.mu is held.
func (g *Gateway) unmapLocked(s *session) {
	if g.byPeer[s.key] == s {
		delete(g.byPeer, s.key)
	}
	if g.byID[s.id] == s {
		delete(g.byID, s.id)
	}
}

// end ends session s: it leaves the maps, the client is told with DISCONNECT when tell,
// and the upstream connection ends gracefully (DISCONNECT, no will) or as a failure. A
// CleanSession false client is remembered. s.mu is not held by the caller.
func (g *Gateway) end(s *session, tell, graceful bool, why string) {
	g.mu.Lock()
	g.unmapLocked(s)
	s.mu.Lock()
	if s.state == stClosed {
		s.mu.Unlock()
		g.mu.Unlock()
		return
	}
	g.rememberLocked(s)
	if tell {
		g.sendTo(s.key, &Disconnect{}, nil)
	}
	var first []packet.Packet
	if !graceful && s.willUpd && s.up == nil && s.sw != nil && s.sw.phase == swapClosing {
		// Lost between the connections of a reconnection for a new will: the new one
		// carries the will, and ends without DISCONNECT (swapUpstream).
		s.sw.lost = true
	}
	if !graceful && s.willUpd && s.up != nil {
		// The will changed after CONNECT: the broker holds the old one, so the gateway
		// publishes the new one and ends the connection without a will [MQTT-SN 6.4].
		if p := g.willPublish(s); p != nil {
			first = append(first, p)
		}
		graceful = true
	}
	if s.state >= stActive {
		g.log.Info("MQTT-SN client disconnected", "client", logString(s.id), "state", stateNames[s.state], "reason", why)
	} else {
		g.debug("MQTT-SN client ended before CONNACK", "client", logString(s.id), "state", stateNames[s.state], "reason", why)
	}
	up := g.closeLocked(s)
	s.mu.Unlock()
	g.mu.Unlock()
	g.endUpstream(up, graceful, first...)
}

// rememberLocked keeps a CleanSession false client's will and topics for its next
// CONNECT. Both mu are held.
func (g *Gateway) rememberLocked(s *session) {
	if s.clean || s.state < stActive || s.id == "" {
		return
	}
	g.forgetStoredLocked(s.id)
	st := &stored{id: s.id, will: s.will, topics: s.topics}
	st.cost = st.size()
	for len(g.stored) > 0 && (len(g.stored) >= g.opts.MaxClients || g.storedBytes+st.cost > g.opts.MaxStoredBytes) {
		// Full: forget the one remembered first.
		old := g.storedQ[g.storedHead]
		g.storedQ[g.storedHead] = nil
		g.storedHead++
		if g.stored[old.id] == old {
			g.forgetStoredLocked(old.id)
			g.debug("forgot a disconnected client's topic ids and will: too much remembered", "client", logString(old.id))
		}
	}
	if st.cost > g.opts.MaxStoredBytes {
		return
	}
	g.stored[s.id] = st
	g.storedBytes += st.cost
	if g.storedHead > 0 && g.storedHead >= len(g.storedQ)/2 {
		n := copy(g.storedQ, g.storedQ[g.storedHead:])
		clear(g.storedQ[n:])
		g.storedQ, g.storedHead = g.storedQ[:n], 0
	}
	g.storedQ = append(g.storedQ, st)
}

// takeStoredLocked removes and returns what the gateway remembers of client id, or nil.
// g.mu is held.
func (g *Gateway) takeStoredLocked(id string) *stored {
	st := g.stored[id]
	g.forgetStoredLocked(id)
	return st
}

// forgetStoredLocked forgets client id; its entry in storedQ is skipped when reached. g.mu
// is held.
func (g *Gateway) forgetStoredLocked(id string) {
	if st := g.stored[id]; st != nil {
		delete(g.stored, id)
		g.storedBytes -= st.cost
	}
	if len(g.stored) == 0 {
		clear(g.storedQ)
		g.storedQ, g.storedHead = g.storedQ[:0], 0
	}
}

// willPublish is the PUBLISH of s's current will, or nil when it has none. s.mu is held.
func (g *Gateway) willPublish(s *session) *packet.Publish {
	w := s.will
	if w == nil || w.topic == "" {
		return nil
	}
	p := &packet.Publish{Topic: w.topic, Payload: w.msg, Retain: w.retain}
	if w.qos > 0 {
		p.QoS = byte(w.qos)
		p.PacketID = g.freePacketID(s)
	}
	return p
}

// freePacketID returns an upstream packet id that no PUBLISH, SUBSCRIBE or UNSUBSCRIBE of s
// in flight uses. s.mu is held.
func (g *Gateway) freePacketID(s *session) uint16 {
	for range 65536 {
		s.nextID++
		if s.nextID == 0 {
			s.nextID = 1
		}
		if !s.idInUse(s.nextID) {
			return s.nextID
		}
	}
	return s.nextID
}

func (s *session) idInUse(id uint16) bool {
	for _, p := range s.pubs {
		if p.msgID == id {
			return true
		}
	}
	for _, r := range s.subs {
		if r.pid == id {
			return true
		}
	}
	return false
}

func (g *Gateway) remoteAddr(key peerKey) net.Addr { return net.UDPAddrFromAddrPort(key.addr) }
