package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mqttkit/mqtt/mqtt/topic"
)

// Options configure a Broker. They are plain data so that internal/config
// can fill them from mosquitto.conf; DefaultOptions documents every default.
//
// Start from DefaultOptions, not from the zero Options: in the zero value
// the timeouts and sizes that say "0 or negative: the default" (MaxInflight,
// ReceiveMaximum, MaxKeepAlive, ConnectTimeout, WriteTimeout,
// MaxConnectSize, MaxPendingConnectBytes, StallAfter, StalledQoS0Bytes,
// StalledQoS0Messages, AutoIDPrefix, Version) take their defaults, but
// switches and limits mean what they say: MaxQoS 0 grants only QoS 0,
// RetainAvailable false refuses retained messages, AllowZeroLengthClientID
// false refuses empty client ids, MaxQueued* 0 is no limit, and no
// Listeners means Serve has nothing to listen on (ServeListener and
// Attach still work). New refuses negative sizes and limits.
type Options struct {
	// Listeners are TCP addresses ("host:port") Serve and Start listen on.
	// DefaultOptions: 127.0.0.1:1883 and [::1]:1883, Mosquitto 2's "local
	// only mode"; nil: none.
	Listeners []string

	// Version is published on $SYS/broker/version. Default "mqtt version dev".
	Version string

	// MaxInflight caps the QoS 1/2 messages sent to one client and not yet
	// acknowledged; the window is the smaller of this and the client's
	// Receive Maximum (MQTT 5). Default 1024.
	MaxInflight int
	// MaxInflightBytes also holds QoS 1/2 messages back from a client
	// while the payload bytes it has not acknowledged reach it
	// (Mosquitto's max_inflight_bytes): a message is sent while fewer are
	// in flight, so one larger than the limit goes alone. 0: no limit;
	// at most 1 GiB.
	MaxInflightBytes int
	// ReceiveMaximum is sent in CONNACK (MQTT 5) and enforced on every
	// client: how many inbound QoS 1 and QoS 2 messages it may have
	// unacknowledged (QoS 2 until PUBREL; QoS 1 while its PUBACK waits for
	// the store). Beyond it an MQTT 5 client gets DISCONNECT 0x93
	// [MQTT-3.3.4-9]. Default 20, as Mosquitto's max_inflight_messages
	// (HiveMQ 10, EMQX 32); 0 or 65535: the protocol maximum, not sent.
	ReceiveMaximum uint16
	// MaxQueuedMessages and MaxQueuedBytes bound the messages waiting to
	// enter one session's inflight window (payload+topic bytes). 0 means no
	// limit. Defaults 100,000 messages and 256 MiB, chosen by measurement
	// (see doc.go and TestBurstQueueDepth).
	MaxQueuedMessages int
	MaxQueuedBytes    int
	// QueueQoS0 queues QoS 0 messages for disconnected persistent sessions
	// (Mosquitto's queue_qos0_messages). Default false.
	QueueQoS0 bool
	// UpgradeOutgoingQoS delivers every message at the subscription's QoS,
	// also above the QoS it was published at (Mosquitto's
	// upgrade_outgoing_qos; against [MQTT-3.8.4-8], for clients that need
	// it). Default false.
	UpgradeOutgoingQoS bool
	// CheckRetainSource asks the Authorizer, before a retained message is
	// sent to a new subscriber, whether its publisher may still publish
	// there (Mosquitto's check_retain_source, default true there and
	// here). Retained messages restored from a store have no known
	// publisher and are not checked.
	CheckRetainSource bool
	// A connected client whose socket has taken no bytes for StallAfter
	// has stopped reading: QoS 0 messages for it are dropped (counted as
	// DropSlowConsumer) while its queue holds StalledQoS0Bytes or
	// StalledQoS0Messages. One that reads, however slowly, keeps the
	// queue limits above, so a burst is not lost; one that stopped costs
	// at most this budget plus what arrives within StallAfter. QoS 1/2
	// keep the queue limits. Defaults 500 ms (a reader on a busy machine can
	// be descheduled for tens of milliseconds: 50 ms lost QoS 0 in a fan-in
	// burst whose subscriber was reading), 1 MiB, 10,000.
	StallAfter          time.Duration
	StalledQoS0Bytes    int
	StalledQoS0Messages int

	// MemoryLimit bounds the memory of queued, inflight and retained
	// messages across all sessions (Mosquitto's memory_limit), in bytes;
	// 0: no bound. From 90% of it, QoS 0 messages for clients that are
	// behind (their queue over StalledQoS0Bytes/Messages) are dropped; at
	// it, new messages are refused: MQTT 5 publishers get 0x97 Quota
	// exceeded, a 3.x QoS 1/2 publisher is disconnected unacknowledged
	// (it sends the message again), 3.x QoS 0 is dropped. One session's
	// queue holds at most a quarter of the limit: beyond it messages for
	// that session are dropped, so one client that never reads cannot
	// stop every publisher. All counted as DropMemoryLimit; the refusals
	// are logged once per episode. The Go
	// runtime's own soft limit is the embedding program's to set
	// (`mqtt serve` sets it from memory_limit).
	MemoryLimit int64

	// MaxConnectSize is the largest packet accepted before CONNECT is
	// accepted: a larger one is refused from its header on (MQTT 5:
	// CONNACK 0x95) and its bytes are never held, so an unauthenticated
	// connection holds at most this much. Up to 1 MiB of the rest is read
	// and dropped as it comes, so the client sees the refusal instead of a
	// reset, while it keeps coming and within ConnectTimeout.
	// MaxPendingConnectBytes bounds what all of them hold together; past
	// it, the connection that would exceed it is closed. Defaults 64 KiB
	// (strings in CONNECT are up to 64 KiB each, but real CONNECTs are a
	// few hundred bytes; raise it for wills with large payloads) and 16 MiB.
	MaxConnectSize         int
	MaxPendingConnectBytes int64

	// MaxPacketSize is the largest packet accepted from clients, announced
	// as Maximum Packet Size in CONNACK (MQTT 5). 0: protocol maximum.
	MaxPacketSize uint32
	// MessageSizeLimit is the largest PUBLISH payload accepted; larger ones
	// are dropped (MQTT 5 QoS>0: PUBACK/PUBREC 0x83, as Mosquitto). 0: no limit.
	MessageSizeLimit int
	// MaxKeepAlive caps the keep alive of MQTT 5 clients, who get a Server
	// Keep Alive when they ask for more (or for 0). Default 65535 (no cap).
	MaxKeepAlive uint16
	// MaxQoS is the highest QoS granted and accepted (0..2). Default 2.
	MaxQoS byte
	// RetainAvailable: when false a retained PUBLISH is refused. Default true.
	RetainAvailable bool
	// TopicAliasMaximum is the inbound topic alias limit sent in CONNACK
	// (MQTT 5). Default 10 (Mosquitto's max_topic_alias).
	TopicAliasMaximum uint16
	// OutboundTopicAliases lets the broker use topic aliases towards MQTT 5
	// clients that announce a Topic Alias Maximum. Default false: paho-mqtt
	// 2.1 for Python (and aiomqtt on it) announces one but never resolves
	// incoming aliases, so its application gets empty topics; Mosquitto
	// never sends aliases. Turn it on for clients known to handle them.
	OutboundTopicAliases bool
	// SilentShutdown makes Close end network connections without the MQTT 5
	// DISCONNECT 0x8B Server shutting down, as Mosquitto 2.0 does: its
	// mosquitto_sub (and other clients) exit on a server DISCONNECT but
	// reconnect after a lost connection, so a broker restart would end their
	// long-running subscribers. In-process connections (LocalConn) still get
	// the DISCONNECT.
	SilentShutdown bool
	// MaxConnections: network connections beyond it (all listeners
	// together) are closed on accept; in-process ones (Attach, Subscribe)
	// do not count. 0 or negative: no limit (default).
	// ListenerConfig.MaxConnections limits one listener.
	MaxConnections int
	// SysInterval is the $SYS publishing period; 0 disables $SYS. Default 10 s.
	SysInterval time.Duration
	// AllowZeroLengthClientID allows empty client ids (an id is assigned).
	// Default true.
	AllowZeroLengthClientID bool
	// AutoIDPrefix prefixes assigned client ids. Default "auto-".
	AutoIDPrefix string
	// ConnectTimeout closes connections whose CONNECT does not arrive in
	// time. Default 10 s.
	ConnectTimeout time.Duration
	// WriteTimeout closes a connection whose socket accepts no bytes for
	// this long (a subscriber that stopped reading). Default 30 s.
	WriteTimeout time.Duration
	// PersistentClientExpiration ends disconnected 3.x persistent sessions
	// (and MQTT 5 ones with "never" expiry) after this long. 0: never.
	PersistentClientExpiration time.Duration
	// ResponseInformation is returned to MQTT 5 clients that request it;
	// "%c" is replaced by the client id. Default "" (none is sent).
	ResponseInformation string

	// Authenticator checks CONNECT credentials; nil allows everyone.
	Authenticator Authenticator
	// Authorizer checks publish, subscribe and delivery; nil allows all.
	Authorizer Authorizer
	// Store keeps retained messages and session state; nil: in memory.
	Store Store
	// Hooks observe connections, subscriptions and messages, and may
	// refuse publishes; see Hooks for what they are guaranteed.
	Hooks Hooks

	// BlockingIO serves every connection from its own reader goroutine
	// instead of the epoll event loop that plain TCP, unix-socket and TLS
	// (TLSHandoff) connections get on Linux (websockets always use a
	// goroutine). Costs several times the memory per idle connection; see
	// doc.go.
	BlockingIO bool
}

