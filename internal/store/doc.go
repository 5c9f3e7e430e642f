// Package store is the broker's durable store: mqtt/broker's Store interface on a
// go.etcd.io/bbolt file and a write-ahead journal beside it (persistence_location/mqtt.db and
// mqtt.db-journal, or `mqtt serve --data DIR`).
//
// # What is stored, and when
//
// The broker tells the store every change to its durable state as operations (retained
// messages set and cleared; persistent sessions with their subscriptions, will and expiry;
// each delivery queued or in flight to them, QoS 2 packet ids in both directions, the packet
// ids of QoS 1 messages still in flight when their connection ends) and waits
// for the store before it acknowledges a message that was retained or queued for a persistent
// session (see mqtt/broker/persist.go). Commit only queues. One writer goroutine takes
// everything queued while it was writing the previous batch and appends it to the journal as
// one record with one fdatasync (the group commit), then calls every done in order: publishers
// that wait together share that sync, so QoS 1 throughput does not fall to one message per
// disk sync. Messages with no durable recipient, and QoS 0, never wait.
//
// Before a batch is written, ops that a later op of the same batch undoes are dropped: a
// delivery stored and then deleted (its subscriber already acknowledged it, the usual fate of
// a message to an online persistent session), a retained message replaced, anything of a
// session deleted later. The writes of one inbound QoS 2 message come bracketed
// (broker.OpBegin/OpEnd) and a batch ends only where no bracket is open, so its deliveries and
// its packet id are durable together or not at all (exactly once across a crash).
//
// A checkpoint copies what the journal holds into the bbolt file in one transaction (two
// fdatasyncs: bbolt's pages, then its meta page) in a goroutine of its own, every quarter of
// the journal or half a second, dropping again what later ops undid (most deliveries never
// reach the bbolt file). The transaction records the journal position it covers; the journal
// starts over under a new epoch once everything in it is in the bbolt file. At open, the
// records after the checkpoint are applied (the ops are puts and deletes by key: applying one
// twice does no harm). Close writes what is queued and a last checkpoint, then closes the
// files; the serve wiring calls it after the broker's Close, which writes the sessions'
// disconnections.
//
// # Layout (FormatVersion 2)
//
//	mqtt.db (bbolt)
//	  meta/format          FormatVersion, 4 bytes big-endian
//	  meta/checkpoint      journal epoch and offset the file holds everything up to
//	  retained/<topic>     message
//	  sessions/<id>/state  the session: protocol version, username, expiry, disconnection
//	                       time, subscriptions (filter, options, identifier), will, will delay
//	  sessions/<id>/d/<seq>  its deliveries by sequence (8 bytes big-endian: queue order),
//	                       each with its message, QoS, flags, packet id, subscription ids
//	  sessions/<id>/i/<id> inbound QoS 2 ids awaiting PUBREL
//	  every value ends with a CRC-32C of its session's client id, its key and itself (format 2;
//	  a format 1 store, without them, is still read and written as it is)
//	mqtt.db-journal        16 MiB, preallocated; header with its epoch, then records: length,
//	                       CRC-32C of epoch and payload, the batch's ops (journal.go)
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
// anything (an all-zero file, a Mosquitto mosquitto.db, a truncated file, a newer format, a
// journal that is missing, of another epoch or without its store file, a damaged journal record
// with good ones after it, are each named as such). The one thing skipped is a journal record
// cut short at the end: the process died while writing it, before anyone was told it was
// stored. A new store is made under temporary names, its journal first, then its bbolt file
// complete with its format; the file is renamed into place, then the journal: a crash during
// the creation leaves no store file (the next start makes one) or a complete one whose journal
// the next start puts in place, so a missing journal always means a removed one, and a journal
// without its store file is refused at every start, nothing created. (A store file an earlier
// mqtt made in place and left without a single bucket, its journal never put in place, held
// nothing: it is made again, with a log line.) A damaged header (either of bbolt's two meta
// pages, which bbolt would silently fall back from) is refused at open as by Check.
//
// bbolt reads through a memory mapping and trusts the page numbers it finds: on a damaged page
// it panics, and may read past the mapping, a fault Go treats as fatal. Every goroutine of ours
// that reads the mapping sets debug.SetPanicOnFault and recovers into an *Error; the freelist is
// written with each transaction (NoFreelistSync off), because rebuilding it at open happens in
// a goroutine of bbolt's, out of reach. Check (`mqtt serve --check`) decodes every record (the
// journal's included), then runs bbolt's page check, without writing.
//
// A full disk: the journal is preallocated, so appending to it never needs space; checkpoints
// do. When one fails, the journal keeps everything and the checkpoint is tried again every
// second. Once the journal is half full with checkpoints still failing, commits that add data
// are refused (the broker answers MQTT 5 0x97; a 3.x publisher gets no acknowledgement and is disconnected, so it resends) and the other half
// is kept for the ones that remove data, so acknowledged deliveries still leave the store (adds
// that would pass the half first wait for a checkpoint of everything behind them, so that half
// is there even when the failure shows only then);
// everything stored stays, and delivery goes on. When a checkpoint succeeds again, so do new
// messages. At a restart on a full disk, what the bbolt file cannot take is read from the
// journal (Load lays it over what the file holds).
//
// # Compaction
//
// bbolt reuses the pages a transaction frees but never gives them back to the filesystem: a
// store that once held much (1,600 persistent sessions with long queues, since expired, left a
// tester a 473 MB file) would keep that size for ever. So when the store is opened (after the
// journal was applied and checkpointed) and when it is closed (after the last checkpoint, the
// writer gone), a file larger than 8 MiB of whose pages more than half are free is rewritten:
// bbolt.Compact copies every bucket, key and value byte for byte (the format, the values'
// checksums, meta/checkpoint: the journal goes on with the copy exactly as with the old file)
// into mqtt.db.compact beside it, in transactions of at most 4 MiB; the copy is synced, its
// meta records compared with the old file's, it is opened (and locked), renamed over mqtt.db,
// the directory synced, and only then is the old file closed, so no other process can take the
// lock of either in between (one that waited for the old file's lock finds, once it has it,
// that the name is no longer that file's, and opens it again; on Windows, which renames no open
// file, the old one is closed first). The copy takes the old file's permissions and owner. A
// crash at any step leaves mqtt.db complete, old or new (the rename is atomic, the copy synced
// before it); a copy left behind is removed at the next open, with a log line. A compaction that
// fails (no room for the copy on a full disk, a damaged page) is a warning, and the store goes
// on with its file as it was; at Close, a broker that opened its store before dropping
// privileges may not write in its directory: a log line says the next start compacts it.
// Check (`mqtt serve --check`) writes nothing: it neither compacts nor removes a copy.
//
// "Free" counts the pages on bbolt's freelist against the pages up to the last one in use,
// not the room bbolt adds past them as the file grows (up to 16 MiB, or doubling the file below
// that): a copy takes that room again, so counting it would rewrite a small store at every
// start, and counting it against the file would never compact a file of 16 MiB of free pages
// and 16 MiB of room. The 8 MiB floor: below it the space given back is less than half the
// journal beside the file, and bbolt grows a file that small by doubling it: a store that grows
// and shrinks in normal use would be rewritten at every start, on flash that wears, for little.
//
// Measured with mqtt serve (TestCompactMeasure, 2 cores shared, load 4-6): a 212-229 MB file
// with 2 MiB in use (1%: one session with 64 queued messages of 32 KiB, 6,000 deleted) is
// compacted to 4.2 MB in 71-400 ms at the start; the process's peak RSS is 37-42 MB against
// 24-30 MB for the same start with nothing to compact. The time and memory follow what is in
// use, not the file: 92 MiB in use (45%) in a 213 MB file takes 0.3-0.6 s, to 106 MB, within
// the 200 MB the broker's restore of those messages takes anyway.
//
// # bbolt, not pebble, behind a journal: the measurements
//
// scripts/storebench runs the engines on this store's write pattern: 80 writers (4 publishers
// × 20 in flight) each storing a 100-byte delivery, waiting for the group commit, then deleting
// it (the subscriber's acknowledgement); retained overwrites of 1000 topics; 1M queued records
// read back after a reopen; and a 2 MiB tmpfs written until full. 2 shared cores:
//
//	load ~2, fdatasync ~80 µs  bbolt 1.5.0               pebble v2.1.7
//	fan-in put/wait/del        128k-143k/s               167k-206k/s
//	retained overwrites        130k-146k/s               213k-226k/s
//	fdatasync per commit       2                         1
//	1M queued, on disk         147 MiB                   110 MiB
//	reopen + read 1M           79 ms                     135 ms
//	disk full                  ENOSPC returned; deletes, "fatal commit error: ... no space
//	                           reads and reopening work  left on device": the process exits
//	modules compiled in        bbolt (+ x/sys, ours)     ~20
//
// Pebble writes faster, but on a full disk it stops the process (a WAL write error is fatal to
// pebble), where the broker must keep running, refuse new durable messages and go on
// delivering; bbolt returns the error and its file stays intact, reads a large store back
// faster, and adds one small module instead of about twenty. bbolt alone, though, costs two
// fdatasyncs and several page writes per group commit, and a publisher's acknowledgement waits
// for all of it: in the broker, QoS 1 fan-in into a persistent session ran at 60k-108k msgs/s
// against 360k-460k in memory. storebench -engine wal (the journal in front of bbolt): at load
// 2.6-4.1 with fdatasync at 0.9-1.7 ms, 135k/74k msgs/s against bbolt's 42k/25k and pebble's
// 79k/32k. Hence the journal: one sequential fdatasync per group commit, bbolt behind it.
//
// # In the broker
//
// scripts/bench-compare.sh --persistence only (64-byte payloads, 4 publishers × 20 in
// flight, 200,000 messages; every client with a persistent session in fan-in), msgs/s, three
// runs at load 3.4, 5.6 and 0.9 (other jobs share the 2 cores), fdatasync 100-135 µs:
//
//	                      ours              ours --data        Mosquitto           Mosquitto persistence
//	fan-in q1 delivered   269k, 408k, 389k  95k, 124k, 121k    41k, 35k, 40k       43k, 36k, 46k
//	  (Mosquitto lost)                                         25%, 50%, 39%       33%, 28%, 27%
//	retained storm q1     495k, 577k, 652k  99k, 177k, 173k    107k, 108k, 118k    94k, 69k, 109k
//
// One fdatasync per 29-33 messages (0.030-0.035 per message, checkpoints included); 100,000
// queued messages take 16 MiB in the bbolt file (13 MiB allocated) beside the 16 MiB journal;
// a restart with 1,000,000 stored messages (10 offline sessions × 100,000, a 133 MiB file)
// takes 1.9-4.8 s from exec to serving (2.8 s at load 0.9-2.4). With persistence on, fan-in is
// 0.30-0.35× our in-memory rate and 2.3-3.6× Mosquitto's in-memory rate; the retained storm
// 0.2-0.3× ours and 0.92-1.6× Mosquitto's in memory: ahead of Mosquitto, short of the half of
// our own rate we aimed at.
// Here the 2 cores are saturated (broker ~0.6 core, the generator the rest; 4% idle): the
// journal write with its fdatasync is ~19% of the broker's CPU, checkpoints ~5%. Without
// persistence nothing of this runs (Options.Store nil): one atomic load per PUBLISH is all the
// broker added.
package store
