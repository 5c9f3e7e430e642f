// Package store is the broker's durable store: mqtt/broker's Store interface on one
// go.etcd.io/bbolt file (persistence_location/persistence_file, or `mqtt serve --data DIR`).
//
// # What is stored, and when
//
// The broker tells the store every change to its durable state as operations (retained
// messages set and cleared; persistent sessions with their subscriptions, will and expiry;
// each delivery queued or in flight to them, QoS 2 packet ids in both directions) and waits
// for the store before it acknowledges a message that was retained or queued for a persistent
// session (see mqtt/broker/persist.go). Commit only queues: one writer goroutine takes
// everything queued while the previous transaction was being written, applies it in one bbolt
// transaction (one group commit: two fdatasyncs, bbolt's data pages then its meta page), and
// then calls every done in order. Publishers that wait together share that sync, so QoS 1
// throughput does not fall to one message per disk sync. Messages with no durable recipient,
// and QoS 0, never wait. The writes of one inbound QoS 2 message come bracketed
// (broker.OpBegin/OpEnd): the writer ends a transaction only where no bracket is open, so its
// deliveries and its packet id are on disk together or not at all (exactly once across a
// crash). Close writes what is queued, then closes the file; the serve wiring calls it after
// the broker's Close, which writes the sessions' disconnections.
//
// # Layout (FormatVersion 1)
//
//	meta/format            FormatVersion, 4 bytes big-endian
//	retained/<topic>       message
//	sessions/<client id>/  a bucket per session:
//	    state              the session: protocol version, username, expiry, disconnection
//	                       time, subscriptions (filter, options, identifier), will, will delay
//	    d/<seq>            its deliveries by sequence (8 bytes big-endian: queue order),
//	                       each with its message, QoS, flags, packet id, subscription ids
//	    i/<packet id>      inbound QoS 2 ids awaiting PUBREL
//
// Records are a version byte and varint-framed fields (codec.go); times are wall-clock Unix
// nanoseconds, so message and session expiry keep counting while the broker is stopped. A
// delivery carries its own copy of the message: the usual persistent subscriber is alone on its
// topics, and one record per delivery is written and deleted in one place. (A message fanned
// out to many offline persistent sessions is stored once per session; refcounted shared message
// records would save that space at the cost of a read per acknowledgement.)
//
// # Failures
//
// A file that is not a store of this format, is damaged, or is held by another process is an
// *Error naming the file and what is wrong; Open and Load never repair, discard or overwrite
// anything (an all-zero file, a Mosquitto mosquitto.db, a truncated file, a newer format are
// each named as such). bbolt reads through a memory mapping and trusts the page numbers it
// finds: on a damaged page it panics, and may read past the mapping, a fault Go treats as fatal.
// Every goroutine of ours that reads the mapping sets debug.SetPanicOnFault and recovers into an
// *Error; the freelist is written with each transaction (NoFreelistSync off), because rebuilding
// it at open happens in a goroutine of bbolt's, out of reach. Check (`mqtt serve --check`)
// decodes every record, then runs bbolt's page check, without writing.
//
// A transaction that fails (a full disk) leaves the file as it was. The writer then tries each
// commit of the batch alone, so the ones that fit (acknowledged deliveries leaving, session
// updates) are still written, and the others' dones get the error: the broker refuses those
// messages (MQTT 5 0x97, 3.1.1 no acknowledgement) while everything stored stays and is
// delivered.
//
// # bbolt, not pebble: the measurement
//
// scripts/storebench runs both engines on this store's write pattern: 80 writers (4 publishers
// × 20 in flight) each storing a 100-byte delivery, waiting for the group commit, then deleting
// it (the subscriber's acknowledgement); retained overwrites of 1000 topics; 1M queued records
// read back after a reopen; and a 2 MiB tmpfs written until full. 2 shared cores, load ~2:
//
//	                       bbolt 1.5.0               pebble v2.1.7
//	fan-in put/wait/del    128k-143k/s               167k-206k/s
//	retained overwrites    130k-146k/s               213k-226k/s
//	fdatasync per commit   2                         1
//	1M queued, on disk     147 MiB                   110 MiB
//	reopen + read 1M       79 ms                     135 ms
//	disk full              ENOSPC returned; deletes, "fatal commit error: ... no space
//	                       reads and reopening work  left on device": the process exits
//	modules compiled in    bbolt (+ x/sys, ours)     ~20
//
// Pebble writes 1.4-1.6× faster, but on a full disk it stops the process (a WAL write error is
// fatal to pebble), where the broker must keep running, refuse new durable messages and go on
// delivering; bbolt returns the error and its file stays intact. bbolt also reads a large store
// back faster at restart, and adds one small module instead of about twenty.
package store