// testKnobs are set by tests between New and Start; zero in production.
type testKnobs struct {
	// linger replaces activeLinger when set; hookWait runs in an
	// event-loop read run after it drained the socket, just before it
	// waits for more (netpoll_test.go injects bytes there).
	linger   time.Duration
	hookWait func(*conn)
	// noPollFiles makes pollFile fail as if out of descriptors.
	noPollFiles bool
	// maxPause replaces Broker.maxPause (StallAfter) when set.
	maxPause time.Duration
	// disconnectLinger replaces lingerAfterDisconnect when set.
	disconnectLinger time.Duration
	// handoff runs when the event loop's goroutine hands the loop on
	// (poller.handoff), with the connection it was reading inline.
	handoff func(*conn)
	// panicked sees every panic a connection's handlers recover from
	// (the fuzz targets fail on it).
	panicked func(any)
	// writev sees every vectored write (socketConn.writeBufs): how many
	// buffers, and whether the socket took less than all at once.
	writev func(bufs int, partial bool)
}

// DefaultOptions returns the documented defaults.
func DefaultOptions() Options {
	return Options{
		Listeners:               []string{"127.0.0.1:1883", "[::1]:1883"},
		Version:                 "mqtt version dev",
		MaxInflight:             1024,
		ReceiveMaximum:          20,
		MaxQueuedMessages:       100_000,
		MaxQueuedBytes:          256 << 20,
		StallAfter:              500 * time.Millisecond,
		CheckRetainSource:       true,
		MaxConnectSize:          64 << 10,
		MaxPendingConnectBytes:  16 << 20,
		StalledQoS0Bytes:        1 << 20,
		StalledQoS0Messages:     10_000,
		MaxKeepAlive:            65535,
		MaxQoS:                  2,
		RetainAvailable:         true,
		TopicAliasMaximum:       10,
		OutboundTopicAliases:    false,
		SysInterval:             10 * time.Second,
		AllowZeroLengthClientID: true,
		AutoIDPrefix:            "auto-",
		ConnectTimeout:          10 * time.Second,
		WriteTimeout:            30 * time.Second,
	}
}

