// Package bench is the load generator behind `mqtt bench`: the conn, pub, sub and pubsub
// scenarios, their HDR latency histograms, live progress and the final report (a table or
// one JSON document).
//
// # Why it does not use mqtt/client
//
// The generator must drive a broker several times harder than Mosquitto can take (a relay
// that only parses and forwards takes more than 1M QoS 0 messages/s on a 2-core machine), so
// its own cost per message has to be a few hundred nanoseconds. Each bench connection
// therefore speaks MQTT with mqtt/packet directly over a net.Conn: CONNECT, SUBSCRIBE and
// their acknowledgements go through the codec, while the hot path pre-encodes one PUBLISH
// template, patches packet id, sequence number and timestamp in place, writes 64 KiB
// batches with one syscall, and reads with a zero-allocation loop (ParseHeader plus a
// minimal PUBLISH payload extractor). QoS 1 and 2 publishers pipeline up to Config.Inflight
// unacknowledged messages (further limited by a v5 broker's Receive Maximum).
//
// # Payload
//
// Every payload starts with a 24-byte header (see header.go): a magic number, the run id of
// the bench process, the publisher index, the sequence number and the send time (Unix
// nanoseconds, so `bench sub` in another process can measure latency on the same host).
// The rest is padding up to Config.Size. Subscribers keep a bitmap of sequence numbers per
// publisher and count unique, duplicated and out-of-order messages; end-to-end latency goes
// into an HDR histogram in microseconds.
//
// # Topology
//
//   - conn:   Clients connections, each CONNECT/CONNACK timed; held for Duration.
//   - pub:    Clients publishers; publisher i publishes Count messages (or for Duration) to
//     Topic with %i replaced by i and %c by its client id.
//   - sub:    Clients subscribers, each on the filter Topic (templated the same way); they stop
//     after Duration or once each has received Count messages. Loss is estimated from
//     sequence gaps, as the publishers are elsewhere.
//   - pubsub: Subscribers subscribe first, then Clients publishers publish. By default
//     publisher i publishes to topic(i) and every subscriber subscribes to a filter that
//     covers all publishers: each topic level of the template that contains %i or %c
//     becomes '+', so "-t bench/%i" gives subscribers "bench/+" (fan-in with --subs 1,
//     fan-out with -c 1). SubTopic overrides the filter and is templated with the
//     subscriber's index, so "-t bench/%i --sub-topic bench/%i -c 50 --subs 50" is 50
//     publisher/subscriber pairs. Which subscriber should get which publisher is decided
//     with mqtt/topic.Match, and loss = Σ sent(p) × subscribers matching p − unique received,
//     computed after a drain period that ends early once nothing is missing or nothing has
//     arrived for a second (a broker that dropped messages never sends them). When it
//     ends at --drain while messages still arrive, the report says so (drain_cut): that
//     loss may only be late.
//
// Connections use the transports of the connection flags (tcp, tls, ws, wss, unix), opened
// by mqtt/client.DialConn (dial.go): only the MQTT spoken over them is bench's own.
package bench
