// Package broker is an MQTT 3.1, 3.1.1 and 5.0 broker engine, the one
// behind `mqtt serve`, importable by other Go programs: a Broker value
// (New; Start, Serve or ServeListener; Close) with no global state, so
// two can run in one process.
//
// Beside the network it has an in-process API with the same routing,
// retained, QoS and ACL rules as a network client: Publish, Subscribe,
// Clients, Disconnect and Stats; Attach connects an in-process client (a
// LocalConn: packets in, packets out, no socket) for gateways and
// bridges; Hooks observe connections, subscriptions and messages and may
// refuse publishes; a Store persists what must survive a restart and
// gives it back when the broker starts (MemoryStore keeps it in memory;
// `mqtt serve --data` uses a bbolt file behind a journal). Authentication
// and authorization are the Authenticator and Authorizer interfaces: a
// program embedding the broker implements them (`mqtt serve` puts
// Mosquitto's password and ACL files on them).
//
// Files follow Mosquitto's handle_*.c, one concern each: connect.go,
// publish.go, subscribe.go, session.go, shared.go, retain.go, will.go,
// sys.go, stats.go, limits.go, persist.go; conn.go is one connection's
// protocol engine and transport*.go carry its bytes. LOCKS.md lists the
// locks and the order they are taken in.
//
// # Engine and transports
//
// conn is protocol state only: decoded packets go in (input, dispatch),
// and the writer encodes control packets and queued messages into one
// buffer that it hands to the connection's transport (transport.go), a
// small interface with four implementations, each embedding its conn in
// one allocation: socketConn, the epoll event loop on a bare descriptor
// (plain TCP and unix sockets on Linux); tlsConn, a socketConn that reads
// and writes through crypto/tls (TLS on Linux, see below); netConn, a
// reader goroutine per net.Conn (websockets, other systems,
// Options.BlockingIO); and LocalConn, in memory. Handlers never touch the
// network.
//
// # Hot path
//
// A read lands in a pooled 32 KiB buffer; PUBLISH is decoded in place and
// its handler copies topic and payload once into a shared, immutable
// Message (the only per-message allocations are the decoder's topic
// string and that Message, whose payload of up to 256 bytes is in the
// same allocation). route matches the subscription index (read-locked
// inside mqtt/topic), or takes the match from the read's route memo
// when the topic is the one the last message routed had and the index
// has not changed since (routeMemo: a publisher repeats its topic), and
// appends a
// delivery (a pointer to the Message plus per-subscriber flags) to each
// session's queue: a list of 128-entry chunks from a pool, never re-grown
// or copied. Only sessions that hold several subscriptions (flagMulti)
// have their matches sorted and merged; everyone else's go straight to
// their queue. Nothing is encoded or allocated per subscriber until its
// writer runs, which encodes into one pooled buffer (its own reused
// Publish value, with packet id, topic alias and properties for that
// connection) and writes up to 64 KiB per syscall. PUBACK goes back after
// routing (after the store's barrier when routing stored something); the
// reader writes what a batch of packets queued itself (writeInline)
// instead of waking a writer goroutine.
//
// Large messages are copied once, by the kernel into their packet's
// buffer. A packet larger than a read buffer is read into one of its own
// (growIn), which becomes its Message's payload as it is (inOwned); a
// payload of 16 KiB or more is not copied into the writer's buffer: its
// header is, and writev sends the payload from the Message, up to 16 of
// them and 256 KiB a call (vecMin, flushVec). A read that filled its
// buffer leaves its PUBACKs to the next read's batch (afterBatch), so a
// publisher streaming large messages gets them a few to a write. Fan-in
// 4→1 of 64 KiB payloads at QoS 1 (bench-compare's fanin-64k, 8,000
// messages), broker CPU per run, medians of 7 alternating runs: 0.70 s
// and 7,900 msgs/s before, 0.43 s and 11,900 msgs/s after; Mosquitto
// 0.42 s and 9,600 msgs/s, 12% lost. Where the time went before (perf):
// system calls 52% (the kernel's copies and TCP, 2 reads and 2 writes a
// message), copies 11% (the payload into the write buffer 6.5%, the
// read path's two), zeroing 8% (the read path's buffers, the write
// buffer's growth), page faults 8%, garbage collection ~9%; after: system
// calls 58% (1 read a message, a writev per ~4), zeroing of the packet
// buffer 8%, page faults 13% (most of them the runtime's scavenger
// returning heap that the next buffers take back: 66 MB a run), copies 3%,
// garbage collection ~8%. Read runs and writers run on
// goroutines kept for reuse (workers), and with many connections open a
// subscriber that was written to within the last millisecond gets its
// next messages together after it (coalesce.go), which is what keeps a
// fleet of lightly loaded connections cheap. The counters behind $SYS are
// sharded per connection (stats.go) so cores do not contend on them; the
// messages a PUBLISH queued count in its publisher's shard, once.
//
// # Network layer: event loop, measured against goroutine per connection
//
// At accept the event loop keeps a duplicate of the socket's descriptor
// and closes the net.Conn (ownSocket), so Go's netFD, its poll descriptor
// and the two addresses are gone. The socket is registered one-shot; when
// it is readable a short-lived goroutine reads it, dispatches the packets
// and, if the connection was already busy, keeps waiting for more until
// it has been quiet for 100 ms, then re-arms epoll and exits. A quiet
// connection's read (one message now and then: the fleet case) is done by
// the loop's own goroutine instead (readInline), answer included; what may
// wait hands the loop to a new goroutine first (leaveLoop). The loop itself
// parks on Go's poller (the epoll descriptor is registered there) and the
// socket calls are raw system calls, so thin traffic neither keeps a
// thread in epoll_wait nor keeps sysmon awake. Fleet, 5,000 clients at 1
// QoS 1 message/s, 4 subscribers, 20 s, broker CPU: 7.4 s before those
// three changes, 5.0-5.6 s after (Mosquitto 6.2-7.0 s). The writer
// goroutine exists only while there is output. Waiting with a deadline
// (that lingering reader, a writer whose socket is full) borrows a poll
// file: another duplicate wrapped in an os.File, i.e. registered with
// Go's own poller, made when the wait starts and closed when it ends
// (pollFile). Out of descriptors, a reader goes back to epoll instead and
// a writer retries its full socket with short sleeps (writeSlow). Read
// and write buffers come from pools while bytes flow. An idle connection
// therefore holds no goroutine, no buffer and no net.Conn: its
// socketConn (320-byte size class), Session (176 B), the descriptor, its
// address and client id. The MQTT 5 AUTH exchange is a state machine
// (pendingConnect), not a blocking read, so it runs on every transport.
//
// A lingering reader waits through syscall.RawConn.Read, which starts by
// clearing the readiness Go's poller had recorded; its callback therefore
// peeks (MSG_PEEK) before it says "wait", or bytes that arrived between our
// last read and the wait slept until the linger deadline (up to ~160 ms:
// fan-in QoS 1 went from ~150k to ~230k messages/s when that was fixed).
//
// We did not take lesismal/nbio or cloudwego/netpoll: only readiness and
// the non-blocking reads and writes are ours, every wait is Go's poller's,
// in ~250 lines with no dependency and no second TLS stack.
//
// Figures, 2-core Linux shared with other jobs, mqtt bench on loopback,
// 64-byte payloads. Resident memory per idle connection: RSS delta of the
// broker while `mqtt bench conn -c 10000` holds the connections, / 10,000
// (default GOGC; scripts/bench-compare.sh's memory scenario):
//
//	before (reader + writer goroutine, 4 KiB bufio.Reader, 16 KiB bufio.Writer)  19.3 KiB
//	goroutine per connection now (Options.BlockingIO: the reader goroutine
//	  holds a 16 KiB pool buffer while blocked in Read)                        12.0 KiB
//	event loop, socket kept in its net.Conn                                   2.2-2.4 KiB
//	event loop, bare descriptor (default)                                     1.4-1.6 KiB
//	Mosquitto 2.0.11                                                            0.7 KiB
//	mochi-mqtt v2                                                              87   KiB
//
// Owning the descriptor was measured against the alternatives before it was
// chosen. It removed ~0.35 KiB of live heap (netFD 128 B, two TCPAddr with
// their sockaddrs 160 B, TCPConn) and Go's pollDesc outside the heap
// (OtherSys fell from 6.2 to 3.9 MiB for 10,000 connections), and the GC
// headroom shrank with the heap. GOGC is an operator's knob, not a default
// here: GOGC=50 gives 1.33-1.35 KiB, GOGC=200 1.66 KiB.
//
// Throughput of the two read paths is the same within this machine's noise
// once a busy connection waits on Go's poller (without that, the raw epoll
// wake-up per batch cost fan-out ~30% more CPU per message); owning the
// descriptor changed none of the loads. scripts/bench-compare.sh,
// messages/s delivered (loss):
//
//	scenario              ours                   Mosquitto        mochi-mqtt          ours/best (low)
//	fan-in 4→1, QoS 0     754k-767k (0)          56k (0)          133k (27% lost)     5.7
//	fan-in 4→1, QoS 1     232k-237k (0)          12k (51% lost)   41k (0)             5.7
//	fan-out 1→50, QoS 0   2.16M-2.45M (0)        91k (0)          313k (0)            6.9
//	50 pairs, QoS 1       226k-239k (0)          14k (0)          57k (0)             4.0
//
// Fan-in at QoS 1 is bound by latency (each publisher keeps 20 messages in
// flight). Where the time goes (pprof, TestPerfServe): syscalls ~30% at
// QoS 1 (small batches), allocation and GC ~20% (the decoder's Publish,
// Message, payload), routing and queues ~15%.
//
// # TLS on the event loop
//
// A TLS listener's connections (internal/listener's TLSConn) are
// TLSHandoffs: the broker takes the TCP connection under one and runs the
// server handshake in a goroutine that ends with it, over the TCPConn (Go's
// poller, the listener's timeout; close interrupts it), so a slow or silent
// client holds up neither accept nor the loop. Then, as for a plain
// socket, it keeps a duplicate of the descriptor, closes the TCPConn and
// serves the connection from the loop (tlsConn): an idle TLS connection
// holds no goroutine and no buffer of ours, only crypto/tls's state.
//
// crypto/tls reads and writes through a net.Conn of ours (tlsWire). Its
// Read reads the non-blocking socket and, when it is empty, returns a
// temporary net.Error: crypto/tls (readRecordOrCCS, Go 1.26) returns such
// an error without making it the connection's permanent one and keeps the
// bytes of a partial record, so the next Read goes on where it stopped
// (TestCryptoTLSWouldBlock fails if a Go release changes that). Since it
// gives out one record per Read and may hold more that it has read, the
// read side reads until the socket says EAGAIN rather than until a short
// read. Writes cannot say "would block" (crypto/tls fails the connection
// on any write error): they go through the plain writer's path and wait
// for room, with its progress tracking and timeout.
//
// What stays per idle connection is crypto/tls's: its Conn (0.9 KB), two
// AES-GCM states (1.75 KB), and the input and handshake buffers it grew
// to the client's ClientHello (3.5 KB for a Go 1.24+ client, whose hello
// carries a post-quantum key share; less for OpenSSL's), besides our
// tlsConn (0.4 KB) and Session. crypto/tls never shrinks its input buffer:
// after a 16 KiB message from a Go client it holds ~10 KB more, for good
// (the old reader-goroutine path kept it too). Reading a record at a time
// would cap it, at two reads per record where one read now takes a batch
// of small records; we did not. Its output buffers are pooled. Websockets,
// over TLS or not, stay on the goroutine path: net/http's server runs the
// upgrade and coder/websocket reads frames through a blocking reader;
// serving them from the loop would take a websocket implementation of our
// own. So do connections a listener wraps (max_connections), and all of
// them off Linux or with BlockingIO.
//
// Figures, 2-core Linux shared with other jobs, ECDSA P-256 certificate,
// TLS 1.3 with X25519MLKEM768, MQTT 3.1.1 clients of `mqtt bench` (Go).
// Live heap: BenchmarkTLSIdleConns (the clients in a child process). RSS:
// `mqtt serve` while `mqtt bench conn` holds the connections, once it has
// given the handshakes' garbage back (internal/cli's memory policy, within
// seconds of the broker going quiet):
//
//	per idle TLS connection          2,000: live   RSS        10,000: live  RSS
//	reader goroutine (before)        24.3-24.7 KB  31-44 KiB  24.6 KB       30 KiB
//	event loop                        7.6 KB       9.7-9.9    7.5 KB        8.8 KiB
//	Mosquitto 2.0.11                               15.0 KiB                 14.6 KiB
//
// The handshake costs the same broker CPU on both paths (0.50-0.63 ms per
// connection with CONNACK, `mqtt bench conn`); the rate, 450-1,650 per
// second here, is set by the machine's other load and by the clients'
// handshakes on the same cores, and was the same within that noise (e.g.
// 1,450-1,660 vs 700-1,430 in one BenchmarkTLSIdleConns series). Fan-in
// 4→1 over TLS (`mqtt bench pubsub --cafile`, TestPerfServe, loop vs
// BlockingIO in one binary, alternating): QoS 1 152k-287k vs 148k-278k
// msgs/s (means 208k both) with 0.64 vs 0.68 CPU s per run; QoS 0 364k-1.1M
// vs 136k-787k. `mqtt serve` before and after, alternating, QoS 1:
// 222k-317k vs 192k-328k.
//
// Where a handshake's CPU goes (`mqtt serve`, pprof over 20,000 `mqtt
// bench conn` connections, each with CONNECT, CONNACK and close: 0.35 ms
// each on an idle core): the key exchange 47% (X25519 27%, ML-KEM 20%),
// the ECDSA signature 10%, syscalls 14% (accept, the flights, CONNECT,
// CONNACK, close_notify, epoll, the log), allocation and GC 9% (nearly
// all crypto/tls's ~62 KB of garbage), stack growth 3% (the key exchange
// grows each handshake goroutine's stack; handing handshakes to the
// workers' kept goroutines did not help: more run at once than stay
// idle, and the GC shrinks idle stacks), logging 3%, close_notify 3%,
// the session ticket 1%. In instructions (valgrind, 3.35 M per
// connection) the broker's own code is 0.3%. mochi-mqtt, whose goroutine
// per connection runs crypto/tls the same way, spends 4.2-4.4 M with the
// same key exchange and 3.0-3.6 M with X25519 alone. X25519 alone costs
// us 2.35 M (GODEBUG=tlsmlkem=0): the post-quantum share is a third of
// a handshake's cost, and the one lever left; we keep Go's default.
//
// # Queue limits
//
// MaxQueuedMessages (100,000) and MaxQueuedBytes (256 MiB) bound a session's
// queue. A 4-publisher QoS 1 burst of 4×10,000 into one reading subscriber
// peaks at ~33,000 queued here (TestBurstQueueDepth), so the default leaves a
// 3× margin; Mosquitto's 1000 lost half of such a burst. A subscriber that
// reads but falls further behind does not reach the limits: past half of
// them its publishers are not read for up to StallAfter, or until it is
// down to a quarter (backlog.go), so a burst it absorbs in that time loses
// nothing; one still behind after that is left to the limits for the rest
// of the episode, and one that reads nothing holds no publisher back.
//
// # Persistence
//
// With Options.Store the broker commits every change to durable state as
// it happens and acknowledges a message only once what it stored is
// durable; persist.go says what is written when, and how New restores
// it. Retained messages live in the broker (retain.go: a trie with sorted
// children, so wildcard subscribers receive them in topic order), the
// store only keeps a copy.
package broker