// Broker is one MQTT broker. It holds no global state: several can run in
// one process.
type Broker struct {
	opts  Options
	log   *slog.Logger
	auth  Authenticator
	authz Authorizer // nil: allow all (saves an interface call per delivery)
	store Store

	index *topic.SubscriptionIndex[*Session]
	stats stats
	start time.Time

	mu        sync.Mutex // guards sessions, listeners, conns, closed; see LOCKS.md
	sessions  sessionTable
	listeners []net.Listener
	conns     connSet
	lconns    map[string]int // connections held against a listener's MaxConnections (admit), under mu
	closed    bool
	nconns    atomic.Int64 // network connections (Options.MaxConnections)
	work      *workers     // goroutines for read runs and writers, kept for reuse
	coal      *coalescer   // writers that wait for the coalescing window (coalesce.go)

	retained retainedIndex

	lcfgMu      sync.Mutex                                 // serializes SetListenerConfig
	lcfg        atomic.Pointer[map[string]*ListenerConfig] // by ListenerKey; copy on write
	mounts      atomic.Bool                                // some listener has a mount point
	llimits     atomic.Bool                                // some listener sets MaxQoS or TopicAliasMaximum
	storeErr    atomic.Bool                                // the store's last write failed
	memAcct     bool                                       // Options.MemoryLimit > 0: messages are counted (memHold)
	trace       atomic.Bool                                // the logger takes Debug lines: packets are traced (trace.go)
	memLevel    atomic.Int32                               // memoryLevel: 0, memTight or memFull (Options.MemoryLimit)
	memDropsAt  atomic.Int64                               // DropMemoryLimit count when the episode began
	memFullSaid atomic.Bool                                // this episode reached memory_limit itself and said so
	// storeFails counts failed commits (commitDone), so an ack can tell a
	// failure of its message's writes from its barrier's success.
	storeFails atomic.Uint64
	// storeLogAt is when the last failure was logged (UnixNano), and
	// storeLogged whether it was this episode's, so "works again" follows it.
	storeLogAt  atomic.Int64
	storeLogged atomic.Bool
	// storeFailAt is when a commit last failed (UnixNano); storeProbe how
	// long after it publishes that need the disk are refused before
	// routing (storeRefuses), 0 never.
	storeFailAt atomic.Int64
	storeProbe  atomic.Int64
	storeMax    int // StoreSizeLimit's MaxPacketSize; 0: no limit

	poll  *poller    // the event loop; nil with BlockingIO or where unsupported
	hookq *hookQueue // events for Options.Hooks; nil without event hooks

	shareMu   sync.Mutex // guards shareNext
	backlog   backlogWaits
	shareNext map[string]uint32

	idSeq          atomic.Uint64
	pendingConnect atomic.Int64  // bytes of partial packets held before CONNECT (conn.keepIn)
	shardSeq       atomic.Uint32 // hands out stats shards to connections

	knobs testKnobs // zero outside tests

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // accept loops, connections, $SYS loop
}

