// Package broker is the MQTT 3.1, 3.1.1 and 5.0 broker behind `mqtt serve`:
// a Broker value (Options in; Start, Serve, ServeListener, Close) with no
// global state, so two can run in one process. Files follow Mosquitto's
// handle_*.c: connect.go, publish.go, subscribe.go, session.go, shared.go,
// retain.go, will.go, sys.go, limits.go; conn.go and netpoll_*.go are the
// network layer. LOCKS.md lists the locks and the order they are taken in.
//
// # Hot path
//
// A read lands in a pooled 16 KiB buffer; PUBLISH is decoded in place and
// its handler copies topic and payload once into a shared, immutable
// Message (the only per-message allocations are the decoder's Publish and
// topic string and that Message with its payload). Route matches the
// subscription index (read-locked inside mqtt/topic) and appends a delivery
// (a pointer to the Message plus per-subscriber flags) to each session's
// queue: a list of 128-entry chunks from a pool, never re-grown or copied.
// Nothing is encoded or allocated per subscriber until its writer runs,
// which encodes into one pooled buffer (its own reused Publish value, with
// packet id, topic alias and properties for that connection) and writes up
// to 64 KiB per syscall. PUBACK goes back after routing; the reader writes
// what a batch of packets queued itself (writeInline) instead of waking a
// writer goroutine.
//
// # Network layer: event loop, measured against goroutine per connection
//
// Plain TCP and unix-socket connections on Linux are served by an epoll
// event loop (netpoll_linux.go): a socket is registered one-shot; when it is
// readable a short-lived goroutine reads it, dispatches the packets and, if
// the connection was already busy, keeps waiting on Go's own poller
// (syscall.RawConn.Read, no buffer held) until it has been quiet for 100 ms,
// then re-arms epoll and exits. The writer goroutine exists only while there
// is output. Read and write buffers come from pools while bytes flow. An idle
// connection therefore holds no goroutine and no buffer: its conn (384 B),
// Session (192 B), net.TCPConn and Go's poll descriptor. TLS, websockets,
// other systems and Options.BlockingIO use the same conn with one reader
// goroutine per connection (readBlocking); the test suite runs on both
// (BROKER_TEST_BLOCKING=1 selects the latter).
//
// We did not take lesismal/nbio or cloudwego/netpoll: the sockets stay
// owned by their net.Conn (writes with deadlines, the blocking read of the
// MQTT 5 AUTH exchange, close), and only readiness comes from epoll, in
// ~200 lines with no dependency and no second TLS stack.
//
// Figures, 2-core Linux shared with other jobs, mqtt bench on loopback,
// 64-byte payloads. Resident memory per idle connection: RSS delta of the
// broker while `mqtt bench conn -c 10000` holds the connections, / 10,000:
//
//	before (reader + writer goroutine, 4 KiB bufio.Reader, 16 KiB bufio.Writer)  19.3 KiB
//	goroutine per connection now (Options.BlockingIO: the reader goroutine
//	  holds a 16 KiB pool buffer while blocked in Read)                        12.0 KiB
//	event loop (default)                                                        2.4 KiB
//	Mosquitto 2.0.11                                                            0.7 KiB
//	mochi-mqtt v2                                                              87   KiB
//
// The remaining 2.4 KiB: 1.3 KiB of live heap (conn, Session, net.netFD,
// two TCPAddr, map entries, client id), ~0.6 KiB outside the heap that is
// mostly Go's pollDesc, and the garbage collector's headroom (RSS is about
// 1.8× the live heap at GOGC=100). Reaching 2 KiB means owning the raw file
// descriptor (dup it, close the net.Conn, write through epoll's EPOLLOUT),
// which removes the netFD, addresses and pollDesc; not done yet.
//
// Throughput of the two read paths is the same within this machine's noise
// once a busy connection waits on Go's poller (without that, the raw epoll
// wake-up per batch cost fan-out ~30% more CPU per message). scripts/bench-compare.sh,
// one run at load average 0.8, messages/s delivered (loss):
//
//	scenario              ours            Mosquitto             mochi-mqtt           ours/best
//	fan-in 4→1, QoS 0     698k (0)        56k (0)               133k (27% lost)      5.2
//	fan-in 4→1, QoS 1     101k (0)        12k (51% lost)        41k (0)              2.5
//	fan-out 1→50, QoS 0   2.80M (0)       91k (0)               313k (0)             8.9
//	50 pairs, QoS 1       248k (0)        14k (0)               57k (0)              4.3
//
// Fan-in at QoS 1 is bound by latency (each publisher keeps 20 messages in
// flight): with --inflight 100 it reaches ~140k. Where the time goes (pprof,
// TestPerfServe): syscalls ~30% at QoS 1 (small batches), allocation and GC
// ~20% (the decoder's Publish, Message, payload), routing and queues ~15%.
//
// # Queue limits
//
// MaxQueuedMessages (100,000) and MaxQueuedBytes (256 MiB) bound a session's
// queue. A 4-publisher QoS 1 burst of 4×10,000 into one reading subscriber
// peaks at ~33,000 queued here (TestBurstQueueDepth), so the default leaves a
// 3× margin; Mosquitto's 1000 lost half of such a burst.
package broker