// ErrBrokerClosed is returned by the in-process API after Close.
var ErrBrokerClosed = errors.New("broker: closed")

// New returns a broker configured by opts. It does not listen yet.
func New(opts Options, logger *slog.Logger) (*Broker, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxQoS > 2 {
		return nil, fmt.Errorf("broker: max QoS %d: must be 0, 1 or 2", opts.MaxQoS)
	}
	if opts.MaxInflight <= 0 {
		opts.MaxInflight = 65535
	}
	if opts.MaxInflightBytes < 0 || opts.MaxInflightBytes > 1<<30 {
		return nil, fmt.Errorf("broker: max inflight bytes %d: must be 0 (no limit) to 1 GiB", opts.MaxInflightBytes)
	}
	if opts.ReceiveMaximum == 0 {
		opts.ReceiveMaximum = 65535
	}
	if opts.MaxKeepAlive == 0 {
		opts.MaxKeepAlive = 65535
	}
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = 10 * time.Second
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = 30 * time.Second
	}
	if opts.MaxConnectSize <= 0 {
		opts.MaxConnectSize = 64 << 10
	}
	if opts.MaxPendingConnectBytes <= 0 {
		opts.MaxPendingConnectBytes = 16 << 20
	}
	if opts.StallAfter <= 0 {
		opts.StallAfter = 500 * time.Millisecond
	}
	if opts.StalledQoS0Bytes <= 0 {
		opts.StalledQoS0Bytes = 1 << 20
	}
	if opts.StalledQoS0Messages <= 0 {
		opts.StalledQoS0Messages = 10_000
	}
	if opts.AutoIDPrefix == "" {
		opts.AutoIDPrefix = "auto-"
	}
	if opts.Version == "" {
		opts.Version = "mqtt version dev"
	}
	for _, v := range []struct {
		name string
		n    int64
	}{
		{"max queued messages", int64(opts.MaxQueuedMessages)},
		{"max queued bytes", int64(opts.MaxQueuedBytes)},
		{"message size limit", int64(opts.MessageSizeLimit)},
		{"memory limit", opts.MemoryLimit},
		{"sys interval", int64(opts.SysInterval)},
		{"persistent client expiration", int64(opts.PersistentClientExpiration)},
	} {
		if v.n < 0 {
			return nil, fmt.Errorf("broker: %s %d: must not be negative (0: none)", v.name, v.n)
		}
	}
	if opts.MaxConnectSize < 64 {
		return nil, fmt.Errorf("broker: max connect size %d: must be at least 64 bytes (a CONNECT with a client id and credentials)", opts.MaxConnectSize)
	}
	if opts.MaxPacketSize != 0 && opts.MaxPacketSize < 20 {
		return nil, fmt.Errorf("broker: max packet size %d: must be at least 20", opts.MaxPacketSize)
	}
	b := &Broker{
		opts:      opts,
		log:       logger,
		auth:      opts.Authenticator,
		authz:     opts.Authorizer,
		store:     opts.Store,
		index:     topic.NewIndex[*Session](),
		sessions:  newSessionTable(),
		lconns:    make(map[string]int),
		shareNext: make(map[string]uint32),
		start:     time.Now(),
		memAcct:   opts.MemoryLimit > 0,
		work:      newWorkers(),
		coal:      newCoalescer(),
	}
	b.lcfg.Store(&map[string]*ListenerConfig{})
	b.storeProbe.Store(int64(storeProbeEvery))
	if sl, ok := opts.Store.(StoreSizeLimit); ok {
		b.storeMax = sl.MaxPacketSize()
	}
	if b.auth == nil {
		b.auth = AllowAll{}
	}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	b.refreshTrace()
	go b.runCoalescer()
	if opts.Hooks.events() {
		b.hookq = &hookQueue{wake: make(chan struct{}, 1), stopped: make(chan struct{})}
		go b.runHooks()
	}
	if b.store != nil {
		if err := b.restore(); err != nil {
			b.cancel()
			b.stopHooks()
			return nil, err
		}
	}
	if !opts.BlockingIO {
		p, err := newPoller(b)
		if err != nil {
			logger.Warn("event loop unavailable, serving each connection from its own goroutine", "err", err)
		}
		b.poll = p
	}
	if b.poll != nil {
		b.wg.Add(1)
		go b.poll.loop()
	}
	b.wg.Add(1)
	go b.sweepLoop()
	if opts.SysInterval > 0 {
		b.wg.Add(1)
		go b.sysLoop()
	}
	return b, nil
}

// Start listens on every address of Options.Listeners and serves them in
// the background. It returns once all listeners are bound.
func (b *Broker) Start(ctx context.Context) error {
	if len(b.opts.Listeners) == 0 {
		return errors.New("broker: no listeners configured")
	}
	var lns []net.Listener
	for _, addr := range b.opts.Listeners {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return fmt.Errorf("broker: listen on %s: %w", addr, err)
		}
		lns = append(lns, ln)
	}
	for _, ln := range lns {
		b.log.Info("Opening ipv" + ipVersion(ln.Addr()) + " listen socket on port " + portOf(ln.Addr()) + ".")
		if err := b.addListener(ctx, ln); err != nil {
			for _, l := range lns {
				l.Close()
			}
			return err
		}
	}
	return nil
}

// Serve listens like Start and blocks until ctx is done or Close is
// called; then it closes the broker.
func (b *Broker) Serve(ctx context.Context) error {
	if err := b.Start(ctx); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
	case <-b.ctx.Done():
	}
	b.Close()
	return nil
}

// ServeListener serves connections from ln until ctx is done or the broker
// is closed. It closes ln before returning.
func (b *Broker) ServeListener(ctx context.Context, ln net.Listener) error {
	if err := b.addListener(ctx, ln); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
	case <-b.ctx.Done():
	}
	ln.Close()
	return nil
}

func (b *Broker) addListener(ctx context.Context, ln net.Listener) error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		ln.Close()
		return ErrBrokerClosed
	}
	b.listeners = append(b.listeners, ln)
	b.wg.Add(2)
	b.mu.Unlock()
	go func() { // close ln when ctx ends
		defer b.wg.Done()
		select {
		case <-ctx.Done():
			ln.Close()
		case <-b.ctx.Done():
		}
	}()
	go b.acceptLoop(ln)
	return nil
}

// Addrs returns the addresses the broker listens on.
func (b *Broker) Addrs() []net.Addr {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]net.Addr, 0, len(b.listeners))
	for _, ln := range b.listeners {
		out = append(out, ln.Addr())
	}
	return out
}

// Close stops listening, closes every connection (MQTT 5 clients get
// DISCONNECT 0x8B Server shutting down, unless Options.SilentShutdown) and
// waits for all goroutines.
func (b *Broker) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		b.wg.Wait()
		return nil
	}
	b.closed = true
	lns := b.listeners
	conns := slices.Clone(b.conns.s)
	b.mu.Unlock()
	b.cancel()
	for _, ln := range lns {
		ln.Close()
	}
	for _, c := range conns {
		r := reasonShutdown
		if _, local := c.t.(*LocalConn); b.opts.SilentShutdown && !local {
			r.send = false
		}
		c.close(r)
	}
	if b.poll != nil {
		b.poll.stop()
	}
	b.wg.Wait()
	<-b.coal.exited
	b.work.stop()
	if b.poll != nil {
		b.poll.release()
	}
	b.stopHooks()
	// Stop session timers so nothing fires after Close.
	b.mu.Lock()
	for s := range b.sessions.all() {
		s.mu.Lock()
		s.stopTimersLocked()
		s.mu.Unlock()
	}
	b.mu.Unlock()
	return nil
}

func (b *Broker) acceptLoop(ln net.Listener) {
	defer b.wg.Done()
	port := portOf(ln.Addr())
	var delay time.Duration
	var failures int
	for {
		nc, err := ln.Accept()
		if err != nil {
			if b.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			if !temporaryAccept(err) {
				b.log.Error("accept failed; no longer listening", "port", port, "err", err)
				return
			}
			// Out of descriptors (EMFILE, ENFILE), an aborted connection,
			// out of buffers: the listener stays; back off and try again.
			if failures == 0 {
				b.log.Warn("accept on port "+port+" failing, retrying until it works again", "err", err)
			}
			failures++
			if delay == 0 {
				delay = 5 * time.Millisecond
			} else if delay *= 2; delay > time.Second {
				delay = time.Second
			}
			select {
			case <-time.After(delay):
				continue
			case <-b.ctx.Done():
				return
			}
		}
		if failures > 0 {
			b.log.Info(fmt.Sprintf("accept on port %s works again after %d failures", port, failures))
			failures = 0
		}
		delay = 0
		if max := b.opts.MaxConnections; max > 0 && b.nconns.Load() >= int64(max) {
			b.log.Info("Client connection from " + deniedHost(nc.RemoteAddr()) + " denied: max_connections exceeded.")
			nc.Close()
			continue
		}
		admitted, ok := b.admit(port)
		if !ok {
			b.log.Info("Client connection from " + deniedHost(nc.RemoteAddr()) + " denied: max_connections exceeded.")
			nc.Close()
			continue
		}
		c, start := b.newConn(nc, port)
		if admitted {
			c.st.Or(stAdmitted)
		}
		if !b.register(c) {
			if admitted {
				b.unadmit(port)
			}
			c.t.release(errClosed)
			return
		}
		b.log.Info("New connection from " + c.logAddr() + " on port " + c.logPort() + ".")
		start()
	}
}

// deniedHost is how a refused connection's peer is logged: its host, or
// "<unknown>" for a unix socket's (as Mosquitto; its address is "@").
func deniedHost(a net.Addr) string {
	if a == nil || strings.HasPrefix(a.Network(), "unix") {
		return "<unknown>"
	}
	return hostOf(a.String())
}

// register adds a new connection to the broker (counted in b.wg until its
// teardown). It reports false once the broker is closed.
func (b *Broker) register(c *conn) bool {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return false
	}
	b.conns.add(c)
	b.wg.Add(1)
	b.mu.Unlock()
	if _, local := c.t.(*LocalConn); !local {
		b.nconns.Add(1) // Options.MaxConnections counts network connections only
	}
	b.stats.connections.Add(1)
	b.stats.sockets.Add(1)
	return true
}

// clock is the broker's monotonic time in nanoseconds.
func (b *Broker) clock() int64 { return int64(time.Since(b.start)) }

// ms is the broker's monotonic time in milliseconds, never 0 (it wraps
// after 24 days: compare with subtraction).
func (b *Broker) ms() int32 { return int32(b.clock()/1e6) | 1 }

// admit counts a connection accepted on listener key against its
// ListenerConfig.MaxConnections (Mosquitto's per-listener
// max_connections); it reports false, counting nothing, when the listener
// is full. counted says the connection holds a place, given back by
// removeConn (stAdmitted), or unadmit if it never registers.
func (b *Broker) admit(key string) (counted, ok bool) {
	lc := b.listenerConfig(key)
	if lc == nil || lc.MaxConnections <= 0 {
		return false, true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.lconns[key] >= lc.MaxConnections {
		return false, false
	}
	b.lconns[key]++
	return true, true
}

func (b *Broker) unadmit(key string) {
	b.mu.Lock()
	b.unadmitLocked(key)
	b.mu.Unlock()
}

func (b *Broker) unadmitLocked(key string) {
	if n, ok := b.lconns[key]; ok {
		if n <= 1 {
			delete(b.lconns, key)
		} else {
			b.lconns[key] = n - 1
		}
	}
}

func (b *Broker) removeConn(c *conn) {
	b.mu.Lock()
	b.conns.remove(c)
	if c.st.Load()&stAdmitted != 0 {
		b.unadmitLocked(c.info.Listener)
	}
	b.mu.Unlock()
	if _, local := c.t.(*LocalConn); !local {
		b.nconns.Add(-1)
	}
	b.stats.sockets.Add(-1)
}

func portOf(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return strconv.Itoa(ta.Port)
	}
	_, p, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return p
}

func ipVersion(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok && ta.IP.To4() == nil {
		return "6"
	}
	return "4"
}

// ListenerKey is the value ClientInfo.Listener has for the connections accepted from a
// listener bound to addr: its port, or its path for a unix socket. Auth hooks with settings
// per listener (internal/auth.FileAuth) use it to tell listeners apart.
func ListenerKey(addr net.Addr) string { return portOf(addr) }

// connSet is the broker's connections, under Broker.mu: a slice in which
// each connection knows its slot (conn.slot), so adding and removing one
// are O(1). It costs an idle connection 8-16 bytes of slice where a
// map[*conn] entry cost 29, and the sweep walks it every sweepEvery.
type connSet struct{ s []*conn }

func (cs *connSet) add(c *conn) {
	c.slot = int32(len(cs.s))
	cs.s = append(cs.s, c)
}

func (cs *connSet) has(c *conn) bool {
	return int(c.slot) < len(cs.s) && cs.s[c.slot] == c
}

// remove takes c out (if it is in), moving the last connection into its
// slot; a slice left three quarters empty is reallocated.
func (cs *connSet) remove(c *conn) {
	if !cs.has(c) {
		return
	}
	i, last := c.slot, len(cs.s)-1
	m := cs.s[last]
	cs.s[i], m.slot = m, i
	cs.s[last] = nil
	cs.s = cs.s[:last]
	if cap(cs.s) > 1024 && len(cs.s) < cap(cs.s)/4 {
		cs.s = append(make([]*conn, 0, 2*len(cs.s)), cs.s...)
	}
}
